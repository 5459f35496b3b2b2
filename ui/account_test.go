package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/account"
)

// The account service is what production wires in.
var _ AccountService = (*account.Service)(nil)

// newAccountHarness serves the account pages from a fake AccountService, on the fake's clock, beside the fake
// sign-in flow (whose pages give a browser without a session its CSRF token).
func newAccountHarness(t *testing.T) *harness {
	t.Helper()
	acc := newFakeAccount()
	h := newHarness(t, harnessConfig{opts: func(o *Options) {
		o.Account = acc
		o.Now = func() time.Time { return fakeAccountNow }
	}})
	h.account = acc
	return h
}

// signIn gives the harness's browser the session cookie the fake account knows.
func (h *harness) signIn() {
	h.t.Helper()
	u, err := url.Parse(h.ts.URL)
	if err != nil {
		h.t.Fatal(err)
	}
	h.client.Jar.SetCookies(u, []*http.Cookie{{Name: "twofold_session", Value: fakeSessionValue, Path: "/"}})
}

// accountPage loads /account in the signed-in browser and returns it with its CSRF token.
func accountPageOf(t *testing.T, h *harness) (response, string) {
	t.Helper()
	r := h.get("/account")
	wantStatus(t, r, http.StatusOK)
	return r, csrfTokenIn(t, r.body)
}

// postAccount posts a copy of form with the browser's CSRF token to path.
func postAccount(t *testing.T, h *harness, path string, form url.Values) response {
	t.Helper()
	_, token := accountPageOf(t, h)
	form = cloneForm(form)
	form.Set("csrf_token", token)
	return h.post(h.client, path, form, nil)
}

func cloneForm(form url.Values) url.Values {
	out := make(url.Values, len(form)+1)
	for k, v := range form {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func TestTheAccountPage(t *testing.T) {
	t.Run("without a session sends the browser to sign in", func(t *testing.T) {
		h := newAccountHarness(t)
		wantRedirect(t, h.get("/account"), fakeAccountSignInURL)
		if calls := h.account.callsOf("AccountSignInURL"); len(calls) != 1 || calls[0].reauth {
			t.Errorf("AccountSignInURL calls = %+v, want one without reauth", calls)
		}
	})

	h := newAccountHarness(t)
	h.signIn()
	r, token := accountPageOf(t, h)
	wantMFAPage(t, r)

	t.Run("says whose account it is", func(t *testing.T) {
		wantContains(t, r.body, "<title>Your account · Twofold</title>", "<h1>Your account</h1>",
			"<strong>alice</strong>", "alice@example.com")
	})
	t.Run("lists every factor with its kind and human dates", func(t *testing.T) {
		wantContains(t, r.body,
			`<span class="item-name">Pixel 8</span> <span class="badge">Authenticator app</span>`,
			`<span class="item-name">MacBook Touch ID</span> <span class="badge badge-accent">Passkey</span>`,
			`<span class="item-name">Old YubiKey</span> <span class="badge">Security key</span> <span class="badge badge-danger">blocked: may have been copied</span>`,
			`Added <time datetime="2026-01-28T15:09:00Z" title="28 Jan 2026, 15:09 UTC">28 Jan</time> · last used <time datetime="2026-03-14T13:09:00Z" title="14 Mar 2026, 13:09 UTC">2 hours ago</time>`,
			">12 days ago</time> · last used <time", ">5 minutes ago</time>",
			">2 Jun 2025</time> · never used")
	})
	t.Run("gives each factor a rename form and a remove form", func(t *testing.T) {
		for _, f := range []struct{ kind, id, name string }{
			{"totp", "totp-1", "Pixel 8"}, {"webauthn", "wa-1", "MacBook Touch ID"}, {"webauthn", "wa-2", "Old YubiKey"},
		} {
			hidden := `<input type="hidden" name="csrf_token" value="` + token + `">
<input type="hidden" name="kind" value="` + f.kind + `">
<input type="hidden" name="id" value="` + f.id + `">
`
			wantContains(t, r.body,
				`<form class="inline-form rename-form" method="post" action="/account/factors/rename">
`+hidden+`<label for="rename-`+f.kind+`-`+f.id+`" class="visually-hidden">New name for `+f.name+`</label>
<input id="rename-`+f.kind+`-`+f.id+`" name="name" type="text" value="`+f.name+`"`,
				`<form class="inline-form remove-form" method="post" action="/account/factors/remove">
`+hidden+`<button type="submit" class="button button-danger button-small">Remove<span class="visually-hidden"> `+f.name+`</span></button>`)
		}
		wantNotContains(t, r.body, " disabled", "last-factor-note")
	})
	t.Run("offers to add an authenticator app and a passkey", func(t *testing.T) {
		wantContains(t, r.body,
			`<form id="add-totp" class="panel" method="post" action="/account/totp">`,
			`<input id="totp-name" name="name" type="text"`,
			`<label for="webauthn-name">`,
			`<input id="webauthn-name" name="name" type="text"`,
			`<button id="webauthn-register" type="button" class="button button-secondary button-block" data-begin="/account/webauthn/register/begin" data-finish="/account/webauthn/register/finish" data-csrf="`+token+`">Add a passkey or security key</button>`,
			`aria-live="assertive" id="webauthn-error"></div>`,
			webauthnScript)
		wantNotContains(t, r.body, "data-id=")
	})
	t.Run("counts the backup codes left and warns at three", func(t *testing.T) {
		wantContains(t, r.body, `<strong class="backup-left">3 left</strong>`,
			`<p class="warning" role="status" id="backup-codes-low">You are running out of backup codes.`,
			`<form id="regenerate-backup-codes" class="inline-form" method="post" action="/account/backup-codes">`,
			"Get new backup codes</button>")
	})
	t.Run("has the password form with what password managers need", func(t *testing.T) {
		wantContains(t, r.body, `<form id="change-password" method="post" action="/account/password">`,
			`<input type="text" value="alice" autocomplete="username" readonly hidden>`,
			`<input id="current_password" name="current_password" type="password" autocomplete="current-password" required>`,
			`<input id="password" name="password" type="password" autocomplete="new-password" required aria-describedby="password-hint">`,
			`<input id="password_confirm" name="password_confirm" type="password" autocomplete="new-password" required>`,
			"At least 8 characters")
	})
	t.Run("lists the sessions and marks this device", func(t *testing.T) {
		wantContains(t, r.body,
			`<span class="item-name" title="`+fakeChromeMac+`">Chrome on macOS</span> <span class="badge badge-accent">This device</span>`,
			`<span class="item-name" title="`+fakeFirefoxWindows+`">Firefox on Windows</span></p>`,
			">3 hours ago</time> · last seen <time", ">just now</time>", ">yesterday</time>",
			`<span class="ip">203.0.113.7</span>`, `<span class="ip">198.51.100.23</span>`,
			`<input type="hidden" name="session" value="`+fakeCurrentSession+`">
<button type="submit" class="button button-secondary button-small">Sign out</button>`,
			`<input type="hidden" name="session" value="`+fakeOtherSession+`">
<button type="submit" class="button button-secondary button-small">End<span class="visually-hidden"> the session of Firefox on Windows</span></button>`)
		if n := strings.Count(r.body, "This device"); n != 1 {
			t.Errorf(`"This device" appears %d times, want once`, n)
		}
		wantContains(t, r.body, `<form id="account-sign-out" class="inline-form" method="post" action="/account/sessions/end">`)
	})
	t.Run("lists the remembered devices after the sessions, each with a forget form", func(t *testing.T) {
		wantContains(t, r.body,
			`<h2 id="devices-title">Remembered devices</h2>`,
			`<span class="item-name">Firefox</span>`,
			`Remembered <time datetime="2026-03-05T15:09:00Z" title="5 Mar 2026, 15:09 UTC">9 days ago</time> · expires <time datetime="2026-04-04T15:09:00Z" title="4 Apr 2026, 15:09 UTC">in 21 days</time> · last used <time datetime="2026-03-13T03:09:00Z" title="13 Mar 2026, 03:09 UTC">yesterday</time>`,
			`<span class="item-name">Safari</span>`,
			`Remembered <time datetime="2026-03-14T13:09:00Z" title="14 Mar 2026, 13:09 UTC">2 hours ago</time> · expires <time datetime="2026-05-13T13:09:00Z" title="13 May 2026, 13:09 UTC">on 13 May</time> · not used yet`)
		for _, d := range []struct{ id, label, since string }{
			{fakeDeviceLaptop, "Firefox", "9 days ago"}, {fakeDevicePhone, "Safari", "2 hours ago"},
		} {
			wantContains(t, r.body, `<form class="inline-form" method="post" action="/account/devices/forget">
<input type="hidden" name="csrf_token" value="`+token+`">
<input type="hidden" name="device" value="`+d.id+`">
<button type="submit" class="button button-secondary button-small">Forget<span class="visually-hidden"> `+d.label+`, remembered `+d.since+`</span></button>`)
		}
		if i, j := strings.Index(r.body, `id="sessions-title"`), strings.Index(r.body, `id="devices-title"`); i < 0 || j < i {
			t.Error("the remembered devices are not after the sessions")
		}
		wantNotContains(t, r.body, "No device is remembered.")
	})
	t.Run("says so when no device is remembered", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		h.account.edit(func(v *account.View) { v.Devices = nil })
		r, _ := accountPageOf(t, h)
		wantContains(t, r.body, `<h2 id="devices-title">Remembered devices</h2>`, `<p class="empty">No device is remembered.</p>`)
		wantNotContains(t, r.body, "/account/devices/forget")
	})
	t.Run("shows no alert, no notice and no confirm-it's-you note when nothing happened and the proof is fresh", func(t *testing.T) {
		wantNotContains(t, r.body, `role="alert"`, `id="account-notice"`, `id="reauth-note"`)
	})
	t.Run("says security changes will ask to confirm it's you when the proof is not fresh", func(t *testing.T) {
		h.account.edit(func(v *account.View) { v.Fresh = false })
		defer h.account.edit(func(v *account.View) { v.Fresh = true })
		wantContains(t, h.get("/account").body,
			`<p class="note" id="reauth-note">To change security settings you’ll be asked to confirm it’s you.</p>`)
	})
	t.Run("after a password change says so in a status note", func(t *testing.T) {
		wantContains(t, h.get("/account?changed=password").body,
			`<div class="notice" role="status" id="account-notice">`+msgPasswordChanged+`</div>`)
		wantNotContains(t, h.get("/account?changed=<b>").body, `id="account-notice"`)
	})
}

func TestTheAccountPageBackupCodeWarning(t *testing.T) {
	tests := []struct {
		name     string
		left     int
		noFactor bool
		want     []string
		wantNot  []string
	}{
		{name: "is absent with four left", left: 4, want: []string{"4 left"}, wantNot: []string{"backup-codes-low"}},
		{name: "says none are left at zero", left: 0,
			want: []string{"0 left", `role="status" id="backup-codes-low">You have no backup codes left.`}},
		{name: "and the button are absent without any factor", noFactor: true,
			want:    []string{"You get backup codes with your first authenticator app or key."},
			wantNot: []string{"backup-codes-low", "regenerate-backup-codes", "left</strong>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newAccountHarness(t)
			h.signIn()
			h.account.edit(func(v *account.View) {
				v.BackupCodesLeft = tt.left
				if tt.noFactor {
					dropFactors(v, "")
				}
			})
			r, _ := accountPageOf(t, h)
			wantContains(t, r.body, tt.want...)
			wantNotContains(t, r.body, tt.wantNot...)
		})
	}
}

func TestTheLastFactorCannotBeRemovedWhenAPolicyRequiresMFA(t *testing.T) {
	t.Run("its remove button is disabled with the reason", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		h.account.edit(func(v *account.View) { dropFactors(v, idp.MethodWebAuthn) })
		r, _ := accountPageOf(t, h)
		wantContains(t, r.body,
			`<button type="submit" class="button button-danger button-small" disabled aria-describedby="last-factor-note">Remove`,
			`<p class="hint" id="last-factor-note">Your organisation requires two-step sign-in`)
	})
	t.Run("its remove button is enabled when no policy requires MFA", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		h.account.edit(func(v *account.View) { dropFactors(v, idp.MethodWebAuthn); v.MFARequired = false })
		r, _ := accountPageOf(t, h)
		wantNotContains(t, r.body, " disabled", "last-factor-note")
	})
	t.Run("posting the remove form anyway is 400 with the explanation", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		h.account.edit(func(v *account.View) { dropFactors(v, idp.MethodWebAuthn) })
		r := postAccount(t, h, "/account/factors/remove", url.Values{"kind": {"totp"}, "id": {"totp-1"}})
		wantStatus(t, r, http.StatusBadRequest)
		wantMFAPage(t, r)
		wantContains(t, r.body, `<div class="alert" role="alert" aria-live="assertive" id="factors-error">`+msgLastFactor+`</div>`,
			`<span class="item-name">Pixel 8</span>`)
	})
}

func TestTheAccountCallback(t *testing.T) {
	h := newAccountHarness(t)
	t.Run("goes back to the account page", func(t *testing.T) {
		wantRedirect(t, h.get("/account/callback?code=c0de&state=acc-2"), "/account")
	})
	t.Run("after a failed sign-in says so instead of starting another", func(t *testing.T) {
		r := h.get("/account/callback?error=access_denied&error_description=%3Cb%3E&state=acc-2")
		wantStatus(t, r, http.StatusBadRequest)
		wantHostedPage(t, r)
		wantContains(t, r.body, "Sign-in did not complete")
		wantNotContains(t, r.body, "access_denied", "&lt;b&gt;")
	})
}

// accountPosts are the account page's sensitive forms, each filled in as it would be submitted, with the service
// method that makes the change.
var accountPosts = []struct {
	name, path, method string
	form               url.Values
}{
	{"adding an authenticator app", "/account/totp", "AccountStartTOTP", url.Values{"name": {"Work phone"}}},
	{"confirming an authenticator app", "/account/totp/confirm", "AccountConfirmTOTP",
		url.Values{"enrollment": {fakeEnrollmentID}, "code": {fakeTOTPCode}}},
	{"removing a factor", "/account/factors/remove", "AccountRemoveFactor", url.Values{"kind": {"totp"}, "id": {"totp-1"}}},
	{"getting new backup codes", "/account/backup-codes", "AccountRegenerateBackupCodes", url.Values{}},
	{"changing the password", "/account/password", "AccountChangePassword",
		url.Values{"current_password": {fakePassword}, "password": {"a new long passphrase"}, "password_confirm": {"a new long passphrase"}}},
}

// SECURITY-RULES: "Adding or removing a factor, regenerating codes or changing the password requires a fresh proof of
// an existing factor"
func TestSensitiveAccountChangesWithoutAFreshProofGoToConfirmItIsYou(t *testing.T) {
	for _, tt := range accountPosts {
		t.Run(tt.name, func(t *testing.T) {
			h := newAccountHarness(t)
			h.signIn()
			h.account.edit(func(v *account.View) { v.Fresh = false })
			r := postAccount(t, h, tt.path, tt.form)
			wantRedirect(t, r, fakeAccountReauthURL)
			if calls := h.account.callsOf("AccountSignInURL"); len(calls) != 1 || !calls[0].reauth {
				t.Errorf("AccountSignInURL calls = %+v, want one with reauth", calls)
			}
		})
	}
}

func TestAccountChangesWithoutASessionGoToSignIn(t *testing.T) {
	all := append(accountPosts[:len(accountPosts):len(accountPosts)],
		struct {
			name, path, method string
			form               url.Values
		}{"renaming a factor", "/account/factors/rename", "AccountRenameFactor", url.Values{"kind": {"totp"}, "id": {"totp-1"}, "name": {"x"}}},
		struct {
			name, path, method string
			form               url.Values
		}{"ending a session", "/account/sessions/end", "AccountEndSession", url.Values{"session": {fakeOtherSession}}},
		struct {
			name, path, method string
			form               url.Values
		}{"signing out everywhere", "/account/sessions/end-all", "AccountEndAllSessions", url.Values{}},
		struct {
			name, path, method string
			form               url.Values
		}{"forgetting a remembered device", "/account/devices/forget", "AccountForgetDevice", url.Values{"device": {fakeDeviceLaptop}}},
	)
	for _, tt := range all {
		t.Run(tt.name, func(t *testing.T) {
			h := newAccountHarness(t)
			form := cloneForm(tt.form)
			form.Set("csrf_token", csrfOf(t, h))
			wantRedirect(t, h.post(h.client, tt.path, form, nil), fakeAccountSignInURL)
		})
	}
}

// SECURITY-RULES: "CSRF token on every state-changing POST; missing or wrong → 403, nothing changes; also refuse
// cross-site `Sec-Fetch-Site`/`Origin` on those POSTs"
func TestAccountFormsWithoutACSRFTokenAre403AndChangeNothing(t *testing.T) {
	all := append(accountPosts[:len(accountPosts):len(accountPosts)],
		struct {
			name, path, method string
			form               url.Values
		}{"renaming a factor", "/account/factors/rename", "AccountRenameFactor", url.Values{"kind": {"totp"}, "id": {"totp-1"}, "name": {"x"}}},
		struct {
			name, path, method string
			form               url.Values
		}{"ending a session", "/account/sessions/end", "AccountEndSession", url.Values{"session": {fakeCurrentSession}}},
		struct {
			name, path, method string
			form               url.Values
		}{"signing out everywhere", "/account/sessions/end-all", "AccountEndAllSessions", url.Values{}},
		struct {
			name, path, method string
			form               url.Values
		}{"forgetting a remembered device", "/account/devices/forget", "AccountForgetDevice", url.Values{"device": {fakeDeviceLaptop}}},
	)
	for _, tt := range all {
		for _, how := range []struct {
			name   string
			token  bool
			header http.Header
		}{
			{name: "without a token"},
			{name: "announced cross-site", token: true, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		} {
			t.Run(tt.name+" "+how.name, func(t *testing.T) {
				h := newAccountHarness(t)
				h.signIn()
				_, token := accountPageOf(t, h)
				form := cloneForm(tt.form)
				if how.token {
					form.Set("csrf_token", token)
				}
				r := h.post(h.client, tt.path, form, how.header)
				wantStatus(t, r, http.StatusForbidden)
				wantMFAPage(t, r)
				wantContains(t, r.body, `role="alert"`, csrfMessage)
				if n := len(h.account.callsOf(tt.method)); n != 0 {
					t.Errorf("%s called %d times", tt.method, n)
				}
				if c := responseCookie(r.Response, "twofold_session"); c != nil {
					t.Errorf("a refused form set the session cookie: %v", c)
				}
			})
		}
	}
	t.Run("the backup codes acknowledgement is refused too, without showing codes", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := h.post(h.client, "/account", url.Values{}, nil)
		wantStatus(t, r, http.StatusForbidden)
		wantContains(t, r.body, `<form id="backup-codes-ack" method="post" action="/account">`, `role="alert"`, csrfMessage)
		wantNotContains(t, r.body, `class="backup-code"`)
	})
	for _, path := range []string{"/account/password", "/account/totp/confirm"} {
		t.Run(path+" without a session either is still 403", func(t *testing.T) {
			h := newAccountHarness(t)
			r := h.post(h.client, path, url.Values{"enrollment": {fakeEnrollmentID}, "code": {fakeTOTPCode}}, nil)
			wantStatus(t, r, http.StatusForbidden)
			wantContains(t, r.body, csrfMessage)
		})
	}
}

// wantAccountTOTPPage checks the sign-in's TOTP enrollment page as the account page uses it.
func wantAccountTOTPPage(t *testing.T, r response) {
	t.Helper()
	wantMFAPage(t, r)
	e := fakeEnrollment()
	wantContains(t, r.body, "<h1>Set up your authenticator app</h1>",
		`<form id="enroll-totp" method="post" action="/account/totp/confirm">`,
		`<input type="hidden" name="enrollment" value="`+fakeEnrollmentID+`">`,
		`<img src="data:image/png;base64,`,
		`<p class="secondary-link"><a href="/account">Cancel</a></p>`)
	wantNotContains(t, r.body, `name="id"`, "ZgotmplZ", "/login")
	csrfTokenIn(t, r.body)
	m := regexp.MustCompile(`<a id="otpauth-uri" href="([^"]*)">`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no a#otpauth-uri in:\n%s", r.body)
	}
	if got := html.UnescapeString(m[1]); got != e.URI {
		t.Errorf("a#otpauth-uri href = %q, want exactly %q", got, e.URI)
	}
}

func TestAddingAnAuthenticatorAppFromTheAccountPage(t *testing.T) {
	h := newAccountHarness(t)
	h.signIn()
	r := postAccount(t, h, "/account/totp", url.Values{"name": {"Work phone"}})
	wantStatus(t, r, http.StatusOK)
	wantAccountTOTPPage(t, r)
	if calls := h.account.callsOf("AccountStartTOTP"); len(calls) != 1 || calls[0].name != "Work phone" {
		t.Errorf("AccountStartTOTP calls = %+v, want one named Work phone", calls)
	}
	token := csrfTokenIn(t, r.body)

	tests := []struct {
		name        string
		code        string
		script      error
		wantStatus  int
		wantAlert   string
		wantConfirm int
		wantRetry   string
	}{
		{name: "a wrong code shows the same QR code again with 401", code: "000000",
			wantStatus: http.StatusUnauthorized, wantAlert: msgWrongCode, wantConfirm: 1},
		{name: "an empty code is 400 and never reaches the service",
			wantStatus: http.StatusBadRequest, wantAlert: msgEnterTOTP},
		{name: "a code far too long is 400 and never reaches the service", code: strings.Repeat("1", 100),
			wantStatus: http.StatusBadRequest, wantAlert: msgCodeTooLong},
		{name: "while throttled is 429 with Retry-After", code: fakeTOTPCode, script: &idp.ThrottledError{RetryAfter: 30 * time.Second},
			wantStatus: http.StatusTooManyRequests, wantAlert: "Too many attempts. Try again in 30 seconds.", wantConfirm: 1, wantRetry: "30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newAccountHarness(t)
			h.signIn()
			if tt.script != nil {
				h.account.script("AccountConfirmTOTP", tt.script)
			}
			r := postAccount(t, h, "/account/totp/confirm", url.Values{"enrollment": {fakeEnrollmentID}, "code": {tt.code}})
			wantStatus(t, r, tt.wantStatus)
			wantAccountTOTPPage(t, r)
			wantContains(t, r.body, `role="alert" aria-live="assertive" id="enroll-error">`+tt.wantAlert)
			if got := len(h.account.callsOf("AccountConfirmTOTP")); got != tt.wantConfirm {
				t.Errorf("AccountConfirmTOTP called %d times, want %d", got, tt.wantConfirm)
			}
			if calls := h.account.callsOf("AccountTOTP"); len(calls) != 1 || calls[0].id != fakeEnrollmentID {
				t.Errorf("AccountTOTP calls = %+v, want one for %s", calls, fakeEnrollmentID)
			}
			if got := r.Header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
		})
	}
	t.Run("the right code adds it and goes back to the account page", func(t *testing.T) {
		r := h.post(h.client, "/account/totp/confirm", url.Values{"csrf_token": {token},
			"enrollment": {fakeEnrollmentID}, "code": {fakeTOTPCode}}, nil)
		wantRedirect(t, r, "/account")
		if calls := h.account.callsOf("AccountConfirmTOTP"); len(calls) != 1 || calls[0].code != fakeTOTPCode {
			t.Errorf("AccountConfirmTOTP calls = %+v", calls)
		}
		page, _ := accountPageOf(t, h)
		wantContains(t, page.body, `<span class="item-name">Authenticator app</span> <span class="badge">Authenticator app</span>`)
	})
	t.Run("an unknown enrollment is 404", func(t *testing.T) {
		r := h.post(h.client, "/account/totp/confirm", url.Values{"csrf_token": {token},
			"enrollment": {"enr-other"}, "code": {fakeTOTPCode}}, nil)
		wantStatus(t, r, http.StatusNotFound)
		wantHostedPage(t, r)
	})
	t.Run("an enrollment the service cannot show safely is 500", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		h.account.mu.Lock()
		h.account.enrollment = &idp.TOTPEnrollment{ID: fakeEnrollmentID, URI: "javascript:alert(1)//otpauth://totp/",
			QRPNG: fakeEnrollment().QRPNG}
		h.account.mu.Unlock()
		r := postAccount(t, h, "/account/totp", url.Values{})
		wantStatus(t, r, http.StatusInternalServerError)
		wantNotContains(t, r.body, "otpauth", "enroll-totp")
	})
}

func TestNewBackupCodesFromTheAccountPage(t *testing.T) {
	h := newAccountHarness(t)
	h.signIn()
	r := postAccount(t, h, "/account/backup-codes", url.Values{})
	wantStatus(t, r, http.StatusOK)
	wantMFAPage(t, r)
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q: backup codes must never be stored", got)
	}
	got := regexp.MustCompile(`<code class="backup-code">([^<]*)</code>`).FindAllStringSubmatch(r.body, -1)
	if len(got) != 10 {
		t.Fatalf("%d .backup-code elements, want 10:\n%s", len(got), r.body)
	}
	for i, m := range got {
		if m[1] != fakeBackupCodes[i] {
			t.Errorf("backup code %d = %q, want %q", i, m[1], fakeBackupCodes[i])
		}
	}
	wantContains(t, r.body, "<h1>Save your backup codes</h1>", "Your previous backup codes no longer work.",
		`<form id="backup-codes-ack" method="post" action="/account">`)
	wantNotContains(t, r.body, `name="id"`)

	t.Run("the acknowledgement goes back to the account page with 303", func(t *testing.T) {
		ack := h.post(h.client, "/account", url.Values{"csrf_token": {csrfTokenIn(t, r.body)}}, nil)
		wantRedirect(t, ack, "/account")
		page, _ := accountPageOf(t, h)
		wantContains(t, page.body, "10 left")
		wantNotContains(t, page.body, "backup-codes-low")
	})
	t.Run("without a factor is 400 saying what to do first", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		h.account.edit(func(v *account.View) { dropFactors(v, "") })
		r := postAccount(t, h, "/account/backup-codes", url.Values{})
		wantStatus(t, r, http.StatusBadRequest)
		wantContains(t, r.body, `role="alert" aria-live="assertive" id="backup-error">Add an authenticator app or a passkey first.</div>`)
	})
}

func TestRemovingAFactor(t *testing.T) {
	t.Run("removes it and goes back to the account page", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := postAccount(t, h, "/account/factors/remove", url.Values{"kind": {"webauthn"}, "id": {"wa-2"}})
		wantRedirect(t, r, "/account")
		if calls := h.account.callsOf("AccountRemoveFactor"); len(calls) != 1 || calls[0].kind != "webauthn" || calls[0].id != "wa-2" {
			t.Errorf("AccountRemoveFactor calls = %+v", calls)
		}
		page, _ := accountPageOf(t, h)
		wantNotContains(t, page.body, "Old YubiKey")
	})
	t.Run("one that no longer exists is 404 with an alert", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := postAccount(t, h, "/account/factors/remove", url.Values{"kind": {"totp"}, "id": {"gone"}})
		wantStatus(t, r, http.StatusNotFound)
		wantContains(t, r.body, `id="factors-error">`+msgFactorGone)
	})
	t.Run("of a kind the service does not know is 404 and removes nothing", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := postAccount(t, h, "/account/factors/remove", url.Values{"kind": {"password"}, "id": {"totp-1"}})
		wantStatus(t, r, http.StatusNotFound)
		wantContains(t, r.body, `id="factors-error">`+msgFactorGone)
		if calls := h.account.callsOf("AccountRemoveFactor"); len(calls) != 1 || calls[0].kind != "password" || calls[0].id != "totp-1" {
			t.Errorf("AccountRemoveFactor calls = %+v, want the kind passed on as it came", calls)
		}
		page, _ := accountPageOf(t, h)
		wantContains(t, page.body, `<span class="item-name">Pixel 8</span>`)
	})
	for _, kind := range []string{"", strings.Repeat("k", 33)} {
		t.Run(fmt.Sprintf("of a kind of %d bytes is 404 and never reaches the service", len(kind)), func(t *testing.T) {
			h := newAccountHarness(t)
			h.signIn()
			r := postAccount(t, h, "/account/factors/remove", url.Values{"kind": {kind}, "id": {"totp-1"}})
			wantStatus(t, r, http.StatusNotFound)
			wantContains(t, r.body, `id="factors-error">`+msgFactorGone)
			if n := len(h.account.callsOf("AccountRemoveFactor")); n != 0 {
				t.Errorf("AccountRemoveFactor called %d times", n)
			}
		})
	}
}

func TestRenamingAFactor(t *testing.T) {
	t.Run("renames it without a fresh proof", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		h.account.edit(func(v *account.View) { v.Fresh = false })
		r := postAccount(t, h, "/account/factors/rename", url.Values{"kind": {"totp"}, "id": {"totp-1"}, "name": {"Old phone"}})
		wantRedirect(t, r, "/account")
		page, _ := accountPageOf(t, h)
		wantContains(t, page.body, `<span class="item-name">Old phone</span>`)
	})
	t.Run("to nothing is 400 naming the field", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := postAccount(t, h, "/account/factors/rename", url.Values{"kind": {"totp"}, "id": {"totp-1"}, "name": {"  "}})
		wantStatus(t, r, http.StatusBadRequest)
		wantContains(t, r.body, `id="factors-error">Name is required.</div>`)
	})
	t.Run("to a name far too long is 400 and never reaches the service", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := postAccount(t, h, "/account/factors/rename", url.Values{"kind": {"totp"}, "id": {"totp-1"}, "name": {strings.Repeat("n", 300)}})
		wantStatus(t, r, http.StatusBadRequest)
		wantContains(t, r.body, msgNameTooLong)
		if n := len(h.account.callsOf("AccountRenameFactor")); n != 0 {
			t.Errorf("AccountRenameFactor called %d times", n)
		}
	})
}

func TestChangingThePassword(t *testing.T) {
	good := url.Values{"current_password": {fakePassword}, "password": {"a new long passphrase"},
		"password_confirm": {"a new long passphrase"}}
	t.Run("succeeds with 303 to the account page, which says so", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		wantRedirect(t, postAccount(t, h, "/account/password", good), "/account?changed=password")
		if calls := h.account.callsOf("AccountChangePassword"); len(calls) != 1 || calls[0].current != fakePassword ||
			calls[0].next != "a new long passphrase" {
			t.Errorf("AccountChangePassword calls = %+v", calls)
		}
	})
	tests := []struct {
		name      string
		edit      func(url.Values)
		wantField string
		wantAlert string
		wantCalls int
	}{
		{name: "with the wrong current password is 400 naming that field",
			edit:      func(f url.Values) { f.Set("current_password", "wrong") },
			wantField: "current_password", wantAlert: "Current password is not right.", wantCalls: 1},
		{name: "with a weak new password is 400 naming that field",
			edit:      func(f url.Values) { f.Set("password", "short"); f.Set("password_confirm", "short") },
			wantField: "password", wantAlert: "New password must be at least 8 characters.", wantCalls: 1},
		{name: "with a confirmation that differs is 400 and never reaches the service",
			edit:      func(f url.Values) { f.Set("password_confirm", "something else") },
			wantField: "password_confirm", wantAlert: msgPasswordsDiffer},
		{name: "without the current password is 400 and never reaches the service",
			edit:      func(f url.Values) { f.Del("current_password") },
			wantField: "current_password", wantAlert: msgEnterCurrent},
		{name: "without a new password is 400 and never reaches the service",
			edit:      func(f url.Values) { f.Del("password") },
			wantField: "password", wantAlert: msgEnterNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newAccountHarness(t)
			h.signIn()
			form := cloneForm(good)
			tt.edit(form)
			r := postAccount(t, h, "/account/password", form)
			wantStatus(t, r, http.StatusBadRequest)
			wantMFAPage(t, r)
			wantContains(t, r.body, `<div class="alert" role="alert" aria-live="assertive" id="password-error">`+tt.wantAlert+`</div>`)
			m := regexp.MustCompile(`<input id="` + tt.wantField + `" [^>]*>`).FindString(r.body)
			if !strings.Contains(m, `aria-invalid="true"`) || !strings.Contains(m, "password-error") || !strings.Contains(m, "autofocus") {
				t.Errorf("field %s = %s, want it invalid, described by the alert and focused", tt.wantField, m)
			}
			if n := strings.Count(r.body, `aria-invalid="true"`); n != 1 {
				t.Errorf("%d invalid fields, want 1", n)
			}
			wantNotContains(t, r.body, "a new long passphrase", fakePassword)
			if n := len(h.account.callsOf("AccountChangePassword")); n != tt.wantCalls {
				t.Errorf("AccountChangePassword called %d times, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestEndingSessions(t *testing.T) {
	t.Run("another session ends and the browser stays signed in", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := postAccount(t, h, "/account/sessions/end", url.Values{"session": {fakeOtherSession}})
		wantRedirect(t, r, "/account")
		if c := responseCookie(r.Response, "twofold_session"); c != nil {
			t.Errorf("ending another session touched this browser's cookie: %v", c)
		}
		page, _ := accountPageOf(t, h)
		wantNotContains(t, page.body, "Firefox on Windows")
	})
	t.Run("this device's session clears the cookie and lands on the signed-out page", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := postAccount(t, h, "/account/sessions/end", url.Values{"session": {fakeCurrentSession}})
		wantRedirect(t, r, "/logout/done")
		c := responseCookie(r.Response, "twofold_session")
		if c == nil || c.MaxAge >= 0 || c.Value != "" || !c.HttpOnly || c.Path != "/" {
			t.Errorf("session cookie = %+v, want it cleared", c)
		}
		wantStatus(t, h.get("/logout/done"), http.StatusOK)
		wantRedirect(t, h.get("/account"), fakeAccountSignInURL)
	})
	t.Run("one that already ended is 404 with an alert", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := postAccount(t, h, "/account/sessions/end", url.Values{"session": {"sess-gone"}})
		wantStatus(t, r, http.StatusNotFound)
		wantContains(t, r.body, `id="sessions-error">`+msgSessionGone)
	})
}

func TestForgettingARememberedDevice(t *testing.T) {
	t.Run("forgets it and goes back to the account page", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := postAccount(t, h, "/account/devices/forget", url.Values{"device": {fakeDeviceLaptop}})
		wantRedirect(t, r, "/account")
		if calls := h.account.callsOf("AccountForgetDevice"); len(calls) != 1 || calls[0].id != fakeDeviceLaptop ||
			calls[0].browser.SessionCookie != fakeSessionValue {
			t.Errorf("AccountForgetDevice calls = %+v", calls)
		}
		page, _ := accountPageOf(t, h)
		wantNotContains(t, page.body, `value="`+fakeDeviceLaptop+`"`)
		wantContains(t, page.body, `value="`+fakeDevicePhone+`"`)
	})
	t.Run("one that is no longer remembered is 404 with an alert in its section", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := postAccount(t, h, "/account/devices/forget", url.Values{"device": {"dev-gone"}})
		wantStatus(t, r, http.StatusNotFound)
		wantMFAPage(t, r)
		wantContains(t, r.body, `<div class="alert" role="alert" aria-live="assertive" id="devices-error">`+msgDeviceGone+`</div>`)
	})
	t.Run("without a device is 404 and never reaches the service", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		r := postAccount(t, h, "/account/devices/forget", url.Values{})
		wantStatus(t, r, http.StatusNotFound)
		wantContains(t, r.body, `id="devices-error">`+msgDeviceGone)
		if n := len(h.account.callsOf("AccountForgetDevice")); n != 0 {
			t.Errorf("AccountForgetDevice called %d times", n)
		}
	})
	t.Run("an internal failure is the 500 page without the cause", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		h.account.script("AccountForgetDevice", errors.New("database is locked"))
		r := postAccount(t, h, "/account/devices/forget", url.Values{"device": {fakeDeviceLaptop}})
		wantStatus(t, r, http.StatusInternalServerError)
		wantNotContains(t, r.body, "database")
	})
}

// wantJSONField checks one string field of a JSON object answer.
func wantJSONField(t *testing.T, r response, field, want string) {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	if body[field] != want {
		t.Errorf("%s = %v, want %q", field, body[field], want)
	}
}

func TestTheAccountWebAuthnAPI(t *testing.T) {
	const begin, finish = "/account/webauthn/register/begin", "/account/webauthn/register/finish"
	body := finishBody("")

	t.Run("begin answers the service's options", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		_, token := accountPageOf(t, h)
		r := h.postBody(h.client, begin, "application/json", `{}`, http.Header{"X-Csrf-Token": {token}})
		wantJSON(t, r, http.StatusOK, "session", fakeWebAuthnSess)
	})
	t.Run("finish hands the body over unchanged and answers the account page", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		_, token := accountPageOf(t, h)
		r := h.postBody(h.client, finish, "application/json", body, http.Header{"X-Csrf-Token": {token}})
		wantJSON(t, r, http.StatusOK, "redirect", "/account")
		if calls := h.account.callsOf("AccountFinishWebAuthnRegistration"); len(calls) != 1 || calls[0].body != body {
			t.Errorf("AccountFinishWebAuthnRegistration calls = %+v, want one with the body unchanged", calls)
		}
		page, _ := accountPageOf(t, h)
		wantContains(t, page.body, `<span class="item-name">YubiKey</span> <span class="badge">Security key</span>`)
	})
	for _, ep := range []struct{ path, method string }{
		{begin, "AccountBeginWebAuthnRegistration"}, {finish, "AccountFinishWebAuthnRegistration"},
	} {
		t.Run(ep.path+" without X-CSRF-Token is 403 and never reaches the service", func(t *testing.T) {
			h := newAccountHarness(t)
			h.signIn()
			accountPageOf(t, h)
			r := h.postBody(h.client, ep.path, "application/json", body, nil)
			wantJSON(t, r, http.StatusForbidden, "error", csrfMessage)
			if n := len(h.account.callsOf(ep.method)); n != 0 {
				t.Errorf("%s called %d times", ep.method, n)
			}
		})
		t.Run(ep.path+" without a fresh proof is 401 with where to confirm it's you", func(t *testing.T) {
			h := newAccountHarness(t)
			h.signIn()
			_, token := accountPageOf(t, h)
			h.account.edit(func(v *account.View) { v.Fresh = false })
			r := h.postBody(h.client, ep.path, "application/json", body, http.Header{"X-Csrf-Token": {token}})
			wantJSON(t, r, http.StatusUnauthorized, "reauth", fakeAccountReauthURL)
			wantJSONField(t, r, "error", msgReauthJSON)
		})
		t.Run(ep.path+" without a session is 401 with where to sign in", func(t *testing.T) {
			h := newAccountHarness(t)
			r := h.postBody(h.client, ep.path, "application/json", body, http.Header{"X-Csrf-Token": {csrfOf(t, h)}})
			wantJSON(t, r, http.StatusUnauthorized, "reauth", fakeAccountSignInURL)
			wantJSONField(t, r, "error", msgSignInJSON)
		})
	}
	t.Run("finish needs application/json: 415 otherwise", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		_, token := accountPageOf(t, h)
		r := h.postBody(h.client, finish, "text/plain", body, http.Header{"X-Csrf-Token": {token}})
		wantJSON(t, r, http.StatusUnsupportedMediaType, "error", msgRequestNotJSON)
		if n := len(h.account.callsOf("AccountFinishWebAuthnRegistration")); n != 0 {
			t.Errorf("AccountFinishWebAuthnRegistration called %d times", n)
		}
	})
	t.Run("a ceremony the service refuses is 400 with a message for people", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		_, token := accountPageOf(t, h)
		r := h.postBody(h.client, finish, "application/json", `{"session":"other","credential":{}}`, http.Header{"X-Csrf-Token": {token}})
		wantJSON(t, r, http.StatusBadRequest, "error", msgAccountWebAuthn)
	})
	t.Run("an internal failure is 500 without the cause", func(t *testing.T) {
		h := newAccountHarness(t)
		h.signIn()
		_, token := accountPageOf(t, h)
		h.account.script("AccountBeginWebAuthnRegistration", errors.New("database is locked"))
		r := h.postBody(h.client, begin, "application/json", `{}`, http.Header{"X-Csrf-Token": {token}})
		wantJSON(t, r, http.StatusInternalServerError, "", "")
		wantNotContains(t, r.body, "database")
	})
}

func TestWebAuthnJSFollowsTheAccountPagesReauthAnswer(t *testing.T) {
	h := newAccountHarness(t)
	r := h.get("/static/webauthn.js")
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, "data.reauth", "samePath(err.reauth)", "window.location.assign(err.reauth)")
}

// SECURITY-RULES: "`return_to`-style parameters accept only same-origin relative paths"
// — the account never redirects off this site, whatever sign-in URL it is given.
func TestAnAccountSignInURLOffThisSiteIsRefused(t *testing.T) {
	for _, u := range []string{"https://evil.example/authorize", "//evil.example/authorize", `/\evil.example`} {
		t.Run(u, func(t *testing.T) {
			h := newAccountHarness(t)
			h.account.mu.Lock()
			h.account.signInURL[false] = u
			h.account.mu.Unlock()
			r := h.get("/account")
			wantStatus(t, r, http.StatusInternalServerError)
			if loc := r.Header.Get("Location"); loc != "" {
				t.Errorf("Location = %q", loc)
			}
		})
	}
}

func TestWithoutAnAccountServiceTheAccountPagesAreAbsent(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	for _, path := range []string{"/account", "/account/callback"} {
		wantStatus(t, h.get(path), http.StatusNotFound)
	}
}

func TestHumanTime(t *testing.T) {
	now := fakeAccountNow
	tests := []struct {
		ago  time.Duration
		at   time.Time
		want string
	}{
		{ago: -time.Minute, want: "just now"},
		{ago: 59 * time.Second, want: "just now"},
		{ago: time.Minute, want: "1 minute ago"},
		{ago: 59 * time.Minute, want: "59 minutes ago"},
		{ago: time.Hour, want: "1 hour ago"},
		{ago: 23 * time.Hour, want: "23 hours ago"},
		{ago: 30 * time.Hour, want: "yesterday"},
		{ago: 48 * time.Hour, want: "2 days ago"},
		{ago: 29 * 24 * time.Hour, want: "29 days ago"},
		{at: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), want: "2 Jan"},
		{at: time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), want: "31 Dec 2025"},
	}
	for _, tt := range tests {
		at := tt.at
		if at.IsZero() {
			at = now.Add(-tt.ago)
		}
		if got := humanTime(at, now); got != tt.want {
			t.Errorf("humanTime(%v before now) = %q, want %q", now.Sub(at), got, tt.want)
		}
	}
	if got := newAccountTime(time.Time{}, now); got != (accountTime{}) {
		t.Errorf("newAccountTime(zero) = %+v, want nothing to show", got)
	}
}

func TestHumanFuture(t *testing.T) {
	now := fakeAccountNow
	tests := []struct {
		in   time.Duration
		at   time.Time
		want string
	}{
		{in: -time.Minute, want: "in under a minute"},
		{in: 59 * time.Second, want: "in under a minute"},
		{in: time.Minute, want: "in 1 minute"},
		{in: 59 * time.Minute, want: "in 59 minutes"},
		{in: time.Hour, want: "in 1 hour"},
		{in: 23 * time.Hour, want: "in 23 hours"},
		{in: 30 * time.Hour, want: "in 1 day"},
		{in: 29 * 24 * time.Hour, want: "in 29 days"},
		{at: time.Date(2026, 6, 2, 3, 4, 5, 0, time.UTC), want: "on 2 Jun"},
		{at: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), want: "on 1 Jan 2027"},
	}
	for _, tt := range tests {
		at := tt.at
		if at.IsZero() {
			at = now.Add(tt.in)
		}
		if got := humanFuture(at, now); got != tt.want {
			t.Errorf("humanFuture(%v after now) = %q, want %q", at.Sub(now), got, tt.want)
		}
	}
	if got := newAccountDeadline(time.Time{}, now); got != (accountTime{}) {
		t.Errorf("newAccountDeadline(zero) = %+v, want nothing to show", got)
	}
}

func TestShortUserAgent(t *testing.T) {
	tests := []struct{ ua, want string }{
		{fakeChromeMac, "Chrome on macOS"},
		{fakeFirefoxWindows, "Firefox on Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", "Edge on Windows"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iPhone"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "Firefox on Linux"},
		{"curl/8.5.0", "curl/8.5.0"},
		{"Go-http-client/1.1 " + strings.Repeat("x", 60), "Go-http-client/1.1 " + strings.Repeat("x", 21) + "…"},
		{"", "Unknown browser"},
	}
	for _, tt := range tests {
		if got := shortUserAgent(tt.ua); got != tt.want {
			t.Errorf("shortUserAgent(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
}
