package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/session"
)

// The logout confirmation is what production wires in.
var _ LogoutFlow = (*session.Logouts)(nil)

func TestTheLogoutPrompt(t *testing.T) {
	tests := []struct {
		name        string
		query       string
		wantStatus  int
		wantBody    []string
		wantNotBody []string
		wantCalls   int // LogoutPrompt calls
	}{
		{
			name:       "asks to confirm with the hidden token and names the client that asked",
			query:      "?token=lt-app",
			wantStatus: http.StatusOK,
			wantBody: []string{
				`<form id="logout" method="post" action="/logout">`,
				`<input type="hidden" name="token" value="lt-app">`,
				"<h1>Sign out of Twofold?</h1>", "<strong>Demo App</strong> asked to sign you out.",
				`<button type="submit" class="button button-primary">Sign out</button>`,
				`<a href="/" class="button button-secondary button-block">Stay signed in</a>`,
			},
			wantCalls: 1,
		},
		{
			name:        "without a known client does not name one",
			query:       "?token=lt-anon",
			wantStatus:  http.StatusOK,
			wantBody:    []string{`<form id="logout"`, "Sign out of Twofold?"},
			wantNotBody: []string{"asked to sign you out"},
			wantCalls:   1,
		},
		{
			name:       "with an unknown or expired token is the 400 page",
			query:      "?token=guess",
			wantStatus: http.StatusBadRequest,
			wantBody:   []string{"This sign-out link is invalid or has expired."},
			wantCalls:  1,
		},
		{
			name:       "without a token is the 400 page without asking the flow",
			wantStatus: http.StatusBadRequest,
			wantBody:   []string{"This sign-out link is invalid or has expired."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			r := h.get("/logout" + tt.query)
			wantStatus(t, r, tt.wantStatus)
			wantHostedPage(t, r)
			wantContains(t, r.body, tt.wantBody...)
			wantNotContains(t, r.body, tt.wantNotBody...)
			if r.StatusCode == http.StatusOK {
				csrfTokenIn(t, r.body)
			} else {
				wantNotContains(t, r.body, `<form id="logout"`)
			}
			if got := len(h.flow.callsOf("LogoutPrompt")); got != tt.wantCalls {
				t.Errorf("LogoutPrompt called %d times, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestTheLogoutConfirmation(t *testing.T) {
	tests := []struct {
		name         string
		token        string
		edit         func(url.Values)
		header       http.Header
		otherBrowser bool
		script       error // ConfirmLogout's answer
		wantStatus   int
		wantTo       string // Location of a 303
		wantBody     []string
		wantCalls    int // ConfirmLogout calls
	}{
		{name: "clears the session and goes back to the client", token: "lt-app",
			wantStatus: http.StatusSeeOther, wantTo: fakeLogoutURL, wantCalls: 1},
		{name: "clears the session and shows the signed-out page when there is nowhere to go back to", token: "lt-anon",
			wantStatus: http.StatusSeeOther, wantTo: "/logout/done", wantCalls: 1},
		{name: "without a CSRF token is 403 with the form again and nothing happens", token: "lt-app",
			edit:       func(f url.Values) { f.Del("csrf_token") },
			wantStatus: http.StatusForbidden,
			wantBody: []string{`<form id="logout"`, `role="alert" aria-live="assertive"`,
				"Your session expired or the form was submitted from elsewhere.", `name="token" value="lt-app"`}},
		{name: "from a browser without the CSRF cookie is 403", token: "lt-app", otherBrowser: true,
			wantStatus: http.StatusForbidden, wantBody: []string{`<form id="logout"`, `role="alert"`}},
		{name: "announced cross-site is 403", token: "lt-app", header: http.Header{"Sec-Fetch-Site": {"cross-site"}},
			wantStatus: http.StatusForbidden, wantBody: []string{`<form id="logout"`, `role="alert"`}},
		{name: "with a token that expired meanwhile is the 400 page", token: "lt-app",
			script:     idp.ErrLogoutRequestInvalid,
			wantStatus: http.StatusBadRequest, wantBody: []string{"This sign-out link is invalid or has expired."},
			wantCalls: 1},
		{name: "without a token is the 400 page without asking the flow", token: "lt-app",
			edit:       func(f url.Values) { f.Del("token") },
			wantStatus: http.StatusBadRequest, wantBody: []string{"This sign-out link is invalid or has expired."}},
		{name: "when the flow fails internally is the 500 page", token: "lt-app",
			script:     errors.New("database is locked"),
			wantStatus: http.StatusInternalServerError, wantBody: []string{"Something went wrong"}, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			if tt.script != nil {
				h.flow.script("ConfirmLogout", idp.Step{}, tt.script)
			}
			issuer, _ := url.Parse(h.issuer)
			h.client.Jar.SetCookies(issuer, []*http.Cookie{{Name: "twofold_session", Value: "the-session", Path: "/"}})
			page := h.get("/logout?token=" + tt.token)
			wantStatus(t, page, http.StatusOK)
			form := url.Values{"csrf_token": {csrfTokenIn(t, page.body)}, "token": {tt.token}}
			if tt.edit != nil {
				tt.edit(form)
			}
			client := h.client
			if tt.otherBrowser {
				client = h.newClient()
			}
			r := h.post(client, "/logout", form, tt.header)
			wantStatus(t, r, tt.wantStatus)
			wantHostedPage(t, r)
			wantContains(t, r.body, tt.wantBody...)
			calls := h.flow.callsOf("ConfirmLogout")
			if len(calls) != tt.wantCalls {
				t.Fatalf("ConfirmLogout called %d times, want %d", len(calls), tt.wantCalls)
			}
			c := responseCookie(r.Response, "twofold_session")
			if tt.wantTo == "" {
				if c != nil {
					t.Errorf("a refused logout touched the session cookie: %v", c)
				}
				return
			}
			wantRedirect(t, r, tt.wantTo)
			if calls[0].id != tt.token || calls[0].browser.SessionCookie != "the-session" {
				t.Errorf("ConfirmLogout call = %+v", calls[0])
			}
			if c == nil || c.MaxAge >= 0 || c.Value != "" || !c.HttpOnly || c.Path != "/" {
				t.Errorf("session cookie = %+v, want it deleted (MaxAge < 0)", c)
			}
			if u, _ := url.Parse(h.issuer); len(h.client.Jar.Cookies(u)) != 1 { // only the CSRF cookie is left
				t.Errorf("the browser still has %v", h.client.Jar.Cookies(u))
			}
		})
	}
}

func TestTheSignedOutPage(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.get("/logout/done")
	wantStatus(t, r, http.StatusOK)
	wantHostedPage(t, r)
	wantContains(t, r.body, "You are signed out.", ">Twofold</a>")
	if strings.Contains(r.body, "<form") {
		t.Error("the signed-out page has a form")
	}
}
