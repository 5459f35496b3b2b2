package op

import (
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/op/tokens"
	"github.com/twofold-idp/twofold/storage"
)

// opClient presents a stored client to the op library.
type opClient struct {
	row *storage.Client
}

var _ op.Client = opClient{}

func (c opClient) GetID() string                    { return c.row.ID }
func (c opClient) RedirectURIs() []string           { return c.row.RedirectURIs }
func (c opClient) PostLogoutRedirectURIs() []string { return c.row.PostLogoutRedirectURIs }

// ApplicationType: public clients are native apps (RFC 8252), which lets a
// loopback redirect URI vary its port (§7.3); confidential clients are web.
func (c opClient) ApplicationType() op.ApplicationType {
	if c.public() {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c opClient) public() bool { return c.row.SecretHash == "" && c.row.JWKS == "" }

func (c opClient) AuthMethod() oidc.AuthMethod {
	if c.row.AuthMethod != "" {
		return oidc.AuthMethod(c.row.AuthMethod)
	}
	if c.row.JWKS != "" {
		return oidc.AuthMethodPrivateKeyJWT
	}
	if c.public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

// ResponseTypes lists every type the library knows so that its own check
// passes and ours, after the redirect URI is known to be registered, can
// answer unsupported_response_type through the redirect (RFC 9700 §2.1.2).
func (c opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode, oidc.ResponseTypeIDToken, oidc.ResponseTypeIDTokenOnly, "token"}
}

func (c opClient) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, len(c.row.GrantTypes))
	for i, g := range c.row.GrantTypes {
		out[i] = oidc.GrantType(g)
	}
	return out
}

// LoginURL is where /authorize sends the browser: our hosted login.
func (c opClient) LoginURL(id string) string { return "/login?id=" + url.QueryEscape(id) }

func (c opClient) AccessTokenType() op.AccessTokenType {
	if c.row.AccessTokenType == "opaque" {
		return op.AccessTokenTypeBearer
	}
	return op.AccessTokenTypeJWT
}

func (c opClient) IDTokenLifetime() time.Duration { return time.Hour }

// DevMode would relax redirect URI checks; never.
func (c opClient) DevMode() bool { return false }

func (c opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed: the standard scopes (the library keeps those itself) and
// the privileged ones the client is registered with (twofold:admin); any
// other scope is dropped from the request.
func (c opClient) IsScopeAllowed(s string) bool {
	return slices.Contains(directory.PrivilegedScopes, s) && slices.Contains(c.row.AllowedScopes, s)
}

// IDTokenUserinfoClaimsAssertion: profile and email claims go in the ID
// token even when an access token is issued, which is what most relying
// party libraries expect.
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c opClient) ClockSkew() time.Duration { return 0 }

// tokenClient is what token minting needs of the client.
func (c opClient) tokenClient() tokens.Client {
	return tokens.Client{ID: c.row.ID, GrantTypes: c.row.GrantTypes, OpaqueAccessTokens: c.row.AccessTokenType == "opaque", IDTokenAlg: c.row.IDTokenAlg, AllowedScopes: c.row.AllowedScopes, Public: c.public(),
		BackchannelLogout: c.row.BackchannelLogoutURI != "",
	}
}
