package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// SECURITY-RULES: "Cookies: `HttpOnly`, `SameSite=Lax` (Strict breaks SSO from relying parties), `Secure` and
// `__Host-` on https"
func TestCSRFCookieIsHttpOnlyLaxAndHostBoundOnHTTPS(t *testing.T) {
	tests := []struct {
		issuer     string
		wantName   string
		wantSecure bool
	}{
		{"http://localhost:8080", "twofold_csrf", false},
		{"https://id.example.com", "__Host-twofold_csrf", true},
		{"HTTPS://ID.example.com:443/base", "__Host-twofold_csrf", true},
	}
	for _, tt := range tests {
		t.Run(tt.issuer, func(t *testing.T) {
			srv, err := New(Options{Issuer: tt.issuer, CSRFKey: testCSRFKey})
			if err != nil {
				t.Fatal(err)
			}
			c := srv.csrfCookie("v")
			if c.Name != tt.wantName || c.Secure != tt.wantSecure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
				c.Path != "/" || c.Domain != "" || c.MaxAge != 0 || !c.Expires.IsZero() {
				t.Errorf("cookie = %+v", c)
			}
			if err := c.Valid(); err != nil {
				t.Errorf("invalid cookie: %v", err)
			}
			line := c.String()
			for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
				if !strings.Contains(line, attr) {
					t.Errorf("Set-Cookie %q lacks %s", line, attr)
				}
			}
			if tt.wantSecure != strings.Contains(line, "Secure") {
				t.Errorf("Set-Cookie %q: Secure should be %v", line, tt.wantSecure)
			}
		})
	}
}

// SECURITY-RULES: "CSRF token on every state-changing POST; missing or wrong → 403, nothing changes; also refuse
// cross-site `Sec-Fetch-Site`/`Origin` on those POSTs"
func TestCheckCSRF(t *testing.T) {
	srv, err := New(Options{Issuer: "https://id.example.com", CSRFKey: testCSRFKey})
	if err != nil {
		t.Fatal(err)
	}
	// A browser that has loaded a form: its cookie and the token on the page.
	rec := httptest.NewRecorder()
	token := srv.csrfToken(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	cookie := rec.Result().Cookies()[0]
	other := httptest.NewRecorder()
	otherToken := srv.csrfToken(other, httptest.NewRequest(http.MethodGet, "/", nil))

	tests := []struct {
		name    string
		method  string
		form    url.Values
		header  map[string]string
		cookie  bool
		wantErr bool
	}{
		{"a GET needs nothing", http.MethodGet, nil, nil, false, false},
		{"a POST with the matching form token passes", http.MethodPost, url.Values{"csrf_token": {token}}, nil, true, false},
		{"a POST with the token in the header passes", http.MethodPost, nil, map[string]string{"X-CSRF-Token": token}, true, false},
		{"a same-origin POST passes", http.MethodPost, url.Values{"csrf_token": {token}},
			map[string]string{"Origin": "https://id.example.com", "Sec-Fetch-Site": "same-origin"}, true, false},
		{"an Origin with the default port spelled out passes", http.MethodPost, url.Values{"csrf_token": {token}},
			map[string]string{"Origin": "https://ID.example.com:443"}, true, false},
		{"a POST without a token fails", http.MethodPost, nil, nil, true, true},
		{"a POST without the cookie fails", http.MethodPost, url.Values{"csrf_token": {token}}, nil, false, true},
		{"a POST with another browser's token fails", http.MethodPost, url.Values{"csrf_token": {otherToken}}, nil, true, true},
		{"a POST with a garbled token fails", http.MethodPost, url.Values{"csrf_token": {token[:20] + "!!"}}, nil, true, true},
		{"a DELETE without a token fails", http.MethodDelete, nil, nil, true, true},
		{"a cross-site POST fails even with the right token", http.MethodPost, url.Values{"csrf_token": {token}},
			map[string]string{"Sec-Fetch-Site": "cross-site"}, true, true},
		{"a POST from another origin fails even with the right token", http.MethodPost, url.Values{"csrf_token": {token}},
			map[string]string{"Origin": "https://evil.example"}, true, true},
		{"a POST from a sibling subdomain fails", http.MethodPost, url.Values{"csrf_token": {token}},
			map[string]string{"Origin": "https://app.example.com"}, true, true},
		{"a POST from the http origin of an https issuer fails", http.MethodPost, url.Values{"csrf_token": {token}},
			map[string]string{"Origin": "http://id.example.com"}, true, true},
		{"a POST from an opaque origin fails", http.MethodPost, url.Values{"csrf_token": {token}},
			map[string]string{"Origin": "null"}, true, true},
		{"a POST from an opaque cross-site origin fails", http.MethodPost, url.Values{"csrf_token": {token}},
			map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}, true, true},
		{"a same-origin form POST under no-referrer (Origin null) passes with the token", http.MethodPost, url.Values{"csrf_token": {token}},
			map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, true, false},
		{"a same-origin form POST under no-referrer still needs the token", http.MethodPost, url.Values{},
			map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "https://id.example.com/x", strings.NewReader(tt.form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if tt.cookie {
				r.AddCookie(cookie)
			}
			if err := srv.checkCSRF(r); (err != nil) != tt.wantErr {
				t.Fatalf("checkCSRF = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}

func TestCSRFTokenReusesTheBrowsersSecret(t *testing.T) {
	srv, err := New(Options{Issuer: "http://localhost:8080", CSRFKey: testCSRFKey})
	if err != nil {
		t.Fatal(err)
	}
	first := httptest.NewRecorder()
	token := srv.csrfToken(first, httptest.NewRequest(http.MethodGet, "/", nil))
	cookies := first.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("a browser without a secret got %d cookies, want 1", len(cookies))
	}
	again := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(cookies[0])
	if got := srv.csrfToken(again, r); got != token {
		t.Errorf("token changed for the same secret: %q then %q", token, got)
	}
	if len(again.Result().Cookies()) != 0 {
		t.Error("a browser with a secret got a new cookie")
	}
}
