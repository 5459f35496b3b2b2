package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/password"
	"github.com/twofold-idp/twofold/idp/policy"
)

// NewUser is what an admin, the setup page or the config file supplies to
// create an account. Exactly one of Password and PasswordHash is set.
type NewUser struct {
	Username     string
	Email        string
	Password     string
	PasswordHash string // a pre-hashed argon2id PHC string (config files)
	Groups       []string
	Admin        bool
}

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
	// DPoPBoundAccessTokens: every token request must carry a DPoP proof
	// (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool
	// AllowedScopes are the scopes beyond the standard ones the client may
	// be granted: ScopeAdmin (the admin API) is the only one today.
	AllowedScopes []string
	// BackchannelLogoutURI receives logout tokens (OpenID Connect
	// Back-Channel Logout 1.0 §2.2); BackchannelLogoutSessionRequired says
	// the client needs their sid (Twofold always sends it).
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// RequirePushedAuthorizationRequests: the client's authorization
	// requests must be pushed to /par first (RFC 9126 §6).
	RequirePushedAuthorizationRequests bool
}

// ScopeAdmin grants access to the admin API (/api/admin/v1). Only a client
// registered with it in AllowedScopes is ever granted it.
const ScopeAdmin = "twofold:admin"

// PrivilegedScopes are the scopes a client gets only when it is registered
// with them: requested by any other client, they are dropped.
var PrivilegedScopes = []string{ScopeAdmin}

// Group is a named set of users with an optional policy.
type Group struct {
	Name   string
	Policy string
}

// ValidateGroup checks a group's name; its policy must exist, which only
// the database can tell.
func ValidateGroup(g Group) error {
	switch {
	case g.Name == "":
		return idp.InputErrorf("name", "must be set")
	case !policy.ValidName(g.Name):
		return idp.InputErrorf("name", "must be 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit")
	}
	return nil
}

// Grant types a client may be registered for.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	// GrantDeviceCode is the device authorization grant (RFC 8628 §3.4).
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// GrantTypes are every grant type a client may be registered for.
var GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode}

// DefaultGrantTypes are what a client gets when it lists none.
var DefaultGrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}

// MinClientSecretLength is the shortest configured client secret accepted.
const MinClientSecretLength = 16

// MinPasswordLength follows NIST SP 800-63B §3.1.1.2 (at least 8 characters
// for a password used with a second factor).
const MinPasswordLength = 8

func validateUsername(s string) error {
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return idp.InputErrorf("username", "is required")
	}
	if n > 64 {
		return idp.InputErrorf("username", "must be at most 64 characters")
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-@+", r)) {
			return idp.InputErrorf("username", "may contain letters, digits and . _ - @ + only")
		}
	}
	return nil
}

// ValidateEmail checks an address a person gives for their account: one
// bare address (no display name), required.
func ValidateEmail(s string) error {
	if s == "" {
		return idp.InputErrorf("email", "is required")
	}
	return validateEmail(s)
}

func validateEmail(s string) error {
	if s == "" {
		return nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return idp.InputErrorf("email", "is not an email address")
	}
	return nil
}

// ValidatePassword applies NIST SP 800-63B §3.1.1.2: a minimum length, a
// generous maximum, and a refusal of passwords known to be common. It does
// not impose composition rules (which the same section advises against).
func ValidatePassword(pw, username string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLength:
		return idp.InputErrorf("password", "must be at least %d characters", MinPasswordLength)
	case len(pw) > password.MaxLength:
		return idp.InputErrorf("password", "must be at most %d bytes", password.MaxLength)
	case !utf8.ValidString(pw):
		return idp.InputErrorf("password", "is not valid text")
	case isCommonPassword(pw) || strings.EqualFold(pw, username):
		return idp.InputErrorf("password", "is too easy to guess; a few unrelated words make a strong passphrase")
	}
	return nil
}

// ValidateNewUser checks everything about nu that does not need the
// database: the username, the email, and the password (its strength) or the
// password hash (its format). Problems are joined, each naming its field.
func ValidateNewUser(nu NewUser) error {
	var errs []error
	username := strings.TrimSpace(nu.Username)
	errs = append(errs, validateUsername(username), validateEmail(strings.TrimSpace(nu.Email)))
	switch {
	case nu.PasswordHash != "" && nu.Password != "":
		errs = append(errs, idp.InputErrorf("password", "give a password or a password hash, not both"))
	case nu.PasswordHash != "":
		if !strings.HasPrefix(nu.PasswordHash, "$argon2id$") {
			errs = append(errs, idp.InputErrorf("password_hash", "must be an argon2id hash ($argon2id$...)"))
		}
	default:
		errs = append(errs, ValidatePassword(nu.Password, username))
	}
	return errors.Join(errs...)
}

var clientIDRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)

// ValidateClientSpec checks a client registration; errors name the field.
func ValidateClientSpec(c ClientSpec) error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, idp.InputErrorf("id", "must be set"))
	} else if !clientIDRE.MatchString(c.ID) {
		errs = append(errs, idp.InputErrorf("id", "must be 1-128 characters of A-Z a-z 0-9 . _ ~ -"))
	}
	grants := c.GrantTypes
	if len(grants) == 0 {
		grants = DefaultGrantTypes
	}
	seen := map[string]int{}
	for i, g := range grants {
		field := fmt.Sprintf("grant_types[%d]", i)
		if !slices.Contains(GrantTypes, g) {
			errs = append(errs, idp.InputErrorf(field, "%q is not supported (use %s)", g, strings.Join(GrantTypes, ", ")))
		} else if j, dup := seen[g]; dup {
			errs = append(errs, idp.InputErrorf(field, "%q is already listed at grant_types[%d]", g, j))
		} else {
			seen[g] = i
		}
	}
	if c.JWKS != "" {
		if err := validateClientJWKS(c.JWKS); err != nil {
			errs = append(errs, idp.InputErrorf("jwks", "%s", err))
		}
		if c.Secret != "" || c.GenerateSecret {
			errs = append(errs, idp.InputErrorf("jwks", "a client authenticates with a secret or with keys, not both"))
		}
	}
	if c.Secret != "" && utf8.RuneCountInString(c.Secret) < MinClientSecretLength {
		// A configured secret is the client's only credential: short ones
		// are guessable (and are compared with a fast keyed hash).
		errs = append(errs, idp.InputErrorf("secret", "must be at least %d characters (twofold client add generates 256-bit ones)", MinClientSecretLength))
	}
	confidential := c.Secret != "" || c.GenerateSecret || c.JWKS != ""
	if slices.Contains(grants, GrantClientCredentials) && !confidential {
		// RFC 6749 §4.4: only a confidential client (a secret, or keys for
		// private_key_jwt) may use the client credentials grant.
		errs = append(errs, idp.InputErrorf("grant_types", "client_credentials needs a confidential client (a secret or a jwks)"))
	}
	if slices.Contains(grants, GrantRefreshToken) && !slices.Contains(grants, GrantAuthorizationCode) && !slices.Contains(grants, GrantDeviceCode) {
		errs = append(errs, idp.InputErrorf("grant_types", "refresh_token needs authorization_code or the device code grant"))
	}
	if !slices.Contains([]string{"", "jwt", "opaque"}, c.AccessTokenType) {
		errs = append(errs, idp.InputErrorf("access_token_type", "must be jwt or opaque"))
	}
	if !slices.Contains([]string{"", "RS256", "ES256", "EdDSA"}, c.IDTokenAlg) {
		errs = append(errs, idp.InputErrorf("id_token_signed_response_alg", "must be RS256, ES256 or EdDSA"))
	}
	for i, sc := range c.AllowedScopes {
		field := fmt.Sprintf("allowed_scopes[%d]", i)
		switch {
		case !slices.Contains(PrivilegedScopes, sc):
			errs = append(errs, idp.InputErrorf(field, "%q is not a scope Twofold grants (use %s)", sc, strings.Join(PrivilegedScopes, ", ")))
		case slices.Index(c.AllowedScopes, sc) != i:
			errs = append(errs, idp.InputErrorf(field, "%q is listed twice", sc))
		case !confidential:
			// An admin credential held by a public client would be one
			// anybody who copies the app can use.
			errs = append(errs, idp.InputErrorf(field, "%q needs a confidential client (a secret or a jwks)", sc))
		}
	}
	if slices.Contains(grants, GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		errs = append(errs, idp.InputErrorf("redirect_uris", "at least one is needed for authorization_code"))
	}
	for i, u := range c.RedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			errs = append(errs, idp.InputErrorf(fmt.Sprintf("redirect_uris[%d]", i), "%s", err))
		}
	}
	for i, u := range c.PostLogoutRedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			errs = append(errs, idp.InputErrorf(fmt.Sprintf("post_logout_redirect_uris[%d]", i), "%s", err))
		}
	}
	errs = append(errs, validateBackchannelLogout(c)...)
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
