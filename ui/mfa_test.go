package ui

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/login"
)

// newMFAHarness is newHarness with the fake flow also serving the second-factor pages, as in production.
func newMFAHarness(t *testing.T) *harness {
	t.Helper()
	return newHarness(t, harnessConfig{opts: func(o *Options) { o.MFA = o.Flow.(MFAFlow) }})
}

// webauthnScript is the one script tag a hosted page may have: the external WebAuthn file.
const webauthnScript = `<script src="/static/webauthn.js" defer></script>`

// wantMFAPage is wantHostedPage for pages that may load webauthn.js: never cached, HTML, and no inline code.
func wantMFAPage(t *testing.T, r response) {
	t.Helper()
	wantHostedPage(t, response{Response: r.Response, body: strings.ReplaceAll(r.body, webauthnScript, "")})
}

var dataMethodRE = regexp.MustCompile(`<a data-method="([a-z_]+)" href="([^"]*)">([^<]*)</a>`)

// methodLinks returns the data-method of each a[data-method] link of the page, in order, checking each href.
func methodLinks(t *testing.T, body, id string) []string {
	t.Helper()
	var out []string
	for _, m := range dataMethodRE.FindAllStringSubmatch(body, -1) {
		if want := "/login?id=" + id + "&amp;method=" + m[1]; m[2] != want {
			t.Errorf("link for %s goes to %q, want %q", m[1], m[2], want)
		}
		out = append(out, m[1])
	}
	return out
}

// csrfOf returns a CSRF token of the harness's browser, from any page with a form.
func csrfOf(t *testing.T, h *harness) string {
	t.Helper()
	return csrfTokenIn(t, h.get("/login?id=req-pw").body)
}

// postBody posts body with the content type and headers given.
func (h *harness) postBody(c *http.Client, path, contentType, body string, header http.Header) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.ts.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return h.do(c, req)
}

// SECURITY-RULES: "`Cache-Control: no-store` on login, MFA, consent and enrollment pages"
// — the MFA pages.
func TestTheSecondFactorChallengePages(t *testing.T) {
	webauthnPage := []string{
		`<form id="mfa-webauthn" method="post" action="/login/mfa/webauthn" data-begin="/login/webauthn/begin" data-finish="/login/webauthn/finish" data-id="req-mfa" data-csrf="`,
		`<button id="webauthn-verify" type="button" class="button button-primary">Use your security key or passkey</button>`,
		`role="alert" aria-live="assertive" id="webauthn-error"></div>`,
		webauthnScript,
	}
	totpPage := []string{
		`<form id="mfa-totp" method="post" action="/login/mfa/totp">`,
		"<h1>Enter the code from your authenticator app</h1>",
		`inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*"`, " required autofocus ",
	}
	backupPage := []string{
		`<form id="mfa-backup-code" method="post" action="/login/mfa/backup-code">`,
		`autocomplete="off"`, "xxxxx-xxxxx, with or without the dash",
	}
	tests := []struct {
		name      string
		id        string
		method    string
		wantBody  []string
		wantLinks []string
	}{
		{"without a method shows the most phishing-resistant one the user has, the security key",
			"req-mfa", "", webauthnPage, []string{"totp", "backup_code"}},
		{"?method=totp shows the authenticator app form", "req-mfa", "totp", totpPage, []string{"webauthn", "backup_code"}},
		{"?method=backup_code shows the backup code form", "req-mfa", "backup_code", backupPage, []string{"webauthn", "totp"}},
		{"?method=webauthn shows the security key page", "req-mfa", "webauthn", webauthnPage, []string{"totp", "backup_code"}},
		{"an unknown method falls back to the first", "req-mfa", "sms", webauthnPage, []string{"totp", "backup_code"}},
		{"a method the user does not have falls back to the first they have", "req-otp", "webauthn", totpPage,
			[]string{"backup_code"}},
		{"a user with one method gets no links", "req-totp-only", "", totpPage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newMFAHarness(t)
			h.flow.addRequest("req-otp", &fakeAuthRequest{signedIn: true, mfaMethods: []string{"totp", "backup_code"}})
			h.flow.addRequest("req-totp-only", &fakeAuthRequest{signedIn: true, mfaMethods: []string{"totp"}})
			r := h.get("/login?id=" + tt.id + "&method=" + tt.method)
			wantStatus(t, r, http.StatusOK)
			wantMFAPage(t, r)
			token := csrfTokenIn(t, r.body)
			wantContains(t, r.body, tt.wantBody...)
			wantContains(t, r.body, `<input type="hidden" name="id" value="`+tt.id+`">`, fakeMFAReason)
			if strings.Contains(r.body, "data-csrf=") {
				wantContains(t, r.body, `data-csrf="`+token+`"`)
			}
			if got := methodLinks(t, r.body, tt.id); !slices.Equal(got, tt.wantLinks) {
				t.Errorf("data-method links = %q, want %q", got, tt.wantLinks)
			}
			if strings.Contains(r.body, "<form id=\"mfa-totp\"") || strings.Contains(r.body, "<form id=\"mfa-backup-code\"") {
				wantNotContains(t, r.body, `role="alert"`, "<script")
			}
		})
	}
	t.Run("the links say what each method is", func(t *testing.T) {
		h := newMFAHarness(t)
		r := h.get("/login?id=req-mfa&method=backup_code")
		wantContains(t, r.body,
			`<a data-method="webauthn" href="/login?id=req-mfa&amp;method=webauthn">Use a security key or passkey instead</a>`,
			`<a data-method="totp" href="/login?id=req-mfa&amp;method=totp">Use your authenticator app instead</a>`)
		r = h.get("/login?id=req-mfa&method=totp")
		wantContains(t, r.body, `>Use a backup code instead</a>`)
	})
	t.Run("the page asks for user verification when the flow requires it", func(t *testing.T) {
		h := newMFAHarness(t)
		h.flow.script("Resume", idp.Step{Kind: idp.StepSecondFactor, Methods: []string{"webauthn"}, RequireUV: true}, nil)
		wantContains(t, h.get("/login?id=req-mfa").body, "It will ask for your PIN, fingerprint or face.")
	})
	t.Run("a step offering no method with a page is the 500 page", func(t *testing.T) {
		h := newMFAHarness(t)
		h.flow.script("Resume", idp.Step{Kind: idp.StepSecondFactor, Methods: []string{"carrier-pigeon"}}, nil)
		wantStatus(t, h.get("/login?id=req-mfa"), http.StatusInternalServerError)
	})
}

// codeForms are the two forms that take a typed code; each goes to the flow's SubmitFactor with its method.
var codeForms = []struct {
	method, path, form, right, enter string
}{
	{"totp", "/login/mfa/totp", `<form id="mfa-totp"`, fakeTOTPCode, "Enter the code from your authenticator app."},
	{"backup_code", "/login/mfa/backup-code", `<form id="mfa-backup-code"`, fakeBackupCode, "Enter one of your backup codes."},
}

func TestARefusedCodeSubmission(t *testing.T) {
	tests := []struct {
		name        string
		code        string // "" sends the right one
		edit        func(url.Values)
		header      http.Header
		script      error // SubmitFactor's answer instead of checking the code
		wantStatus  int
		wantBody    []string
		wantForm    bool   // the same form is shown again with an alert, ready to be resubmitted
		wantCalled  bool   // SubmitFactor was called
		wantRetry   string // Retry-After
		wantOutcome string
	}{
		{name: "without a CSRF token is 403 and never reaches the flow", edit: func(f url.Values) { f.Del("csrf_token") },
			wantStatus: http.StatusForbidden, wantBody: []string{csrfMessage}, wantForm: true, wantOutcome: "mfa_csrf"},
		{name: "announced cross-site is 403 even with the right token", header: http.Header{"Sec-Fetch-Site": {"cross-site"}},
			wantStatus: http.StatusForbidden, wantForm: true, wantOutcome: "mfa_csrf"},
		{name: "with an empty code is 400 and never reaches the flow", edit: func(f url.Values) { f.Set("code", "") },
			wantStatus: http.StatusBadRequest, wantForm: true, wantOutcome: "mfa_bad_request"},
		{name: "with an absurdly long code is 400 and never reaches the flow",
			edit:       func(f url.Values) { f.Set("code", strings.Repeat("1", 65)) },
			wantStatus: http.StatusBadRequest, wantBody: []string{"That code is too long."}, wantForm: true,
			wantOutcome: "mfa_bad_request"},
		{name: "without the sign-in request id is the 400 page", edit: func(f url.Values) { f.Del("id") },
			wantStatus: http.StatusBadRequest, wantBody: []string{"This sign-in link is incomplete."},
			wantOutcome: "mfa_bad_request"},
		{name: "with a wrong code is 401 with the same form and method links", code: "999999",
			wantStatus: http.StatusUnauthorized, wantBody: []string{"That code is not right. Try again.", `aria-invalid="true"`},
			wantForm: true, wantCalled: true, wantOutcome: "mfa_bad_code"},
		{name: "while throttled is 429 with Retry-After, even for the right code",
			script:     &idp.ThrottledError{RetryAfter: 29*time.Second + time.Millisecond},
			wantStatus: http.StatusTooManyRequests, wantBody: []string{"Too many attempts. Try again in 30 seconds."},
			wantForm: true, wantCalled: true, wantRetry: "30", wantOutcome: "mfa_throttled"},
		{name: "for an expired sign-in is the expired page", script: fmt.Errorf("load: %w", idp.ErrAuthRequestNotFound),
			wantStatus: http.StatusNotFound, wantBody: []string{"This sign-in link has expired"}, wantCalled: true,
			wantOutcome: "mfa_bad_request"},
		{name: "when the flow fails internally is the 500 page without the cause", script: errors.New("database is locked"),
			wantStatus: http.StatusInternalServerError, wantBody: []string{"Something went wrong"}, wantCalled: true,
			wantOutcome: "mfa_error"},
	}
	for _, cf := range codeForms {
		for _, tt := range tests {
			t.Run(cf.method+" "+tt.name, func(t *testing.T) {
				h := newMFAHarness(t)
				if tt.script != nil {
					h.flow.script("SubmitFactor", idp.Step{}, tt.script)
				}
				page := h.get("/login?id=req-mfa&method=" + cf.method)
				wantStatus(t, page, http.StatusOK)
				code := cf.right
				if tt.code != "" {
					code = tt.code
				}
				form := url.Values{"csrf_token": {csrfTokenIn(t, page.body)}, "id": {"req-mfa"}, "code": {code}}
				if tt.edit != nil {
					tt.edit(form)
				}
				r := h.post(h.client, cf.path, form, tt.header)
				wantStatus(t, r, tt.wantStatus)
				wantHostedPage(t, r)
				wantContains(t, r.body, tt.wantBody...)
				wantNotContains(t, r.body, "database", `value="`+code+`"`)
				if tt.wantForm {
					wantContains(t, r.body, cf.form, `role="alert" aria-live="assertive"`,
						`<input type="hidden" name="id" value="req-mfa">`)
					csrfTokenIn(t, r.body)
					var want []string
					for _, m := range []string{"webauthn", "totp", "backup_code"} {
						if m != cf.method {
							want = append(want, m)
						}
					}
					if got := methodLinks(t, r.body, "req-mfa"); !slices.Equal(got, want) {
						t.Errorf("data-method links = %q, want %q", got, want)
					}
					if tt.wantStatus == http.StatusBadRequest && form.Get("code") == "" {
						wantContains(t, r.body, cf.enter)
					}
				}
				calls := h.flow.callsOf("SubmitFactor")
				if got := len(calls); got != map[bool]int{false: 0, true: 1}[tt.wantCalled] {
					t.Errorf("SubmitFactor called %d times, want called: %v", got, tt.wantCalled)
				}
				if len(calls) == 1 && (calls[0].factor != cf.method || calls[0].code != code) {
					t.Errorf("SubmitFactor call = %+v, want method %s and the code as typed", calls[0], cf.method)
				}
				if got := r.Header.Get("Retry-After"); got != tt.wantRetry {
					t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
				}
				if c := responseCookie(r.Response, "twofold_session"); c != nil {
					t.Errorf("a refused code set the session cookie: %v", c)
				}
				scrapeUntil(t, h, `twofold_logins_total{outcome="`+tt.wantOutcome+`"} 1`)
			})
		}
	}
}

// SECURITY-RULES: "After a credential POST, redirect with 303/302, never 307 (RFC 9700 §4.12)"
// SECURITY-RULES: "The session cookie value changes after the password, after each second factor and after every
// step-up; the old value then means nothing"
func TestACorrectCodeRotatesTheSessionAndRedirectsWith303(t *testing.T) {
	for _, cf := range codeForms {
		t.Run("with "+cf.method+" the browser goes back to the client", func(t *testing.T) {
			h := newMFAHarness(t)
			page := h.get("/login?id=req-mfa&method=" + cf.method)
			r := h.post(h.client, cf.path,
				url.Values{"csrf_token": {csrfTokenIn(t, page.body)}, "id": {"req-mfa"}, "code": {cf.right}}, nil)
			wantRedirect(t, r, fakeDoneURL)
			if c := responseCookie(r.Response, "twofold_session"); c == nil || c.Value != fakeMFASession || !c.HttpOnly {
				t.Errorf("session cookie = %+v, want the rotated %s", c, fakeMFASession)
			}
			if calls := h.flow.callsOf("SubmitFactor"); len(calls) != 1 || calls[0].factor != cf.method ||
				calls[0].code != cf.right || calls[0].id != "req-mfa" || calls[0].remember {
				t.Errorf("SubmitFactor calls = %+v, want one for %s with the code, not remembering", calls, cf.method)
			}
			if c := responseCookie(r.Response, "twofold_device"); c != nil {
				t.Errorf("device cookie set: %+v", c)
			}
			scrapeUntil(t, h, `twofold_logins_total{outcome="mfa_success"} 1`)
			for _, rec := range h.logs.records(t) {
				for k, v := range rec {
					if v == cf.right {
						t.Errorf("log record has the code in %q: %v", k, rec)
					}
				}
			}
		})
	}
	t.Run("with consent still to ask the browser goes back to /login", func(t *testing.T) {
		h := newMFAHarness(t)
		h.flow.addRequest("req-mfa-consent", &fakeAuthRequest{signedIn: true, mfaMethods: []string{"totp"},
			scopes: []string{"openid"}, redirectURL: fakeDoneURL})
		page := h.get("/login?id=req-mfa-consent")
		r := h.post(h.client, "/login/mfa/totp",
			url.Values{"csrf_token": {csrfTokenIn(t, page.body)}, "id": {"req-mfa-consent"}, "code": {fakeTOTPCode}}, nil)
		wantRedirect(t, r, "/login?id=req-mfa-consent")
		wantContains(t, h.get("/login?id=req-mfa-consent").body, `<form id="consent"`)
	})
}

func TestARefusedCodeAfterTheSignInMovedOnSaysSoInsteadOfShowingTheForm(t *testing.T) {
	h := newMFAHarness(t)
	form := url.Values{"csrf_token": {csrfOf(t, h)}, "id": {"req-mfa"}, "code": {"000000"}}
	h.flow.script("Resume", idp.Step{Kind: idp.StepRedirect, RedirectURL: fakeDoneURL}, nil)
	r := h.post(h.client, "/login/mfa/totp", form, nil)
	wantStatus(t, r, http.StatusUnauthorized)
	wantContains(t, r.body, "That code is not right. Try again. This sign-in has moved on.")
	wantNotContains(t, r.body, `<form id="mfa-totp"`)
}

func TestTheWebAuthnFormWithoutJavaScriptSaysWhatIsMissing(t *testing.T) {
	h := newMFAHarness(t)
	token := csrfTokenIn(t, h.get("/login?id=req-mfa").body)
	r := h.post(h.client, "/login/mfa/webauthn", url.Values{"csrf_token": {token}, "id": {"req-mfa"}}, nil)
	wantStatus(t, r, http.StatusBadRequest)
	wantMFAPage(t, r)
	wantContains(t, r.body, `<form id="mfa-webauthn"`,
		`<div class="status alert" role="alert" aria-live="assertive" id="webauthn-error">Using a security key or passkey needs JavaScript.`)
	if strings.Count(r.body, `role="alert"`) != 1 {
		t.Errorf("want exactly one alert:\n%s", r.body)
	}
	t.Run("and without a CSRF token it is 403", func(t *testing.T) {
		r := h.post(h.client, "/login/mfa/webauthn", url.Values{"id": {"req-mfa"}}, nil)
		wantStatus(t, r, http.StatusForbidden)
		wantContains(t, r.body, csrfMessage)
	})
}

func TestWithoutAnMFAFlow(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	t.Run("the second-factor routes do not exist", func(t *testing.T) {
		for _, path := range []string{"/login/mfa/totp", "/login/mfa/backup-code", "/login/backup-codes",
			"/login/enroll/totp", "/login/webauthn/begin", "/login/passkey/finish"} {
			wantStatus(t, h.post(h.client, path, url.Values{}, nil), http.StatusNotFound)
		}
		wantStatus(t, h.get("/login/enroll/webauthn?id=req-enroll"), http.StatusNotFound)
	})
	t.Run("a second-factor step is the 500 page, not a form that posts nowhere", func(t *testing.T) {
		r := h.get("/login?id=req-mfa")
		wantStatus(t, r, http.StatusInternalServerError)
		wantNotContains(t, r.body, "<form")
	})
	t.Run("without a LoginFlow the MFA routes are left out too", func(t *testing.T) {
		h := newHarness(t, harnessConfig{opts: func(o *Options) { o.MFA, o.Flow = o.Flow.(MFAFlow), nil }})
		wantStatus(t, h.post(h.client, "/login/mfa/totp", url.Values{}, nil), http.StatusNotFound)
	})
}

func TestTheLoginPageOffersAPasskeyOnlyWithAnMFAFlow(t *testing.T) {
	t.Run("with one it has button#passkey-login wired to the passkey API", func(t *testing.T) {
		h := newMFAHarness(t)
		r := h.get("/login?id=req-pw")
		wantStatus(t, r, http.StatusOK)
		wantMFAPage(t, r)
		token := csrfTokenIn(t, r.body)
		wantContains(t, r.body,
			`<button id="passkey-login" type="button" class="button button-secondary button-block" data-begin="/login/passkey/begin" data-finish="/login/passkey/finish" data-id="req-pw" data-csrf="`+token+`">Sign in with a passkey</button>`,
			webauthnScript)
		wantNotContains(t, r.body, `role="alert"`)
		form := loginForm(t, h, "req-pw", fakeUser, "wrong")
		again := h.post(h.client, "/login", form, nil)
		wantStatus(t, again, http.StatusUnauthorized)
		wantContains(t, again.body, `id="passkey-login"`)
	})
	t.Run("without one the other-methods box stays empty and there is no script", func(t *testing.T) {
		h := newHarness(t, harnessConfig{})
		r := h.get("/login?id=req-pw")
		wantContains(t, r.body, `<div class="alt-methods" id="alt-methods"></div>`)
		wantNotContains(t, r.body, "passkey-login", "<script")
	})
}

func TestTheEnrollmentChoicePage(t *testing.T) {
	t.Run("offers each method the flow allows as a data-enroll link, in its order", func(t *testing.T) {
		h := newMFAHarness(t)
		r := h.get("/login?id=req-enroll")
		wantStatus(t, r, http.StatusOK)
		wantMFAPage(t, r)
		wantContains(t, r.body, "<h1>Set up two-step sign-in</h1>", fakeMFAReason,
			`<a class="choice" data-enroll="totp" href="/login/enroll/totp?id=req-enroll"><span class="choice-title">Authenticator app</span>`,
			`<a class="choice" data-enroll="webauthn" href="/login/enroll/webauthn?id=req-enroll"><span class="choice-title">Passkey or security key</span>`)
		if i, j := strings.Index(r.body, `data-enroll="totp"`), strings.Index(r.body, `data-enroll="webauthn"`); i > j {
			t.Error("the links are not in the flow's order")
		}
	})
	t.Run("leaves out methods it has no page for", func(t *testing.T) {
		h := newMFAHarness(t)
		h.flow.script("Resume", idp.Step{Kind: idp.StepEnroll, Methods: []string{"email", "webauthn"}}, nil)
		r := h.get("/login?id=req-enroll")
		wantStatus(t, r, http.StatusOK)
		wantContains(t, r.body, `data-enroll="webauthn"`)
		wantNotContains(t, r.body, `data-enroll="email"`)
	})
	t.Run("with nothing it can offer is the 500 page", func(t *testing.T) {
		h := newMFAHarness(t)
		h.flow.script("Resume", idp.Step{Kind: idp.StepEnroll, Methods: []string{"email"}}, nil)
		wantStatus(t, h.get("/login?id=req-enroll"), http.StatusInternalServerError)
	})
}

// wantEnrollTOTPPage checks the TOTP enrollment page shows exactly the fake's enrollment.
func wantEnrollTOTPPage(t *testing.T, body string) {
	t.Helper()
	e := fakeEnrollment()
	img := regexp.MustCompile(`<img src="([^"]*)" alt="QR code for your authenticator app" width="256" height="256">`).FindStringSubmatch(body)
	if img == nil {
		t.Fatalf("no QR code image in:\n%s", body)
	}
	if got, want := html.UnescapeString(img[1]), "data:image/png;base64,"+base64.StdEncoding.EncodeToString(e.QRPNG); got != want {
		t.Errorf("QR code src = %q, want %q", got, want)
	}
	wantContains(t, body,
		"<h1>Set up your authenticator app</h1>",
		`<form id="enroll-totp" method="post" action="/login/enroll/totp">`,
		`<input type="hidden" name="id" value="req-enroll">`,
		`<input type="hidden" name="enrollment" value="`+fakeEnrollmentID+`">`,
		`autocomplete="one-time-code"`,
		"GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ", // the secret, grouped
	)
	csrfTokenIn(t, body)
	m := regexp.MustCompile(`<a id="otpauth-uri" href="([^"]*)">Open in an authenticator app on this device</a>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no a#otpauth-uri in:\n%s", body)
	}
	if got := html.UnescapeString(m[1]); got != e.URI {
		t.Errorf("a#otpauth-uri href = %q, want exactly %q", got, e.URI)
	}
	wantNotContains(t, body, "ZgotmplZ")
}

// SECURITY-RULES: "`Cache-Control: no-store` on login, MFA, consent and enrollment pages"
// — the enrollment page.
func TestTheTOTPEnrollmentPage(t *testing.T) {
	h := newMFAHarness(t)
	r := h.get("/login/enroll/totp?id=req-enroll")
	wantStatus(t, r, http.StatusOK)
	wantMFAPage(t, r)
	wantEnrollTOTPPage(t, r.body)
	if calls := h.flow.callsOf("StartTOTPEnrollment"); len(calls) != 1 || calls[0].id != "req-enroll" {
		t.Errorf("StartTOTPEnrollment calls = %+v", calls)
	}
	t.Run("for an expired sign-in is the expired page", func(t *testing.T) {
		wantStatus(t, h.get("/login/enroll/totp?id=nope"), http.StatusNotFound)
	})
	t.Run("without an id is 400", func(t *testing.T) {
		wantStatus(t, h.get("/login/enroll/totp"), http.StatusBadRequest)
	})
}

func TestTheTOTPEnrollmentPageRefusesWhatItCannotTrust(t *testing.T) {
	good := fakeEnrollment()
	tests := []struct {
		name string
		edit func(*idp.TOTPEnrollment)
	}{
		{"a javascript: URI", func(e *idp.TOTPEnrollment) { e.URI = "javascript:alert(1)//otpauth://totp/" }},
		{"an HOTP URI", func(e *idp.TOTPEnrollment) { e.URI = strings.Replace(e.URI, "totp", "hotp", 1) }},
		{"a URI with a space", func(e *idp.TOTPEnrollment) { e.URI += " x" }},
		{"a URI with a quote", func(e *idp.TOTPEnrollment) { e.URI += `"><b>` }},
		{"a URI with angle brackets", func(e *idp.TOTPEnrollment) { e.URI += "<b>" }},
		{"an image that is not a PNG", func(e *idp.TOTPEnrollment) { e.QRPNG = []byte("<svg onload=alert(1)>") }},
		{"no image", func(e *idp.TOTPEnrollment) { e.QRPNG = nil }},
		{"no enrollment id", func(e *idp.TOTPEnrollment) { e.ID = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is the 500 page", func(t *testing.T) {
			h := newMFAHarness(t)
			e := good
			tt.edit(&e)
			h.flow.scriptAnswer("StartTOTPEnrollment", scriptedStep{enrollment: e})
			r := h.get("/login/enroll/totp?id=req-enroll")
			wantStatus(t, r, http.StatusInternalServerError)
			wantNotContains(t, r.body, "otpauth", "enroll-totp")
		})
	}
}

func TestValidOTPAuthURI(t *testing.T) {
	tests := []struct {
		uri  string
		want bool
	}{
		{fakeEnrollment().URI, true},
		{"otpauth://totp/Twofold:alice?secret=GEZDGNBV&issuer=Twofold", true},
		{"otpauth://totp/", true},
		{"OTPAUTH://totp/x", false},
		{"otpauth://hotp/x", false},
		{"otpauth://totp.evil/x", false},
		{"https://totp/x", false},
		{"otpauth://totp/x\ny", false},
		{"otpauth://totp/é", false},
		{`otpauth://totp/x"y`, false},
		{"otpauth://totp/x%20y?issuer=A%3AB", true},
		{"otpauth://totp/" + strings.Repeat("a", 2048), false},
	}
	for _, tt := range tests {
		if err := validOTPAuthURI(tt.uri); (err == nil) != tt.want {
			t.Errorf("validOTPAuthURI(%q) = %v, want valid: %v", tt.uri, err, tt.want)
		}
	}
}

func TestConfirmingTheTOTPEnrollment(t *testing.T) {
	tests := []struct {
		name        string
		code        string
		noCSRF      bool
		script      error // ConfirmTOTPEnrollment's answer
		wantStatus  int
		wantAlert   string
		wantConfirm int // ConfirmTOTPEnrollment calls
		wantRetry   string
	}{
		{name: "a wrong code shows the same QR code again with 401", code: "000000",
			wantStatus: http.StatusUnauthorized, wantAlert: "That code is not right. Try again.", wantConfirm: 1},
		{name: "without a CSRF token is 403 with the same QR code and never reaches the flow", code: fakeTOTPCode, noCSRF: true,
			wantStatus: http.StatusForbidden, wantAlert: csrfMessage},
		{name: "an empty code is 400 and never reaches the flow",
			wantStatus: http.StatusBadRequest, wantAlert: "Enter the code from your authenticator app."},
		{name: "while throttled is 429 with Retry-After", code: fakeTOTPCode, script: &idp.ThrottledError{RetryAfter: 2 * time.Minute},
			wantStatus: http.StatusTooManyRequests, wantAlert: "Too many attempts. Try again in 2 minutes.", wantConfirm: 1, wantRetry: "120"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newMFAHarness(t)
			if tt.script != nil {
				h.flow.script("ConfirmTOTPEnrollment", idp.Step{}, tt.script)
			}
			page := h.get("/login/enroll/totp?id=req-enroll")
			form := url.Values{"csrf_token": {csrfTokenIn(t, page.body)}, "id": {"req-enroll"},
				"enrollment": {fakeEnrollmentID}, "code": {tt.code}}
			if tt.noCSRF {
				form.Del("csrf_token")
			}
			r := h.post(h.client, "/login/enroll/totp", form, nil)
			wantStatus(t, r, tt.wantStatus)
			wantMFAPage(t, r)
			wantEnrollTOTPPage(t, r.body)
			wantContains(t, r.body, `role="alert" aria-live="assertive" id="enroll-error">`+tt.wantAlert)
			if got := len(h.flow.callsOf("ConfirmTOTPEnrollment")); got != tt.wantConfirm {
				t.Errorf("ConfirmTOTPEnrollment called %d times, want %d", got, tt.wantConfirm)
			}
			if calls := h.flow.callsOf("TOTPEnrollment"); len(calls) != 1 || calls[0].enrollment != fakeEnrollmentID {
				t.Errorf("TOTPEnrollment calls = %+v, want one for %s", calls, fakeEnrollmentID)
			}
			if got := len(h.flow.callsOf("StartTOTPEnrollment")); got != 1 {
				t.Errorf("a refused code started %d enrollments, want only the page's", got)
			}
			if got := r.Header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
		})
	}
	t.Run("the right code rotates the session and goes on to the backup codes", func(t *testing.T) {
		h := newMFAHarness(t)
		page := h.get("/login/enroll/totp?id=req-enroll")
		r := h.post(h.client, "/login/enroll/totp", url.Values{"csrf_token": {csrfTokenIn(t, page.body)},
			"id": {"req-enroll"}, "enrollment": {fakeEnrollmentID}, "code": {fakeTOTPCode}}, nil)
		wantRedirect(t, r, "/login?id=req-enroll")
		if c := responseCookie(r.Response, "twofold_session"); c == nil || c.Value != fakeMFASession {
			t.Errorf("session cookie = %+v, want the rotated one", c)
		}
		if calls := h.flow.callsOf("ConfirmTOTPEnrollment"); len(calls) != 1 || calls[0].code != fakeTOTPCode ||
			calls[0].enrollment != fakeEnrollmentID {
			t.Errorf("ConfirmTOTPEnrollment calls = %+v", calls)
		}
		wantContains(t, h.get("/login?id=req-enroll").body, `<form id="backup-codes-ack"`)
	})
}

// SECURITY-RULES: "Backup codes: … shown once with `Cache-Control: no-store`"
func TestTheBackupCodesPage(t *testing.T) {
	h := newMFAHarness(t)
	h.flow.addRequest("req-codes", &fakeAuthRequest{signedIn: true, enroll: []string{"totp"}, enrolled: true,
		backupCodes: fakeBackupCodes, redirectURL: fakeDoneURL})
	r := h.get("/login?id=req-codes")
	wantStatus(t, r, http.StatusOK)
	wantMFAPage(t, r)
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q: backup codes must never be stored", got)
	}
	got := regexp.MustCompile(`<code class="backup-code">([^<]*)</code>`).FindAllStringSubmatch(r.body, -1)
	if len(got) != len(fakeBackupCodes) {
		t.Fatalf("%d .backup-code elements, want %d:\n%s", len(got), len(fakeBackupCodes), r.body)
	}
	for i, m := range got {
		if m[1] != fakeBackupCodes[i] {
			t.Errorf("backup code %d = %q, want %q", i, m[1], fakeBackupCodes[i])
		}
	}
	wantContains(t, r.body, "<h1>Save your backup codes</h1>", "each of these codes signs you in once",
		"This is the only time they are shown",
		`<form id="backup-codes-ack" method="post" action="/login/backup-codes">`,
		`<input type="hidden" name="id" value="req-codes">`,
		`<button type="submit" class="button button-primary">I have saved these codes</button>`)
	token := csrfTokenIn(t, r.body)

	t.Run("an acknowledgement without a CSRF token is 403 and does not show the codes again", func(t *testing.T) {
		r := h.post(h.client, "/login/backup-codes", url.Values{"id": {"req-codes"}}, nil)
		wantStatus(t, r, http.StatusForbidden)
		wantContains(t, r.body, `<form id="backup-codes-ack"`, `role="alert"`, csrfMessage)
		wantNotContains(t, r.body, fakeBackupCodes[0], `class="backup-code"`)
	})
	t.Run("the acknowledgement continues the sign-in with 303", func(t *testing.T) {
		r := h.post(h.client, "/login/backup-codes", url.Values{"csrf_token": {token}, "id": {"req-codes"}}, nil)
		wantRedirect(t, r, "/login?id=req-codes")
		wantRedirect(t, h.get("/login?id=req-codes"), fakeDoneURL)
	})
}

func TestTheWebAuthnEnrollmentPage(t *testing.T) {
	t.Run("has the name field and the register button wired to the registration API", func(t *testing.T) {
		h := newMFAHarness(t)
		r := h.get("/login/enroll/webauthn?id=req-enroll")
		wantStatus(t, r, http.StatusOK)
		wantMFAPage(t, r)
		token := csrfTokenIn(t, h.get("/login?id=req-pw").body)
		wantContains(t, r.body, "<h1>Add a passkey or security key</h1>",
			`<label for="webauthn-name">`,
			`<input id="webauthn-name" name="name" type="text" placeholder="e.g. YubiKey, MacBook Touch ID"`,
			`<button id="webauthn-register" type="button" class="button button-primary" data-begin="/login/webauthn/register/begin" data-finish="/login/webauthn/register/finish" data-id="req-enroll" data-csrf="`+token+`">`,
			`role="alert" aria-live="assertive" id="webauthn-error"></div>`,
			`<a href="/login?id=req-enroll">Choose another way</a>`,
			webauthnScript)
	})
	t.Run("at another step sends the browser to where the sign-in is", func(t *testing.T) {
		h := newMFAHarness(t)
		wantRedirect(t, h.get("/login/enroll/webauthn?id=req-mfa"), "/login?id=req-mfa")
	})
	t.Run("when WebAuthn is not offered sends the browser to the choice", func(t *testing.T) {
		h := newMFAHarness(t)
		h.flow.addRequest("req-totp-enroll", &fakeAuthRequest{signedIn: true, enroll: []string{"totp"}})
		wantRedirect(t, h.get("/login/enroll/webauthn?id=req-totp-enroll"), "/login?id=req-totp-enroll")
	})
}

// webauthnEndpoints are the JSON API's ceremonies with the request each is tried on and where it then goes.
var webauthnEndpoints = []struct {
	name, begin, finish, beginMethod, finishMethod, id, options, wantRedirect string
}{
	{"the second factor", "/login/webauthn/begin", "/login/webauthn/finish", "BeginFactor", "SubmitFactor",
		"req-mfa", fakeAssertionOptions, fakeDoneURL},
	{"registration", "/login/webauthn/register/begin", "/login/webauthn/register/finish", "BeginWebAuthnRegistration",
		"FinishWebAuthnRegistration", "req-enroll", fakeCreationOptions, "/login?id=req-enroll"},
	{"passkey sign-in", "/login/passkey/begin", "/login/passkey/finish", "BeginPasskey", "FinishPasskey",
		"req-pw", fakeAssertionOptions, fakeDoneURL},
}

// wantJSON checks a JSON API answer: status, never cached, JSON, and the value of one field.
func wantJSON(t *testing.T, r response, status int, field, want string) {
	t.Helper()
	wantStatus(t, r, status)
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	if field != "" && body[field] != want {
		t.Errorf("%s = %v, want %q", field, body[field], want)
	}
}

func TestTheWebAuthnAPIBegin(t *testing.T) {
	for _, ep := range webauthnEndpoints {
		t.Run(ep.name, func(t *testing.T) {
			t.Run("answers the flow's options as JSON, never cached", func(t *testing.T) {
				h := newMFAHarness(t)
				r := h.postBody(h.client, ep.begin, "application/json", `{"id":"`+ep.id+`"}`,
					http.Header{"X-Csrf-Token": {csrfOf(t, h)}})
				wantJSON(t, r, http.StatusOK, "session", fakeWebAuthnSess)
				var got, want bytes.Buffer
				_ = json.Compact(&got, []byte(r.body))
				_ = json.Compact(&want, []byte(ep.options))
				if got.String() != want.String() {
					t.Errorf("body = %s, want the flow's %s", got.String(), want.String())
				}
				if calls := h.flow.callsOf(ep.beginMethod); len(calls) != 1 || calls[0].id != ep.id {
					t.Errorf("%s calls = %+v", ep.beginMethod, calls)
				}
			})
			t.Run("takes the id from a form too", func(t *testing.T) {
				h := newMFAHarness(t)
				r := h.post(h.client, ep.begin, url.Values{"id": {ep.id}}, http.Header{"X-Csrf-Token": {csrfOf(t, h)}})
				wantJSON(t, r, http.StatusOK, "session", fakeWebAuthnSess)
			})
			t.Run("without X-CSRF-Token is 403 and never reaches the flow", func(t *testing.T) {
				h := newMFAHarness(t)
				csrfOf(t, h) // the browser has the CSRF cookie, but the request lacks the header
				r := h.postBody(h.client, ep.begin, "application/json", `{"id":"`+ep.id+`"}`, nil)
				wantJSON(t, r, http.StatusForbidden, "error", csrfMessage)
				if n := len(h.flow.callsOf(ep.beginMethod)); n != 0 {
					t.Errorf("%s called %d times", ep.beginMethod, n)
				}
			})
			t.Run("announced cross-site is 403", func(t *testing.T) {
				h := newMFAHarness(t)
				r := h.postBody(h.client, ep.begin, "application/json", `{"id":"`+ep.id+`"}`,
					http.Header{"X-Csrf-Token": {csrfOf(t, h)}, "Sec-Fetch-Site": {"cross-site"}})
				wantJSON(t, r, http.StatusForbidden, "error", csrfMessage)
			})
			t.Run("without an id is 400", func(t *testing.T) {
				h := newMFAHarness(t)
				r := h.postBody(h.client, ep.begin, "application/json", `{}`, http.Header{"X-Csrf-Token": {csrfOf(t, h)}})
				wantJSON(t, r, http.StatusBadRequest, "error", msgRequestMalformed)
			})
			t.Run("for an expired sign-in is 404", func(t *testing.T) {
				h := newMFAHarness(t)
				r := h.postBody(h.client, ep.begin, "application/json", `{"id":"nope"}`, http.Header{"X-Csrf-Token": {csrfOf(t, h)}})
				wantJSON(t, r, http.StatusNotFound, "error", msgLinkExpired)
			})
		})
	}
	t.Run("options from the flow that are not JSON are a 500", func(t *testing.T) {
		h := newMFAHarness(t)
		h.flow.scriptAnswer("BeginFactor", scriptedStep{data: []byte("{not json")})
		r := h.postBody(h.client, "/login/webauthn/begin", "application/json", `{"id":"req-mfa"}`,
			http.Header{"X-Csrf-Token": {csrfOf(t, h)}})
		wantJSON(t, r, http.StatusInternalServerError, "", "")
	})
}

// finishBody is what webauthn.js posts to a finish endpoint.
func finishBody(id string) string {
	return `{"id":"` + id + `","session":"` + fakeWebAuthnSess + `","name":"YubiKey",` +
		`"credential":{"id":"AQID","rawId":"AQID","type":"public-key","response":{"clientDataJSON":"e30"},"clientExtensionResults":{}}}`
}

func TestTheWebAuthnAPIFinish(t *testing.T) {
	for _, ep := range webauthnEndpoints {
		t.Run(ep.name, func(t *testing.T) {
			t.Run("on success sets the session cookie and answers where to go", func(t *testing.T) {
				h := newMFAHarness(t)
				body := finishBody(ep.id)
				r := h.postBody(h.client, ep.finish, "application/json; charset=utf-8", body,
					http.Header{"X-Csrf-Token": {csrfOf(t, h)}})
				wantJSON(t, r, http.StatusOK, "redirect", ep.wantRedirect)
				if c := responseCookie(r.Response, "twofold_session"); c == nil || c.Value != fakeMFASession || !c.HttpOnly ||
					c.SameSite != http.SameSiteLaxMode {
					t.Errorf("session cookie = %+v, want the rotated one", c)
				}
				if calls := h.flow.callsOf(ep.finishMethod); len(calls) != 1 || calls[0].id != ep.id || calls[0].body != body {
					t.Errorf("%s calls = %+v, want one with the body unchanged", ep.finishMethod, calls)
				}
			})
			t.Run("needs application/json: 415 otherwise, and never reaches the flow", func(t *testing.T) {
				h := newMFAHarness(t)
				r := h.postBody(h.client, ep.finish, "text/plain", finishBody(ep.id), http.Header{"X-Csrf-Token": {csrfOf(t, h)}})
				wantJSON(t, r, http.StatusUnsupportedMediaType, "error", msgRequestNotJSON)
				if n := len(h.flow.callsOf(ep.finishMethod)); n != 0 {
					t.Errorf("%s called %d times", ep.finishMethod, n)
				}
			})
			t.Run("without X-CSRF-Token is 403 and never reaches the flow", func(t *testing.T) {
				h := newMFAHarness(t)
				csrfOf(t, h)
				r := h.postBody(h.client, ep.finish, "application/json", finishBody(ep.id), nil)
				wantJSON(t, r, http.StatusForbidden, "error", csrfMessage)
				if n := len(h.flow.callsOf(ep.finishMethod)); n != 0 {
					t.Errorf("%s called %d times", ep.finishMethod, n)
				}
			})
			t.Run("a ceremony the flow refuses is 400 with a message for people", func(t *testing.T) {
				h := newMFAHarness(t)
				r := h.postBody(h.client, ep.finish, "application/json", `{"id":"`+ep.id+`","session":"other","credential":{}}`,
					http.Header{"X-Csrf-Token": {csrfOf(t, h)}})
				wantJSON(t, r, http.StatusBadRequest, "error", msgWebAuthnFailed)
				if c := responseCookie(r.Response, "twofold_session"); c != nil {
					t.Errorf("a refused ceremony set the session cookie: %v", c)
				}
			})
		})
	}

	tests := []struct {
		name       string
		body       string
		script     error
		step       idp.Step
		wantStatus int
		wantError  string
		wantRetry  string
	}{
		{name: "a wrapped ErrWebAuthn is 400", script: fmt.Errorf("verify: %w", idp.ErrWebAuthn),
			wantStatus: http.StatusBadRequest, wantError: msgWebAuthnFailed},
		{name: "an expired sign-in is 404", script: idp.ErrAuthRequestNotFound,
			wantStatus: http.StatusNotFound, wantError: msgLinkExpired},
		{name: "a sign-in from another browser is 403", script: idp.ErrWrongBrowser,
			wantStatus: http.StatusForbidden, wantError: msgOtherBrowser},
		{name: "an unknown passkey is 401", script: idp.ErrInvalidCredentials,
			wantStatus: http.StatusUnauthorized, wantError: msgPasskeyUnknown},
		{name: "throttled is 429 with Retry-After", script: &idp.ThrottledError{RetryAfter: 10 * time.Second},
			wantStatus: http.StatusTooManyRequests, wantError: "Too many attempts. Try again in 10 seconds.", wantRetry: "10"},
		{name: "an internal failure is 500 without the cause", script: errors.New("database is locked"),
			wantStatus: http.StatusInternalServerError},
		{name: "a redirect step without a URL is 500", step: idp.Step{Kind: idp.StepRedirect},
			wantStatus: http.StatusInternalServerError},
		{name: "a body without an id is 400", body: `{"session":"x"}`,
			wantStatus: http.StatusBadRequest, wantError: msgRequestMalformed},
		{name: "a body that is not JSON is 400", body: `{"id":`,
			wantStatus: http.StatusBadRequest, wantError: msgRequestMalformed},
		{name: "a body over 64 KiB is 413", body: `{"id":"req-passkey","pad":"` + strings.Repeat("x", 64<<10) + `"}`,
			wantStatus: http.StatusRequestEntityTooLarge, wantError: msgRequestTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newMFAHarness(t)
			if tt.script != nil || tt.step.Kind != "" {
				h.flow.script("FinishPasskey", tt.step, tt.script)
			}
			body := tt.body
			if body == "" {
				body = finishBody("req-pw")
			}
			r := h.postBody(h.client, "/login/passkey/finish", "application/json", body, http.Header{"X-Csrf-Token": {csrfOf(t, h)}})
			wantJSON(t, r, tt.wantStatus, "", "")
			if tt.wantError != "" {
				wantJSON(t, r, tt.wantStatus, "error", tt.wantError)
			}
			if tt.wantStatus == http.StatusInternalServerError {
				wantContains(t, r.body, r.Header.Get("X-Request-Id"))
				wantNotContains(t, r.body, "database")
			}
			if got := r.Header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
		})
	}
}

func TestWebAuthnJSIsServedAsJavaScript(t *testing.T) {
	h := newMFAHarness(t)
	r := h.get("/static/webauthn.js")
	wantStatus(t, r, http.StatusOK)
	if got := r.Header.Get("Content-Type"); got != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	wantContains(t, r.body, "navigator.credentials.create", "navigator.credentials.get", `"X-CSRF-Token"`,
		"webauthn-register", "webauthn-verify", "passkey-login", "webauthn-name")
	// Messages go in with textContent: nothing from the server is ever parsed as HTML.
	wantNotContains(t, r.body, "innerHTML", "eval(", "document.write")
}

func TestTemplatesLoadScriptsOnlyFromStaticFiles(t *testing.T) {
	script := regexp.MustCompile(`<script[^>]*>`)
	allowed := regexp.MustCompile(`^<script src="/static/[a-z_]+\.js"( defer)?>$`)
	err := fs.WalkDir(embedded, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(embedded, path)
		if err != nil {
			return err
		}
		for _, tag := range script.FindAll(b, -1) {
			if !allowed.Match(tag) {
				t.Errorf("%s: script tag %s loads something other than one of our static files", path, tag)
			}
		}
		if bytes.Contains(b, []byte(" style=")) || bytes.Contains(b, []byte("<style")) {
			t.Errorf("%s has an inline style", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The MFA pages' flow is what production wires in.
var _ MFAFlow = (*login.MFA)(nil)

// newRememberHarness is newMFAHarness with "req-remember": a second factor of webauthn, totp or backup_code
// pending, whose policy lets the browser be remembered for 30 days; the browser carries the session the password
// set, which the second factor rotates.
func newRememberHarness(t *testing.T) *harness {
	t.Helper()
	h := newMFAHarness(t)
	h.flow.addRequest("req-remember", &fakeAuthRequest{client: idp.ClientInfo{ID: "app", Name: fakeClientName},
		signedIn: true, mfaMethods: []string{idp.MethodWebAuthn, idp.MethodTOTP, idp.MethodBackupCode},
		remember: 30 * 24 * time.Hour, redirectURL: fakeDoneURL})
	h.signIn()
	return h
}

const rememberBox = `<input type="checkbox" id="remember-device" name="remember_device" value="1">`

// formOf returns the page's form#id element, failing the test when there is none.
func formOf(t *testing.T, body, id string) string {
	t.Helper()
	start := strings.Index(body, `<form id="`+id+`"`)
	if start < 0 {
		t.Fatalf("no form#%s in page:\n%s", id, body)
	}
	end := strings.Index(body[start:], "</form>")
	if end < 0 {
		t.Fatalf("form#%s is not closed:\n%s", id, body)
	}
	return body[start : start+end]
}

func TestRememberFor(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"nothing is not offered", 0, ""},
		{"a negative duration is not offered", -time.Hour, ""},
		{"30 days reads as days", 30 * 24 * time.Hour, "30 days"},
		{"one day is singular", 24 * time.Hour, "1 day"},
		{"a day and a half promises only the whole day", 36 * time.Hour, "1 day"},
		{"less than a day reads as hours", 12 * time.Hour, "12 hours"},
		{"one hour is singular", time.Hour, "1 hour"},
		{"an hour and a half promises only the whole hour", 90 * time.Minute, "1 hour"},
		{"less than an hour reads as minutes", 30 * time.Minute, "30 minutes"},
		{"less than a minute still says a minute", time.Second, "1 minute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rememberFor(tt.d); got != tt.want {
				t.Errorf("rememberFor(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestTheRememberThisDeviceBox(t *testing.T) {
	pages := []struct{ method, form string }{
		{"totp", "mfa-totp"}, {"backup_code", "mfa-backup-code"}, {"webauthn", "mfa-webauthn"},
	}
	for _, pg := range pages {
		t.Run("is in the "+pg.method+" form, unticked, when the policy offers it", func(t *testing.T) {
			h := newRememberHarness(t)
			r := h.get("/login?id=req-remember&method=" + pg.method)
			wantStatus(t, r, http.StatusOK)
			wantMFAPage(t, r)
			wantContains(t, formOf(t, r.body, pg.form), rememberBox,
				`<label for="remember-device">Remember this device for 30 days</label>`)
		})
		t.Run("is absent from the "+pg.method+" page when the policy does not offer it", func(t *testing.T) {
			h := newMFAHarness(t)
			r := h.get("/login?id=req-mfa&method=" + pg.method)
			wantStatus(t, r, http.StatusOK)
			wantNotContains(t, r.body, "remember-device", "remember_device", "Remember this device")
		})
	}
	t.Run("says hours when the policy gives less than a day", func(t *testing.T) {
		h := newMFAHarness(t)
		h.flow.script("Resume", idp.Step{Kind: idp.StepSecondFactor, Methods: []string{"totp"}, RememberDevice: 12 * time.Hour}, nil)
		wantContains(t, h.get("/login?id=req-mfa").body, rememberBox,
			`<label for="remember-device">Remember this device for 12 hours</label>`)
	})
	t.Run("stays ticked when a wrong code shows the form again", func(t *testing.T) {
		h := newRememberHarness(t)
		page := h.get("/login?id=req-remember&method=totp")
		r := h.post(h.client, "/login/mfa/totp", url.Values{"csrf_token": {csrfTokenIn(t, page.body)},
			"id": {"req-remember"}, "code": {"999999"}, "remember_device": {"1"}}, nil)
		wantStatus(t, r, http.StatusUnauthorized)
		wantContains(t, r.body, `<input type="checkbox" id="remember-device" name="remember_device" value="1" checked>`)
		if c := responseCookie(r.Response, "twofold_device"); c != nil {
			t.Errorf("a wrong code set the device cookie: %+v", c)
		}
	})
}

// wantDeviceCookie checks the remembered-device cookie a response set: the flow's value and expiry, with the
// attributes SECURITY-RULES asks for.
func wantDeviceCookie(t *testing.T, r *http.Response, name string, secure bool) {
	t.Helper()
	c := responseCookie(r, name)
	if c == nil {
		t.Fatalf("no %s cookie in %q", name, r.Header.Values("Set-Cookie"))
	}
	if c.Value != fakeDeviceValue || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" ||
		c.Domain != "" || c.Secure != secure || !c.Expires.Equal(fakeDeviceExpiry) {
		t.Errorf("device cookie = %+v, want %s=%s, HttpOnly, SameSite=Lax, Path=/, Secure %v, expiring %v",
			c, name, fakeDeviceValue, secure, fakeDeviceExpiry)
	}
}

func TestRememberingTheDeviceAfterACorrectCode(t *testing.T) {
	for _, cf := range codeForms {
		submit := func(t *testing.T, h *harness, remember bool) response {
			t.Helper()
			page := h.get("/login?id=req-remember&method=" + cf.method)
			form := url.Values{"csrf_token": {csrfTokenIn(t, page.body)}, "id": {"req-remember"}, "code": {cf.right}}
			if remember {
				form.Set("remember_device", "1")
			}
			return h.post(h.client, cf.path, form, nil)
		}
		t.Run("with "+cf.method+" and the box ticked asks the flow to remember and sets the device cookie", func(t *testing.T) {
			h := newRememberHarness(t)
			r := submit(t, h, true)
			wantRedirect(t, r, fakeDoneURL)
			if c := responseCookie(r.Response, "twofold_session"); c == nil || c.Value != fakeMFASession {
				t.Errorf("session cookie = %+v, want the rotated one", c)
			}
			wantDeviceCookie(t, r.Response, "twofold_device", false)
			calls := h.flow.callsOf("SubmitFactor")
			if len(calls) != 1 || calls[0].id != "req-remember" || calls[0].factor != cf.method || !calls[0].remember {
				t.Errorf("SubmitFactor calls = %+v, want one for req-remember with %s, remembering", calls, cf.method)
			}
			if logs := h.logs.String(); strings.Contains(logs, fakeDeviceValue) {
				t.Errorf("the log holds the device cookie:\n%s", logs)
			}
		})
		t.Run("with "+cf.method+" and the box unticked does not remember the device", func(t *testing.T) {
			h := newRememberHarness(t)
			r := submit(t, h, false)
			wantRedirect(t, r, fakeDoneURL)
			if calls := h.flow.callsOf("SubmitFactor"); len(calls) != 1 || calls[0].remember {
				t.Errorf("SubmitFactor calls = %+v, want one not remembering", calls)
			}
			if c := responseCookie(r.Response, "twofold_device"); c != nil {
				t.Errorf("device cookie set: %+v", c)
			}
		})
	}
	t.Run("a flow that did not remember the device still completes the sign-in with 303", func(t *testing.T) {
		h := newRememberHarness(t)
		h.flow.script("SubmitFactor", idp.Step{Kind: idp.StepRedirect, RedirectURL: fakeDoneURL,
			Session: &idp.SessionCookie{Value: fakeMFASession, Expires: fakeSessionExpiry}}, nil)
		page := h.get("/login?id=req-remember&method=totp")
		r := h.post(h.client, "/login/mfa/totp", url.Values{"csrf_token": {csrfTokenIn(t, page.body)},
			"id": {"req-remember"}, "code": {fakeTOTPCode}, "remember_device": {"1"}}, nil)
		wantRedirect(t, r, fakeDoneURL)
		if c := responseCookie(r.Response, "twofold_session"); c == nil || c.Value != fakeMFASession {
			t.Errorf("session cookie = %+v, want the rotated one", c)
		}
		if c := responseCookie(r.Response, "twofold_device"); c != nil {
			t.Errorf("device cookie set: %+v", c)
		}
	})
	t.Run("a device cookie the browser could not store is dropped and logged, and the sign-in completes", func(t *testing.T) {
		h := newRememberHarness(t)
		h.flow.script("SubmitFactor", idp.Step{Kind: idp.StepRedirect, RedirectURL: fakeDoneURL,
			Session: &idp.SessionCookie{Value: fakeMFASession, Expires: fakeSessionExpiry},
			Device:  &idp.SessionCookie{Value: "a;b"}}, nil)
		page := h.get("/login?id=req-remember&method=totp")
		r := h.post(h.client, "/login/mfa/totp", url.Values{"csrf_token": {csrfTokenIn(t, page.body)},
			"id": {"req-remember"}, "code": {fakeTOTPCode}, "remember_device": {"1"}}, nil)
		wantRedirect(t, r, fakeDoneURL)
		if c := responseCookie(r.Response, "twofold_session"); c == nil || c.Value != fakeMFASession {
			t.Errorf("session cookie = %+v, want the rotated one", c)
		}
		if c := responseCookie(r.Response, "twofold_device"); c != nil {
			t.Errorf("device cookie set: %+v", c)
		}
		h.logs.waitForRecord(t, func(rec map[string]any) bool {
			return rec["msg"] == "device not remembered" && strings.Contains(fmt.Sprint(rec["err"]), "twofold_device")
		})
	})
}

// SECURITY-RULES: "Cookies: `HttpOnly`, `SameSite=Lax` (Strict breaks SSO from relying parties), `Secure` and
// `__Host-` on https"
func TestOnHTTPSTheDeviceCookieIsSecureWithTheHostPrefix(t *testing.T) {
	flow := newFakeFlow()
	flow.addRequest("req-remember", &fakeAuthRequest{signedIn: true, mfaMethods: []string{idp.MethodTOTP},
		remember: 30 * 24 * time.Hour, redirectURL: fakeDoneURL})
	srv, err := New(Options{Issuer: "https://id.example.com", CSRFKey: testCSRFKey, Flow: flow, MFA: flow})
	if err != nil {
		t.Fatal(err)
	}
	page := httptest.NewRecorder()
	srv.Handler().ServeHTTP(page, httptest.NewRequest(http.MethodGet, "https://id.example.com/login?id=req-remember", nil))
	if page.Code != http.StatusOK {
		t.Fatalf("GET /login: %d", page.Code)
	}
	wantContains(t, page.Body.String(), rememberBox)
	form := url.Values{"csrf_token": {csrfTokenIn(t, page.Body.String())}, "id": {"req-remember"},
		"code": {fakeTOTPCode}, "remember_device": {"1"}}
	req := httptest.NewRequest(http.MethodPost, "https://id.example.com/login/mfa/totp", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://id.example.com")
	for _, c := range page.Result().Cookies() {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != fakeDoneURL {
		t.Fatalf("POST /login/mfa/totp: %d to %q, want 303 to %s", rec.Code, rec.Header().Get("Location"), fakeDoneURL)
	}
	wantDeviceCookie(t, rec.Result(), "__Host-twofold_device", true)
	if c := responseCookie(rec.Result(), "twofold_device"); c != nil {
		t.Errorf("a device cookie without the prefix was set on https: %+v", c)
	}
}

func TestRememberingTheDeviceAfterAWebAuthnCheck(t *testing.T) {
	finish := func(t *testing.T, h *harness, body string) response {
		t.Helper()
		return h.postBody(h.client, "/login/webauthn/finish", "application/json", body,
			http.Header{"X-Csrf-Token": {csrfOf(t, h)}})
	}
	// rememberBody is finishBody with what webauthn.js adds when the box is ticked.
	rememberBody := func(v string) string {
		return strings.TrimSuffix(finishBody("req-remember"), "}") + `,"remember_device":` + v + `}`
	}
	t.Run(`"remember_device": true asks the flow to remember and sets the device cookie`, func(t *testing.T) {
		h := newRememberHarness(t)
		body := rememberBody("true")
		r := finish(t, h, body)
		wantJSON(t, r, http.StatusOK, "redirect", fakeDoneURL)
		wantDeviceCookie(t, r.Response, "twofold_device", false)
		calls := h.flow.callsOf("SubmitFactor")
		if len(calls) != 1 || calls[0].id != "req-remember" || calls[0].factor != idp.MethodWebAuthn ||
			calls[0].body != body || !calls[0].remember {
			t.Errorf("SubmitFactor calls = %+v, want one for req-remember with webauthn, the body unchanged, remembering", calls)
		}
	})
	for _, tt := range []struct{ name, body string }{
		{"without remember_device", finishBody("req-remember")},
		{`with "remember_device": false`, rememberBody("false")},
		{`with a remember_device that is not a boolean`, rememberBody(`"1"`)},
	} {
		t.Run(tt.name+" the device is not remembered", func(t *testing.T) {
			h := newRememberHarness(t)
			r := finish(t, h, tt.body)
			wantJSON(t, r, http.StatusOK, "redirect", fakeDoneURL)
			if calls := h.flow.callsOf("SubmitFactor"); len(calls) != 1 || calls[0].remember {
				t.Errorf("SubmitFactor calls = %+v, want one not remembering", calls)
			}
			if c := responseCookie(r.Response, "twofold_device"); c != nil {
				t.Errorf("device cookie set: %+v", c)
			}
		})
	}
	t.Run("a failure to remember still answers where to go", func(t *testing.T) {
		h := newRememberHarness(t)
		h.flow.script("SubmitFactor", idp.Step{Kind: idp.StepRedirect, RedirectURL: fakeDoneURL,
			Session: &idp.SessionCookie{Value: fakeMFASession, Expires: fakeSessionExpiry},
			Device:  &idp.SessionCookie{Value: "a;b"}}, nil)
		r := finish(t, h, rememberBody("true"))
		wantJSON(t, r, http.StatusOK, "redirect", fakeDoneURL)
		if c := responseCookie(r.Response, "twofold_session"); c == nil || c.Value != fakeMFASession {
			t.Errorf("session cookie = %+v, want the rotated one", c)
		}
		if c := responseCookie(r.Response, "twofold_device"); c != nil {
			t.Errorf("device cookie set: %+v", c)
		}
	})
	t.Run("a refused ceremony never remembers the device", func(t *testing.T) {
		h := newRememberHarness(t)
		r := finish(t, h, `{"id":"req-remember","session":"other","credential":{},"remember_device":true}`)
		wantJSON(t, r, http.StatusBadRequest, "error", msgWebAuthnFailed)
		if c := responseCookie(r.Response, "twofold_device"); c != nil {
			t.Errorf("device cookie set: %+v", c)
		}
	})
	t.Run("webauthn.js sends remember_device when the box is ticked", func(t *testing.T) {
		h := newMFAHarness(t)
		wantContains(t, h.get("/static/webauthn.js").body, `getElementById("remember-device")`,
			`remember.checked`, `body.remember_device = true`)
	})
}

func TestTheFlowGetsTheRememberedDeviceCookie(t *testing.T) {
	h := newMFAHarness(t)
	u, err := url.Parse(h.ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	h.client.Jar.SetCookies(u, []*http.Cookie{{Name: "twofold_device", Value: fakeDeviceValue, Path: "/"}})
	wantStatus(t, h.get("/login?id=req-mfa"), http.StatusOK)
	page := h.get("/login?id=req-mfa&method=totp")
	h.post(h.client, "/login/mfa/totp", url.Values{"csrf_token": {csrfTokenIn(t, page.body)}, "id": {"req-mfa"},
		"code": {fakeTOTPCode}}, nil)
	for _, m := range []string{"Resume", "SubmitFactor"} {
		calls := h.flow.callsOf(m)
		if len(calls) == 0 {
			t.Fatalf("%s was not called", m)
		}
		for _, c := range calls {
			if c.browser.DeviceCookie != fakeDeviceValue {
				t.Errorf("%s got DeviceCookie %q, want %q", m, c.browser.DeviceCookie, fakeDeviceValue)
			}
		}
	}
}
