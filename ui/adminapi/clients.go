package adminapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp/directory"
)

// clientBody is a client's settings as clients send them. On create,
// public makes a client without a secret and jwks one that authenticates
// with its keys; otherwise Twofold generates a secret, shown once.
type clientBody struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Public                 bool     `json:"public"`
	JWKS                   string   `json:"jwks"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	SkipConsent            bool     `json:"skip_consent"`
	Policy                 string   `json:"policy"`
	AccessTokenType        string   `json:"access_token_type"`
	IDTokenAlg             string   `json:"id_token_signed_response_alg"`
	AllowedScopes          []string `json:"allowed_scopes"`
	DPoPBoundAccessTokens  bool     `json:"dpop_bound_access_tokens"`
	// OpenID Connect Back-Channel Logout 1.0 §2.2 ("" none).
	BackchannelLogoutURI             string `json:"backchannel_logout_uri"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required"`
	// RFC 9126 §6: authorization requests only through /par.
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests"`
}

type clientJSON struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Public                 bool     `json:"public"`
	PrivateKeyJWT          bool     `json:"private_key_jwt"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	SkipConsent            bool     `json:"skip_consent"`
	Policy                 string   `json:"policy"`
	AccessTokenType        string   `json:"access_token_type"`
	IDTokenAlg             string   `json:"id_token_signed_response_alg"`
	AllowedScopes          []string `json:"allowed_scopes"`
	DPoPBoundAccessTokens  bool     `json:"dpop_bound_access_tokens"`
	// OpenID Connect Back-Channel Logout 1.0 §2.2 ("" none).
	BackchannelLogoutURI             string `json:"backchannel_logout_uri"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required"`
	// RFC 9126 §6: authorization requests only through /par.
	RequirePushedAuthorizationRequests bool      `json:"require_pushed_authorization_requests"`
	Disabled                           bool      `json:"disabled"`
	ManagedBy                          string    `json:"managed_by"`
	ReadOnly                           bool      `json:"read_only"`
	ReadOnlyReason                     string    `json:"read_only_reason,omitempty"`
	ETag                               string    `json:"etag"`
	CreatedAt                          time.Time `json:"created_at"`
	UpdatedAt                          time.Time `json:"updated_at"`
	// ClientSecret is present once: in the answer that created or rotated it.
	ClientSecret string `json:"client_secret,omitempty"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toClientJSON(c directory.ClientRecord) clientJSON {
	why := c.ReadOnlyReason()
	return clientJSON{
		ID: c.ID, Name: c.Name, Public: c.Public, PrivateKeyJWT: c.PrivateKeyJWT, RedirectURIs: nonNil(c.RedirectURIs),
		PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs), GrantTypes: nonNil(c.GrantTypes), SkipConsent: c.SkipConsent,
		Policy: c.Policy, AccessTokenType: c.AccessTokenType, IDTokenAlg: c.IDTokenAlg, AllowedScopes: nonNil(c.AllowedScopes),
		DPoPBoundAccessTokens: c.DPoPBoundAccessTokens, Disabled: c.Disabled, ManagedBy: c.ManagedBy, ReadOnly: why != "", ReadOnlyReason: why, ETag: etag(c.Version),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
	}
}

func (b clientBody) spec() directory.ClientSpec {
	return directory.ClientSpec{
		ID: b.ID, Name: b.Name, JWKS: b.JWKS, GenerateSecret: !b.Public && b.JWKS == "",
		RedirectURIs: b.RedirectURIs, PostLogoutRedirectURIs: b.PostLogoutRedirectURIs, GrantTypes: b.GrantTypes,
		SkipConsent: b.SkipConsent, Policy: b.Policy, AccessTokenType: b.AccessTokenType, IDTokenAlg: b.IDTokenAlg,
		AllowedScopes: b.AllowedScopes, DPoPBoundAccessTokens: b.DPoPBoundAccessTokens,
		BackchannelLogoutURI: b.BackchannelLogoutURI, BackchannelLogoutSessionRequired: b.BackchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: b.RequirePushedAuthorizationRequests,
	}
}

func (a *API) listClients(r *http.Request, c *call) (*response, error) {
	after, limit, err := page(r, "client")
	if err != nil {
		return nil, err
	}
	p, err := a.dir.ClientPage(r.Context(), after, limit)
	if err != nil {
		return nil, err
	}
	return ok(list[clientJSON]{Items: mapItems(p.Items, toClientJSON), NextCursor: cursor("client", p.Next)}, "")
}

func (a *API) getClient(r *http.Request, c *call) (*response, error) {
	cl, err := a.dir.ClientByID(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return nil, err
	}
	return ok(toClientJSON(cl), cl.Version)
}

func (a *API) createClient(r *http.Request, c *call) (*response, error) {
	var b clientBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	if b.Public && b.JWKS != "" {
		return nil, fieldProblem("public", "a client with a jwks is confidential")
	}
	cl, secret, err := a.dir.CreateClient(r.Context(), a.actor(r), b.spec())
	if err != nil {
		return nil, err
	}
	out := toClientJSON(cl)
	out.ClientSecret = secret
	return &response{Status: http.StatusCreated, Body: out, Version: cl.Version, Location: Prefix + "/clients/" + url.PathEscape(cl.ID)}, nil
}

// updateClient replaces the settings (redirect URIs, policy, consent,
// signing algorithm…), validated as the configuration file's are; the
// credentials stay (see rotateClientSecret).
func (a *API) updateClient(r *http.Request, c *call) (*response, error) {
	var b clientBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	id := chi.URLParam(r, "id")
	switch {
	case b.ID != "" && b.ID != id:
		return nil, fieldProblem("id", "cannot be changed (it is in the URL)")
	case b.JWKS != "" || b.Public:
		return nil, fieldProblem("public", "credentials cannot be changed by an update; rotate the secret, or register a new client")
	}
	cl, err := a.dir.UpdateClient(r.Context(), a.actor(r), id, c.ifMatch, b.spec())
	if err != nil {
		return nil, err
	}
	return ok(toClientJSON(cl), cl.Version)
}

func (a *API) rotateClientSecret(r *http.Request, c *call) (*response, error) {
	cl, secret, err := a.dir.RotateClientSecret(r.Context(), a.actor(r), chi.URLParam(r, "id"), c.ifMatch)
	if err != nil {
		return nil, err
	}
	out := toClientJSON(cl)
	out.ClientSecret = secret
	return ok(out, cl.Version)
}

func (a *API) deleteClient(r *http.Request, c *call) (*response, error) {
	if err := a.dir.DeleteClient(r.Context(), a.actor(r), chi.URLParam(r, "id"), c.ifMatch); err != nil {
		return nil, err
	}
	return &response{Status: http.StatusNoContent}, nil
}
