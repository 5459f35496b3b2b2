package op

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
)

// routes assembles the provider's handler: precomputed discovery and JWKS
// bytes, then the op library's endpoints, wrapped in the hardening the
// library does not do by itself.
func (p *Provider) routes() http.Handler {
	// The callback is a hosted page (package ui); this handler only answers
	// if someone mounts the provider there by mistake.
	callback := func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
	opHandler := op.RegisterLegacyServer(p.server, callback, op.WithServerCORSOptions(nil))
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+oidc.DiscoveryEndpoint, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(p.discovery)
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		b, err := p.keys.JWKS(r.Context())
		if err != nil {
			p.log.ErrorContext(r.Context(), "jwks", "err", err)
			http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		// Short: a rotated-in key must reach relying parties quickly.
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write(b)
	})
	// The endpoints a person's browser visits are ours, not the library's:
	// it would answer what it refuses as JSON, and in its own order. The
	// hosted pages mount Authorize and EndSession themselves, to show
	// refusals as pages; these routes serve Handler used alone.
	mux.HandleFunc("/authorize", p.serveBrowser(p.Authorize))
	mux.HandleFunc("/end_session", p.serveBrowser(p.EndSession))
	mux.HandleFunc("/par", p.PushedAuthorize)
	mux.Handle("/", limitForms(opHandler))
	return p.cors(noStore(wwwAuthenticate(refuseGrants(p.dpop(mux)))))
}

// offeredGrants are the grant types /token answers; anything else is
// refused before the library parses it, so the answer is always
// unsupported_grant_type (RFC 6749 §5.2).
var offeredGrants = []string{directory.GrantAuthorizationCode, directory.GrantRefreshToken, directory.GrantClientCredentials, directory.GrantDeviceCode}

func refuseGrants(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" && r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err == nil {
				if g := r.PostForm.Get("grant_type"); g != "" && !slices.Contains(offeredGrants, g) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusBadRequest)
					w.Write([]byte(`{"error":"unsupported_grant_type","error_description":"This grant type is not supported."}`))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// wwwAuthenticate adds the challenge a 401 must carry: Bearer at
// /userinfo (RFC 6750 §3.1), Basic where the client authenticated with
// HTTP Basic (RFC 6749 §5.2).
func wwwAuthenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var challenge string
		switch {
		case r.URL.Path == "/userinfo" && strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "dpop "):
			challenge = `DPoP error="invalid_token", algs="` + strings.Join(DPoPAlgs, " ") + `"`
		case r.URL.Path == "/userinfo":
			challenge = `Bearer error="invalid_token"`
		case strings.HasPrefix(r.Header.Get("Authorization"), "Basic "):
			challenge = `Basic realm="twofold"`
		default:
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&challengeWriter{ResponseWriter: w, challenge: challenge}, r)
	})
}

type challengeWriter struct {
	http.ResponseWriter
	challenge string
}

func (w *challengeWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", w.challenge)
	}
	w.ResponseWriter.WriteHeader(code)
}

// corsPaths are the only endpoints browsers may call cross-origin
// (RFC 9700 §2.6): never /authorize, login or logout.
var corsPaths = []string{oidc.DiscoveryEndpoint, "/keys", "/token", "/userinfo", "/revoke"}

// cors answers configured origins on corsPaths, without credentials.
func (p *Provider) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !slices.Contains(corsPaths, r.URL.Path) || !slices.Contains(p.cfg.CORSAllowedOrigins, origin) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, DPoP-Nonce")
		next.ServeHTTP(w, r)
	})
}

// noStore marks token, userinfo and introspection responses uncacheable
// (RFC 6749 §5.1, OIDC Core §5.3.2).
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token", "/userinfo", "/introspect", "/revoke", "/authorize", "/end_session", "/device_authorization":
			noStoreHeaders(w.Header())
		}
		next.ServeHTTP(w, r)
	})
}

func noStoreHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// serveBrowser adapts Authorize or EndSession to a handler that answers a
// refusal with a minimal HTML page.
func (p *Provider) serveBrowser(serve func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := serve(w, r); err != nil {
			p.log.InfoContext(r.Context(), "refused", "path", r.URL.Path, "err", err)
			writeRefusal(w, err)
		}
	}
}

// discoveryDocument extends the library's discovery with what it lacks.
type discoveryDocument struct {
	*oidc.DiscoveryConfiguration
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
	// Override fields the library fills with values we do not honour.
	RequestURIParameterSupported bool `json:"request_uri_parameter_supported"`
	RequestParameterSupported    bool `json:"request_parameter_supported"`
	ClaimsParameterSupported     bool `json:"claims_parameter_supported"`
	// RFC 9449 §5.1.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
	// RFC 9126 §5 (see par.go): the endpoint, and whether every client
	// must use it (no: per client, require_pushed_authorization_requests).
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests"`
}

func (p *Provider) buildDiscovery() ([]byte, error) {
	iss := p.cfg.Issuer
	algs := p.keys.Algorithms()
	d := &oidc.DiscoveryConfiguration{
		Issuer:                                     iss,
		AuthorizationEndpoint:                      iss + "/authorize",
		TokenEndpoint:                              iss + "/token",
		IntrospectionEndpoint:                      iss + "/introspect",
		UserinfoEndpoint:                           iss + "/userinfo",
		RevocationEndpoint:                         iss + "/revoke",
		EndSessionEndpoint:                         iss + "/end_session",
		JwksURI:                                    iss + "/keys",
		ScopesSupported:                            []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess},
		ResponseTypesSupported:                     []string{string(oidc.ResponseTypeCode)},
		ResponseModesSupported:                     []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFormPost)},
		GrantTypesSupported:                        []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeDeviceCode},
		DeviceAuthorizationEndpoint:                iss + "/device_authorization",
		ACRValuesSupported:                         policy.ACRValuesSupported,
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           algs,
		TokenEndpointAuthMethodsSupported:          []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodNone},
		TokenEndpointAuthSigningAlgValuesSupported: assertionAlgs,
		// Both authenticate clients as /token does (opServer.VerifyClient);
		// introspection is for confidential clients only.
		RevocationEndpointAuthMethodsSupported:             []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodNone},
		RevocationEndpointAuthSigningAlgValuesSupported:    assertionAlgs,
		IntrospectionEndpointAuthMethodsSupported:          []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT},
		IntrospectionEndpointAuthSigningAlgValuesSupported: assertionAlgs,
		ClaimsSupported:               []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp", "at_hash", "c_hash", "preferred_username", "name", "email", "email_verified"},
		CodeChallengeMethodsSupported: []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256},
		UILocalesSupported:            nil,
		// OpenID Connect Back-Channel Logout 1.0 §2.1 (see backchannel.go);
		// every logout token carries the sid.
		BackChannelLogoutSupported:        true,
		BackChannelLogoutSessionSupported: true,
	}
	return json.Marshal(discoveryDocument{
		DiscoveryConfiguration:                     d,
		AuthorizationResponseIssParameterSupported: true,
		ClaimsParameterSupported:                   true,
		DPoPSigningAlgValuesSupported:              DPoPAlgs,
		PushedAuthorizationRequestEndpoint:         iss + "/par",
	})
}
