package demo

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
)

// Authentication context class references of Twofold, weakest first (ARCHITECTURE.md, "Claims").
const (
	acrPwd = "urn:twofold:acr:pwd"
	acrMFA = "urn:twofold:acr:mfa"
	acrPHR = "urn:twofold:acr:phr"
	// acrPAPEMultiFactor is accepted by Twofold as an alias of acrMFA.
	acrPAPEMultiFactor = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
)

// Sign-in modes: one per button on the page, plus the RFC 9470 retry.
const (
	modeSignIn  = "signin"  // a plain code flow
	modeStepUp  = "stepup"  // acr_values=urn:twofold:acr:mfa (voluntary, OIDC Core §3.1.2.1)
	modePasskey = "passkey" // an essential acr claim of phr (OIDC Core §5.5.1.1): never downgraded
	modeReauth  = "reauth"  // max_age=0: the user must authenticate actively again
	modeRetry   = "retry"   // the acr_values and max_age of a resource server's challenge (RFC 9470 §4)
)

// passkeyClaims is the claims request parameter (OIDC Core §5.5) of the "Require a passkey" button.
const passkeyClaims = `{"id_token":{"acr":{"essential":true,"value":"` + acrPHR + `"}}}`

const (
	// pendingLifetime is how long a sign-in may take between the redirect to Twofold and the callback.
	pendingLifetime = 10 * time.Minute
	// authTimeSkew tolerates the rounding of auth_time to whole seconds when checking max_age.
	authTimeSkew = 5 * time.Second
	// maxACRValues and maxACRValueLen bound what a retry link may carry.
	maxACRValues   = 5
	maxACRValueLen = 200
)

// loginRequest is what one sign-in asks Twofold for, beyond a plain code flow.
type loginRequest struct {
	Mode      string `json:"mode"`
	ACRValues string `json:"acr_values,omitempty"`
	Claims    string `json:"claims,omitempty"`
	MaxAge    *int   `json:"max_age,omitempty"`
	// ThenCallAPI calls the protected API again once signed in: the "retry" of RFC 9470's step-up.
	ThenCallAPI bool `json:"then_call_api,omitempty"`
}

// errBadLoginRequest is a /login query the demo does not understand.
var errBadLoginRequest = errors.New("demo: bad sign-in request")

// parseLoginRequest turns the query of /login (mode, and for mode=retry acr_values and max_age) into what the
// authorization request will ask for.
func parseLoginRequest(q url.Values) (loginRequest, error) {
	switch mode := q.Get("mode"); mode {
	case modeSignIn, "":
		return loginRequest{Mode: modeSignIn}, nil
	case modeStepUp:
		return loginRequest{Mode: mode, ACRValues: acrMFA}, nil
	case modePasskey:
		return loginRequest{Mode: mode, Claims: passkeyClaims}, nil
	case modeReauth:
		zero := 0
		return loginRequest{Mode: mode, MaxAge: &zero}, nil
	case modeRetry:
		req := loginRequest{Mode: mode, ThenCallAPI: true}
		if v := q.Get("acr_values"); v != "" {
			values := strings.Fields(v)
			if len(values) > maxACRValues {
				return loginRequest{}, errBadLoginRequest
			}
			for _, a := range values {
				if !validACRValue(a) {
					return loginRequest{}, errBadLoginRequest
				}
			}
			req.ACRValues = strings.Join(values, " ")
		}
		if v := q.Get("max_age"); v != "" {
			n, err := parseMaxAge(v)
			if err != nil {
				return loginRequest{}, errBadLoginRequest
			}
			req.MaxAge = &n
		}
		if req.ACRValues == "" && req.MaxAge == nil {
			return loginRequest{}, errBadLoginRequest
		}
		return req, nil
	default:
		return loginRequest{}, errBadLoginRequest
	}
}

// validACRValue accepts a URI or other printable token without quotes or backslashes.
func validACRValue(s string) bool {
	if s == "" || len(s) > maxACRValueLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// parseMaxAge reads a max_age value: a non-negative number of seconds (OIDC Core §3.1.2.1).
func parseMaxAge(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// pendingLogin is the sign-in in flight, kept in an encrypted cookie between /login and /callback.
type pendingLogin struct {
	State    string       `json:"state"`
	Nonce    string       `json:"nonce"`
	Verifier string       `json:"verifier"` // PKCE (RFC 7636)
	Started  int64        `json:"started"`  // unix seconds: auth_time must not be older when max_age was sent
	Request  loginRequest `json:"request"`
}

// handleLogin starts a sign-in: it remembers state, nonce and PKCE verifier and sends the browser to Twofold.
func (s *server) handleLogin(w http.ResponseWriter, r *http.Request) {
	req, err := parseLoginRequest(r.URL.Query())
	if err != nil {
		s.renderHome(w, r, http.StatusBadRequest, &alertView{
			Title: "This sign-in link is not valid", Code: "invalid_request",
			Description: "Use one of the buttons on this page.",
		})
		return
	}
	relying, err := s.relying.get(r.Context())
	if err != nil {
		s.log.ErrorContext(r.Context(), "demo: provider unreachable", "err", err)
		s.renderHome(w, r, http.StatusServiceUnavailable, providerUnreachable)
		return
	}
	p := pendingLogin{
		State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(),
		Started: s.now().Unix(), Request: req,
	}
	raw, err := json.Marshal(p)
	if err == nil {
		err = s.pending.SetCookie(w, s.cookieName(pendingCookie), string(raw))
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "demo: set sign-in cookie", "err", err)
		s.renderHome(w, r, http.StatusInternalServerError, internalError)
		return
	}
	http.Redirect(w, r, authURL(relying, p), http.StatusFound)
}

// authURL is the authorization request (OIDC Core §3.1.2.1) for a pending sign-in.
func authURL(relying rp.RelyingParty, p pendingLogin) string {
	opts := []rp.AuthURLOpt{
		rp.WithCodeChallenge(oidc.NewSHACodeChallenge(p.Verifier)), // S256
		rp.AuthURLOpt(rp.WithURLParam("nonce", p.Nonce)),
	}
	if p.Request.ACRValues != "" {
		opts = append(opts, rp.AuthURLOpt(rp.WithURLParam("acr_values", p.Request.ACRValues)))
	}
	if p.Request.Claims != "" {
		opts = append(opts, rp.AuthURLOpt(rp.WithURLParam("claims", p.Request.Claims)))
	}
	if p.Request.MaxAge != nil {
		opts = append(opts, rp.AuthURLOpt(rp.WithURLParam("max_age", strconv.Itoa(*p.Request.MaxAge))))
	}
	return rp.AuthURL(p.State, relying, opts...)
}

// handleCallback completes a sign-in: it checks the state, shows an error response as it came, or exchanges the
// code (with the PKCE verifier), verifies the ID token (signature, issuer, audience, expiry, nonce, at_hash) and
// starts a demo session.
func (s *server) handleCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	name := s.cookieName(pendingCookie)
	var p pendingLogin
	raw, err := s.pending.CheckCookie(r, name)
	if err == nil {
		err = json.Unmarshal([]byte(raw), &p)
	}
	if err != nil {
		s.renderHome(w, r, http.StatusBadRequest, &alertView{
			Title: "No sign-in in progress", Code: "invalid_state",
			Description: "This browser has no sign-in in progress, or it took longer than 10 minutes. Start again.",
		})
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(p.State)) != 1 {
		// Another sign-in's response, or a forged one: its error text is not shown, and the sign-in in progress
		// stays valid.
		s.renderHome(w, r, http.StatusBadRequest, &alertView{
			Title: "This response is not for the sign-in this browser started", Code: "invalid_state",
			Description: "The state parameter does not match. Start again.",
		})
		return
	}
	s.pending.DeleteCookie(w, name)

	if code := q.Get("error"); code != "" {
		// The provider's answer to the request, shown as it came (OIDC Core §3.1.2.6), e.g.
		// unmet_authentication_requirements or access_denied.
		s.log.InfoContext(ctx, "demo: sign-in ended with an error", "mode", p.Request.Mode, "error", code)
		s.renderHome(w, r, http.StatusOK, &alertView{
			Title: "Twofold did not sign you in", Code: code, Description: q.Get("error_description"),
		})
		return
	}
	code := q.Get("code")
	if code == "" {
		s.renderHome(w, r, http.StatusBadRequest, &alertView{
			Title: "The response carries no authorization code", Code: "invalid_request",
		})
		return
	}
	relying, err := s.relying.get(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "demo: provider unreachable", "err", err)
		s.renderHome(w, r, http.StatusServiceUnavailable, providerUnreachable)
		return
	}
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](context.WithValue(ctx, nonceKey{}, p.Nonce), code, relying,
		rp.WithCodeVerifier(p.Verifier))
	if err != nil {
		s.log.ErrorContext(ctx, "demo: code exchange or ID token verification failed", "err", err)
		alert := &alertView{
			Title: "The sign-in could not be completed", Code: "invalid_token",
			Description: "The code exchange or the ID token verification failed; the server log has the cause.",
		}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			alert.Code, alert.Description = re.ErrorCode, re.ErrorDescription
		}
		s.renderHome(w, r, http.StatusBadGateway, alert)
		return
	}
	if tokens.IDTokenClaims == nil {
		s.log.ErrorContext(ctx, "demo: token response without an ID token")
		s.renderHome(w, r, http.StatusBadGateway, &alertView{
			Title: "Twofold returned no ID token", Code: "invalid_token",
		})
		return
	}
	claims := newIDClaims(tokens.IDTokenClaims)
	if p.Request.MaxAge != nil {
		// OIDC Core §3.1.2.1: with max_age, auth_time is required, and the authentication must be recent enough.
		oldest := time.Unix(p.Started, 0).Add(-time.Duration(*p.Request.MaxAge)*time.Second - authTimeSkew)
		if claims.AuthTime.IsZero() || claims.AuthTime.Before(oldest) {
			s.log.WarnContext(ctx, "demo: auth_time does not honour max_age",
				"auth_time", claims.AuthTime, "max_age", *p.Request.MaxAge)
			s.renderHome(w, r, http.StatusBadGateway, &alertView{
				Title: "Twofold did not re-authenticate you", Code: "invalid_token",
				Description: "The ID token's auth_time is missing or older than the max_age this sign-in asked for.",
			})
			return
		}
	}

	if old, ok := s.sessionID(r); ok {
		s.sessions.delete(old)
	}
	id := s.sessions.create(session{
		claims: claims, idToken: tokens.IDToken, accessToken: tokens.AccessToken, request: p.Request,
	})
	if err := s.signedIn.SetCookie(w, s.cookieName(sessionCookie), id); err != nil {
		s.log.ErrorContext(ctx, "demo: set session cookie", "err", err)
		s.renderHome(w, r, http.StatusInternalServerError, internalError)
		return
	}
	s.log.InfoContext(ctx, "demo: signed in", "mode", p.Request.Mode, "sub", claims.Subject, "acr", claims.ACR,
		"amr", claims.AMR)
	target := s.path("/")
	if p.Request.ThenCallAPI {
		s.sessions.setAPIResult(id, s.callAPI(ctx, tokens.AccessToken))
		target += "#api-result"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// idClaims are the ID token claims the page shows.
type idClaims struct {
	Subject           string
	PreferredUsername string
	Email             string
	ACR               string
	AMR               []string
	AuthTime          time.Time
	SessionID         string
	Issuer            string
	Audience          []string
	Expiry            time.Time
}

func newIDClaims(c *oidc.IDTokenClaims) idClaims {
	return idClaims{
		Subject: c.Subject, PreferredUsername: c.PreferredUsername, Email: c.Email,
		ACR: c.AuthenticationContextClassReference, AMR: c.AuthenticationMethodsReferences,
		AuthTime: c.AuthTime.AsTime(), SessionID: c.SessionID, Issuer: c.Issuer, Audience: c.Audience,
		Expiry: c.Expiration.AsTime(),
	}
}
