package adminapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/op"
	"github.com/twofold-idp/twofold/idp/policy"
)

// An administrator's token must show a second factor proven at most this
// long ago (the console's level: mfa_max_age 15 minutes).
const adminMaxAge = 15 * time.Minute

// adminLevel is the weakest level an administrator's token may carry.
const adminLevel = policy.LevelMFA

// adminACRValues is what a client should ask for to step up (RFC 9470 §3),
// in order of preference.
var adminACRValues = policy.ACRMFA + " " + policy.ACRPhishingResistant

type principalKey struct{}

// principal is who is calling: a client on its own behalf, or an
// administrator through a client.
type principal struct {
	ClientID string
	UserID   string // "" for a client's own token
}

func (p principal) actorID() string {
	if p.UserID != "" {
		return p.UserID
	}
	return "client:" + p.ClientID
}

// authenticate admits (a) a client_credentials token of a client registered
// with twofold:admin, granted that scope, and (b) a token of a member of the
// admin group, granted that scope through such a client, whose second
// factor is recent enough. Anything else is refused with the challenge
// RFC 6750 §3 and RFC 9470 §3 describe.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, refusal := a.admit(r)
		if refusal != nil {
			w.Header().Set("WWW-Authenticate", refusal.challenge)
			a.problem(w, r, refusal.problem)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

type refusal struct {
	challenge string
	problem   *problem
}

func unauthorized(code, description string) *refusal {
	return &refusal{
		challenge: `Bearer realm="twofold", error="` + code + `", error_description="` + description + `"`,
		problem:   &problem{Status: http.StatusUnauthorized, Type: code, Title: "Not authenticated", Detail: description},
	}
}

func (a *API) admit(r *http.Request) (principal, *refusal) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		// No credentials: no error code (RFC 6750 §3.1).
		return principal{}, &refusal{
			challenge: `Bearer realm="twofold", scope="` + directory.ScopeAdmin + `"`,
			problem:   &problem{Status: http.StatusUnauthorized, Type: "invalid_token", Title: "Not authenticated", Detail: "An access token is required."},
		}
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return principal{}, unauthorized("invalid_token", "The access token is invalid, expired or revoked.")
	}
	at, err := a.tokens.VerifyAccessToken(r.Context(), token)
	if errors.Is(err, op.ErrInvalidToken) {
		return principal{}, unauthorized("invalid_token", "The access token is invalid, expired or revoked.")
	}
	if err != nil {
		a.log.ErrorContext(r.Context(), "admin api: verify access token", "err", err)
		return principal{}, &refusal{challenge: `Bearer realm="twofold"`, problem: internalProblem()}
	}
	forbidden := &refusal{
		challenge: `Bearer realm="twofold", error="insufficient_scope", error_description="This token does not grant the admin API.", scope="` + directory.ScopeAdmin + `"`,
		problem:   &problem{Status: http.StatusForbidden, Type: "insufficient_scope", Title: "Forbidden", Detail: "This token does not grant the admin API."},
	}
	if !slices.Contains(at.Scopes, directory.ScopeAdmin) || !slices.Contains(at.ClientAllowedScopes, directory.ScopeAdmin) {
		return principal{}, forbidden
	}
	p := principal{ClientID: at.ClientID, UserID: at.UserID}
	if at.UserID == "" {
		return p, nil
	}
	isAdmin, err := a.dir.IsAdmin(r.Context(), at.UserID)
	if err != nil {
		a.log.ErrorContext(r.Context(), "admin api: admin check", "err", err)
		return principal{}, &refusal{challenge: `Bearer realm="twofold"`, problem: internalProblem()}
	}
	if !isAdmin {
		return principal{}, forbidden
	}
	level, _ := policy.ParseACR(at.ACR)
	fresh := at.AuthTime != nil && a.now().Sub(*at.AuthTime) <= adminMaxAge
	if level < adminLevel || !fresh {
		// RFC 9470 §3: the client gets a new token with these.
		desc := "The admin API needs a second factor proven in the last 15 minutes."
		return principal{}, &refusal{
			challenge: `Bearer realm="twofold", error="insufficient_user_authentication", error_description="` + desc +
				`", acr_values="` + adminACRValues + `", max_age=` + itoa(int(adminMaxAge/time.Second)),
			problem: &problem{Status: http.StatusUnauthorized, Type: "insufficient_user_authentication", Title: "Step-up required", Detail: desc},
		}
	}
	return p, nil
}

// actor is who the audit trail names for r.
func (a *API) actor(r *http.Request) idp.Actor {
	p, _ := r.Context().Value(principalKey{}).(principal)
	ua := r.UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	return idp.Actor{ID: p.actorID(), IP: a.ip(r), RequestID: a.reqID(r.Context()), UserAgent: ua}
}
