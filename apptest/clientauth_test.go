package apptest_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/directory"
)

// SECURITY-RULES: "`private_key_jwt` with a reused `jti`, expired `exp` or wrong `aud` → `invalid_client` (RFC 6749
// §5.2, RFC 7523 §3)"
func TestPrivateKeyJWTClientAuthentication(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	st := staticFixture()
	st.Clients = append(st.Clients, directory.ClientSpec{ID: "jwtclient", JWKS: string(jwks), GrantTypes: []string{directory.GrantClientCredentials}})
	eachDatabaseServer(t, st, func(t *testing.T, s *apptest.Server) {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		assertion := func(aud string, exp time.Time, jti string) string {
			now := s.Clock.Now()
			b, _ := json.Marshal(map[string]any{"iss": "jwtclient", "sub": "jwtclient", "aud": aud, "jti": jti, "iat": now.Unix(), "exp": exp.Unix()})
			jws, err := signer.Sign(b)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := jws.CompactSerialize()
			return out
		}
		token := func(a string) (int, string) {
			form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
			resp, err := http.PostForm(s.URL+"/token", form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error       string `json:"error"`
				AccessToken string `json:"access_token"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode, body.Error + body.AccessToken
		}
		good := assertion(s.URL, s.Clock.Now().Add(5*time.Minute), "jti-1")
		if code, body := token(good); code != 200 || strings.Contains(body, "invalid") {
			t.Fatalf("valid assertion: %d %s", code, body)
		}
		for _, tc := range []struct{ name, assertion string }{
			{"a reused jti", good},
			{"an expired assertion", assertion(s.URL, s.Clock.Now().Add(-time.Minute), "jti-2")},
			{"a wrong audience", assertion("https://other.example.com", s.Clock.Now().Add(5*time.Minute), "jti-3")},
		} {
			if code, body := token(tc.assertion); code != http.StatusUnauthorized && code != http.StatusBadRequest || body != "invalid_client" {
				t.Errorf("%s: %d %q, want invalid_client", tc.name, code, body)
			}
		}
	})
}

// assertionKeys makes a signing key for each JWS algorithm a test may meet,
// with the public half under kid = the algorithm's name.
func assertionKeys(t *testing.T) (map[string]any, []byte) {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	private := map[string]any{"RS256": rsaKey, "PS256": rsaKey, "ES256": ecKey, "EdDSA": edKey, "HS256": []byte("a-shared-secret-of-32-bytes-long!")}
	public := map[string]any{"RS256": &rsaKey.PublicKey, "PS256": &rsaKey.PublicKey, "ES256": &ecKey.PublicKey, "EdDSA": edPub}
	var set jose.JSONWebKeySet
	for alg, k := range public {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: alg, Use: "sig"})
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return private, jwks
}

// Discovery lists every way /token, /introspect and /revoke authenticate a
// client, and exactly the algorithms accepted for client assertions.
// SECURITY-RULES: "JWTs we accept (`id_token_hint`, client assertions, request objects) are verified against an
// algorithm allow-list; `none` refused"
func TestDiscoveryListsEveryClientAuthenticationTheEndpointsAccept(t *testing.T) {
	private, jwks := assertionKeys(t)
	st := staticFixture()
	st.Clients = append(st.Clients, directory.ClientSpec{ID: "jwtclient", JWKS: string(jwks), GrantTypes: []string{directory.GrantClientCredentials}})
	eachDatabaseServer(t, st, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		resp, err := http.Get(s.URL + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&raw)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		d := map[string][]string{} // the document's lists
		for k, v := range raw {
			var list []string
			if json.Unmarshal(v, &list) == nil {
				d[k] = list
			}
		}
		for _, ep := range []struct {
			name    string
			methods []string
		}{
			{"token", []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}},
			{"revocation", []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}},
			{"introspection", []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}},
		} {
			got := slices.Sorted(slices.Values(d[ep.name+"_endpoint_auth_methods_supported"]))
			if want := slices.Sorted(slices.Values(ep.methods)); !slices.Equal(got, want) {
				t.Errorf("%s_endpoint_auth_methods_supported = %v, want %v", ep.name, got, want)
			}
			if algs := d[ep.name+"_endpoint_auth_signing_alg_values_supported"]; !slices.Equal(algs, d["token_endpoint_auth_signing_alg_values_supported"]) || len(algs) == 0 {
				t.Errorf("%s_endpoint_auth_signing_alg_values_supported = %v, want the token endpoint's", ep.name, algs)
			}
		}
		listed := d["token_endpoint_auth_signing_alg_values_supported"]
		jti := 0
		assertion := func(alg string) url.Values {
			t.Helper()
			key, ok := private[alg]
			if !ok {
				t.Fatalf("discovery lists %s, which this test has no key for", alg)
			}
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: key, KeyID: alg}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			jti++
			now := s.Clock.Now()
			b, _ := json.Marshal(map[string]any{"iss": "jwtclient", "sub": "jwtclient", "aud": s.URL, "jti": fmt.Sprint("jti-", jti), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
			jws, err := signer.Sign(b)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := jws.CompactSerialize()
			return url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {out}}
		}
		with := func(v url.Values, k, val string) url.Values { v.Set(k, val); return v }
		for _, alg := range listed {
			t.Run("a listed algorithm works at every endpoint: "+alg, func(t *testing.T) {
				tok := tt.post("/token", "", "", with(assertion(alg), "grant_type", "client_credentials"))
				tt.want("token", tok, http.StatusOK, "")
				in := tt.post("/introspect", "", "", with(assertion(alg), "token", tok.str("access_token")))
				if in.Status != http.StatusOK || in.JSON["active"] != true {
					t.Fatalf("introspect: %d %s", in.Status, in.Body)
				}
				rv := tt.post("/revoke", "", "", with(assertion(alg), "token", tok.str("access_token")))
				tt.want("revoke", rv, http.StatusOK, "")
			})
		}
		for _, alg := range []string{"EdDSA", "HS256"} {
			if slices.Contains(listed, alg) {
				continue
			}
			t.Run("an unlisted algorithm is refused: "+alg, func(t *testing.T) {
				got := tt.post("/token", "", "", with(assertion(alg), "grant_type", "client_credentials"))
				if got.str("error") != "invalid_client" {
					t.Fatalf("%d %s, want invalid_client", got.Status, got.Body)
				}
			})
		}
	})
}
