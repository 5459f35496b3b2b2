package apptest_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/directory"
)

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
