package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// secretPurpose is the keyring purpose under which client secrets are MACed.
const secretPurpose = "client-secret"

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
	// BackchannelLogoutURI and BackchannelLogoutSessionRequired: see ClientSpec.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// RequirePushedAuthorizationRequests: see ClientSpec.
	RequirePushedAuthorizationRequests bool
	CreatedAt                          time.Time
}

func clientFromStorage(c *storage.Client) Client {
	out := Client{
		ID: c.ID, Name: c.Name, Public: c.SecretHash == "" && c.JWKS == "",
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, SkipConsent: c.SkipConsent, CreatedAt: c.CreatedAt,
		Disabled: c.Disabled, ManagedBy: managedBy(c.ManagedBy),
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
	}
	if c.Policy != nil {
		out.Policy = *c.Policy
	}
	return out
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
		AllowedScopes: spec.AllowedScopes, DPoPBoundAccessTokens: spec.DPoPBoundAccessTokens,
		BackchannelLogoutURI: spec.BackchannelLogoutURI, BackchannelLogoutSessionRequired: spec.BackchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: spec.RequirePushedAuthorizationRequests,
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
