package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/twofold-idp/twofold/idp"
)

func TestSetupLinkThatCannotBeUsedIs404WithOneMessage(t *testing.T) {
	tests := []struct {
		name  string
		query string
		done  bool
	}{
		{"an unknown token", "?token=guess", false},
		{"no token", "", false},
		{"an empty token", "?token=", false},
		{"any token after setup is done", "?token=good-token", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			h.setup.done = tt.done
			r := h.get("/setup" + tt.query)
			wantStatus(t, r, http.StatusNotFound)
			wantContains(t, r.body, "This setup link is invalid or has already been used.", ">Twofold</a>")
			wantNotContains(t, r.body, `id="setup"`)
		})
	}
}

func TestSetupFormWithAValidLink(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.get("/setup?token=good-token")
	wantStatus(t, r, http.StatusOK)
	csrfTokenIn(t, r.body)
	wantContains(t, r.body,
		`<form id="setup" method="post" action="/setup">`,
		`<input type="hidden" name="token" value="good-token">`,
		`name="username" type="text" value="" autocomplete="username"`,
		`name="email" type="email"`, `autocomplete="email"`,
		`name="password" type="password" autocomplete="new-password" required aria-describedby="password-hint"`,
		`name="password_confirm" type="password" autocomplete="new-password"`,
		`<label for="username">`, `<label for="email">`, `<label for="password">`, `<label for="password_confirm">`,
		"At least 8 characters",
		" autofocus",
	)
	wantNotContains(t, r.body, `role="alert"`)
	var csrfCookie *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "twofold_csrf" {
			csrfCookie = c
		}
	}
	if csrfCookie == nil || !csrfCookie.HttpOnly || csrfCookie.SameSite != http.SameSiteLaxMode {
		t.Errorf("CSRF cookie = %+v, want HttpOnly and SameSite=Lax", csrfCookie)
	}
}

func TestSetupSubmission(t *testing.T) {
	valid := func() url.Values {
		return url.Values{
			"token":            {"good-token"},
			"username":         {"admin"},
			"email":            {"admin@example.com"},
			"password":         {"correct horse battery"},
			"password_confirm": {"correct horse battery"},
		}
	}
	tests := []struct {
		name         string
		edit         func(url.Values)
		header       http.Header
		otherBrowser bool // post with a browser that never loaded the form
		completeErr  error
		wantStatus   int
		wantBody     []string
		wantNotBody  []string
		wantCalls    int
	}{
		{
			name:       "without a CSRF token it is refused with 403 and nothing happens",
			edit:       func(f url.Values) { f.Del("csrf_token") },
			wantStatus: http.StatusForbidden,
			wantBody: []string{`role="alert"`, "Your session expired or the form was submitted from elsewhere.",
				`id="setup"`, `value="admin"`},
		},
		{
			name:       "with a wrong CSRF token it is refused with 403",
			edit:       func(f url.Values) { f.Set("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") },
			wantStatus: http.StatusForbidden,
			wantBody:   []string{`role="alert"`},
		},
		{
			name:         "from a browser without the CSRF cookie it is refused with 403",
			otherBrowser: true,
			wantStatus:   http.StatusForbidden,
			wantBody:     []string{`role="alert"`},
		},
		{
			name:       "announced cross-site by Sec-Fetch-Site it is refused with 403",
			header:     http.Header{"Sec-Fetch-Site": {"cross-site"}},
			wantStatus: http.StatusForbidden,
			wantBody:   []string{`role="alert"`},
		},
		{
			name:       "from a foreign Origin it is refused with 403",
			header:     http.Header{"Origin": {"https://evil.example"}},
			wantStatus: http.StatusForbidden,
			wantBody:   []string{`role="alert"`},
		},
		{
			name:       "with mismatched passwords it is 400, keeps the username and email and never echoes a password",
			edit:       func(f url.Values) { f.Set("password_confirm", "correct horse battery staple") },
			wantStatus: http.StatusBadRequest,
			wantBody: []string{`role="alert"`, "do not match", `value="admin"`, `value="admin@example.com"`,
				`aria-invalid="true"`},
			wantNotBody: []string{"correct horse"},
		},
		{
			name: "with input idp refuses it is 400 with idp's message",
			edit: func(f url.Values) {
				f.Set("password", "short")
				f.Set("password_confirm", "short")
			},
			wantStatus: http.StatusBadRequest,
			wantBody: []string{`role="alert"`, "must be at least 8 characters", `value="admin"`,
				`aria-describedby="password-hint setup-error"`},
			wantNotBody: []string{`value="short"`},
			wantCalls:   1,
		},
		{
			name:       "with an unknown token it is the generic 404",
			edit:       func(f url.Values) { f.Set("token", "guess") },
			wantStatus: http.StatusNotFound,
			wantBody:   []string{"This setup link is invalid or has already been used."},
			wantCalls:  1,
		},
		{
			name:        "after setup was completed elsewhere it is the 404 page",
			completeErr: fmt.Errorf("complete setup: %w", idp.ErrSetupDone),
			wantStatus:  http.StatusNotFound,
			wantBody:    []string{"This setup link is invalid or has already been used."},
			wantCalls:   1,
		},
		{
			name:        "when idp fails internally it is the 500 page without the cause",
			completeErr: errors.New("database is locked"),
			wantStatus:  http.StatusInternalServerError,
			wantBody:    []string{"Something went wrong"},
			wantNotBody: []string{"database", "locked"},
			wantCalls:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			h.setup.completeErr = tt.completeErr
			form := valid()
			page := h.get("/setup?token=good-token")
			form.Set("csrf_token", csrfTokenIn(t, page.body))
			if tt.edit != nil {
				tt.edit(form)
			}
			client := h.client
			if tt.otherBrowser {
				client = h.newClient()
			}
			r := h.post(client, "/setup", form, tt.header)
			wantStatus(t, r, tt.wantStatus)
			wantContains(t, r.body, tt.wantBody...)
			wantNotContains(t, r.body, tt.wantNotBody...)
			if got := h.setup.completeCalls(); got != tt.wantCalls {
				t.Errorf("CompleteSetup called %d times, want %d", got, tt.wantCalls)
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if r.StatusCode == http.StatusForbidden || r.StatusCode == http.StatusBadRequest {
				// The re-rendered form can be submitted again as it is.
				csrfTokenIn(t, r.body)
				wantContains(t, r.body, `<input type="hidden" name="token" value="`+form.Get("token")+`">`)
			}
		})
	}
}

func TestSetupSucceedsThenTheLinkIsSpent(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	page := h.get("/setup?token=good-token")
	form := url.Values{
		"csrf_token":       {csrfTokenIn(t, page.body)},
		"token":            {"good-token"},
		"username":         {"admin"},
		"email":            {"admin@example.com"},
		"password":         {"correct horse battery"},
		"password_confirm": {"correct horse battery"},
	}
	r := h.post(h.client, "/setup", form, nil)
	wantStatus(t, r, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != "/setup/done" {
		t.Fatalf("Location = %q, want /setup/done", got)
	}
	done := h.get("/setup/done")
	wantStatus(t, done, http.StatusOK)
	wantContains(t, done.body, "Your administrator account is ready.", `href="/"`)

	if len(h.setup.created) != 1 {
		t.Fatalf("created %d users, want 1", len(h.setup.created))
	}
	u := h.setup.created[0]
	if u.Username != "admin" || u.Email != "admin@example.com" || u.Password != "correct horse battery" || !u.Admin {
		t.Errorf("created %+v, want the admin from the form", u)
	}

	again := h.get("/setup?token=good-token")
	wantStatus(t, again, http.StatusNotFound)
	resubmit := h.post(h.client, "/setup", form, nil)
	wantStatus(t, resubmit, http.StatusNotFound)
}
