package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp"
)

// inputTag returns the <input> element with the given name, failing the test when there is none.
func inputTag(t *testing.T, body, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<input[^>]*\sname="` + regexp.QuoteMeta(name) + `"[^>]*>`).FindString(body)
	if m == "" {
		t.Fatalf("no input named %q in page:\n%s", name, body)
	}
	return m
}

// responseCookie returns the Set-Cookie of the response with the given name, or nil.
func responseCookie(r *http.Response, name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// inlineCode finds what the CSP would block or what should not be in a page: inline styles, inline scripts,
// event handler attributes, javascript: URLs.
var inlineCode = regexp.MustCompile(`(?i)<style|\sstyle=|<script|\son[a-z]+=|javascript:`)

// wantHostedPage checks what every sign-in page response has: never cached, HTML, and no inline code.
func wantHostedPage(t *testing.T, r response) {
	t.Helper()
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if r.StatusCode != http.StatusSeeOther {
		if got := r.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
			t.Errorf("Content-Type = %q", got)
		}
	}
	if m := inlineCode.FindString(r.body); m != "" {
		t.Errorf("page has inline code %q:\n%s", m, r.body)
	}
}

func wantRedirect(t *testing.T, r response, location string) {
	t.Helper()
	wantStatus(t, r, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != location {
		t.Errorf("Location = %q, want %q", got, location)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q on a redirect, want no-store", got)
	}
}

// loginForm loads the password page of request id in the harness's browser and returns a filled-in form.
func loginForm(t *testing.T, h *harness, id, username, password string) url.Values {
	t.Helper()
	page := h.get("/login?id=" + url.QueryEscape(id))
	wantStatus(t, page, http.StatusOK)
	return url.Values{
		"csrf_token": {csrfTokenIn(t, page.body)},
		"id":         {id},
		"username":   {username},
		"password":   {password},
	}
}

func TestTheLoginPage(t *testing.T) {
	tests := []struct {
		name          string
		id            string
		wantBody      []string
		usernameFocus bool
	}{
		{
			name: "shows the login form with the hidden id, a CSRF token and the client's name",
			id:   "req-pw",
			wantBody: []string{
				`<form id="login" method="post" action="/login">`,
				`<input type="hidden" name="id" value="req-pw">`,
				`<label for="username">Username</label>`, `<label for="password">Password</label>`,
				`autocomplete="username"`, `autocomplete="current-password"`,
				`<button type="submit" class="button button-primary">Sign in</button>`,
				"<h1>Sign in</h1>", "to continue to <strong>Demo App</strong>",
				`<div class="alt-methods" id="alt-methods"></div>`,
			},
			usernameFocus: true,
		},
		{
			name:     "prefills the login hint and puts the focus on the password",
			id:       "req-hint",
			wantBody: []string{`name="username" type="text" value="alice"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			r := h.get("/login?id=" + tt.id)
			wantStatus(t, r, http.StatusOK)
			wantHostedPage(t, r)
			csrfTokenIn(t, r.body)
			wantContains(t, r.body, tt.wantBody...)
			wantNotContains(t, r.body, `role="alert"`)
			user, pass := inputTag(t, r.body, "username"), inputTag(t, r.body, "password")
			if strings.Contains(user, "autofocus") != tt.usernameFocus || strings.Contains(pass, "autofocus") == tt.usernameFocus {
				t.Errorf("autofocus on the wrong field: %s / %s", user, pass)
			}
			if calls := h.flow.callsOf("Resume"); len(calls) != 1 || calls[0].id != tt.id {
				t.Errorf("Resume calls = %+v, want one for %s", calls, tt.id)
			}
		})
	}
}

func TestTheLoginRoutesNeedAFlow(t *testing.T) {
	t.Run("without a LoginFlow or a LogoutFlow the sign-in and sign-out pages are absent", func(t *testing.T) {
		h := newHarness(t, harnessConfig{opts: func(o *Options) { o.Flow, o.Logout = nil, nil }})
		for _, path := range []string{"/login?id=req-pw", "/logout?token=lt-app", "/logout/done"} {
			wantStatus(t, h.get(path), http.StatusNotFound)
		}
		for _, path := range []string{"/login", "/consent", "/logout"} {
			wantStatus(t, h.post(h.client, path, url.Values{}, nil), http.StatusNotFound)
		}
	})
	t.Run("without a LoginFlow the sign-in pages are absent, the logout confirmation is not", func(t *testing.T) {
		h := newHarness(t, harnessConfig{opts: func(o *Options) { o.Flow = nil }})
		wantStatus(t, h.get("/login?id=req-pw"), http.StatusNotFound)
		wantStatus(t, h.get("/logout?token=lt-app"), http.StatusOK)
		wantStatus(t, h.get("/logout/done"), http.StatusOK)
	})
	t.Run("without a LogoutFlow the logout confirmation is absent, the signed-out page is not", func(t *testing.T) {
		h := newHarness(t, harnessConfig{opts: func(o *Options) { o.Logout = nil }})
		wantStatus(t, h.get("/login?id=req-pw"), http.StatusOK)
		wantStatus(t, h.get("/logout?token=lt-app"), http.StatusNotFound)
		wantStatus(t, h.post(h.client, "/logout", url.Values{"token": {"lt-app"}}, nil), http.StatusNotFound)
		wantStatus(t, h.get("/logout/done"), http.StatusOK)
		if n := len(h.flow.callsOf("LogoutPrompt")); n != 0 {
			t.Errorf("LogoutPrompt called %d times", n)
		}
	})
	t.Run("with only an AccountService the signed-out page is still there to land on", func(t *testing.T) {
		h := newHarness(t, harnessConfig{opts: func(o *Options) { o.Flow, o.Logout, o.Account = nil, nil, newFakeAccount() }})
		wantStatus(t, h.get("/logout/done"), http.StatusOK)
		wantStatus(t, h.get("/logout?token=lt-app"), http.StatusNotFound)
	})
}

// SECURITY-RULES: "CSRF token on every state-changing POST; missing or wrong → 403, nothing changes; also refuse
// cross-site `Sec-Fetch-Site`/`Origin` on those POSTs"
func TestARefusedPasswordSubmission(t *testing.T) {
	tests := []struct {
		name         string
		edit         func(url.Values)
		header       http.Header
		otherBrowser bool
		script       error // SubmitPassword's answer instead of checking the password
		wantStatus   int
		wantBody     []string
		wantNotBody  []string
		wantForm     bool   // the login form is shown again, ready to be resubmitted
		wantCalled   bool   // SubmitPassword was called
		wantRetry    string // Retry-After
		wantOutcome  string
	}{
		{
			name:       "without a CSRF token is 403 and never reaches the flow",
			edit:       func(f url.Values) { f.Del("csrf_token") },
			wantStatus: http.StatusForbidden,
			wantBody:   []string{"Your session expired or the form was submitted from elsewhere.", `value="alice"`},
			wantForm:   true, wantOutcome: "csrf",
		},
		{
			name:       "with a wrong CSRF token is 403",
			edit:       func(f url.Values) { f.Set("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") },
			wantStatus: http.StatusForbidden, wantForm: true, wantOutcome: "csrf",
		},
		{
			name:         "from a browser without the CSRF cookie is 403",
			otherBrowser: true,
			wantStatus:   http.StatusForbidden, wantForm: true, wantOutcome: "csrf",
		},
		{
			name:       "announced cross-site by Sec-Fetch-Site is 403 even with the right token",
			header:     http.Header{"Sec-Fetch-Site": {"cross-site"}},
			wantStatus: http.StatusForbidden, wantForm: true, wantOutcome: "csrf",
		},
		{
			name:       "from a foreign Origin is 403",
			header:     http.Header{"Origin": {"https://evil.example"}},
			wantStatus: http.StatusForbidden, wantForm: true, wantOutcome: "csrf",
		},
		{
			name:       "with an empty username is 400 and never reaches the flow",
			edit:       func(f url.Values) { f.Set("username", "") },
			wantStatus: http.StatusBadRequest,
			wantBody:   []string{"Enter your username."},
			wantForm:   true, wantOutcome: "bad_request",
		},
		{
			name:        "with an empty password is 400, keeps the username and never reaches the flow",
			edit:        func(f url.Values) { f.Set("password", "") },
			wantStatus:  http.StatusBadRequest,
			wantBody:    []string{"Enter your password.", `value="alice"`},
			wantForm:    true,
			wantOutcome: "bad_request",
		},
		{
			name:       "with both fields empty is 400",
			edit:       func(f url.Values) { f.Set("username", ""); f.Set("password", "") },
			wantStatus: http.StatusBadRequest,
			wantBody:   []string{"Enter your username and password."},
			wantForm:   true, wantOutcome: "bad_request",
		},
		{
			name:        "without the sign-in request id is the 400 page",
			edit:        func(f url.Values) { f.Del("id") },
			wantStatus:  http.StatusBadRequest,
			wantBody:    []string{"This sign-in link is incomplete."},
			wantOutcome: "bad_request",
		},
		{
			name:       "with a wrong password is 401, keeps the username and never echoes the password",
			edit:       func(f url.Values) { f.Set("password", "wrong horse battery") },
			wantStatus: http.StatusUnauthorized,
			wantBody:   []string{"The username or password is incorrect.", `value="alice"`},
			wantForm:   true, wantCalled: true, wantOutcome: "bad_credentials",
		},
		{
			// SECURITY-RULES: "Unknown user, wrong password, disabled account, with or without MFA: the same status,
			// message, redirects, cookies and timing (a dummy hash for unknown users)"
			name:       "for an unknown user is the same 401 as a wrong password",
			edit:       func(f url.Values) { f.Set("username", "mallory") },
			wantStatus: http.StatusUnauthorized,
			wantBody:   []string{"The username or password is incorrect.", `value="mallory"`},
			wantForm:   true, wantCalled: true, wantOutcome: "bad_credentials",
		},
		{
			name:       "while throttled is 429 with Retry-After in whole seconds, rounded up",
			script:     &idp.ThrottledError{RetryAfter: 45*time.Second + 200*time.Millisecond},
			wantStatus: http.StatusTooManyRequests,
			wantBody:   []string{"Too many attempts. Try again in 46 seconds."},
			wantForm:   true, wantCalled: true, wantRetry: "46", wantOutcome: "throttled",
		},
		{
			name:       "while throttled for under a second says one second",
			script:     fmt.Errorf("check: %w", &idp.ThrottledError{RetryAfter: 300 * time.Millisecond}),
			wantStatus: http.StatusTooManyRequests,
			wantBody:   []string{"Try again in 1 second."},
			wantForm:   true, wantCalled: true, wantRetry: "1", wantOutcome: "throttled",
		},
		{
			name:       "while throttled for minutes says minutes",
			script:     &idp.ThrottledError{RetryAfter: 5 * time.Minute},
			wantStatus: http.StatusTooManyRequests,
			wantBody:   []string{"Try again in 5 minutes."},
			wantForm:   true, wantCalled: true, wantRetry: "300", wantOutcome: "throttled",
		},
		{
			name:       "when the flow fails internally is the 500 page without the cause",
			script:     errors.New("database is locked"),
			wantStatus: http.StatusInternalServerError, wantBody: []string{"Something went wrong"},
			wantNotBody: []string{"database", "locked"},
			wantCalled:  true, wantOutcome: "error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			if tt.script != nil {
				h.flow.script("SubmitPassword", idp.Step{}, tt.script)
			}
			form := loginForm(t, h, "req-pw", fakeUser, fakePassword)
			if tt.edit != nil {
				tt.edit(form)
			}
			client := h.client
			if tt.otherBrowser {
				client = h.newClient()
			}
			r := h.post(client, "/login", form, tt.header)
			wantStatus(t, r, tt.wantStatus)
			wantHostedPage(t, r)
			wantContains(t, r.body, tt.wantBody...)
			wantNotContains(t, r.body, tt.wantNotBody...)
			if pw := form.Get("password"); pw != "" {
				wantNotContains(t, r.body, pw)
			}
			if tt.wantForm {
				wantContains(t, r.body, `<form id="login"`, `role="alert" aria-live="assertive"`,
					`<input type="hidden" name="id" value="req-pw">`)
				csrfTokenIn(t, r.body)
				if strings.Contains(inputTag(t, r.body, "password"), "value=") {
					t.Error("the password field has a value")
				}
			}
			if got := len(h.flow.callsOf("SubmitPassword")); got != map[bool]int{false: 0, true: 1}[tt.wantCalled] {
				t.Errorf("SubmitPassword called %d times, want called: %v", got, tt.wantCalled)
			}
			if got := r.Header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			if c := responseCookie(r.Response, "twofold_session"); c != nil {
				t.Errorf("a refused sign-in set the session cookie: %v", c)
			}
			scrapeUntil(t, h, `twofold_logins_total{outcome="`+tt.wantOutcome+`"} 1`)
		})
	}
}

// SECURITY-RULES: "After a credential POST, redirect with 303/302, never 307 (RFC 9700 §4.12)"
// SECURITY-RULES: "Logs never contain passwords, codes, backup codes, tokens or secrets"
func TestASuccessfulPasswordSetsTheSessionAndRedirectsWith303(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.post(h.client, "/login", loginForm(t, h, "req-pw", fakeUser, fakePassword), nil)
	wantRedirect(t, r, fakeDoneURL)
	c := responseCookie(r.Response, "twofold_session")
	if c == nil {
		t.Fatalf("no session cookie in %q", r.Header.Values("Set-Cookie"))
	}
	if c.Value != fakeSessionValue || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure ||
		c.Domain != "" || !c.Expires.Equal(fakeSessionExpiry) {
		t.Errorf("session cookie = %+v", c)
	}
	calls := h.flow.callsOf("SubmitPassword")
	if len(calls) != 1 || calls[0].id != "req-pw" || calls[0].username != fakeUser || calls[0].password != fakePassword {
		t.Errorf("SubmitPassword calls = %+v", calls)
	}
	scrapeUntil(t, h, `twofold_logins_total{outcome="success"} 1`)
	if logs := h.logs.String(); strings.Contains(logs, fakePassword) || strings.Contains(logs, fakeSessionValue) {
		t.Errorf("the log holds the password or the session:\n%s", logs)
	}
}

// SECURITY-RULES: "Cookies: `HttpOnly`, `SameSite=Lax` (Strict breaks SSO from relying parties), `Secure` and
// `__Host-` on https"
func TestOnHTTPSTheSessionCookieIsSecureWithTheHostPrefix(t *testing.T) {
	flow := newFakeFlow()
	srv, err := New(Options{Issuer: "https://id.example.com", CSRFKey: testCSRFKey, Flow: flow})
	if err != nil {
		t.Fatal(err)
	}
	page := httptest.NewRecorder()
	srv.Handler().ServeHTTP(page, httptest.NewRequest(http.MethodGet, "https://id.example.com/login?id=req-pw", nil))
	if page.Code != http.StatusOK {
		t.Fatalf("GET /login: %d", page.Code)
	}
	form := url.Values{"csrf_token": {csrfTokenIn(t, page.Body.String())}, "id": {"req-pw"},
		"username": {fakeUser}, "password": {fakePassword}}
	req := httptest.NewRequest(http.MethodPost, "https://id.example.com/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://id.example.com")
	for _, c := range page.Result().Cookies() {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != fakeDoneURL {
		t.Fatalf("POST /login: %d to %q, want 303 to %s", rec.Code, rec.Header().Get("Location"), fakeDoneURL)
	}
	c := responseCookie(rec.Result(), "__Host-twofold_session")
	if c == nil {
		t.Fatalf("no __Host- session cookie in %q", rec.Header().Values("Set-Cookie"))
	}
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("session cookie = %+v", c)
	}
}

// SECURITY-RULES: "Cookies: `HttpOnly`, `SameSite=Lax` (Strict breaks SSO from relying parties), `Secure` and
// `__Host-` on https"
func TestSessionCookieAttributes(t *testing.T) {
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name       string
		issuer     string
		value      idp.SessionCookie
		wantName   string
		wantSecure bool
		wantMaxAge int
		wantAttrs  []string
	}{
		{"a new session on http expires when the flow says", "http://localhost:8080",
			idp.SessionCookie{Value: "v1", Expires: expires}, "twofold_session", false, 0,
			[]string{"Expires=Wed, 02 Jan 2030 02:04:05 GMT"}},
		{"a new session on https is Secure with the __Host- prefix", "https://id.example.com",
			idp.SessionCookie{Value: "v1", Expires: expires}, "__Host-twofold_session", true, 0,
			[]string{"Secure", "Expires="}},
		{"a session without an expiry ends with the browser session", "https://id.example.com",
			idp.SessionCookie{Value: "v1"}, "__Host-twofold_session", true, 0, nil},
		{"an empty value deletes the cookie", "http://localhost:8080",
			idp.SessionCookie{Expires: expires}, "twofold_session", false, -1, []string{"Max-Age=0"}},
		{"an empty value deletes the cookie on https too", "https://id.example.com",
			idp.SessionCookie{}, "__Host-twofold_session", true, -1, []string{"Max-Age=0", "Secure"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(Options{Issuer: tt.issuer, CSRFKey: testCSRFKey})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			if err := srv.setSessionCookie(rec, &tt.value); err != nil {
				t.Fatal(err)
			}
			line := rec.Header().Get("Set-Cookie")
			for _, attr := range append([]string{"HttpOnly", "SameSite=Lax", "Path=/"}, tt.wantAttrs...) {
				if !strings.Contains(line, attr) {
					t.Errorf("Set-Cookie %q lacks %s", line, attr)
				}
			}
			if strings.Contains(line, "Domain=") || tt.wantSecure != strings.Contains(line, "Secure") {
				t.Errorf("Set-Cookie %q: Secure should be %v and there must be no Domain", line, tt.wantSecure)
			}
			c := rec.Result().Cookies()[0]
			if c.Name != tt.wantName || c.Value != tt.value.Value || c.MaxAge != tt.wantMaxAge {
				t.Errorf("cookie = %+v, want %s=%q with MaxAge %d", c, tt.wantName, tt.value.Value, tt.wantMaxAge)
			}
		})
	}
	t.Run("nil leaves the cookie alone", func(t *testing.T) {
		srv, _ := New(Options{Issuer: "http://localhost:8080", CSRFKey: testCSRFKey})
		rec := httptest.NewRecorder()
		if err := srv.setSessionCookie(rec, nil); err != nil || rec.Header().Get("Set-Cookie") != "" {
			t.Errorf("err %v, Set-Cookie %q", err, rec.Header().Get("Set-Cookie"))
		}
	})
	t.Run("a value a browser cannot store is an error, not a dropped header", func(t *testing.T) {
		srv, _ := New(Options{Issuer: "http://localhost:8080", CSRFKey: testCSRFKey})
		rec := httptest.NewRecorder()
		if err := srv.setSessionCookie(rec, &idp.SessionCookie{Value: "a;b"}); err == nil {
			t.Error("no error")
		}
	})
}

func TestConsentAfterThePassword(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.post(h.client, "/login", loginForm(t, h, "req-consent", fakeUser, fakePassword), nil)
	wantRedirect(t, r, "/login?id=req-consent")
	if responseCookie(r.Response, "twofold_session") == nil {
		t.Error("the session cookie was not set before the consent page")
	}
	page := h.get("/login?id=req-consent")
	wantStatus(t, page, http.StatusOK)
	wantHostedPage(t, page)
	csrfTokenIn(t, page.body)
	wantContains(t, page.body,
		`<form id="consent" method="post" action="/consent">`,
		`<input type="hidden" name="id" value="req-consent">`,
		`<button type="submit" name="decision" value="allow" class="button button-primary">Allow</button>`,
		`name="decision" value="deny"`,
		"<strong>Demo App</strong>",
		"<li>Confirm your identity</li>", "<li>Your name and username</li>", "<li>Your email address</li>",
		"<li>Stay signed in to Demo App (refresh tokens)</li>",
	)
	// The browser sent the session the flow had just set.
	if calls := h.flow.callsOf("Resume"); calls[len(calls)-1].browser.SessionCookie != fakeSessionValue {
		t.Errorf("Resume got session %q, want the new one", calls[len(calls)-1].browser.SessionCookie)
	}
}

func TestConsentSubmission(t *testing.T) {
	tests := []struct {
		name       string
		decision   string
		noCSRF     bool
		header     http.Header
		wantStatus int
		wantTo     string
		wantAllow  []bool // SubmitConsent's allow, once per call
		wantBody   []string
	}{
		{name: "allow reaches the flow and goes back to the client", decision: "allow",
			wantStatus: http.StatusSeeOther, wantTo: fakeDoneURL, wantAllow: []bool{true}},
		{name: "deny reaches the flow and goes back to the client with its error", decision: "deny",
			wantStatus: http.StatusSeeOther, wantTo: fakeDeniedURL, wantAllow: []bool{false}},
		{name: "another decision is 400 with the consent form again", decision: "maybe",
			wantStatus: http.StatusBadRequest, wantBody: []string{"Choose Allow or Deny.", "<li>Your email address</li>"}},
		{name: "no decision is 400", wantStatus: http.StatusBadRequest, wantBody: []string{"Choose Allow or Deny."}},
		{name: "without a CSRF token is 403 and the decision never reaches the flow", decision: "allow", noCSRF: true,
			wantStatus: http.StatusForbidden,
			wantBody:   []string{"Your session expired or the form was submitted from elsewhere.", "<li>Your email address</li>"}},
		{name: "announced cross-site is 403", decision: "allow", header: http.Header{"Sec-Fetch-Site": {"cross-site"}},
			wantStatus: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			h.post(h.client, "/login", loginForm(t, h, "req-consent", fakeUser, fakePassword), nil)
			page := h.get("/login?id=req-consent")
			form := url.Values{"csrf_token": {csrfTokenIn(t, page.body)}, "id": {"req-consent"}}
			if tt.decision != "" {
				form.Set("decision", tt.decision)
			}
			if tt.noCSRF {
				form.Del("csrf_token")
			}
			r := h.post(h.client, "/consent", form, tt.header)
			wantStatus(t, r, tt.wantStatus)
			wantHostedPage(t, r)
			if tt.wantTo != "" {
				wantRedirect(t, r, tt.wantTo)
			} else {
				wantContains(t, r.body, append(tt.wantBody, `<form id="consent"`, `role="alert"`)...)
				csrfTokenIn(t, r.body)
			}
			calls := h.flow.callsOf("SubmitConsent")
			if len(calls) != len(tt.wantAllow) {
				t.Fatalf("SubmitConsent calls = %+v, want %d", calls, len(tt.wantAllow))
			}
			for i, c := range calls {
				if c.allow != tt.wantAllow[i] || c.id != "req-consent" {
					t.Errorf("SubmitConsent call %d = %+v, want allow %v", i, c, tt.wantAllow[i])
				}
			}
		})
	}
}

func TestASignedInBrowserGoesStraightBackWith303(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	wantRedirect(t, h.get("/login?id=req-sso"), fakeDoneURL)
}

func TestFlowErrorsGetBrandedPages(t *testing.T) {
	expired := "This sign-in link has expired or was already used. Go back to the application and sign in again."
	elsewhere := "This sign-in was started in another browser. Go back to the application and sign in again from here."
	post := func(path string, form url.Values) func(*testing.T, *harness) response {
		return func(t *testing.T, h *harness) response {
			// The CSRF token belongs to the browser, not to one form: any page with a form provides it.
			form.Set("csrf_token", csrfTokenIn(t, h.get("/login?id=req-pw").body))
			return h.post(h.client, path, form, nil)
		}
	}
	get := func(path string) func(*testing.T, *harness) response {
		return func(_ *testing.T, h *harness) response { return h.get(path) }
	}
	tests := []struct {
		name        string
		method      string // scripted to fail with err; "" scripts nothing
		err         error
		do          func(*testing.T, *harness) response
		wantStatus  int
		wantBody    string
		wantNotBody string
	}{
		{"an unknown sign-in request is the expired page", "", nil, get("/login?id=nope"), http.StatusNotFound, expired, ""},
		{"an expired sign-in request is 404 on the password POST too", "SubmitPassword",
			fmt.Errorf("load: %w", idp.ErrAuthRequestNotFound),
			post("/login", url.Values{"id": {"req-pw"}, "username": {"a"}, "password": {"b"}}), http.StatusNotFound, expired, ""},
		{"a request started in another browser is 403", "Resume", fmt.Errorf("load: %w", idp.ErrWrongBrowser),
			get("/login?id=req-pw"), http.StatusForbidden, elsewhere, ""},
		{"a consent from another browser is 403", "SubmitConsent", idp.ErrWrongBrowser,
			post("/consent", url.Values{"id": {"req-consent"}, "decision": {"allow"}}), http.StatusForbidden, elsewhere, ""},
		{"a missing id is 400", "", nil, get("/login"), http.StatusBadRequest, "This sign-in link is incomplete.", ""},
		{"an oversized id is 400", "", nil, get("/login?id=" + strings.Repeat("x", 513)), http.StatusBadRequest,
			"This sign-in link is incomplete.", ""},
		{"an internal failure is 500 without the cause", "Resume", errors.New("pq: connection reset"),
			get("/login?id=req-pw"), http.StatusInternalServerError, "Something went wrong", "connection reset"},
		{"a redirect step without a URL is 500", "Resume", nil,
			get("/login?id=req-pw"), http.StatusInternalServerError, "Something went wrong", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			if tt.method != "" {
				h.flow.script(tt.method, idp.Step{Kind: idp.StepRedirect}, tt.err)
			}
			r := tt.do(t, h)
			wantStatus(t, r, tt.wantStatus)
			wantHostedPage(t, r)
			wantContains(t, r.body, tt.wantBody, ">Twofold</a>", "Reference: <code>"+r.Header.Get("X-Request-Id")+"</code>")
			if tt.wantNotBody != "" {
				wantNotContains(t, r.body, tt.wantNotBody)
			}
			if tt.wantStatus == http.StatusInternalServerError {
				id := r.Header.Get("X-Request-Id")
				h.logs.waitForRecord(t, func(rec map[string]any) bool {
					return rec["level"] == "ERROR" && rec["msg"] == "sign-in flow" && rec["request_id"] == id
				})
			}
		})
	}
}

func TestTheBrowserPassedToTheFlow(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	issuer, _ := url.Parse(h.issuer)
	h.client.Jar.SetCookies(issuer, []*http.Cookie{
		{Name: "twofold_session", Value: "the-session", Path: "/"},
		{Name: "twofold_browser", Value: "the-binding", Path: "/"},
	})
	h.flow.addRequest("req-bound", &fakeAuthRequest{client: idp.ClientInfo{Name: "Bound"}, binding: "the-binding",
		redirectURL: fakeDoneURL})
	ua := strings.Repeat("a", 255) + "é and more" // é straddles byte 256
	page := h.get("/login?id=req-bound", "X-Request-Id", "req-id-123", "X-Forwarded-For", "203.0.113.9",
		"User-Agent", ua)
	wantStatus(t, page, http.StatusOK)
	form := url.Values{"csrf_token": {csrfTokenIn(t, page.body)}, "id": {"req-bound"},
		"username": {fakeUser}, "password": {fakePassword}}
	r := h.post(h.client, "/login", form, http.Header{"X-Request-Id": {"req-id-456"}, "User-Agent": {"short"}})
	wantRedirect(t, r, fakeDoneURL)

	calls := h.flow.callsOf("")
	want := []idp.Browser{
		{SessionCookie: "the-session", BindingCookie: "the-binding", IP: "127.0.0.1",
			UserAgent: strings.Repeat("a", 255), RequestID: "req-id-123"},
		{SessionCookie: "the-session", BindingCookie: "the-binding", IP: "127.0.0.1",
			UserAgent: "short", RequestID: "req-id-456"},
	}
	if len(calls) != len(want) {
		t.Fatalf("flow calls = %+v", calls)
	}
	for i, c := range calls {
		if c.browser != want[i] {
			t.Errorf("%s got browser %+v, want %+v", c.method, c.browser, want[i])
		}
	}

	t.Run("a browser without the binding cookie is refused by the flow with 403", func(t *testing.T) {
		r := h.do(h.newClient(), mustRequest(t, http.MethodGet, h.ts.URL+"/login?id=req-bound"))
		wantStatus(t, r, http.StatusForbidden)
	})
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestTruncateUTF8(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"a short string is kept", "abc", 5, "abc"},
		{"a string of exactly n bytes is kept", "abcde", 5, "abcde"},
		{"a long ASCII string is cut at n", "abcdef", 5, "abcde"},
		{"a two-byte character across the limit is left out whole", "abcdé", 5, "abcd"},
		{"a four-byte character across the limit is left out whole", "ab😀", 5, "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncateUTF8(tt.in, tt.n); got != tt.want {
				t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func TestConsentItemsSayWhatEachScopeGives(t *testing.T) {
	tests := []struct {
		name   string
		scopes []string
		client string
		want   []string
	}{
		{"the standard scopes in plain words", []string{"openid", "profile", "email"}, "App",
			[]string{"Confirm your identity", "Your name and username", "Your email address"}},
		{"offline access names the client", []string{"offline_access"}, "App",
			[]string{"Stay signed in to App (refresh tokens)"}},
		{"offline access for a nameless client", []string{"offline_access"}, "",
			[]string{"Stay signed in to the application (refresh tokens)"}},
		{"an unknown scope is shown by its name", []string{"openid", "api:write"}, "App",
			[]string{"Confirm your identity", "api:write"}},
		{"repeated and empty scopes are shown once", []string{"email", "", "email"}, "App",
			[]string{"Your email address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := consentItems(tt.scopes, tt.client)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("consentItems(%q) = %q, want %q", tt.scopes, got, tt.want)
			}
		})
	}
}

// SECURITY-RULES: "`Cache-Control: no-store` on login, MFA, consent and enrollment pages"
// SECURITY-RULES: "CSP with nonces or no inline script, `object-src 'none'`, `base-uri 'none'`, `frame-ancestors
// 'none'`, plus `X-Frame-Options: DENY`, `nosniff`, `Referrer-Policy: no-referrer`"
// — the login and consent pages: no-store, and no inline script.
func TestEverySignInPageIsUncachedAndHasNoInlineCode(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	pages := map[string]response{}
	pages["the login form"] = h.get("/login?id=req-pw")
	form := loginForm(t, h, "req-pw", fakeUser, "wrong")
	pages["the login form after a wrong password"] = h.post(h.client, "/login", form, nil)
	pages["the login form after a CSRF failure"] = h.post(h.newClient(), "/login", form, nil)
	h.post(h.client, "/login", loginForm(t, h, "req-consent", fakeUser, fakePassword), nil)
	pages["the consent form"] = h.get("/login?id=req-consent")
	pages["the consent form after a bad decision"] = h.post(h.client, "/consent",
		url.Values{"csrf_token": {csrfTokenIn(t, pages["the consent form"].body)}, "id": {"req-consent"}}, nil)
	pages["the logout prompt"] = h.get("/logout?token=lt-app")
	pages["the logout prompt after a CSRF failure"] = h.post(h.client, "/logout", url.Values{"token": {"lt-app"}}, nil)
	pages["the signed-out page"] = h.get("/logout/done")
	pages["the expired sign-in page"] = h.get("/login?id=nope")
	pages["the redirect of a signed-in browser"] = h.get("/login?id=req-sso")
	for name, r := range pages {
		t.Run(name, func(t *testing.T) { wantHostedPage(t, r) })
	}
}
