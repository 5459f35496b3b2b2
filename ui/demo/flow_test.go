package demo

import (
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStepUpFlow walks the page the way the browser test will, against the fake provider: sign in with a
// password, call the API (refused with the RFC 9470 challenge), step up and retry (accepted), sign out.
func TestStepUpFlow(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)

	_, body := env.get("/demo/")
	if !strings.Contains(body, `id="demo-signin"`) || strings.Contains(body, `id="claim-acr"`) {
		t.Fatalf("signed-out page lacks the Sign in button or shows claims:\n%s", body)
	}

	authTime := time.Now().Add(-2 * time.Second)
	if loc := env.signIn("mode=signin", acrPwd, []string{"pwd"}, authTime); loc != "/demo/" {
		t.Fatalf("callback redirected to %q, want /demo/", loc)
	}
	_, body = env.get("/demo/")
	for id, want := range map[string]string{
		"claim-sub": "user-1", "claim-acr": acrPwd, "claim-amr": "pwd", "claim-preferred-username": "alice",
		"claim-email": "alice@example.com", "claim-sid": "sid-1", "claim-iss": p.issuer(), "claim-aud": testClientID,
	} {
		if got := html.UnescapeString(elementText(t, body, id)); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	if got := elementText(t, body, "claim-auth-time"); !strings.Contains(got, "seconds ago") ||
		!strings.Contains(got, authTime.UTC().Format("2006-01-02 15:04:05")) {
		t.Errorf("#claim-auth-time = %q, want the date and how many seconds ago", got)
	}
	if !strings.Contains(body, `data-unix="`+strconv.FormatInt(authTime.Unix(), 10)+`"`) {
		t.Error("auth_time has no data-unix attribute")
	}
	for _, id := range []string{"demo-signin", "demo-stepup", "demo-passkey", "demo-reauth", "demo-signout", "demo-api"} {
		if !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("signed-in page lacks #%s", id)
		}
	}

	// The API refuses a password-only token and says what it wants.
	resp, _ := env.get(hrefOf(t, body, "demo-api"))
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/demo/#api-result" {
		t.Fatalf("call API = %d to %q, want 303 to /demo/#api-result", resp.StatusCode, loc)
	}
	_, body = env.get("/demo/")
	if got := elementText(t, body, "api-status"); got != "401 Unauthorized" {
		t.Errorf("#api-status = %q", got)
	}
	if got := html.UnescapeString(elementText(t, body, "api-www-authenticate")); got != insufficientChallenge {
		t.Errorf("#api-www-authenticate = %q", got)
	}
	retry := hrefOf(t, body, "demo-stepup-retry")
	if q := mustQuery(t, retry); q.Get("mode") != modeRetry || q.Get("acr_values") != acrMFA || q.Has("max_age") {
		t.Errorf("retry link = %s, want mode=retry&acr_values=%s", retry, acrMFA)
	}

	// Step up and retry: the provider is asked for mfa, and the API is called again with the new token.
	authURL := env.login(strings.TrimPrefix(retry, "/demo/login?"))
	if q := mustQuery(t, authURL); q.Get("acr_values") != acrMFA {
		t.Errorf("retry authorization request acr_values = %q", q.Get("acr_values"))
	}
	resp, _ = env.get(p.grant(authURL, acrMFA, []string{"pwd", "otp", "mfa"}, time.Now()))
	if loc := resp.Header.Get("Location"); loc != "/demo/#api-result" {
		t.Fatalf("retry callback redirected to %q, want /demo/#api-result", loc)
	}
	_, body = env.get("/demo/")
	if got := elementText(t, body, "api-status"); got != "200 OK" {
		t.Errorf("#api-status after step-up = %q", got)
	}
	if got := elementText(t, body, "claim-acr"); got != acrMFA {
		t.Errorf("#claim-acr after step-up = %q", got)
	}
	if got := elementText(t, body, "claim-amr"); got != "pwd, otp, mfa" {
		t.Errorf("#claim-amr after step-up = %q", got)
	}
	if strings.Contains(body, `id="demo-stepup-retry"`) {
		t.Error("a step-up link after a successful call")
	}

	// Sign out: RP-initiated logout at the provider, then back with the state.
	resp, _ = env.get(html.UnescapeString(hrefOf(t, body, "demo-signout")))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign out = %d, want 302", resp.StatusCode)
	}
	end, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := end.Query()
	if end.Path != "/end_session" || q.Get("id_token_hint") == "" || q.Get("client_id") != testClientID ||
		q.Get("post_logout_redirect_uri") != env.baseURL+"/" || q.Get("state") == "" {
		t.Errorf("end session URL = %s", end)
	}
	_, body = env.get("/demo/?state=" + url.QueryEscape(q.Get("state")))
	if !strings.Contains(body, `id="demo-notice"`) || strings.Contains(body, `id="claim-acr"`) {
		t.Errorf("after sign-out: want the notice and no claims\n%s", body)
	}
	if resp, _ := env.get("/demo/call-api"); resp.Header.Get("Location") != "/demo/" {
		t.Error("calling the API after sign-out did not go back to the signed-out page")
	}
}

func TestSignOutNeedsTheSessionsLink(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	env.signIn("mode=signin", acrPwd, []string{"pwd"}, time.Now())
	resp, body := env.get("/demo/logout")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="claim-acr"`) {
		t.Fatalf("sign out without the link's secret = %d; want 400 and still signed in", resp.StatusCode)
	}
}

func TestPassKeyOutcomeIsExplained(t *testing.T) {
	p := newFakeProvider(t)
	env := newDemoEnv(t, p)
	env.signIn("mode=passkey", acrPHR, []string{"hwk", "user", "mfa"}, time.Now())
	_, body := env.get("/demo/")
	if got := elementText(t, body, "claim-acr"); got != acrPHR {
		t.Errorf("#claim-acr = %q", got)
	}
	if got := elementText(t, body, "demo-outcome"); !strings.Contains(got, "met the essential acr") {
		t.Errorf("#demo-outcome = %q", got)
	}
}

func TestMounting(t *testing.T) {
	p := newFakeProvider(t)
	h, err := New(Options{Issuer: p.issuer(), ClientID: testClientID, BaseURL: "http://localhost:8080/demo/",
		CookieKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		handler http.Handler
		path    string
		status  int
	}{
		{"mounted as is, the page", h, "/demo/", http.StatusOK},
		{"mounted as is, the stylesheet", h, "/demo/demo.css", http.StatusOK},
		{"mounted as is, the mount point without a slash redirects", h, "/demo", http.StatusMovedPermanently},
		{"mounted as is, an unknown path", h, "/demo/nope", http.StatusNotFound},
		{"behind StripPrefix, the page", http.StripPrefix("/demo", h), "/demo/", http.StatusOK},
		{"behind StripPrefix, the stylesheet", http.StripPrefix("/demo", h), "/demo/demo.css", http.StatusOK},
		{"behind StripPrefix, the mount point without a slash redirects", http.StripPrefix("/demo", h), "/demo",
			http.StatusMovedPermanently},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			tt.handler.ServeHTTP(rec, mustRequest(t, tt.path))
			if rec.status != tt.status {
				t.Errorf("GET %s = %d, want %d", tt.path, rec.status, tt.status)
			}
			if tt.status == http.StatusMovedPermanently && rec.header.Get("Location") != "/demo/" {
				t.Errorf("Location = %q", rec.header.Get("Location"))
			}
		})
	}
}

func TestNewValidatesOptions(t *testing.T) {
	good := Options{Issuer: "http://localhost:8080", ClientID: "demo", BaseURL: "http://localhost:8080/demo",
		CookieKey: make([]byte, 32)}
	for name, edit := range map[string]func(*Options){
		"no issuer":           func(o *Options) { o.Issuer = "" },
		"no client id":        func(o *Options) { o.ClientID = "" },
		"a short cookie key":  func(o *Options) { o.CookieKey = make([]byte, 16) },
		"a relative base URL": func(o *Options) { o.BaseURL = "/demo" },
		"a base URL with a query": func(o *Options) {
			o.BaseURL = "http://localhost:8080/demo?x=1"
		},
	} {
		t.Run(name, func(t *testing.T) {
			o := good
			edit(&o)
			if _, err := New(o); err == nil {
				t.Error("New accepted it")
			}
		})
	}
	if _, err := New(good); err != nil {
		t.Errorf("New(good) = %v", err)
	}
	if got := RedirectURI("http://localhost:8080/demo/"); got != "http://localhost:8080/demo/callback" {
		t.Errorf("RedirectURI = %q", got)
	}
	if got := PostLogoutRedirectURI("http://localhost:8080/demo"); got != "http://localhost:8080/demo/" {
		t.Errorf("PostLogoutRedirectURI = %q", got)
	}
}

// hrefOf returns the href of the element with the given id, unescaped.
func hrefOf(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no #%s", id)
	}
	open := strings.LastIndex(body[:i], "<")
	tagEnd := strings.Index(body[open:], ">") + open
	tag := body[open:tagEnd]
	_, rest, ok := strings.Cut(tag, `href="`)
	if !ok {
		t.Fatalf("#%s has no href", id)
	}
	href, _, _ := strings.Cut(rest, `"`)
	return html.UnescapeString(href)
}

func mustRequest(t *testing.T, path string) *http.Request {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://localhost:8080"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.RequestURI = path
	return r
}

func newRecorder() *responseCapture { return &responseCapture{header: http.Header{}} }
