package demo

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLoginURLPerMode(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	tests := []struct {
		name   string
		query  string
		want   map[string]string // parameters that must be present with these values
		absent []string
	}{
		{name: "Sign in is a plain code flow", query: "mode=signin",
			absent: []string{"acr_values", "claims", "max_age", "prompt"}},
		{name: "Step up to MFA asks for acr_values mfa", query: "mode=stepup",
			want: map[string]string{"acr_values": acrMFA}, absent: []string{"claims", "max_age"}},
		{name: "Require a passkey sends an essential acr claim of phr", query: "mode=passkey",
			want:   map[string]string{"claims": `{"id_token":{"acr":{"essential":true,"value":"urn:twofold:acr:phr"}}}`},
			absent: []string{"acr_values", "max_age"}},
		{name: "Re-authenticate sends max_age=0", query: "mode=reauth",
			want: map[string]string{"max_age": "0"}, absent: []string{"acr_values", "claims"}},
		{name: "the RFC 9470 retry sends the challenge's acr_values and max_age",
			query: "mode=retry&acr_values=" + url.QueryEscape(acrPHR+" "+acrMFA) + "&max_age=300",
			want:  map[string]string{"acr_values": acrPHR + " " + acrMFA, "max_age": "300"}, absent: []string{"claims"}},
		{name: "the RFC 9470 retry without max_age sends none", query: "mode=retry&acr_values=" + url.QueryEscape(acrMFA),
			want: map[string]string{"acr_values": acrMFA}, absent: []string{"max_age", "claims"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(env.login(tt.query))
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Scheme + "://" + u.Host + u.Path; got != p.issuer()+"/authorize" {
				t.Errorf("authorization endpoint = %s", got)
			}
			q := u.Query()
			common := map[string]string{
				"response_type": "code", "client_id": testClientID, "redirect_uri": env.baseURL + "/callback",
				"scope": "openid profile email", "code_challenge_method": "S256",
			}
			for k, v := range common {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			for _, k := range []string{"state", "nonce", "code_challenge"} {
				if len(q.Get(k)) < 20 {
					t.Errorf("%s = %q, want a random value", k, q.Get(k))
				}
			}
			for k, v := range tt.want {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			for _, k := range tt.absent {
				if q.Has(k) {
					t.Errorf("%s = %q, want absent", k, q.Get(k))
				}
			}
		})
	}
}

func TestLoginSetsAProtectedCookie(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	resp, _ := env.get("/demo/login?mode=signin")
	var c *http.Cookie
	for _, rc := range resp.Cookies() {
		if rc.Name == pendingCookie {
			c = rc
		}
	}
	if c == nil {
		t.Fatalf("no %s cookie in %v", pendingCookie, resp.Header.Values("Set-Cookie"))
	}
	if !c.HttpOnly || c.Path != "/demo/" || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie = %+v, want HttpOnly, Path=/demo/, SameSite=Lax", c)
	}
	state := mustQuery(t, resp.Header.Get("Location")).Get("state")
	if strings.Contains(c.Value, state) {
		t.Error("the state is readable in the cookie")
	}
}

func TestLoginRejectsWhatItDoesNotUnderstand(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	for _, query := range []string{
		"mode=admin",
		"mode=retry",
		"mode=retry&max_age=-1",
		"mode=retry&max_age=soon",
		"mode=retry&acr_values=" + url.QueryEscape(`urn:x" onmouseover="`),
		"mode=retry&acr_values=" + url.QueryEscape(strings.Repeat("urn:a ", maxACRValues+1)),
	} {
		t.Run(query, func(t *testing.T) {
			resp, body := env.get("/demo/login?" + query)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) {
				t.Errorf("status = %d, want 400 with an alert\n%s", resp.StatusCode, body)
			}
		})
	}
}

func TestProviderIsDiscoveredLazilyAndRetried(t *testing.T) {
	p := newFakeProvider(t)
	p.discoveryFailures = 1 // New must not contact the provider; the first request finds it down
	env := newDemoEnv(t, p)

	resp, body := env.get("/demo/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("home page = %d without the provider, want 200", resp.StatusCode)
	}
	resp, body = env.get("/demo/login?mode=signin")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("login while discovery fails = %d, want 503 with an alert\n%s", resp.StatusCode, body)
	}
	if resp, _ = env.get("/demo/login?mode=signin"); resp.StatusCode != http.StatusFound {
		t.Fatalf("login once the provider is up = %d, want 302", resp.StatusCode)
	}
}

func TestCallbackShowsProviderErrorsEscaped(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	state := mustQuery(t, env.login("mode=passkey")).Get("state")
	desc := `No passkey <script>alert("x")</script> & no way to enroll one`
	resp, body := env.get("/demo/callback?" + url.Values{
		"error": {"unmet_authentication_requirements"}, "error_description": {desc}, "state": {state},
	}.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if !strings.Contains(body, `role="alert"`) {
		t.Fatalf("no alert in\n%s", body)
	}
	if got := elementText(t, body, "demo-error-code"); got != "unmet_authentication_requirements" {
		t.Errorf("error code = %q", got)
	}
	if got := html.UnescapeString(elementText(t, body, "demo-error-description")); got != desc {
		t.Errorf("description = %q, want %q", got, desc)
	}
	if strings.Contains(body, "<script>") {
		t.Error("the description was not escaped")
	}
	if strings.Contains(body, `id="claim-acr"`) {
		t.Error("an error response signed the browser in")
	}
}

func TestCallbackRefusesAResponseForAnotherSignIn(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	authURL := env.login("mode=signin")
	resp, body := env.get("/demo/callback?" + url.Values{
		"error": {"access_denied"}, "error_description": {"Call +1 555 0100 to unlock"}, "state": {"forged"},
	}.Encode())
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("status = %d, want 400 with an alert", resp.StatusCode)
	}
	if strings.Contains(body, "555") {
		t.Error("a forged response's description is shown")
	}
	// The sign-in in progress is still valid.
	if loc := env.get2xx3xx(p.grant(authURL, acrPwd, []string{"pwd"}, time.Now())); loc != "/demo/" {
		t.Errorf("callback redirected to %q, want /demo/", loc)
	}
}

func TestCallbackWithoutSignInInProgress(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	resp, body := env.get("/demo/callback?code=x&state=y")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("status = %d, want 400 with an alert", resp.StatusCode)
	}
}

func TestReauthenticationMustMoveAuthTime(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	callback := p.grant(env.login("mode=reauth"), acrPwd, []string{"pwd"}, time.Now().Add(-time.Hour))
	resp, body := env.get(callback)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("status = %d, want 502 with an alert when auth_time ignores max_age=0\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, `id="claim-acr"`) {
		t.Error("a stale re-authentication signed the browser in")
	}
	if loc := env.signIn("mode=reauth", acrPwd, []string{"pwd"}, time.Now()); loc != "/demo/" {
		t.Errorf("fresh re-authentication redirected to %q", loc)
	}
}

func TestCallbackRejectsAWrongNonce(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	authURL := env.login("mode=signin")
	u, _ := url.Parse(authURL)
	q := u.Query()
	q.Set("nonce", "another-request-nonce")
	u.RawQuery = q.Encode()
	resp, body := env.get(p.grant(u.String(), acrPwd, []string{"pwd"}, time.Now()))
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("status = %d, want 502 with an alert for an ID token with another nonce", resp.StatusCode)
	}
}

func (e *demoEnv) get2xx3xx(target string) string {
	e.t.Helper()
	resp, body := e.get(target)
	if resp.StatusCode >= 400 {
		e.t.Fatalf("GET %s = %d\n%s", target, resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

func mustQuery(t *testing.T, rawURL string) url.Values {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
