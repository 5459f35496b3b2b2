package apptest_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

const pkce = "verifier-0123456789-0123456789-0123456789"

// loginApp signs alice in to "app" and returns the verified claims.
func loginApp(t *testing.T, s *apptest.Server, b *apptest.Browser, rp *apptest.RP, extra ...oauth2.AuthCodeOption) (*oauth2.Token, apptest.Claims) {
	t.Helper()
	p := b.Login(rp.AuthURL("s", "n", pkce, extra...), "alice", alicePassword)
	code, _ := apptest.Code(t, p)
	tok, err := rp.Exchange(code, pkce)
	if err != nil {
		t.Fatal(err)
	}
	_, c := rp.IDToken(tok)
	return tok, c
}

func authorizeURL(s *apptest.Server, q url.Values) string { return s.URL + "/authorize?" + q.Encode() }

// SECURITY-RULES: "Redirect URIs match the registered string exactly (no prefix, case, trailing-slash or query
// tolerance); only the port of a loopback URI of a native client may vary (RFC 9700 §2.1, RFC 8252 §7.3)"
// SECURITY-RULES: "Unknown client or unregistered redirect URI → an error page, never a redirect (RFC 6749 §4.1.2.1)"
func TestUnknownClientsAndUnregisteredRedirectsGetAnErrorPageNeverARedirect(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	base := url.Values{"response_type": {"code"}, "scope": {"openid"}, "client_id": {"app"}, "state": {"x"}}
	tests := []struct {
		name   string
		change func(url.Values)
	}{
		{"an unknown client", func(q url.Values) { q.Set("client_id", "nope"); q.Set("redirect_uri", appRedirect) }},
		{"a trailing slash", func(q url.Values) { q.Set("redirect_uri", appRedirect+"/") }},
		{"a different case", func(q url.Values) { q.Set("redirect_uri", strings.ToUpper(appRedirect)) }},
		{"an added query", func(q url.Values) { q.Set("redirect_uri", appRedirect+"?x=1") }},
		{"a prefix match", func(q url.Values) { q.Set("redirect_uri", appRedirect+"/evil") }},
		{"another port on a confidential client", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9998/callback") }},
		{"no redirect_uri", func(q url.Values) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range base {
				q[k] = v
			}
			tc.change(q)
			p := apptest.NewBrowser(t, s).Get(authorizeURL(s, q))
			if p.Redirect != nil || p.Status < 400 {
				t.Fatalf("status %d, redirect %v: must be an error page", p.Status, p.Redirect)
			}
		})
	}
}

// SECURITY-RULES: "Every authorization response, success or error, carries `iss`; discovery says
// `authorization_response_iss_parameter_supported: true` (RFC 9207)"
// SECURITY-RULES: "`error_description` never echoes raw input and holds only printable ASCII without `"` or `\`"
func TestAuthorizationErrorsReachTheClientWithIss(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	tests := []struct {
		name string
		q    url.Values
		want string
	}{
		// SECURITY-RULES: "PKCE: S256 only; a public client without a challenge is refused"
		{"a public client without PKCE", url.Values{"client_id": {publicClientID}, "redirect_uri": {publicRedirect}}, "invalid_request"},
		{"a plain PKCE challenge", url.Values{"client_id": {publicClientID}, "redirect_uri": {publicRedirect}, "code_challenge": {"abc"}, "code_challenge_method": {"plain"}}, "invalid_request"},
		// SECURITY-RULES: "`response_type=token`/`id_token token` and `grant_type=password` → unsupported (RFC 9700
		// §2.1.2, §2.4)"
		{"response_type=token", url.Values{"client_id": {thirdPartyID}, "redirect_uri": {thirdRedirect}, "response_type": {"token"}}, "unsupported_response_type"},
		{"response_type=id_token token", url.Values{"client_id": {thirdPartyID}, "redirect_uri": {thirdRedirect}, "response_type": {"id_token token"}}, "unsupported_response_type"},
		// SECURITY-RULES: "`request_uri_parameter_supported` defaults to true in discovery: publish `false` if
		// unsupported; an unsupported `request` object → `request_not_supported`, never silently ignored"
		{"a request object", url.Values{"client_id": {"app"}, "redirect_uri": {appRedirect}, "request": {"eyJhbGciOiJub25lIn0.e30."}}, "request_not_supported"},
		{"a request_uri", url.Values{"client_id": {"app"}, "redirect_uri": {appRedirect}, "request_uri": {"https://x.example/r"}}, "request_uri_not_supported"},
		{"a malformed claims parameter", url.Values{"client_id": {"app"}, "redirect_uri": {appRedirect}, "claims": {"not json"}}, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.Set("scope", "openid")
			q.Set("state", "st")
			if q.Get("response_type") == "" {
				q.Set("response_type", "code")
			}
			p := apptest.NewBrowser(t, s).Get(authorizeURL(s, q))
			got := apptest.Query(t, p)
			if got.Get("error") != tc.want || got.Get("iss") != s.URL || got.Get("state") != "st" {
				t.Fatalf("redirect %s, want error=%s with iss and state", p.Redirect, tc.want)
			}
			for _, r := range got.Get("error_description") {
				if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
					t.Fatalf("error_description has %q", r)
				}
			}
		})
	}
}

// SECURITY-RULES: "Redirect URIs match the registered string exactly (no prefix, case, trailing-slash or query
// tolerance); only the port of a loopback URI of a native client may vary (RFC 9700 §2.1, RFC 8252 §7.3)"
func TestPublicNativeClientsMayUseAnyLoopbackPort(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	rp := apptest.NewRP(t, s, publicClientID, "", "http://127.0.0.1:53127/cb")
	p := apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
	code, _ := apptest.Code(t, p)
	if p.Redirect.Host != "127.0.0.1:53127" {
		t.Fatalf("redirected to %s", p.Redirect)
	}
	tok, err := rp.Exchange(code, pkce)
	if err != nil {
		t.Fatal(err)
	}
	rp.IDToken(tok)
}

// SECURITY-RULES: "Unknown user, wrong password, disabled account, with or without MFA: the same status, message,
// redirects, cookies and timing (a dummy hash for unknown users)"
func TestWrongPasswordUnknownUserAndDisabledAccountLookTheSame(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	// bob leaves the configuration file: his account is disabled.
	st := staticFixture()
	st.Users = st.Users[:1]
	if err := s.Dir.ApplyStatic(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	type answer struct {
		status  int
		alert   string
		cookies string
	}
	try := func(user, pw string) answer {
		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce), user, pw)
		i := strings.Index(p.Body, `role="alert"`)
		if i < 0 {
			t.Fatalf("%s: no alert (status %d)", user, p.Status)
		}
		alert := p.Body[i : i+strings.Index(p.Body[i:], "</")]
		var names []string
		for _, c := range p.Header.Values("Set-Cookie") {
			names = append(names, strings.SplitN(c, "=", 2)[0])
		}
		return answer{p.Status, alert, strings.Join(names, ",")}
	}
	wrong := try("alice", "wrong password here")
	for _, other := range []answer{try("nobody", "wrong password here"), try("bob", alicePassword)} {
		if other != wrong {
			t.Fatalf("answers differ:\n%+v\n%+v", wrong, other)
		}
	}
	if wrong.status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", wrong.status)
	}
}

func TestRepeatedFailuresThrottleEvenTheRightPassword(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	b := apptest.NewBrowser(t, s)
	page := b.Get(rp.AuthURL("s", "n", pkce))
	var p *apptest.Page
	for i := 0; i < 10; i++ {
		p = b.Submit(page, "login", map[string]string{"username": "alice", "password": "wrong password here"})
		if p.Status == http.StatusTooManyRequests {
			break
		}
		page = p
	}
	p = b.Submit(page, "login", map[string]string{"username": "alice", "password": alicePassword})
	if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: status %d, Retry-After %q", p.Status, p.Header.Get("Retry-After"))
	}
	// Not a permanent lock-out: the lock expires.
	s.Clock.Advance(16 * time.Minute)
	p = b.Submit(page, "login", map[string]string{"username": "alice", "password": alicePassword})
	apptest.Code(t, p)
}

// SECURITY-RULES: "`prompt=none` never shows a page — not login, not step-up, not consent — it answers
// `login_required`/`interaction_required`/`consent_required` (OIDC Core §3.1.2.6)"
func TestPromptNoneNeverShowsAPage(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		p := b.Get(rp.AuthURL("s1", "n", pkce, oauth2.SetAuthURLParam("prompt", "none")))
		q := apptest.Query(t, p)
		if q.Get("error") != "login_required" || q.Get("state") != "s1" || q.Get("iss") != s.URL {
			t.Fatalf("without a session: %s", p.Redirect)
		}
		_, first := loginApp(t, s, b, rp)
		s.Clock.Advance(time.Minute)
		p = b.Get(rp.AuthURL("s2", "n2", pkce, oauth2.SetAuthURLParam("prompt", "none")))
		code, _ := apptest.Code(t, p)
		tok, err := rp.Exchange(code, pkce)
		if err != nil {
			t.Fatal(err)
		}
		_, second := rp.IDToken(tok)
		if second.AuthTime != first.AuthTime || second.SID != first.SID || second.Subject != first.Subject {
			t.Fatalf("silent login changed auth_time/sid: %+v vs %+v", second, first)
		}
		// An id_token_hint for another user is not this session.
		p = b.Get(rp.AuthURL("s3", "n", pkce, oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("login_hint", "x")))
		apptest.Code(t, p)
	})
}

func TestSingleSignOnSkipsThePasswordForASecondClient(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	b := apptest.NewBrowser(t, s)
	_, first := loginApp(t, s, b, apptest.NewRP(t, s, "app", appSecret, appRedirect))
	rp2 := apptest.NewRP(t, s, "edclient", appSecret, appRedirect)
	p := b.Get(rp2.AuthURL("s", "n", pkce))
	code, _ := apptest.Code(t, p)
	tok, err := rp2.Exchange(code, pkce)
	if err != nil {
		t.Fatal(err)
	}
	_, c := rp2.IDToken(tok)
	if c.SID != first.SID || c.AuthTime != first.AuthTime {
		t.Fatalf("SSO login %+v does not share the session of %+v", c, first)
	}
}

// SECURITY-RULES: "`prompt=login` and `max_age` older than the session force active re-authentication; `max_age=0`
// means `prompt=login`; `auth_time` is always present when `max_age` was sent (OIDC Core §3.1.2.1)"
func TestMaxAgeAndPromptLoginForceTheFirstFactorAgain(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		_, first := loginApp(t, s, b, rp)
		s.Clock.Advance(10 * time.Minute)
		for _, tc := range []struct {
			name  string
			extra oauth2.AuthCodeOption
		}{
			{"max_age older than the session", oauth2.SetAuthURLParam("max_age", "300")},
			{"max_age=0", oauth2.SetAuthURLParam("max_age", "0")},
			{"prompt=login", oauth2.SetAuthURLParam("prompt", "login")},
		} {
			p := b.Get(rp.AuthURL("s", "n", pkce, tc.extra))
			if p.Redirect != nil || !strings.Contains(p.Body, `id="login"`) {
				t.Fatalf("%s: no password form (status %d, redirect %v)", tc.name, p.Status, p.Redirect)
			}
			p = b.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword})
			code, _ := apptest.Code(t, p)
			tok, err := rp.Exchange(code, pkce)
			if err != nil {
				t.Fatal(err)
			}
			_, c := rp.IDToken(tok)
			if c.AuthTime <= first.AuthTime {
				t.Fatalf("%s: auth_time %d did not move past %d", tc.name, c.AuthTime, first.AuthTime)
			}
			first = c
			s.Clock.Advance(10 * time.Minute)
		}
		// A max_age the session satisfies needs no page, and auth_time is present.
		p := b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("max_age", "3600")))
		code, _ := apptest.Code(t, p)
		tok, err := rp.Exchange(code, pkce)
		if err != nil {
			t.Fatal(err)
		}
		if _, c := rp.IDToken(tok); c.AuthTime != first.AuthTime {
			t.Fatalf("auth_time moved on a silent login")
		}
	})
}

// SECURITY-RULES: "`prompt=none` never shows a page — not login, not step-up, not consent — it answers
// `login_required`/`interaction_required`/`consent_required` (OIDC Core §3.1.2.6)"
// — consent_required.
func TestConsentIsAskedRememberedAndForcedByPromptConsent(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, thirdPartyID, appSecret, thirdRedirect)
		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(p.Body, `id="consent"`) {
			t.Fatalf("no consent page after login: status %d\n%s", p.Status, p.Body)
		}
		denied := b.Submit(p, "consent", map[string]string{"decision": "deny"})
		if q := apptest.Query(t, denied); q.Get("error") != "access_denied" || q.Get("iss") != s.URL {
			t.Fatalf("deny: %s", denied.Redirect)
		}
		p = b.Get(rp.AuthURL("s", "n", pkce))
		p = b.Submit(p, "consent", map[string]string{"decision": "allow"})
		apptest.Code(t, p)
		// Remembered: no page next time.
		apptest.Code(t, b.Get(rp.AuthURL("s", "n", pkce)))
		// Revoked: asked again.
		if err := s.Dir.RevokeConsent(context.Background(), idp.ActorCLI, "alice", thirdPartyID); err != nil {
			t.Fatal(err)
		}
		if p := b.Get(rp.AuthURL("s", "n", pkce)); !strings.Contains(p.Body, `id="consent"`) {
			t.Fatalf("no consent page after revocation: %d %v", p.Status, p.Redirect)
		}
		// prompt=consent asks again; prompt=none with a needed consent fails.
		p = b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "consent")))
		if !strings.Contains(p.Body, `id="consent"`) {
			t.Fatalf("prompt=consent showed no consent page")
		}
		more := apptest.NewRP(t, s, thirdPartyID, appSecret, thirdRedirect, oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess)
		q := apptest.Query(t, b.Get(more.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none"))))
		if q.Get("error") != "consent_required" {
			t.Fatalf("prompt=none with a new scope: %v", q)
		}
	})
}

// SECURITY-RULES: "The session cookie value changes after the password, after each second factor and after every
// step-up; the old value then means nothing"
// — after the password.
func TestSessionCookieIsNewAfterEveryLoginAndStrict(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	b := apptest.NewBrowser(t, s)
	p := b.Get(rp.AuthURL("s", "n", pkce))
	p = b.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword})
	first := b.Cookie(idp.SessionCookieBase)
	if first == "" {
		t.Fatal("no session cookie")
	}
	s.Clock.Advance(time.Second)
	p = b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "login")))
	resp := b.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword})
	second := b.Cookie(idp.SessionCookieBase)
	if second == "" || second == first {
		t.Fatalf("session cookie not replaced after a new login")
	}
	_ = resp
	// The old value means nothing now.
	old := apptest.NewBrowser(t, s)
	u, _ := url.Parse(s.URL)
	old.Client.Jar.SetCookies(u, []*http.Cookie{{Name: idp.SessionCookieBase, Value: first}})
	q := apptest.Query(t, old.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none"))))
	if q.Get("error") != "login_required" {
		t.Fatalf("an old session cookie still works: %v", q)
	}
}

func TestASignInBelongsToTheBrowserThatStartedIt(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	victim := apptest.NewBrowser(t, s)
	p := victim.Get(rp.AuthURL("s", "n", pkce))
	attacker := apptest.NewBrowser(t, s)
	if got := attacker.Get(p.URL.String()); got.Status != http.StatusForbidden {
		t.Fatalf("another browser opened the login page: %d", got.Status)
	}
	done := victim.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword})
	apptest.Code(t, done)
	// Neither can another browser collect a code from the callback.
	id := p.URL.Query().Get("id")
	if got := attacker.Get(s.URL + "/authorize/callback?id=" + id); got.Redirect != nil {
		t.Fatalf("another browser got a redirect from the callback: %s", got.Redirect)
	}
}

func TestSignInRequestsExpire(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	b := apptest.NewBrowser(t, s)
	p := b.Get(rp.AuthURL("s", "n", pkce))
	s.Clock.Advance(31 * time.Minute)
	if got := b.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword}); got.Status != http.StatusNotFound {
		t.Fatalf("expired request: status %d", got.Status)
	}
}

// SECURITY-RULES: "Every authorization response, success or error, carries `iss`; discovery says
// `authorization_response_iss_parameter_supported: true` (RFC 9207)"
// — in a form_post response too.
func TestFormPostResponseMode(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	b := apptest.NewBrowser(t, s)
	p := b.Login(rp.AuthURL("fp", "n", pkce, oauth2.SetAuthURLParam("response_mode", "form_post")), "alice", alicePassword)
	action, values := p.Form(t, "form-post")
	if action != appRedirect || values.Get("code") == "" || values.Get("state") != "fp" || values.Get("iss") != s.URL {
		t.Fatalf("form_post: action %s values %v", action, values)
	}
	if strings.Contains(p.Body, "<script>") || !strings.Contains(p.Body, `src="/static/form_post.js"`) {
		t.Fatal("form_post page must use the external script")
	}
	if _, err := rp.Exchange(values.Get("code"), pkce); err != nil {
		t.Fatal(err)
	}
}

func TestRPInitiatedLogout(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		tok, _ := loginApp(t, s, b, rp)
		hint, _ := tok.Extra("id_token").(string)
		q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/"}, "state": {"bye"}}
		p := b.Get(s.URL + "/end_session?" + q.Encode())
		if p.Redirect == nil || p.Redirect.String() != "http://127.0.0.1:9999/?state=bye" {
			t.Fatalf("logout with a matching hint: status %d redirect %v\n%s", p.Status, p.Redirect, p.Body)
		}
		if got := apptest.Query(t, b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none")))); got.Get("error") != "login_required" {
			t.Fatalf("session survived logout: %v", got)
		}
		if _, err := rp.Provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
			t.Fatal("the access token of the ended session still works at userinfo")
		}
		// Unregistered post_logout_redirect_uri: an error, never a redirect.
		bad := b.Get(s.URL + "/end_session?" + url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
		if bad.Redirect != nil || bad.Status < 400 {
			t.Fatalf("unregistered post_logout_redirect_uri: %d %v", bad.Status, bad.Redirect)
		}
		// Without a hint: a confirmation page first.
		loginApp(t, s, b, rp)
		p = b.Get(s.URL + "/end_session?" + url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/"}}.Encode())
		if !strings.Contains(p.Body, `id="logout"`) {
			t.Fatalf("no confirmation page: %d %v", p.Status, p.Redirect)
		}
		done := b.Submit(p, "logout", nil)
		if done.Redirect == nil || done.Redirect.String() != "http://127.0.0.1:9999/" {
			t.Fatalf("after confirming: %d %v", done.Status, done.Redirect)
		}
		if got := apptest.Query(t, b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none")))); got.Get("error") != "login_required" {
			t.Fatalf("session survived confirmed logout: %v", got)
		}
	})
}

// SECURITY-RULES: "CORS only on discovery, JWKS, token, userinfo, revoke; never on `/authorize`, login or logout
// pages" (RFC 9700 §2.6).
func TestCORSOnlyWhereAllowed(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture(), CORSOrigins: []string{"https://spa.example.com"}})
	for _, tc := range []struct {
		method, path, origin string
		allowed              bool
	}{
		{http.MethodGet, "/.well-known/openid-configuration", "https://spa.example.com", true},
		{http.MethodGet, "/keys", "https://spa.example.com", true},
		{http.MethodOptions, "/token", "https://spa.example.com", true},
		{http.MethodOptions, "/userinfo", "https://spa.example.com", true},
		{http.MethodGet, "/userinfo", "https://spa.example.com", true},
		{http.MethodOptions, "/revoke", "https://spa.example.com", true},
		{http.MethodGet, "/keys", "https://evil.example.com", false},
		{http.MethodGet, "/authorize", "https://spa.example.com", false},
		{http.MethodGet, "/login", "https://spa.example.com", false},
		{http.MethodGet, "/end_session", "https://spa.example.com", false},
	} {
		req, _ := http.NewRequest(tc.method, s.URL+tc.path, nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if (got == tc.origin) != tc.allowed || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s %s from %s: Allow-Origin %q", tc.method, tc.path, tc.origin, got)
		}
	}
}
