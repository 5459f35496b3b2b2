package demo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestResourceServer(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	now := time.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": p.issuer(), "sub": "user-1", "aud": []string{testClientID}, "client_id": testClientID,
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "at-1",
			"acr": acrMFA, "amr": []string{"pwd", "otp", "mfa"}, "auth_time": now.Unix(),
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const invalid = `Bearer error="invalid_token"`

	tests := []struct {
		name      string
		header    string // Authorization
		status    int
		challenge string // the WWW-Authenticate field, or its prefix for invalid_token
		acr       string // on success
	}{
		{name: "an mfa access token reads the report",
			header: "Bearer " + p.accessToken(claims(nil)), status: http.StatusOK, acr: acrMFA},
		{name: "a passkey (phr) access token reads the report",
			header: "Bearer " + p.accessToken(claims(func(c map[string]any) { c["acr"] = acrPHR })),
			status: http.StatusOK, acr: acrPHR},
		{name: "the PAPE multi-factor alias counts as mfa",
			header: "Bearer " + p.accessToken(claims(func(c map[string]any) { c["acr"] = acrPAPEMultiFactor })),
			status: http.StatusOK, acr: acrPAPEMultiFactor},
		{name: "the bearer scheme is case-insensitive",
			header: "bearer " + p.accessToken(claims(nil)), status: http.StatusOK, acr: acrMFA},
		{name: "a password-only access token gets the RFC 9470 step-up challenge",
			header: "Bearer " + p.accessToken(claims(func(c map[string]any) { c["acr"] = acrPwd })),
			status: http.StatusUnauthorized, challenge: insufficientChallenge},
		{name: "an access token without acr gets the step-up challenge",
			header: "Bearer " + p.accessToken(claims(func(c map[string]any) { delete(c, "acr") })),
			status: http.StatusUnauthorized, challenge: insufficientChallenge},
		{name: "an unknown acr gets the step-up challenge",
			header: "Bearer " + p.accessToken(claims(func(c map[string]any) { c["acr"] = "urn:other:gold" })),
			status: http.StatusUnauthorized, challenge: insufficientChallenge},
		{name: "an ID token (typ JWT) is not an access token",
			header: "Bearer " + p.sign(p.atKey, jose.ES256, "ec-1", "JWT", claims(nil)),
			status: http.StatusUnauthorized, challenge: invalid},
		{name: "a token without typ is not an access token",
			header: "Bearer " + signJWT(t, jose.SigningKey{Algorithm: jose.ES256,
				Key: jose.JSONWebKey{Key: p.atKey, KeyID: "ec-1"}}, "", claims(nil)),
			status: http.StatusUnauthorized, challenge: invalid},
		{name: "a token from another issuer is refused",
			header: "Bearer " + p.accessToken(claims(func(c map[string]any) { c["iss"] = "http://evil.example" })),
			status: http.StatusUnauthorized, challenge: invalid},
		{name: "an expired token is refused",
			header: "Bearer " + p.accessToken(claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })),
			status: http.StatusUnauthorized, challenge: invalid},
		{name: "a token without exp is refused",
			header: "Bearer " + p.accessToken(claims(func(c map[string]any) { delete(c, "exp") })),
			status: http.StatusUnauthorized, challenge: invalid},
		{name: "a token for another audience is refused",
			header: "Bearer " + p.accessToken(claims(func(c map[string]any) { c["aud"] = "other-api" })),
			status: http.StatusUnauthorized, challenge: invalid},
		{name: "a token signed by a key not in the JWKS is refused",
			header: "Bearer " + p.sign(otherKey, jose.ES256, "ec-1", "at+jwt", claims(nil)),
			status: http.StatusUnauthorized, challenge: invalid},
		{name: "an HMAC-signed token is refused",
			header: "Bearer " + signJWT(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))},
				"at+jwt", claims(nil)),
			status: http.StatusUnauthorized, challenge: invalid},
		{name: "a token that is not a JWT is refused",
			header: "Bearer not-a-jwt", status: http.StatusUnauthorized, challenge: invalid},
		{name: "a request without a token gets a challenge without an error code (RFC 6750 §3.1)",
			status: http.StatusUnauthorized, challenge: `Bearer realm="acme-notes"`},
		{name: "basic credentials are not a bearer token",
			header: "Basic YWxpY2U6cHc=", status: http.StatusUnauthorized, challenge: `Bearer realm="acme-notes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header []string
			if tt.header != "" {
				header = []string{"Authorization", tt.header}
			}
			resp, body := env.get("/demo/api/report", header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			got := resp.Header.Get("WWW-Authenticate")
			switch {
			case tt.challenge == invalid:
				if !strings.HasPrefix(got, invalid+", error_description=") {
					t.Errorf("WWW-Authenticate = %q, want an invalid_token challenge", got)
				}
			case got != tt.challenge:
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if tt.status != http.StatusOK {
				return
			}
			var report struct{ Report, ACR string }
			if err := json.Unmarshal([]byte(body), &report); err != nil {
				t.Fatal(err)
			}
			if report.Report == "" || report.ACR != tt.acr {
				t.Errorf("body = %s, want a report and acr %q", body, tt.acr)
			}
		})
	}
}

func TestInsufficientChallengeIsExactlyRFC9470(t *testing.T) {
	const want = `Bearer error="insufficient_user_authentication", error_description="A second factor is required", acr_values="urn:twofold:acr:mfa"`
	if insufficientChallenge != want {
		t.Errorf("challenge = %s\nwant        %s", insufficientChallenge, want)
	}
}

func TestLevelsAreOrdered(t *testing.T) {
	order := []string{"", acrPwd, acrMFA, acrPHR}
	for i := 1; i < len(order); i++ {
		if parseLevel(order[i-1]) >= parseLevel(order[i]) {
			t.Errorf("level(%q) >= level(%q)", order[i-1], order[i])
		}
	}
	if parseLevel(acrPAPEMultiFactor) != levelMFA {
		t.Error("the PAPE multi-factor URI is not an alias of mfa")
	}
}

func TestResourceServerUnavailableWithoutProvider(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	p.mu.Lock()
	p.discoveryFailures = 1
	p.mu.Unlock()
	resp, body := env.get("/demo/api/report", "Authorization", "Bearer "+p.accessToken(map[string]any{"acr": acrMFA}))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503 while discovery fails\n%s", resp.StatusCode, body)
	}
}
