package op

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp/op/tokens"
	"github.com/twofold-idp/twofold/storage"
)

// DPoP (RFC 9449): a client proves, with a signed proof per request, that it
// holds the key its tokens are bound to. The proof is checked here, before
// the op library sees the request; the key's thumbprint (cnf.jkt) travels in
// the request's context to token minting and /userinfo.

// DPoPAlgs are the proof algorithms accepted, as discovery publishes them
// (dpop_signing_alg_values_supported): an allow-list, never none or HMAC.
var DPoPAlgs = []string{string(jose.ES256), string(jose.RS256), string(jose.PS256), string(jose.EdDSA)}

const (
	// dpopIATWindow is how far a proof's iat may be from the server's clock
	// (RFC 9449 §11.1: a short window bounds what must be remembered).
	dpopIATWindow = 60 * time.Second
	// dpopNonceEvery is how long a server nonce is current; the previous
	// one is accepted too.
	dpopNonceEvery  = 5 * time.Minute
	maxDPoPProofLen = 8 << 10
)

// dpopStore remembers used proofs, across replicas.
type dpopStore interface {
	UseDPoPProof(ctx context.Context, jkt, jti string, expiresAt time.Time) error
}

var _ dpopStore = (*storage.Store)(nil)

type dpopKey struct{}

// dpopJKT is the thumbprint of the key the request's DPoP proof was made
// with, "" when it carried none.
func dpopJKT(ctx context.Context) string {
	jkt, _ := ctx.Value(dpopKey{}).(string)
	return jkt
}

// dpopNonce is the server nonce of the window n (RFC 9449 §8): a MAC of the
// window under a key every replica derives alike, so any replica accepts any
// replica's nonce without storing it.
func (p *Provider) dpopNonce(n int64) string {
	m := hmac.New(sha256.New, p.dpopNonceKey)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func (p *Provider) currentDPoPNonce() string {
	return p.dpopNonce(p.now().Unix() / int64(dpopNonceEvery/time.Second))
}

func (p *Provider) validDPoPNonce(nonce string) bool {
	w := p.now().Unix() / int64(dpopNonceEvery/time.Second)
	return hmac.Equal([]byte(nonce), []byte(p.dpopNonce(w))) || hmac.Equal([]byte(nonce), []byte(p.dpopNonce(w-1)))
}

// dpopError is a refused proof: error invalid_dpop_proof or use_dpop_nonce.
type dpopError struct {
	code, description string
}

func (e *dpopError) Error() string { return e.code + ": " + e.description }

func invalidProof(description string) *dpopError {
	return &dpopError{code: "invalid_dpop_proof", description: description}
}

type dpopClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   *int64 `json:"iat"`
	ATH   string `json:"ath"`
	Nonce string `json:"nonce"`
}

// checkDPoPProof checks the request's DPoP proof (RFC 9449 §4.3) for method
// and htu (the issuer's URL of the endpoint, never the request's Host) and,
// at a resource, the access token it must be bound to (ath). It answers the
// key's thumbprint, or "" when the request carries no proof. A proof is
// used once: its jti is recorded per key until its iat window closes.
func (p *Provider) checkDPoPProof(ctx context.Context, h http.Header, method, htu, accessToken string) (string, error) {
	values := h.Values("DPoP")
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", invalidProof("Send exactly one DPoP proof.")
	}
	proof, err := parseDPoPProof(values[0], method, htu, accessToken, p.now())
	if err != nil {
		return "", err
	}
	if !p.validDPoPNonce(proof.nonce) {
		return "", &dpopError{code: "use_dpop_nonce", description: "Use the DPoP-Nonce this server sent."}
	}
	if err := p.store.UseDPoPProof(ctx, proof.jkt, proof.jti, proof.iat.Add(dpopIATWindow)); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return "", invalidProof("The DPoP proof was already used.")
		}
		return "", err
	}
	return proof.jkt, nil
}

// checkedProof is what a valid proof says.
type checkedProof struct {
	jkt, jti, nonce string
	iat             time.Time
}

// parseDPoPProof checks everything about a proof that needs no state: its
// form, signature by the key it carries, htm, htu, iat and ath. It returns
// a *dpopError for anything wrong.
func parseDPoPProof(value, method, htu, accessToken string, now time.Time) (checkedProof, error) {
	if len(value) > maxDPoPProofLen {
		return checkedProof{}, invalidProof("The DPoP proof is too large.")
	}
	algs := make([]jose.SignatureAlgorithm, len(DPoPAlgs))
	for i, a := range DPoPAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSigned(value, algs)
	if err != nil || len(jws.Signatures) != 1 {
		return checkedProof{}, invalidProof("The DPoP proof is not a JWS signed with an accepted algorithm.")
	}
	hdr := jws.Signatures[0].Protected
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return checkedProof{}, invalidProof("The DPoP proof must have typ dpop+jwt.")
	}
	jwk := hdr.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() || oidc.ValidateDPoPKeyStrength(jwk.Key) != nil {
		return checkedProof{}, invalidProof("The DPoP proof must carry an acceptable public key.")
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return checkedProof{}, invalidProof("The DPoP proof signature does not verify with its key.")
	}
	var c dpopClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return checkedProof{}, invalidProof("The DPoP proof claims cannot be read.")
	}
	switch {
	case c.JTI == "" || len(c.JTI) > 256:
		return checkedProof{}, invalidProof("The DPoP proof needs a jti.")
	case c.HTM != method:
		return checkedProof{}, invalidProof("The DPoP proof htm does not match the request method.")
	case !sameHTU(c.HTU, htu):
		return checkedProof{}, invalidProof("The DPoP proof htu does not match the request URL.")
	case c.IAT == nil:
		return checkedProof{}, invalidProof("The DPoP proof needs an iat.")
	}
	iat := time.Unix(*c.IAT, 0)
	if iat.Before(now.Add(-dpopIATWindow)) || iat.After(now.Add(dpopIATWindow)) {
		return checkedProof{}, invalidProof("The DPoP proof iat is not recent.")
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if !hmac.Equal([]byte(c.ATH), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) {
			return checkedProof{}, invalidProof("The DPoP proof ath does not match the access token.")
		}
	}
	jkt, err := oidc.JWKThumbprint(jwk)
	if err != nil {
		return checkedProof{}, invalidProof("The DPoP proof key has no thumbprint.")
	}
	return checkedProof{jkt: jkt, jti: c.JTI, nonce: c.Nonce, iat: iat}, nil
}

// sameHTU compares htu without query and fragment (RFC 9449 §4.3 item 9).
func sameHTU(got, want string) bool {
	if i := strings.IndexAny(got, "?#"); i >= 0 {
		got = got[:i]
	}
	return got != "" && got == want
}

// dpop checks the DPoP proof of /token and /userinfo requests before the op
// library reads them, answers a refused proof itself (with the nonce, and at
// /userinfo the DPoP challenge), and hands the key's thumbprint on in the
// context. Every answer of those endpoints carries a fresh DPoP-Nonce.
func (p *Provider) dpop(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" && r.URL.Path != "/userinfo" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("DPoP-Nonce", p.currentDPoPNonce())
		resource := r.URL.Path == "/userinfo"
		var token string
		if resource {
			scheme, value, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			if strings.EqualFold(scheme, "DPoP") {
				token = value
				if token == "" {
					token = "-" // a DPoP scheme without a token: the proof cannot match
				}
			}
		}
		var jkt string
		var err error
		// At /userinfo a proof counts only with the DPoP scheme (RFC 9449
		// §7.1): a bound token sent as Bearer is refused in UserInfo.
		if !resource || token != "" {
			jkt, err = p.checkDPoPProof(r.Context(), r.Header, r.Method, p.cfg.Issuer+r.URL.Path, token)
		}
		if resource && token != "" && err == nil && jkt == "" {
			err = invalidProof("The DPoP scheme needs a DPoP proof.")
		}
		var de *dpopError
		switch {
		case errors.As(err, &de):
			p.writeDPoPError(w, de, resource)
			return
		case err != nil:
			p.log.ErrorContext(r.Context(), "dpop proof", "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":"server_error"}`))
			return
		}
		if token != "" {
			// The op library reads Bearer; the binding is checked in UserInfo.
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+token)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), dpopKey{}, jkt)))
	})
}

// writeDPoPError answers a refused proof: 400 at /token (RFC 9449 §5.2,
// §8), 401 with a DPoP challenge at a resource (§7.1, §9).
func (p *Provider) writeDPoPError(w http.ResponseWriter, e *dpopError, resource bool) {
	status := http.StatusBadRequest
	if resource {
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `DPoP error="`+e.code+`", algs="`+strings.Join(DPoPAlgs, " ")+`"`)
	}
	body, _ := json.Marshal(map[string]string{"error": e.code, "error_description": e.description})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// dpopTokenClient is the client as token minting sees it, with the key the
// token request proved; a client registered with dpop_bound_access_tokens
// must send a proof (RFC 9449 §5.2).
func dpopTokenClient(ctx context.Context, c op.Client) (tokens.Client, error) {
	client := c.(opClient)
	tc := client.tokenClient()
	tc.DPoPJKT = dpopJKT(ctx)
	if tc.DPoPJKT == "" && client.row.DPoPBoundAccessTokens {
		e := oidc.ErrInvalidRequest().WithDescription("This client must send a DPoP proof.")
		e.ErrorType = "invalid_dpop_proof"
		return tokens.Client{}, e
	}
	return tc, nil
}

// allowsBearer reports whether a token bound to jkt may be used with the
// key the request proved: a bound token only with its own key (RFC 9449
// §7.1), a bearer token however it comes.
func allowsBearer(boundTo, proved string) bool {
	return boundTo == "" || boundTo == proved
}
