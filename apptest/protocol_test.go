package apptest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// hostedErrorPage fails unless p is an error page in the hosted-page
// design: HTML with a 4xx status, not JSON, not a redirect.
func hostedErrorPage(t *testing.T, p *apptest.Page, status int) {
	t.Helper()
	if p.Redirect != nil {
		t.Fatalf("redirected to %s: must be an error page", p.Redirect)
	}
	if p.Status != status {
		t.Fatalf("status %d, want %d:\n%s", p.Status, status, p.Body)
	}
	if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q, want the hosted HTML error page:\n%s", ct, p.Body)
	}
	if !strings.Contains(p.Body, `<main class="card">`) || !strings.Contains(p.Body, "<h1>") {
		t.Fatalf("not the hosted-page design:\n%s", p.Body)
	}
}

// ARCHITECTURE.md "Hosted pages": errors a person sees in a browser are
// HTML pages, never raw JSON.
// SECURITY-RULES: "Unknown client or unregistered redirect URI → an error page, never a redirect"
func TestErrorsAPersonSeesAreHTMLPagesNeverJSON(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		code := url.Values{"response_type": {"code"}, "scope": {"openid"}, "state": {"st"}}
		with := func(v url.Values, kv ...string) string {
			q := url.Values{}
			for k, vs := range v {
				q[k] = vs
			}
			for i := 0; i+1 < len(kv); i += 2 {
				q.Set(kv[i], kv[i+1])
			}
			return q.Encode()
		}
		tests := []struct {
			name, path string
		}{
			{"an unknown client_id", "/authorize?" + with(code, "client_id", "nope", "redirect_uri", appRedirect)},
			{"no client_id", "/authorize?" + with(code, "redirect_uri", appRedirect)},
			{"an unregistered redirect_uri", "/authorize?" + with(code, "client_id", "app", "redirect_uri", "https://evil.example/cb")},
			{"no redirect_uri", "/authorize?" + with(code, "client_id", "app")},
			{"a logout to an unregistered post_logout_redirect_uri", "/end_session?" + url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode()},
			{"a logout with a malformed id_token_hint", "/end_session?" + url.Values{"id_token_hint": {"not.a.jwt"}}.Encode()},
			{"a logout for an unknown client with a post_logout_redirect_uri", "/end_session?" + url.Values{"client_id": {"nope"}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/"}}.Encode()},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				hostedErrorPage(t, apptest.NewBrowser(t, s).Get(s.URL+tc.path), http.StatusBadRequest)
			})
		}
		t.Run("the provider's handler alone answers them in HTML too", func(t *testing.T) {
			alone := httptest.NewServer(s.App.Provider.Handler())
			defer alone.Close()
			for _, tc := range tests {
				resp, err := http.Get(alone.URL + tc.path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(ct, "text/html") {
					t.Errorf("%s: %d %s", tc.name, resp.StatusCode, ct)
				}
			}
		})
	})
}

// SECURITY-RULES: "`response_type=token`/`id_token token` … → unsupported (RFC 9700 §2.1.2, §2.4)" and
// "Every authorization response, success or error, carries `iss`" (RFC 9207 §2).
func TestUnsupportedResponseTypesAndFragmentErrorsReachTheClientWithIss(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	t.Run("unsupported response types at a registered http redirect URI", func(t *testing.T) {
		for _, rt := range []string{"token", "id_token token", "id_token", "code id_token", "made_up"} {
			for _, c := range []struct{ id, redirect string }{{"app", appRedirect}, {publicClientID, publicRedirect}} {
				q := url.Values{"client_id": {c.id}, "redirect_uri": {c.redirect}, "response_type": {rt}, "scope": {"openid"}, "state": {"st"}}
				p := apptest.NewBrowser(t, s).Get(authorizeURL(s, q))
				got := apptest.Query(t, p)
				if got.Get("error") != "unsupported_response_type" || got.Get("iss") != s.URL || got.Get("state") != "st" {
					t.Fatalf("%s for %s: redirect %s, want unsupported_response_type with iss and state", rt, c.id, p.Redirect)
				}
			}
		}
	})
	t.Run("with response_mode=fragment the error and iss are in the fragment", func(t *testing.T) {
		for _, rt := range []string{"code", "token"} {
			q := url.Values{"client_id": {"app"}, "redirect_uri": {appRedirect}, "response_type": {rt}, "response_mode": {"fragment"}, "scope": {"openid"}, "state": {"st"}}
			p := apptest.NewBrowser(t, s).Get(authorizeURL(s, q))
			if p.Redirect == nil {
				t.Fatalf("%s: not redirected: %d\n%s", rt, p.Status, p.Body)
			}
			frag, err := url.ParseQuery(p.Redirect.EscapedFragment()) // as the client's script reads location.hash
			if err != nil || frag.Get("error") == "" || frag.Get("iss") != s.URL || frag.Get("state") != "st" {
				t.Fatalf("%s: redirect %s, want error, iss and state in the fragment", rt, p.Redirect)
			}
			if p.Redirect.Query().Has("iss") || p.Redirect.Query().Has("error") {
				t.Fatalf("%s: redirect %s has response parameters in the query too", rt, p.Redirect)
			}
		}
	})
}

func TestEndSessionWithoutClientOrHintAndFromAServer(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		promptNone := func(b *apptest.Browser) string {
			return apptest.Query(t, b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none")))).Get("error")
		}
		t.Run("post_logout_redirect_uri alone shows the confirmation and never redirects there", func(t *testing.T) {
			// What the GitLab OmniAuth strategy sends: nothing says whose URI it is.
			for _, uri := range []string{"http://127.0.0.1:9999/", "https://evil.example/"} {
				b := apptest.NewBrowser(t, s)
				loginApp(t, s, b, rp)
				p := b.Get(s.URL + "/end_session?" + url.Values{"post_logout_redirect_uri": {uri}, "state": {"x"}}.Encode())
				if p.Status != http.StatusOK || p.Redirect != nil || !strings.Contains(p.Body, `id="logout"`) {
					t.Fatalf("%s: status %d redirect %v, want the confirmation page:\n%s", uri, p.Status, p.Redirect, p.Body)
				}
				done := b.Submit(p, "logout", nil)
				if done.Redirect != nil || done.URL.Path != "/logout/done" {
					t.Fatalf("%s: after confirming: %d %v at %s, want our signed-out page", uri, done.Status, done.Redirect, done.URL)
				}
				if got := promptNone(b); got != "login_required" {
					t.Fatalf("%s: session survived the confirmed logout: %s", uri, got)
				}
			}
		})
		server := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		call := func(q url.Values) *http.Response {
			resp, err := server.Get(s.URL + "/end_session?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		t.Run("a server's call with id_token_hint but without the cookie ends the hinted session", func(t *testing.T) {
			b := apptest.NewBrowser(t, s)
			tok, _ := loginApp(t, s, b, rp)
			hint, _ := tok.Extra("id_token").(string)
			resp := call(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/"}, "state": {"bye"}})
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "http://127.0.0.1:9999/?state=bye" {
				t.Fatalf("status %d Location %q", resp.StatusCode, loc)
			}
			if got := promptNone(b); got != "login_required" {
				t.Fatalf("answered signed out but the browser's session lives on: %s", got)
			}
			if _, err := rp.Provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
				t.Fatal("the access token of the ended session still works at userinfo")
			}
			// The session is over, so saying so again is true.
			again := call(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/"}})
			if again.StatusCode != http.StatusFound || again.Header.Get("Location") != "http://127.0.0.1:9999/" {
				t.Fatalf("a second call: %d %q", again.StatusCode, again.Header.Get("Location"))
			}
		})
		t.Run("a server's call without hint or cookie ends nothing and does not say it did", func(t *testing.T) {
			b := apptest.NewBrowser(t, s)
			loginApp(t, s, b, rp)
			resp := call(url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/"}})
			loc := resp.Header.Get("Location")
			if !strings.HasPrefix(loc, "/logout?token=") {
				t.Fatalf("status %d Location %q, want the confirmation page", resp.StatusCode, loc)
			}
			if got := promptNone(b); got != "" {
				t.Fatalf("the browser's session was ended: %s", got)
			}
		})
	})
}

func TestAuthorizeInputIsBounded(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		pending := func() int {
			var n int
			if err := s.Store.SQL().QueryRowContext(t.Context(), "SELECT count(*) FROM auth_requests").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		base := func(kv ...string) url.Values {
			q := url.Values{"client_id": {"app"}, "redirect_uri": {appRedirect}, "response_type": {"code"}, "scope": {"openid"}, "state": {"st"}}
			for i := 0; i+1 < len(kv); i += 2 {
				q.Set(kv[i], kv[i+1])
			}
			return q
		}
		post := func(q url.Values) *apptest.Page {
			b := apptest.NewBrowser(t, s)
			resp, err := b.Client.PostForm(s.URL+"/authorize", q)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			p := &apptest.Page{Status: resp.StatusCode, Header: resp.Header}
			var body strings.Builder
			buf := make([]byte, 32<<10)
			for {
				n, err := resp.Body.Read(buf)
				body.Write(buf[:n])
				if err != nil {
					break
				}
			}
			p.Body = body.String()
			return p
		}
		t.Run("an 8 MB state or a 5 MB claims posted is an error page and stores nothing", func(t *testing.T) {
			before := pending()
			hostedErrorPage(t, post(base("state", strings.Repeat("s", 8<<20))), http.StatusBadRequest)
			hostedErrorPage(t, post(base("claims", `{"x":"`+strings.Repeat("c", 5<<20)+`"}`)), http.StatusBadRequest)
			if n := pending(); n != before {
				t.Fatalf("%d auth requests stored", n-before)
			}
		})
		t.Run("a query over 64 KB is an error page", func(t *testing.T) {
			hostedErrorPage(t, apptest.NewBrowser(t, s).Get(authorizeURL(s, base("x", strings.Repeat("q", 65<<10)))), http.StatusBadRequest)
		})
		// SECURITY-RULES: "`error_description` never echoes raw input and holds only printable ASCII without `"` or
		// `\`"
		t.Run("an oversized parameter is invalid_request at the client, without echoing it", func(t *testing.T) {
			for _, tc := range []struct{ name, value string }{
				{"state", strings.Repeat("s", 2049)},
				{"nonce", strings.Repeat("n", 2049)},
				{"claims", `{"x":"` + strings.Repeat("c", 8<<10) + `"}`},
				{"login_hint", strings.Repeat("l", 2049)},
				{"made_up", strings.Repeat("m", 2049)},
			} {
				before := pending()
				p := apptest.NewBrowser(t, s).Get(authorizeURL(s, base(tc.name, tc.value)))
				got := apptest.Query(t, p)
				if got.Get("error") != "invalid_request" || got.Get("iss") != s.URL {
					t.Fatalf("%s: redirect %s, want invalid_request with iss", tc.name, p.Redirect)
				}
				if len(p.Redirect.String()) > 1024 || strings.Contains(got.Get("error_description"), "made_up") {
					t.Fatalf("%s: the answer echoes the input: %s", tc.name, p.Redirect)
				}
				if tc.name != "state" && got.Get("state") != "st" {
					t.Fatalf("%s: state %q", tc.name, got.Get("state"))
				}
				if n := pending(); n != before {
					t.Fatalf("%s: stored", tc.name)
				}
			}
		})
		t.Run("parameters at their bounds are accepted", func(t *testing.T) {
			q := base("state", strings.Repeat("s", 2048), "nonce", strings.Repeat("n", 2048), "claims", `{"x":"`+strings.Repeat("c", 8<<10-8)+`"}`)
			p := apptest.NewBrowser(t, s).Get(authorizeURL(s, q))
			if p.Status != http.StatusOK || p.URL.Path != "/login" {
				t.Fatalf("status %d at %s, want the login page: %v", p.Status, p.URL, p.Redirect)
			}
		})
		t.Run("a form posted to another endpoint is bounded too", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/introspect", strings.NewReader(url.Values{"token": {strings.Repeat("t", 1<<20)}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("app", appSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("a 1 MB introspection form: status %d, want 400", resp.StatusCode)
			}
		})
	})
}

func TestPendingSignInsPerAddressAreLimited(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		q := url.Values{"client_id": {"app"}, "redirect_uri": {appRedirect}, "response_type": {"code"}, "scope": {"openid"}, "state": {"st"}}
		// Silent renewals answered login_required leave nothing pending.
		silent := url.Values{"prompt": {"none"}}
		for k, v := range q {
			silent[k] = v
		}
		for i := range 120 {
			if got := apptest.Query(t, apptest.NewBrowser(t, s).Get(authorizeURL(s, silent))).Get("error"); got != "login_required" {
				t.Fatalf("prompt=none %d: %s", i+1, got)
			}
		}
		for i := range 100 {
			if p := apptest.NewBrowser(t, s).Get(authorizeURL(s, q)); p.URL.Path != "/login" {
				t.Fatalf("sign-in %d: status %d at %s", i+1, p.Status, p.URL)
			}
		}
		p := apptest.NewBrowser(t, s).Get(authorizeURL(s, q))
		hostedErrorPage(t, p, http.StatusTooManyRequests)
		if p.Header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
		// SECURITY-RULES: "`prompt=none` never shows a page"
		if got := apptest.Query(t, apptest.NewBrowser(t, s).Get(authorizeURL(s, silent))).Get("error"); got != "login_required" {
			t.Fatalf("prompt=none at the limit: %s", got)
		}
		var addr string
		if err := s.Store.SQL().QueryRowContext(t.Context(), "SELECT DISTINCT client_address FROM auth_requests").Scan(&addr); err != nil || addr != "127.0.0.1" {
			t.Fatalf("stored address %q: %v", addr, err)
		}
		// Pending requests expire after 30 minutes; then the address may start again.
		s.Clock.Advance(31 * time.Minute)
		if p := apptest.NewBrowser(t, s).Get(authorizeURL(s, q)); p.URL.Path != "/login" {
			t.Fatalf("after the pending requests expired: status %d at %s", p.Status, p.URL)
		}
	})
}
