package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// Grant types a client may be registered for.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// DefaultGrantTypes are what a client gets when it lists none.
var DefaultGrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}

// MinClientSecretLength is the shortest configured client secret accepted.
const MinClientSecretLength = 16

// secretPurpose is the keyring purpose under which client secrets are MACed.
const secretPurpose = "client-secret"

// ClientSpec registers or replaces a relying party.
type ClientSpec struct {
	ID                     string
	Name                   string
	Secret                 string // a configured secret; empty with GenerateSecret → one is made
	GenerateSecret         bool   // confidential client with a secret made by Twofold
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	SkipConsent            bool
	Policy                 string
	AccessTokenType        string // jwt (default) or opaque
	IDTokenAlg             string // id_token_signed_response_alg: RS256 (default), ES256, EdDSA
	JWKS                   string // public JWK set (JSON): the client authenticates with private_key_jwt
}

// Client is a registered relying party as the rest of Twofold sees it.
type Client struct {
	ID                     string
	Name                   string
	Public                 bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	SkipConsent            bool
	Policy                 string
	Disabled               bool   // no longer declared by the source that manages it
	ManagedBy              string // ManagedByDatabase, ManagedByConfig or ManagedByDemo
	CreatedAt              time.Time
}

func clientFromStorage(c *storage.Client) Client {
	out := Client{
		ID: c.ID, Name: c.Name, Public: c.SecretHash == "" && c.JWKS == "",
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, SkipConsent: c.SkipConsent, CreatedAt: c.CreatedAt,
		Disabled: c.Disabled, ManagedBy: managedBy(c.ManagedBy),
	}
	if c.Policy != nil {
		out.Policy = *c.Policy
	}
	return out
}

var clientIDRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)

// ValidateClientSpec checks a client registration; errors name the field.
func ValidateClientSpec(c ClientSpec) error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, inputError("id", "must be set"))
	} else if !clientIDRE.MatchString(c.ID) {
		errs = append(errs, inputError("id", "must be 1-128 characters of A-Z a-z 0-9 . _ ~ -"))
	}
	grants := c.GrantTypes
	if len(grants) == 0 {
		grants = DefaultGrantTypes
	}
	seen := map[string]int{}
	for i, g := range grants {
		field := fmt.Sprintf("grant_types[%d]", i)
		if !slices.Contains([]string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}, g) {
			errs = append(errs, inputError(field, "%q is not supported (use authorization_code, refresh_token, client_credentials)", g))
		} else if j, dup := seen[g]; dup {
			errs = append(errs, inputError(field, "%q is already listed at grant_types[%d]", g, j))
		} else {
			seen[g] = i
		}
	}
	if c.JWKS != "" {
		if err := validateClientJWKS(c.JWKS); err != nil {
			errs = append(errs, inputError("jwks", "%s", err))
		}
		if c.Secret != "" || c.GenerateSecret {
			errs = append(errs, inputError("jwks", "a client authenticates with a secret or with keys, not both"))
		}
	}
	if c.Secret != "" && utf8.RuneCountInString(c.Secret) < MinClientSecretLength {
		// A configured secret is the client's only credential: short ones
		// are guessable (and are compared with a fast keyed hash).
		errs = append(errs, inputError("secret", "must be at least %d characters (twofold client add generates 256-bit ones)", MinClientSecretLength))
	}
	confidential := c.Secret != "" || c.GenerateSecret || c.JWKS != ""
	if slices.Contains(grants, GrantClientCredentials) && !confidential {
		// RFC 6749 §4.4: only a confidential client (a secret, or keys for
		// private_key_jwt) may use the client credentials grant.
		errs = append(errs, inputError("grant_types", "client_credentials needs a confidential client (a secret or a jwks)"))
	}
	if slices.Contains(grants, GrantRefreshToken) && !slices.Contains(grants, GrantAuthorizationCode) {
		errs = append(errs, inputError("grant_types", "refresh_token needs authorization_code"))
	}
	if !slices.Contains([]string{"", "jwt", "opaque"}, c.AccessTokenType) {
		errs = append(errs, inputError("access_token_type", "must be jwt or opaque"))
	}
	if !slices.Contains([]string{"", "RS256", "ES256", "EdDSA"}, c.IDTokenAlg) {
		errs = append(errs, inputError("id_token_signed_response_alg", "must be RS256, ES256 or EdDSA"))
	}
	if slices.Contains(grants, GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		errs = append(errs, inputError("redirect_uris", "at least one is needed for authorization_code"))
	}
	for i, u := range c.RedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			errs = append(errs, inputError(fmt.Sprintf("redirect_uris[%d]", i), "%s", err))
		}
	}
	for i, u := range c.PostLogoutRedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			errs = append(errs, inputError(fmt.Sprintf("post_logout_redirect_uris[%d]", i), "%s", err))
		}
	}
	return errors.Join(errs...)
}

// validateRedirectURI accepts https URLs, http URLs on loopback hosts
// (RFC 8252 §7.3) and private-use schemes of native apps, which must be
// reverse-domain names (RFC 8252 §7.1: myapp:/cb could be claimed by any
// app). Redirect URIs are public, so the messages show them.
func validateRedirectURI(raw string) error {
	shown := raw
	if len(shown) > 100 {
		shown = shown[:100] + "..."
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs():
		return fmt.Errorf("%q must be an absolute URL", shown)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q must not have a fragment", shown)
	case u.User != nil:
		return fmt.Errorf("%q must not contain a user name or password", shown)
	case u.Scheme == "https":
		if u.Hostname() == "" {
			return fmt.Errorf("%q needs a host", shown)
		}
	case u.Scheme == "http":
		if !IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("%q: http is only allowed for localhost and loopback addresses; use https", shown)
		}
	case strings.Contains(u.Scheme, "."):
		// A reverse-domain private-use scheme such as com.example.app:/cb.
	default:
		return fmt.Errorf("%q must use https, http on loopback, or a reverse-domain app scheme such as com.example.app:/cb", shown)
	}
	return nil
}

// IsLoopbackHost reports whether h is localhost or a loopback address.
func IsLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// validateClientJWKS accepts a set of public signing keys, each with a kid.
func validateClientJWKS(raw string) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(raw), &set); err != nil {
		return errors.New("is not a JWK set (JSON with a keys array)")
	}
	if len(set.Keys) == 0 {
		return errors.New("has no keys")
	}
	for _, k := range set.Keys {
		switch {
		case !k.IsPublic():
			return errors.New("must hold public keys only (a private key was given)")
		case k.KeyID == "":
			return errors.New("every key needs a kid")
		case k.Use != "" && k.Use != "sig":
			return errors.New("keys must be for signing (use sig)")
		}
	}
	return nil
}

// toStorageClient validates spec and turns it into a row, hashing the
// secret; secret is the generated plaintext (shown once) when one was made.
func (d *Directory) toStorageClient(spec ClientSpec) (row *storage.Client, secret string, err error) {
	if err := ValidateClientSpec(spec); err != nil {
		return nil, "", err
	}
	secret = spec.Secret
	if secret == "" && spec.GenerateSecret {
		b := make([]byte, 32) // 256 bits
		if _, err := rand.Read(b); err != nil {
			return nil, "", err
		}
		secret = base64.RawURLEncoding.EncodeToString(b)
	}
	row = &storage.Client{
		ID: spec.ID, Name: spec.Name,
		RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs,
		GrantTypes: spec.GrantTypes, SkipConsent: spec.SkipConsent,
		AccessTokenType: spec.AccessTokenType, IDTokenAlg: spec.IDTokenAlg, JWKS: spec.JWKS,
	}
	if row.Name == "" {
		row.Name = spec.ID
	}
	if len(row.GrantTypes) == 0 {
		row.GrantTypes = DefaultGrantTypes
	}
	if secret != "" {
		row.SecretHash = d.keys.HashSecret(secretPurpose, []byte(secret))
	}
	if spec.Policy != "" {
		row.Policy = &spec.Policy
	}
	return row, secret, nil
}

// AddClient registers a new client. When spec.GenerateSecret is set the
// returned secret is the only copy: Twofold keeps just its MAC.
func (d *Directory) AddClient(ctx context.Context, actor idp.Actor, spec ClientSpec) (Client, string, error) {
	row, secret, err := d.toStorageClient(spec)
	if err != nil {
		return Client{}, "", err
	}
	if err := d.store.CreateClient(ctx, row); err != nil {
		return Client{}, "", clientStoreError(err, spec)
	}
	d.audit(ctx, actor, "client.created", row.ID, map[string]any{"public": row.SecretHash == "" && row.JWKS == "", "private_key_jwt": row.JWKS != ""})
	if !spec.GenerateSecret {
		secret = ""
	}
	return clientFromStorage(row), secret, nil
}

func clientStoreError(err error, spec ClientSpec) error {
	switch {
	case errors.Is(err, storage.ErrConflict):
		return inputError("id", "a client %q already exists", spec.ID)
	case errors.Is(err, storage.ErrReference):
		return inputError("policy", "no policy called %q", spec.Policy)
	}
	return err
}

// ListClients returns every client by id.
func (d *Directory) ListClients(ctx context.Context) ([]Client, error) {
	cs, err := d.store.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Client, len(cs))
	for i := range cs {
		out[i] = clientFromStorage(&cs[i])
	}
	return out, nil
}

// VerifyClientSecret checks a client's secret in constant time.
func (d *Directory) VerifyClientSecret(ctx context.Context, clientID, secret string) error {
	c, err := d.store.GetClient(ctx, clientID)
	if err != nil {
		return notFound(err)
	}
	if c.SecretHash == "" {
		return idp.ErrInvalidCredentials
	}
	if ok, _ := d.keys.VerifySecret(secretPurpose, []byte(secret), c.SecretHash); !ok {
		return idp.ErrInvalidCredentials
	}
	return nil
}
