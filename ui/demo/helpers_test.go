package demo

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

const (
	testClientID     = "acme-notes"
	testClientSecret = "s3cret"
)

// fakeProvider is the part of an OpenID provider the demo talks to: discovery, JWKS, the token endpoint. The
// test plays the browser's visit to /authorize by calling grant, which issues a code for an authorization URL.
// The real provider is exercised by the end-to-end tests; this one exists so the demo's own logic can be tested
// alone (ui/demo may not import the provider).
type fakeProvider struct {
	t     *testing.T
	srv   *httptest.Server
	idKey *rsa.PrivateKey   // RS256, signs ID tokens
	atKey *ecdsa.PrivateKey // ES256, signs access tokens

	mu                sync.Mutex
	discoveryFailures int // discovery answers 503 this many more times
	codes             map[string]fakeGrant
}

// fakeGrant is what the user proved at the fake provider for one authorization request.
type fakeGrant struct {
	nonce, challenge, redirectURI string
	acr                           string
	amr                           []string
	authTime                      time.Time
}

func newFakeProvider(t *testing.T) *fakeProvider {
	t.Helper()
	idKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	atKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProvider{t: t, idKey: idKey, atKey: atKey, codes: map[string]fakeGrant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /keys", p.jwks)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeProvider) issuer() string { return p.srv.URL }

func (p *fakeProvider) discovery(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	fail := p.discoveryFailures > 0
	if fail {
		p.discoveryFailures--
	}
	p.mu.Unlock()
	if fail {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	writeTestJSON(w, map[string]any{
		"issuer":                                p.issuer(),
		"authorization_endpoint":                p.issuer() + "/authorize",
		"token_endpoint":                        p.issuer() + "/token",
		"jwks_uri":                              p.issuer() + "/keys",
		"end_session_endpoint":                  p.issuer() + "/end_session",
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256", "EdDSA"},
		"code_challenge_methods_supported":      []string{"S256"},
		"acr_values_supported":                  []string{acrPwd, acrMFA, acrPHR},
	})
}

func (p *fakeProvider) jwks(w http.ResponseWriter, _ *http.Request) {
	writeTestJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &p.idKey.PublicKey, KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"},
		{Key: &p.atKey.PublicKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"},
	}})
}

// grant plays the user's visit to the authorization endpoint: it checks the request and answers with the callback
// URL carrying a code (or the given error).
func (p *fakeProvider) grant(authURL, acr string, amr []string, authTime time.Time) string {
	p.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		p.t.Fatal(err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" {
		p.t.Fatalf("authorization request without PKCE S256 or nonce: %s", authURL)
	}
	code := rand.Text()
	p.mu.Lock()
	p.codes[code] = fakeGrant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"),
		redirectURI: q.Get("redirect_uri"), acr: acr, amr: amr, authTime: authTime}
	p.mu.Unlock()
	return q.Get("redirect_uri") + "?" + url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
}

func (p *fakeProvider) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != testClientID || secret != testClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		writeTestJSON(w, map[string]string{"error": "invalid_client"})
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	g, found := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code"))
	p.mu.Unlock()
	if !found || r.PostForm.Get("grant_type") != "authorization_code" ||
		r.PostForm.Get("redirect_uri") != g.redirectURI ||
		oidc.NewSHACodeChallenge(r.PostForm.Get("code_verifier")) != g.challenge {
		w.WriteHeader(http.StatusBadRequest)
		writeTestJSON(w, map[string]string{"error": "invalid_grant", "error_description": "code or PKCE verifier"})
		return
	}
	now := time.Now()
	at := p.accessToken(map[string]any{
		"iss": p.issuer(), "sub": "user-1", "aud": []string{testClientID}, "client_id": testClientID,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": rand.Text(),
		"acr": g.acr, "amr": g.amr, "auth_time": g.authTime.Unix(), "sid": "sid-1",
	})
	atHash, err := oidc.ClaimHash(at, jose.RS256)
	if err != nil {
		p.t.Error(err)
	}
	idt := p.sign(p.idKey, jose.RS256, "rsa-1", "JWT", map[string]any{
		"iss": p.issuer(), "sub": "user-1", "aud": []string{testClientID}, "azp": testClientID,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nonce": g.nonce, "at_hash": atHash,
		"acr": g.acr, "amr": g.amr, "auth_time": g.authTime.Unix(), "sid": "sid-1",
		"preferred_username": "alice", "email": "alice@example.com",
	})
	writeTestJSON(w, map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": 3600, "id_token": idt,
	})
}

// accessToken signs claims as a Twofold access token: ES256, typ at+jwt.
func (p *fakeProvider) accessToken(claims map[string]any) string {
	return p.sign(p.atKey, jose.ES256, "ec-1", "at+jwt", claims)
}

func (p *fakeProvider) sign(key crypto.Signer, alg jose.SignatureAlgorithm, kid, typ string, claims any) string {
	p.t.Helper()
	return signJWT(p.t, jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, typ, claims)
}

func signJWT(t *testing.T, key jose.SigningKey, typ string, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// demoEnv is the demo mounted at /demo/ of a test server, and a browser for it: a cookie jar that does not
// follow redirects, so each step can be inspected.
type demoEnv struct {
	t        *testing.T
	provider *fakeProvider
	srv      *httptest.Server
	browser  *http.Client
	baseURL  string
}

func newDemoEnv(t *testing.T, p *fakeProvider) *demoEnv {
	t.Helper()
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	env := &demoEnv{t: t, provider: p, srv: srv, baseURL: srv.URL + "/demo"}
	h, err := New(Options{
		Issuer: p.issuer(), ClientID: testClientID, ClientSecret: testClientSecret, BaseURL: env.baseURL,
		CookieKey: make([]byte, 32), HTTPClient: p.srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/demo/", h)
	handler = mux
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	env.browser = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return env
}

// get requests a URL (absolute, or a path under the test server) and returns the response with its body read.
func (e *demoEnv) get(target string, header ...string) (*http.Response, string) {
	e.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = e.srv.URL + target
	}
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodGet, target, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.browser.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		assertCSPSafe(e.t, string(body))
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			e.t.Errorf("GET %s: Cache-Control = %q, want no-store", target, cc)
		}
	}
	return resp, string(body)
}

// login starts a sign-in with the given query and returns the authorization URL the demo redirected to.
func (e *demoEnv) login(query string) string {
	e.t.Helper()
	resp, body := e.get("/demo/login?" + query)
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("GET /demo/login?%s = %d, want 302\n%s", query, resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// signIn completes a sign-in in the given mode at the fake provider with what the user proved there, and
// returns where the callback redirected.
func (e *demoEnv) signIn(query, acr string, amr []string, authTime time.Time) string {
	e.t.Helper()
	callback := e.provider.grant(e.login(query), acr, amr, authTime)
	resp, body := e.get(callback)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("callback = %d, want 303\n%s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// assertCSPSafe fails when a page has what the provider's CSP would block: inline scripts, styles or handlers.
func assertCSPSafe(t *testing.T, body string) {
	t.Helper()
	lower := strings.ToLower(body)
	for _, bad := range []string{"<script", "<style", " style=", " onclick=", " onload=", "javascript:"} {
		if strings.Contains(lower, bad) {
			t.Errorf("page contains %q, which the CSP forbids", bad)
		}
	}
}

// elementText returns the text inside the element with the given id (a test-sized HTML reader: the demo's
// elements with ids contain no nested element of the same tag).
func elementText(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no element with id %q in page:\n%s", id, body)
	}
	open := strings.LastIndex(body[:i], "<")
	tag := strings.Fields(body[open+1 : i])[0]
	start := strings.Index(body[i:], ">") + i + 1
	end := strings.Index(body[start:], "</"+tag+">") + start
	return body[start:end]
}
