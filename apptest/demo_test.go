package apptest_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage/storagetest"
	"github.com/twofold-idp/twofold/ui/demo"
)

// The demo relying party (ui/demo, "twofold serve --demo") against the real provider, button by button. The demo
// is mounted on the issuer's origin, so apptest.Browser follows every redirect of a click — to Twofold, back to
// the demo's callback and on to its page — and ends on the page a person would see: a Twofold page when one is
// needed, else the demo's page again.

const (
	demoUsername = "demo"
	demoPassword = "demo horse battery staple"
)

// demoFixture is "twofold serve --demo" with a relaxed default policy: the demo client names no policy, so it is
// the requests of the demo's buttons that ask for more than a password.
func demoFixture() directory.Static {
	st := staticFixture()
	st.Policies = []policy.Policy{{Name: "relaxed", RequireMFA: policy.OnRequest}}
	st.DefaultPolicy = "relaxed"
	st.Users = append(st.Users, directory.NewUser{Username: demoUsername, Email: "demo@example.com", Password: demoPassword})
	return st
}

// demoClock runs three minutes behind the wall clock, so that the tests can advance it (a new TOTP step, an
// auth_time that moves) by up to a few minutes in all. Two libraries read the wall clock beside the injected one:
// the demo verifies ID tokens with zitadel's rp package, which refuses an iat more than a second ahead of the wall
// clock, so the provider's clock must not overtake it; and go-webauthn checks a ceremony's expiry (the provider's
// clock plus five minutes) against the wall clock, so the provider's clock must not lag it by five minutes.
func demoClock() *apptest.Clock {
	c := apptest.NewClock()
	c.Advance(-3 * time.Minute)
	return c
}

// eachDemoServer runs fn against a server with the demo mounted at /demo/, on SQLite and PostgreSQL.
func eachDemoServer(t *testing.T, fn func(t *testing.T, s *apptest.Server)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			fn(t, apptest.New(t, newStore, apptest.Options{Demo: true, Static: demoFixture(), Clock: demoClock()}))
		})
	}
}

// demoClaims is what the demo's claims table shows.
type demoClaims struct {
	Sub      string
	ACR      string
	AMR      []string
	AuthTime int64 // data-unix of #claim-auth-time
}

// demoElement finds the element with id (an exact attribute match) and its text up to the first tag.
func demoElement(p *apptest.Page, id string) (tag, text string, ok bool) {
	m := regexp.MustCompile(`(<[a-z]+\b[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>)([^<]*)`).FindStringSubmatch(p.Body)
	if m == nil {
		return "", "", false
	}
	return m[1], strings.TrimSpace(html.UnescapeString(m[2])), true
}

// demoText is the text of the element with id, failing the test when the page has none.
func demoText(t *testing.T, p *apptest.Page, id string) string {
	t.Helper()
	_, text, ok := demoElement(p, id)
	if !ok {
		t.Fatalf("no #%s on %s (status %d):\n%s", id, p.URL, p.Status, p.Body)
	}
	return text
}

func demoHas(p *apptest.Page, id string) bool {
	_, _, ok := demoElement(p, id)
	return ok
}

// demoAttr is the attribute name of the element with id.
func demoAttr(t *testing.T, p *apptest.Page, id, name string) string {
	t.Helper()
	tag, _, ok := demoElement(p, id)
	if !ok {
		t.Fatalf("no #%s on %s (status %d):\n%s", id, p.URL, p.Status, p.Body)
	}
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		t.Fatalf("#%s has no %s: %s", id, name, tag)
	}
	return html.UnescapeString(m[1])
}

// demoClick follows the link with id on p, as a click on it would.
func demoClick(t *testing.T, b *apptest.Browser, p *apptest.Page, id string) *apptest.Page {
	t.Helper()
	target, err := p.URL.Parse(demoAttr(t, p, id, "href"))
	if err != nil {
		t.Fatal(err)
	}
	return b.Get(target.String())
}

// onDemo checks that the browser ended on the demo's signed-in page without an error and reads its claims.
func onDemo(t *testing.T, p *apptest.Page) demoClaims {
	t.Helper()
	if demoHas(p, "demo-error") {
		_, code, _ := demoElement(p, "demo-error-code")
		_, desc, _ := demoElement(p, "demo-error-description")
		t.Fatalf("the demo shows an error at %s: %s: %s", p.URL, code, desc)
	}
	if p.URL.Path != "/demo/" || p.Status != http.StatusOK || !demoHas(p, "claim-acr") {
		t.Fatalf("not the demo's signed-in page: status %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	c := demoClaims{Sub: demoText(t, p, "claim-sub"), ACR: demoText(t, p, "claim-acr")}
	for m := range strings.SplitSeq(demoText(t, p, "claim-amr"), ",") {
		c.AMR = append(c.AMR, strings.TrimSpace(m))
	}
	var err error
	if c.AuthTime, err = strconv.ParseInt(demoAttr(t, p, "claim-auth-time", "data-unix"), 10, 64); err != nil {
		t.Fatalf("auth_time: %v", err)
	}
	return c
}

// onTwofoldPage checks that a click stopped at a Twofold page that shows form id, not at the demo.
func onTwofoldPage(t *testing.T, p *apptest.Page, form string) {
	t.Helper()
	if strings.HasPrefix(p.URL.Path, "/demo/") || !strings.Contains(p.Body, `<form id="`+form+`"`) {
		t.Fatalf("want Twofold's form#%s, got status %d at %s:\n%s", form, p.Status, p.URL, p.Body)
	}
}

// demoSignIn opens the demo signed out and signs in with "Sign in" and the password.
func demoSignIn(t *testing.T, s *apptest.Server, b *apptest.Browser) (*apptest.Page, demoClaims) {
	t.Helper()
	p := b.Get(s.URL + "/demo/")
	if p.Status != http.StatusOK || demoHas(p, "claim-acr") || !demoHas(p, "demo-signin") {
		t.Fatalf("the demo signed out: status %d\n%s", p.Status, p.Body)
	}
	p = demoClick(t, b, p, "demo-signin")
	onTwofoldPage(t, p, "login")
	p = b.Submit(p, "login", map[string]string{"username": demoUsername, "password": demoPassword})
	return p, onDemo(t, p)
}

// demoUserID is the subject Twofold gives the demo user.
func demoUserID(t *testing.T, s *apptest.Server) string {
	t.Helper()
	u, err := s.Dir.GetUserByUsername(context.Background(), demoUsername)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

var otpauthRE = regexp.MustCompile(`id="otpauth-uri" href="([^"]+)"`)

// enrollTOTPInAccount adds an authenticator app on the account page of the browser's Twofold session (signed in
// with the password a moment ago, so fresh enough to add a factor) and returns its secret.
func enrollTOTPInAccount(t *testing.T, s *apptest.Server, b *apptest.Browser) []byte {
	t.Helper()
	p := b.Get(s.URL + "/account")
	if p.URL.Path != "/account" || p.Status != http.StatusOK {
		t.Fatalf("the account page: status %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	p = b.Submit(p, "add-totp", map[string]string{"name": "Demo phone"})
	m := otpauthRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("adding an authenticator app: status %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	key, err := totp.ParseURI(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatalf("otpauth URI %q: %v", m[1], err)
	}
	p = b.Submit(p, "enroll-totp", map[string]string{"code": totp.Code(key.Secret, totp.Step(s.Clock.Now()))})
	if p.URL.Path != "/account" || !strings.Contains(p.Body, "Demo phone") {
		t.Fatalf("confirming the authenticator app: status %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	return key.Secret
}

// proveTOTP submits the current code on Twofold's TOTP page and acknowledges the backup codes that follow for a
// user who has none yet (the account page's enrollment made none).
func proveTOTP(t *testing.T, s *apptest.Server, b *apptest.Browser, p *apptest.Page, secret []byte) *apptest.Page {
	t.Helper()
	onTwofoldPage(t, p, "mfa-totp")
	if strings.Contains(p.Body, `<form id="login"`) {
		t.Fatalf("the password form beside the TOTP challenge:\n%s", p.Body)
	}
	p = b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
	return ackBackupCodes(t, b, p)
}

// ackBackupCodes acknowledges the backup codes page if the browser is on it.
func ackBackupCodes(t *testing.T, b *apptest.Browser, p *apptest.Page) *apptest.Page {
	t.Helper()
	if !strings.Contains(p.Body, `<form id="backup-codes-ack"`) {
		return p
	}
	if n := len(backupCodeRE.FindAllStringSubmatch(p.Body, -1)); n != 10 {
		t.Fatalf("backup codes page with %d codes:\n%s", n, p.Body)
	}
	return b.Submit(p, "backup-codes-ack", nil)
}

func hasAll(got []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

func TestDemoSignInShowsThePasswordLevelAndTheAPIAsksForMFA(t *testing.T) {
	eachDemoServer(t, func(t *testing.T, s *apptest.Server) {
		b := apptest.NewBrowser(t, s)
		p, c := demoSignIn(t, s, b)
		if c.ACR != idp.ACRPassword || !slices.Equal(c.AMR, []string{"pwd"}) {
			t.Fatalf("after the password: acr %q amr %q, want %s and [pwd]", c.ACR, c.AMR, idp.ACRPassword)
		}
		if c.Sub != demoUserID(t, s) || c.AuthTime != s.Clock.Now().Unix() {
			t.Fatalf("sub %q auth_time %d, want the demo user and %d", c.Sub, c.AuthTime, s.Clock.Now().Unix())
		}
		if got := demoText(t, p, "claim-preferred-username"); got != demoUsername {
			t.Errorf("preferred_username %q", got)
		}

		// RFC 9470: a password-only access token is refused with the level to ask for.
		p = demoClick(t, b, p, "demo-api")
		onDemo(t, p)
		if got := demoText(t, p, "api-status"); !strings.HasPrefix(got, "401") {
			t.Fatalf("API status %q with a password-only token, want 401", got)
		}
		challenge := demoText(t, p, "api-www-authenticate")
		if !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, `error="insufficient_user_authentication"`) ||
			!strings.Contains(challenge, `acr_values="`+idp.ACRMFA+`"`) {
			t.Fatalf("WWW-Authenticate %q, want an RFC 9470 challenge for %s", challenge, idp.ACRMFA)
		}
		retry, err := url.Parse(demoAttr(t, p, "demo-stepup-retry", "href"))
		if err != nil || retry.Query().Get("mode") != "retry" || retry.Query().Get("acr_values") != idp.ACRMFA {
			t.Fatalf("the retry link %q does not carry the challenge's acr_values", retry)
		}
	})
}

func TestDemoStepUpAsksOnlyForTheMissingSecondFactor(t *testing.T) {
	eachDemoServer(t, func(t *testing.T, s *apptest.Server) {
		b := apptest.NewBrowser(t, s)
		p, signedIn := demoSignIn(t, s, b)

		// Without a second factor, acr_values is voluntary: no page, and the level reached.
		p = demoClick(t, b, p, "demo-stepup")
		if c := onDemo(t, p); c.ACR != idp.ACRPassword || c.AuthTime != signedIn.AuthTime {
			t.Fatalf("step-up without a second factor: acr %q auth_time %d, want %s and %d", c.ACR, c.AuthTime, idp.ACRPassword, signedIn.AuthTime)
		}
		if got := demoText(t, p, "demo-outcome"); !strings.Contains(got, "weaker acr than asked") {
			t.Errorf("outcome %q does not say the acr is weaker than asked", got)
		}

		secret := enrollTOTPInAccount(t, s, b)
		s.Clock.Advance(time.Minute) // a new TOTP step, and a later auth_time

		// Only the missing factor: the TOTP code, no password.
		p = proveTOTP(t, s, b, demoClick(t, b, p, "demo-stepup"), secret)
		c := onDemo(t, p)
		if c.ACR != idp.ACRMFA || !hasAll(c.AMR, "pwd", "otp", "mfa") {
			t.Fatalf("after the step-up: acr %q amr %q, want %s with pwd, otp and mfa", c.ACR, c.AMR, idp.ACRMFA)
		}
		if c.AuthTime != s.Clock.Now().Unix() || c.AuthTime <= signedIn.AuthTime || c.Sub != signedIn.Sub {
			t.Fatalf("after the step-up: auth_time %d (signed in at %d, now %d), sub %q (was %q)",
				c.AuthTime, signedIn.AuthTime, s.Clock.Now().Unix(), c.Sub, signedIn.Sub)
		}
		if got := demoText(t, p, "demo-outcome"); !strings.Contains(got, "met the requested acr_values") {
			t.Errorf("outcome %q", got)
		}

		p = demoClick(t, b, p, "demo-api")
		onDemo(t, p)
		if got := demoText(t, p, "api-status"); !strings.HasPrefix(got, "200") {
			t.Fatalf("API status %q with an MFA token, want 200", got)
		}
		if body := demoText(t, p, "api-body"); !strings.Contains(body, `"acr": "`+idp.ACRMFA+`"`) {
			t.Errorf("API body %s", body)
		}
		if demoHas(p, "demo-stepup-retry") || demoHas(p, "api-www-authenticate") {
			t.Error("a challenge beside a 200")
		}

		// Asked again, the session already satisfies it: no page, and auth_time stays.
		s.Clock.Advance(10 * time.Second)
		p = demoClick(t, b, p, "demo-stepup")
		if again := onDemo(t, p); again.ACR != idp.ACRMFA || again.AuthTime != c.AuthTime {
			t.Fatalf("a satisfied step-up: acr %q auth_time %d, want %s and %d", again.ACR, again.AuthTime, idp.ACRMFA, c.AuthTime)
		}
	})
}

func TestDemoStepUpAndRetryAfterTheAPIRefusedTheToken(t *testing.T) {
	eachDemoServer(t, func(t *testing.T, s *apptest.Server) {
		b := apptest.NewBrowser(t, s)
		p, _ := demoSignIn(t, s, b)
		secret := enrollTOTPInAccount(t, s, b)
		p = demoClick(t, b, p, "demo-api")
		if got := demoText(t, p, "api-status"); !strings.HasPrefix(got, "401") {
			t.Fatalf("API status %q, want 401", got)
		}

		s.Clock.Advance(time.Minute)
		p = proveTOTP(t, s, b, demoClick(t, b, p, "demo-stepup-retry"), secret)
		c := onDemo(t, p)
		if c.ACR != idp.ACRMFA || !hasAll(c.AMR, "otp", "mfa") {
			t.Fatalf("after step-up and retry: acr %q amr %q", c.ACR, c.AMR)
		}
		// The demo called the API again with the new token.
		if got := demoText(t, p, "api-status"); !strings.HasPrefix(got, "200") {
			t.Fatalf("the retried API call: %q, want 200", got)
		}
		if demoHas(p, "demo-stepup-retry") {
			t.Error("a retry link after the API accepted the token")
		}
	})
}

func TestDemoReauthenticateAsksForThePasswordAgain(t *testing.T) {
	eachDemoServer(t, func(t *testing.T, s *apptest.Server) {
		b := apptest.NewBrowser(t, s)
		p, signedIn := demoSignIn(t, s, b)
		s.Clock.Advance(time.Minute)

		// A plain sign-in rides the live session: no page, auth_time unchanged.
		p = demoClick(t, b, p, "demo-signin")
		if c := onDemo(t, p); c.AuthTime != signedIn.AuthTime {
			t.Fatalf("silent SSO moved auth_time from %d to %d", signedIn.AuthTime, c.AuthTime)
		}

		// max_age=0: the password form again, despite the session.
		p = demoClick(t, b, p, "demo-reauth")
		onTwofoldPage(t, p, "login")
		p = b.Submit(p, "login", map[string]string{"username": demoUsername, "password": demoPassword})
		c := onDemo(t, p)
		if c.AuthTime != s.Clock.Now().Unix() || c.AuthTime <= signedIn.AuthTime || c.ACR != idp.ACRPassword || c.Sub != signedIn.Sub {
			t.Fatalf("after re-authenticating: auth_time %d (was %d, now %d) acr %q sub %q",
				c.AuthTime, signedIn.AuthTime, s.Clock.Now().Unix(), c.ACR, c.Sub)
		}
		if got := demoText(t, p, "demo-outcome"); !strings.Contains(got, "auth_time shows when you last authenticated") {
			t.Errorf("outcome %q", got)
		}
	})
}

func TestDemoRequireAPasskeyForATOTPOnlyUserEnrollsOne(t *testing.T) {
	eachDemoServer(t, func(t *testing.T, s *apptest.Server) {
		b := apptest.NewBrowser(t, s)
		p, signedIn := demoSignIn(t, s, b)
		secret := enrollTOTPInAccount(t, s, b)
		s.Clock.Advance(time.Minute)

		// An essential phr: first a fresh proof of the factor the user has, then a passkey and nothing else.
		p = demoClick(t, b, p, "demo-passkey")
		onTwofoldPage(t, p, "mfa-totp")
		p = b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
		if p.URL.Path == "/demo/" || !strings.Contains(p.Body, `data-enroll="webauthn"`) || strings.Contains(p.Body, `data-enroll="totp"`) {
			t.Fatalf("an essential phr must lead to a passkey enrollment only: status %d at %s\n%s", p.Status, p.URL, p.Body)
		}
		enroll := regexp.MustCompile(`data-enroll="webauthn" href="([^"]+)"`).FindStringSubmatch(p.Body)
		if enroll == nil {
			t.Fatalf("no link to the passkey enrollment:\n%s", p.Body)
		}
		target, err := p.URL.Parse(html.UnescapeString(enroll[1]))
		if err != nil {
			t.Fatal(err)
		}
		p = b.Get(target.String())
		if !strings.Contains(p.Body, `id="webauthn-register"`) {
			t.Fatalf("no registration button: status %d at %s\n%s", p.Status, p.URL, p.Body)
		}
		key := apptest.NewAuthenticator(t, s, signedIn.Sub, true)
		p = b.WebAuthn(p, "/login/webauthn/register/begin", "/login/webauthn/register/finish", func(begin []byte, id string) []byte {
			return key.Register(begin, id, "Demo laptop")
		})
		p = ackBackupCodes(t, b, p)

		c := onDemo(t, p)
		// The acr is the value the demo asked for, as it wrote it.
		if c.ACR != idp.ACRTwofoldPhishingResistant || !hasAll(c.AMR, "hwk", "mfa") || c.Sub != signedIn.Sub {
			t.Fatalf("after the passkey: acr %q amr %q sub %q, want %s with hwk and mfa", c.ACR, c.AMR, c.Sub, idp.ACRTwofoldPhishingResistant)
		}
		if got := demoText(t, p, "demo-outcome"); !strings.Contains(got, "met the essential acr claim") {
			t.Errorf("outcome %q", got)
		}
		if got := demoText(t, demoClick(t, b, p, "demo-api"), "api-status"); !strings.HasPrefix(got, "200") {
			t.Errorf("API status %q with a phr token, want 200", got)
		}
	})
}

func TestDemoSignOutEndsTheTwofoldSession(t *testing.T) {
	eachDemoServer(t, func(t *testing.T, s *apptest.Server) {
		b := apptest.NewBrowser(t, s)
		p, _ := demoSignIn(t, s, b)

		// prompt=none from the demo client, stopped at the demo's callback to read the answer.
		rp := apptest.NewRP(t, s, apptest.DemoClientID, apptest.DemoClientSecret, demo.RedirectURI(s.URL+"/demo"))
		promptNone := func() url.Values {
			t.Helper()
			c := *b.Client
			c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
				if req.URL.Path == "/demo/callback" {
					return http.ErrUseLastResponse
				}
				return nil
			}
			resp, err := c.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none")))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, err := resp.Location()
			if err != nil || loc.Path != "/demo/callback" {
				t.Fatalf("prompt=none: status %d, Location %v (%v)", resp.StatusCode, loc, err)
			}
			return loc.Query()
		}
		if q := promptNone(); q.Get("code") == "" {
			t.Fatalf("prompt=none while signed in: %v", q)
		}

		p = demoClick(t, b, p, "demo-signout")
		if p.URL.Path != "/demo/" || demoHas(p, "claim-acr") || !demoHas(p, "demo-signin") || demoHas(p, "demo-error") {
			t.Fatalf("after signing out: status %d at %s\n%s", p.Status, p.URL, p.Body)
		}
		if got := demoText(t, p, "demo-notice"); !strings.Contains(got, "signed out of Acme Notes and of Twofold") {
			t.Errorf("notice %q", got)
		}

		if q := promptNone(); q.Get("error") != "login_required" {
			t.Fatalf("prompt=none after signing out: %v, want login_required", q)
		}
		onTwofoldPage(t, demoClick(t, b, p, "demo-signin"), "login")
	})
}
