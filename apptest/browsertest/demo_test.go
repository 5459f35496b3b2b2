package browsertest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

const demoUser = "demo"

// setupDemo starts the browser and a Twofold with the demo relying party at /demo/, as "twofold serve --demo"
// runs it: the demo client with no policy, no default policy, and the demo user with a password only.
//
// The provider's clock starts three minutes behind the wall clock so that the test can move it forward: the
// demo's ID token verification (zitadel's rp) refuses an iat ahead of the wall clock, and go-webauthn refuses a
// ceremony whose expiry (the provider's clock plus five minutes) the wall clock has passed.
func setupDemo(t *testing.T) (*apptest.Server, *tab) {
	t.Helper()
	_, tb := newBrowser(t) // first: skips (or fails in CI) before anything starts
	clock := apptest.NewClock()
	clock.Advance(-3 * time.Minute)
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Demo: true, Clock: clock, Static: directory.Static{
		Users: []directory.NewUser{{Username: demoUser, Email: "demo@example.com", Password: password}},
	}})
	return s, tb
}

// demoClaims is what the demo's claims table shows.
type demoClaims struct {
	ACR      string
	AMR      []string
	AuthTime int64 // data-unix of #claim-auth-time
}

// demoErrorText is the text of the demo's error box, "" when there is none.
var demoErrorText = chromedp.Evaluate[string](`(document.getElementById("demo-error") || {}).innerText || ""`)

// onDemo checks that the browser is on the demo's signed-in page, without an error, and reads the claims.
func (tb *tab) onDemo(what string) demoClaims {
	tb.t.Helper()
	tb.waitPage(what, "#claim-acr, #demo-error, "+pageErrors)
	if msg := get(tb, "read the demo's error", demoErrorText); msg != "" {
		tb.fail(what, fmt.Errorf("the demo shows an error: %s", msg))
	}
	if msg := get(tb, "read the page", pageError); msg != "" {
		tb.fail(what, errors.New(msg))
	}
	tb.onDemoPath(what)
	c := demoClaims{ACR: get(tb, "read #claim-acr", text("claim-acr"))}
	for m := range strings.SplitSeq(get(tb, "read #claim-amr", text("claim-amr")), ",") {
		c.AMR = append(c.AMR, strings.TrimSpace(m))
	}
	at := get(tb, "read #claim-auth-time", chromedp.AttributeValue(chromedp.ID("claim-auth-time"), "data-unix"))
	n, err := strconv.ParseInt(at.Value, 10, 64)
	if err != nil {
		tb.fail("read auth_time", err)
	}
	c.AuthTime = n
	return c
}

// onDemoPath fails the test unless the browser is at the demo's page (not at one of Twofold's).
func (tb *tab) onDemoPath(what string) {
	tb.t.Helper()
	if path := tb.path(); path != "/demo/" {
		tb.fail(what, fmt.Errorf("not on the demo's page but at %s", path))
	}
}

// onTwofold fails the test when a click that needs one of Twofold's pages came straight back to the demo.
func (tb *tab) onTwofold(what string) {
	tb.t.Helper()
	if tb.path() == "/demo/" {
		tb.fail(what, errors.New("back at the demo without a Twofold page"))
	}
}

// path is the path of the page's address.
func (tb *tab) path() string {
	tb.t.Helper()
	loc := get(tb, "read the address", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		tb.fail("read the address", err)
	}
	return u.Path
}

// apiStatus reads the status of the last call to the demo's protected API.
func (tb *tab) apiStatus() string {
	tb.t.Helper()
	tb.waitPage("the API result", "#api-status")
	return get(tb, "read #api-status", text("api-status"))
}

// TestDemoButtons: Chromium with a platform passkey clicks every button of the demo relying party against a real
// Twofold: sign in with the password; the protected API refuses the password-only token (RFC 9470) and "Step up
// and retry" cannot do better for a user without a second factor (acr_values is voluntary); "Require a passkey"
// enrolls one and reaches phr, which the API accepts; "Step up to MFA" is then already satisfied and shows no
// page; "Re-authenticate" asks for the password again and moves auth_time; the API refuses that fresh
// password-only session, and "Step up and retry" now asks for the passkey as the second factor and gets the
// report; "Sign out" ends the Twofold session too. Every page is saved as a screenshot.
func TestDemoButtons(t *testing.T) {
	t.Parallel()
	s, tb := setupDemo(t)
	tb.addAuthenticator(platformPasskey)

	tb.do("open the demo", chromedp.Navigate(s.URL+"/demo/"))
	tb.waitPage("the demo signed out", "a#demo-signin")
	tb.shot("demo-signed-out")

	// Sign in: the password, one factor.
	tb.follow("Sign in", "a#demo-signin")
	tb.typePassword(demoUser, password)
	c := tb.onDemo("the demo after the password")
	tb.shot("demo-password")
	if c.ACR != idp.ACRPassword || !slices.Equal(c.AMR, []string{"pwd"}) {
		t.Fatalf("after the password: acr %q amr %v, want %s and [pwd]", c.ACR, c.AMR, idp.ACRPassword)
	}

	// Call the protected API: refused, with the level to ask for.
	tb.follow("Call the protected API", "a#demo-api")
	tb.onDemo("the API's refusal")
	tb.shot("demo-api-401")
	if got := tb.apiStatus(); !strings.HasPrefix(got, "401") {
		t.Fatalf("API with a password-only token: %q, want 401", got)
	}
	challenge := get(tb, "read #api-www-authenticate", text("api-www-authenticate"))
	if !strings.Contains(challenge, `error="insufficient_user_authentication"`) || !strings.Contains(challenge, `acr_values="`+idp.ACRMFA+`"`) {
		t.Fatalf("WWW-Authenticate %q, want an RFC 9470 challenge for %s", challenge, idp.ACRMFA)
	}

	// Step up and retry, without a second factor: no page, the level reached, refused again.
	tb.follow("Step up and retry", "a#demo-stepup-retry")
	if c := tb.onDemo("the retry without a second factor"); c.ACR != idp.ACRPassword {
		t.Fatalf("step-up and retry without a second factor: acr %q, want %s", c.ACR, idp.ACRPassword)
	}
	tb.shot("demo-retry-voluntary")
	if got := tb.apiStatus(); !strings.HasPrefix(got, "401") {
		t.Fatalf("API after a voluntary step-up that reached nothing more: %q, want 401", got)
	}

	// Require a passkey: an essential phr, so a passkey enrollment and nothing else.
	tb.follow("Require a passkey", "a#demo-passkey")
	tb.onTwofold("Require a passkey")
	tb.waitPage("the enrollment choice", `a[data-enroll="webauthn"]`)
	if n := get(tb, "count the choices", chromedp.Evaluate[int](`document.querySelectorAll("a[data-enroll]").length`)); n != 1 {
		t.Fatalf("an essential phr offered %d enrollment choices, want only the passkey", n)
	}
	tb.chooseEnrollment("webauthn")
	tb.registerWebAuthn("Demo laptop")
	tb.saveBackupCodes()
	c = tb.onDemo("the demo after the passkey")
	tb.shot("demo-passkey")
	// The acr is the value the demo asked for, as it wrote it.
	if c.ACR != idp.ACRTwofoldPhishingResistant || !slices.Contains(c.AMR, "hwk") || !slices.Contains(c.AMR, "mfa") {
		t.Fatalf("after the passkey: acr %q amr %v, want %s with hwk and mfa", c.ACR, c.AMR, idp.ACRTwofoldPhishingResistant)
	}
	passkeyAt := c.AuthTime

	tb.follow("Call the protected API", "a#demo-api")
	tb.onDemo("the API's answer")
	tb.shot("demo-api-200")
	if got := tb.apiStatus(); !strings.HasPrefix(got, "200") {
		t.Fatalf("API with a phr token: %q, want 200", got)
	}

	// Step up to MFA: already satisfied, so Twofold shows no page and auth_time stays.
	s.Clock.Advance(10 * time.Second)
	tb.follow("Step up to MFA", "a#demo-stepup")
	tb.onDemoPath("a satisfied step-up") // the navigation ended: no Twofold page on the way
	c = tb.onDemo("the demo after a satisfied step-up")
	tb.shot("demo-stepup-satisfied")
	// The session meets the mfa the demo asked for: acr is that value.
	if c.ACR != idp.ACRMFA || c.AuthTime != passkeyAt {
		t.Fatalf("a satisfied step-up: acr %q auth_time %d, want %s and %d", c.ACR, c.AuthTime, idp.ACRMFA, passkeyAt)
	}
	if got := get(tb, "read #demo-last-request", text("demo-last-request")); !strings.Contains(got, "Step up to MFA") {
		t.Fatalf("the page does not describe the step-up: %q", got)
	}

	// Re-authenticate (max_age=0): the password form again. The clock moves first, as time does between clicks.
	s.Clock.Advance(time.Minute)
	if status := tb.follow("Re-authenticate", "a#demo-reauth"); status != http.StatusOK {
		t.Fatalf("Re-authenticate: status %d", status)
	}
	tb.onTwofold("Re-authenticate")
	tb.typePassword(demoUser, password)
	c = tb.onDemo("the demo after re-authenticating")
	tb.shot("demo-reauth")
	if c.AuthTime != s.Clock.Now().Unix() || c.AuthTime <= passkeyAt {
		t.Fatalf("after re-authenticating: auth_time %d, want %d (was %d)", c.AuthTime, s.Clock.Now().Unix(), passkeyAt)
	}
	// A new sign-in inherits no factor of the old session: the password alone.
	if c.ACR != idp.ACRPassword {
		t.Fatalf("after re-authenticating with the password: acr %q, want %s", c.ACR, idp.ACRPassword)
	}

	// The API refuses that token; Step up and retry now asks for the passkey as the second factor.
	tb.follow("Call the protected API", "a#demo-api")
	tb.onDemo("the API's refusal after re-authenticating")
	if got := tb.apiStatus(); !strings.HasPrefix(got, "401") {
		t.Fatalf("API after re-authenticating with the password: %q, want 401", got)
	}
	tb.shot("demo-api-401-again")
	retry := get(tb, "read the retry link", chromedp.AttributeValue(chromedp.ID("demo-stepup-retry"), "href"))
	if u, err := url.Parse(retry.Value); err != nil || u.Query().Get("acr_values") != idp.ACRMFA {
		t.Fatalf("the retry link %q does not carry the challenge's acr_values", retry.Value)
	}
	tb.follow("Step up and retry", "a#demo-stepup-retry")
	tb.onTwofold("Step up and retry with a passkey")
	tb.waitPage("the passkey challenge", "form#mfa-webauthn button#webauthn-verify")
	tb.shot("mfa-webauthn")
	tb.do("use the passkey", chromedp.Click(chromedp.ID("webauthn-verify")))
	c = tb.onDemo("the demo after step-up and retry")
	tb.shot("demo-retry-200")
	if c.ACR != idp.ACRMFA || !slices.Contains(c.AMR, "hwk") {
		t.Fatalf("after step-up and retry with the passkey: acr %q amr %v, want %s met by a passkey", c.ACR, c.AMR, idp.ACRMFA)
	}
	if got := tb.apiStatus(); !strings.HasPrefix(got, "200") {
		t.Fatalf("the retried API call: %q, want 200", got)
	}

	// Sign out: of the demo and of Twofold.
	tb.follow("Sign out", "a#demo-signout")
	tb.waitPage("the demo signed out", "#demo-notice")
	tb.shot("demo-signed-out-again")
	if n := get(tb, "look for claims", chromedp.Evaluate[int](`document.querySelectorAll("#claim-acr").length`)); n != 0 {
		t.Fatal("the demo still shows claims after signing out")
	}
	if got := get(tb, "read #demo-notice", text("demo-notice")); !strings.Contains(got, "signed out of Acme Notes and of Twofold") {
		t.Fatalf("notice %q", got)
	}
	// Signing in again asks for the password: the Twofold session is gone.
	tb.follow("Sign in", "a#demo-signin")
	tb.onTwofold("Sign in after signing out")
	tb.waitPage("the login page", "form#login")
	tb.shot("login-after-sign-out")
}
