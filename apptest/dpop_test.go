package apptest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
)

// dpopFixture adds a client that must bind its tokens
// (dpop_bound_access_tokens).
func dpopFixture() directory.Static {
	st := staticFixture()
	st.Clients = append(st.Clients, directory.ClientSpec{ID: "bound", Secret: appSecret, RedirectURIs: []string{appRedirect},
		SkipConsent: true, DPoPBoundAccessTokens: true})
	return st
}

// dpopClient holds a client's DPoP key and makes proofs (RFC 9449 §4.2).
type dpopClient struct {
	t   *testing.T
	s   *apptest.Server
	key *ecdsa.PrivateKey
}

func newDPoPClient(t *testing.T, s *apptest.Server) *dpopClient {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopClient{t: t, s: s, key: key}
}

// jkt is the key's RFC 7638 thumbprint.
func (c *dpopClient) jkt() string {
	tp, err := (&jose.JSONWebKey{Key: c.key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		c.t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

type proofClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	Nonce string `json:"nonce,omitempty"`
	ATH   string `json:"ath,omitempty"`
}

// proof signs claims with the client's key, embedding signer's public key
// (normally the same; another to prove a wrong-key proof is refused).
func (c *dpopClient) proofWith(signer *ecdsa.PrivateKey, claims proofClaims) string {
	c.t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: signer},
		(&jose.SignerOptions{EmbedJWK: false}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: c.key.Public()}))
	if err != nil {
		c.t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		c.t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// proof is a fresh, correct proof for method and path.
func (c *dpopClient) proof(method, path, nonce, token string) string {
	cl := proofClaims{JTI: idp.RandomToken(16), HTM: method, HTU: c.s.URL + path, IAT: c.s.Clock.Now().Unix(), Nonce: nonce}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		cl.ATH = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return c.proofWith(c.key, cl)
}

type dpopAnswer struct {
	Status           int
	Nonce            string
	Challenge        string
	Error            string `json:"error"`
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	RefreshToken     string `json:"refresh_token"`
	ErrorDescription string `json:"error_description"`
}

// send posts form to path (or GETs /userinfo with auth) with a DPoP proof
// ("" for none).
func send(t *testing.T, s *apptest.Server, method, path string, form url.Values, clientID, secret, auth, proof string) dpopAnswer {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, s.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if clientID != "" {
		req.SetBasicAuth(clientID, secret)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := dpopAnswer{Status: resp.StatusCode, Nonce: resp.Header.Get("DPoP-Nonce"), Challenge: resp.Header.Get("WWW-Authenticate")}
	json.NewDecoder(resp.Body).Decode(&a)
	return a
}

// codeForm signs alice in to client and returns the code exchange form.
func codeForm(t *testing.T, s *apptest.Server, clientID, secret, redirect string) url.Values {
	t.Helper()
	rp := apptest.NewRP(t, s, clientID, secret, redirect, "openid", "profile", "offline_access")
	code, _ := apptest.Code(t, apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {pkce}}
	if secret == "" {
		form.Set("client_id", clientID)
	}
	return form
}

// claimsOf decodes a JWT's payload (the signature is checked elsewhere).
func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// RFC 9449: the server asks for its nonce first (use_dpop_nonce, nothing redeemed); the tokens are then
// DPoP-bound (token_type DPoP, cnf.jkt); /userinfo takes the token only with a proof of that key under the DPoP
// scheme, never as Bearer; introspection reports the binding.
func TestDPoPBindsTokensToTheClientsKey(t *testing.T) {
	eachDatabaseServer(t, dpopFixture(), func(t *testing.T, s *apptest.Server) {
		c := newDPoPClient(t, s)
		form := codeForm(t, s, "app", appSecret, appRedirect)
		a := send(t, s, "POST", "/token", form, "app", appSecret, "", c.proof("POST", "/token", "", ""))
		if a.Status != http.StatusBadRequest || a.Error != "use_dpop_nonce" || a.Nonce == "" {
			t.Fatalf("a proof without the nonce: %+v", a)
		}
		nonce := a.Nonce
		a = send(t, s, "POST", "/token", form, "app", appSecret, "", c.proof("POST", "/token", nonce, ""))
		if a.Status != http.StatusOK || a.TokenType != "DPoP" {
			t.Fatalf("the token request with the nonce (the code was not spent by the refusal): %+v", a)
		}
		cnf, _ := claimsOf(t, a.AccessToken)["cnf"].(map[string]any)
		if cnf == nil || cnf["jkt"] != c.jkt() {
			t.Fatalf("access token cnf = %v, want jkt %s", cnf, c.jkt())
		}
		at := a.AccessToken

		if u := send(t, s, "GET", "/userinfo", nil, "", "", "Bearer "+at, ""); u.Status != http.StatusUnauthorized {
			t.Fatalf("a bound token as Bearer: %+v", u)
		}
		other := newDPoPClient(t, s)
		if u := send(t, s, "GET", "/userinfo", nil, "", "", "DPoP "+at, other.proof("GET", "/userinfo", nonce, at)); u.Status != http.StatusUnauthorized || !strings.HasPrefix(u.Challenge, "DPoP ") {
			t.Fatalf("a bound token with another key's proof: %+v", u)
		}
		if u := send(t, s, "GET", "/userinfo", nil, "", "", "DPoP "+at, c.proof("GET", "/userinfo", nonce, "")); u.Status != http.StatusUnauthorized || u.Error != "invalid_dpop_proof" {
			t.Fatalf("a proof without ath: %+v", u)
		}
		if u := send(t, s, "GET", "/userinfo", nil, "", "", "DPoP "+at, c.proof("GET", "/userinfo", nonce, at)); u.Status != http.StatusOK {
			t.Fatalf("the bound token with its key: %+v", u)
		}

		resp, err := http.PostForm(s.URL+"/introspect", url.Values{"token": {at}, "client_id": {"app"}, "client_secret": {appSecret}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var in struct {
			Active    bool   `json:"active"`
			TokenType string `json:"token_type"`
			CNF       struct {
				JKT string `json:"jkt"`
			} `json:"cnf"`
		}
		json.NewDecoder(resp.Body).Decode(&in)
		if !in.Active || in.TokenType != "DPoP" || in.CNF.JKT != c.jkt() {
			t.Fatalf("introspection = %+v", in)
		}
	})
}

// RFC 9449 §4.3, §11.1: a proof with the wrong htu or htm, a stale iat, a signature by another key than the one
// it carries, or a jti already used is invalid_dpop_proof and changes nothing (the code redeems afterwards); of
// parallel requests with one proof exactly one is accepted.
func TestDPoPProofRefusals(t *testing.T) {
	eachDatabaseServer(t, dpopFixture(), func(t *testing.T, s *apptest.Server) {
		c := newDPoPClient(t, s)
		form := codeForm(t, s, "app", appSecret, appRedirect)
		nonce := send(t, s, "POST", "/token", url.Values{}, "", "", "", "").Nonce
		now := s.Clock.Now().Unix()
		wrongKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		for _, tc := range []struct {
			name  string
			proof string
		}{
			{"the wrong htu", c.proofWith(c.key, proofClaims{JTI: "j1", HTM: "POST", HTU: s.URL + "/userinfo", IAT: now, Nonce: nonce})},
			{"the wrong htm", c.proofWith(c.key, proofClaims{JTI: "j2", HTM: "GET", HTU: s.URL + "/token", IAT: now, Nonce: nonce})},
			{"a stale iat", c.proofWith(c.key, proofClaims{JTI: "j3", HTM: "POST", HTU: s.URL + "/token", IAT: now - 300, Nonce: nonce})},
			{"an iat in the future", c.proofWith(c.key, proofClaims{JTI: "j4", HTM: "POST", HTU: s.URL + "/token", IAT: now + 300, Nonce: nonce})},
			{"signed by another key than the one it carries", c.proofWith(wrongKey, proofClaims{JTI: "j5", HTM: "POST", HTU: s.URL + "/token", IAT: now, Nonce: nonce})},
			{"a nonce of another server", c.proofWith(c.key, proofClaims{JTI: "j6", HTM: "POST", HTU: s.URL + "/token", IAT: now, Nonce: "bm9wZQ"})},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := send(t, s, "POST", "/token", form, "app", appSecret, "", tc.proof)
				want := "invalid_dpop_proof"
				if strings.Contains(tc.name, "nonce") {
					want = "use_dpop_nonce"
				}
				if a.Status != http.StatusBadRequest || a.Error != want {
					t.Fatalf("%s: %+v", tc.name, a)
				}
			})
		}
		a := send(t, s, "POST", "/token", form, "app", appSecret, "", c.proof("POST", "/token", nonce, ""))
		if a.Status != http.StatusOK {
			t.Fatalf("the code after the refusals: %+v", a)
		}

		// One proof, many parallel uses: exactly one is accepted (the jti is remembered in the database).
		proof := c.proof("GET", "/userinfo", nonce, a.AccessToken)
		const n = 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		statuses := make([]int, n)
		for i := range n {
			wg.Go(func() {
				<-start
				statuses[i] = send(t, s, "GET", "/userinfo", nil, "", "", "DPoP "+a.AccessToken, proof).Status
			})
		}
		close(start)
		wg.Wait()
		if ok := slices.IndexFunc(statuses, func(st int) bool { return st == http.StatusOK }); ok < 0 ||
			len(slices.DeleteFunc(slices.Clone(statuses), func(st int) bool { return st != http.StatusOK })) != 1 {
			t.Fatalf("parallel uses of one proof: %v, want exactly one 200", statuses)
		}
	})
}

// RFC 9449 §5: a public client's refresh token is bound to its key (refused without a proof or with another key,
// accepted with its own); a client registered with dpop_bound_access_tokens gets no token without a proof.
func TestDPoPPublicClientRefreshAndRequiredBinding(t *testing.T) {
	eachDatabaseServer(t, dpopFixture(), func(t *testing.T, s *apptest.Server) {
		c := newDPoPClient(t, s)
		nonce := send(t, s, "POST", "/token", url.Values{}, "", "", "", "").Nonce
		a := send(t, s, "POST", "/token", codeForm(t, s, publicClientID, "", publicRedirect), "", "", "", c.proof("POST", "/token", nonce, ""))
		if a.Status != http.StatusOK || a.RefreshToken == "" || a.TokenType != "DPoP" {
			t.Fatalf("public client with DPoP: %+v", a)
		}
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.RefreshToken}, "client_id": {publicClientID}}
		if r := send(t, s, "POST", "/token", refresh, "", "", "", ""); r.Status != http.StatusBadRequest || r.Error != "invalid_dpop_proof" {
			t.Fatalf("a bound refresh token without a proof: %+v", r)
		}
		if r := send(t, s, "POST", "/token", refresh, "", "", "", newDPoPClient(t, s).proof("POST", "/token", nonce, "")); r.Status != http.StatusBadRequest || r.Error != "invalid_dpop_proof" {
			t.Fatalf("a bound refresh token with another key: %+v", r)
		}
		r := send(t, s, "POST", "/token", refresh, "", "", "", c.proof("POST", "/token", nonce, ""))
		if r.Status != http.StatusOK || r.TokenType != "DPoP" || r.RefreshToken == "" {
			t.Fatalf("a bound refresh token with its key (the refusals did not rotate it): %+v", r)
		}

		form := codeForm(t, s, "bound", appSecret, appRedirect)
		if b := send(t, s, "POST", "/token", form, "bound", appSecret, "", ""); b.Status != http.StatusBadRequest || b.Error != "invalid_dpop_proof" {
			t.Fatalf("dpop_bound_access_tokens without a proof: %+v", b)
		}
		if b := send(t, s, "POST", "/token", form, "bound", appSecret, "", c.proof("POST", "/token", nonce, "")); b.Status != http.StatusOK || b.TokenType != "DPoP" {
			t.Fatalf("dpop_bound_access_tokens with a proof: %+v", b)
		}
	})
}
