package demo

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// level is an authentication level: the acr values of Twofold in their order of strength.
type level int

const (
	levelNone level = iota // no acr, or one the demo does not know
	levelPwd
	levelMFA
	levelPHR
)

// parseLevel maps an acr value to its level; the PAPE multi-factor URI counts as mfa, as it does at Twofold.
func parseLevel(acr string) level {
	switch acr {
	case acrPwd:
		return levelPwd
	case acrMFA, acrPAPEMultiFactor:
		return levelMFA
	case acrPHR:
		return levelPHR
	default:
		return levelNone
	}
}

const (
	// reportMinLevel is what the protected API demands, and reportMinACR how it asks for it.
	reportMinLevel = levelMFA
	reportMinACR   = acrMFA

	// accessTokenSkew tolerates clock differences between the provider and this resource server.
	accessTokenSkew = 30 * time.Second

	// insufficientChallenge is RFC 9470 §3's challenge for a token whose authentication is too weak.
	insufficientChallenge = `Bearer error="insufficient_user_authentication", ` +
		`error_description="A second factor is required", acr_values="` + reportMinACR + `"`
)

// accessTokenAlgs are the signature algorithms accepted on access tokens: Twofold's, all asymmetric (never none
// or an HMAC keyed with something public).
var accessTokenAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA, jose.PS256}

// resourceServer is the demo's protected API: GET /api/report. It accepts Twofold's JWT access tokens
// (RFC 9068) and demands a second factor, answering RFC 9470's insufficient_user_authentication otherwise.
type resourceServer struct {
	issuer   string
	audience string // Twofold's access tokens are issued to the client: the demo is its own resource server
	keys     func(context.Context) (oidc.KeySet, error)
	now      func() time.Time
	log      *slog.Logger
}

// accessTokenClaims are the claims of an RFC 9068 access token the API reads.
type accessTokenClaims struct {
	Issuer    string        `json:"iss"`
	Subject   string        `json:"sub"`
	Audience  oidc.Audience `json:"aud"`
	Expiry    oidc.Time     `json:"exp"`
	NotBefore oidc.Time     `json:"nbf"`
	ACR       string        `json:"acr"`
	AMR       []string      `json:"amr"`
	AuthTime  oidc.Time     `json:"auth_time"`
}

// tokenError is why an access token is refused: a description safe to send (RFC 6750 §3 error_description).
type tokenError string

func (e tokenError) Error() string { return string(e) }

var errKeysUnavailable = errors.New("demo: the provider's key set is unavailable")

func (rs *resourceServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
		return
	}
	token, ok := bearerToken(r)
	if !ok {
		// RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
		h.Set("WWW-Authenticate", `Bearer realm="acme-notes"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "unauthorized", "error_description": "Send an access token as Authorization: Bearer …",
		})
		return
	}
	claims, err := rs.verify(r.Context(), token)
	var te tokenError
	switch {
	case errors.As(err, &te):
		rs.log.DebugContext(r.Context(), "demo api: access token refused", "reason", err)
		h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+string(te)+`"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": string(te)})
		return
	case err != nil:
		rs.log.ErrorContext(r.Context(), "demo api: cannot verify access tokens", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"error": "temporarily_unavailable", "error_description": "The provider's keys cannot be fetched.",
		})
		return
	}
	if parseLevel(claims.ACR) < reportMinLevel {
		// RFC 9470 §3: tell the client which acr to ask the authorization server for.
		h.Set("WWW-Authenticate", insufficientChallenge)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "insufficient_user_authentication", "error_description": "A second factor is required",
			"acr_values": reportMinACR,
		})
		return
	}
	amr := claims.AMR
	if amr == nil {
		amr = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"report": "Acme Notes quarterly report: 12 notes, 3 shared, 0 leaked.",
		"sub":    claims.Subject,
		"acr":    claims.ACR,
		"amr":    amr,
	})
}

// bearerToken reads the token of an Authorization: Bearer header (RFC 6750 §2.1; the scheme is case-insensitive).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// verify validates a JWT access token as RFC 9068 §4 asks: typ at+jwt, a signature by a key of the provider's
// JWKS, the issuer, the audience and the validity period. The acr is the caller's to judge.
func (rs *resourceServer) verify(ctx context.Context, token string) (*accessTokenClaims, error) {
	jws, err := jose.ParseSignedCompact(token, accessTokenAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, tokenError("The access token is not a signed JWT with an accepted algorithm")
	}
	typ, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, tokenError("The token is not an access token (typ is not at+jwt)")
	}
	keys, err := rs.keys(ctx)
	if err != nil {
		return nil, errors.Join(errKeysUnavailable, err)
	}
	payload, err := keys.VerifySignature(ctx, jws)
	if err != nil {
		return nil, tokenError("The access token's signature is not valid")
	}
	var c accessTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, tokenError("The access token's claims are malformed")
	}
	now := rs.now()
	switch {
	case c.Issuer != rs.issuer:
		return nil, tokenError("The access token was not issued by this provider")
	case !slices.Contains(c.Audience, rs.audience):
		return nil, tokenError("The access token is not for this API")
	case c.Expiry == 0 || !now.Before(c.Expiry.AsTime().Add(accessTokenSkew)):
		return nil, tokenError("The access token has expired")
	case c.NotBefore != 0 && now.Add(accessTokenSkew).Before(c.NotBefore.AsTime()):
		return nil, tokenError("The access token is not valid yet")
	}
	return &c, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // a failed write means the client went away
}
