package browsertest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

const (
	username = "alice"
	password = "correct horse battery"
)

// setup starts the app and a Twofold that requires a second factor for it
// (policy strict, require_mfa always; alice has none yet), then the
// browser.
func setup(t *testing.T) (*apptest.Server, *app, *browser, *tab) {
	t.Helper()
	b, tb := newBrowser(t) // first: skips (or fails in CI) before anything starts
	a := startApp(t)
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: directory.Static{
		Policies: []policy.Policy{{Name: "strict", RequireMFA: policy.Always}},
		Clients: []directory.ClientSpec{{
			ID: appClientID, Name: appName, Secret: appSecret, RedirectURIs: []string{a.redirectURI()},
			PostLogoutRedirectURIs: []string{a.srv.URL + "/"}, SkipConsent: true, Policy: "strict",
		}},
		Users: []directory.NewUser{{Username: username, Email: "alice@example.com", Password: password}},
	}})
	a.connect(t, s)
	return s, a, b, tb
}

// passwordLogin opens the app, which sends the browser to Twofold's login
// page, and signs in with the password.
func (tb *tab) passwordLogin(a *app) {
	tb.t.Helper()
	tb.do("open the app", chromedp.Navigate(a.srv.URL+"/"))
	tb.typePassword(username, password)
}

// typePassword signs in on Twofold's login page, once it shows, with user's password.
func (tb *tab) typePassword(user, pw string) {
	tb.t.Helper()
	tb.waitPage("the login page", "form#login")
	tb.do("type the password",
		chromedp.Clear(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), pw),
	)
	tb.shot("login")
	tb.submit("login")
}

// chooseEnrollment picks method on the forced-enrollment page.
func (tb *tab) chooseEnrollment(method string) {
	tb.t.Helper()
	link := `a[data-enroll="` + method + `"]`
	tb.waitPage("the enrollment choice", link)
	tb.shot("enroll-choose")
	tb.do("choose "+method, chromedp.Click(chromedp.CSS(link)))
}

// registerWebAuthn names the new credential and registers it with the
// tab's authenticator.
func (tb *tab) registerWebAuthn(name string) {
	tb.t.Helper()
	tb.waitPage("the WebAuthn enrollment page", "button#webauthn-register")
	tb.do("name the credential", chromedp.SendKeys(chromedp.ID("webauthn-name"), name))
	tb.shot("enroll-webauthn")
	tb.do("register", chromedp.Click(chromedp.ID("webauthn-register")))
}

// saveBackupCodes checks the backup codes page (shown once, ten codes) and
// acknowledges it.
func (tb *tab) saveBackupCodes() {
	tb.t.Helper()
	tb.waitPage("the backup codes page", "form#backup-codes-ack, "+pageErrors)
	if msg := get(tb, "read the page", pageError); msg != "" {
		tb.fail("enrolling", errors.New(msg))
	}
	codes := get(tb, "read the backup codes", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(".backup-code"), (e) => e.textContent.trim())`))
	if len(codes) != 10 || slices.Contains(codes, "") {
		tb.fail("the backup codes page", fmt.Errorf("want 10 codes, got %q", codes))
	}
	tb.shot("backup-codes")
	tb.submit("backup-codes-ack")
}

// TestPasswordThenForcedTOTPEnrollmentAndBackupCodes: a user without a
// second factor, signing in to an app whose policy requires one, is led
// from the password through setting up an authenticator app (the code
// computed from the page's otpauth:// link, as the app would after
// scanning it) and the backup codes to the app, which receives a
// two-factor ID token.
func TestPasswordThenForcedTOTPEnrollmentAndBackupCodes(t *testing.T) {
	t.Parallel()
	s, a, _, tb := setup(t)

	tb.passwordLogin(a)
	tb.chooseEnrollment("totp")

	tb.waitPage("the TOTP enrollment page", "form#enroll-totp")
	href := get(tb, "read the otpauth link", chromedp.AttributeValue(chromedp.ID("otpauth-uri"), "href"))
	key, err := totp.ParseURI(href.Value)
	if err != nil {
		t.Fatalf("a#otpauth-uri href %q: %v", href.Value, err)
	}
	if key.Account == "" || key.Issuer == "" {
		t.Errorf("otpauth URI without account or issuer: %+v", key)
	}
	code := totp.Code(key.Secret, totp.Step(s.Clock.Now()))
	tb.do("type the code", chromedp.SendKeys(chromedp.ID("code"), code))
	tb.shot("enroll-totp")
	tb.submit("enroll-totp")

	tb.saveBackupCodes()

	c := tb.signedIn()
	tb.shot("app-signed-in")
	if c.ACR != idp.ACRMFA || !slices.Contains(c.AMR, "otp") || !slices.Contains(c.AMR, "mfa") {
		t.Fatalf("after password and TOTP: acr %q amr %v, want %s with otp and mfa", c.ACR, c.AMR, idp.ACRMFA)
	}
}

// TestPlatformPasskeyEnrollmentThenPasswordlessSignIn: a platform
// authenticator (discoverable credential, user verification) enrolled
// during the forced enrollment signs the same user in later from the
// login page's passkey button alone, in a browser with no Twofold session
// and no password typed, at the phishing-resistant level.
func TestPlatformPasskeyEnrollmentThenPasswordlessSignIn(t *testing.T) {
	t.Parallel()
	_, a, b, tb := setup(t)
	laptop := tb.addAuthenticator(platformPasskey)

	tb.passwordLogin(a)
	tb.chooseEnrollment("webauthn")
	tb.registerWebAuthn("Work laptop")
	tb.saveBackupCodes()
	first := tb.signedIn()
	tb.shot("app-signed-in")
	// Chromium's virtual platform authenticator is device-bound (no backup
	// eligibility) and verifies the user: phrh.
	if first.ACR != idp.ACRPhishingResistantHardware || !slices.Contains(first.AMR, "hwk") || !slices.Contains(first.AMR, "mfa") {
		t.Fatalf("after password and passkey: acr %q amr %v, want %s with hwk and mfa", first.ACR, first.AMR, idp.ACRPhishingResistantHardware)
	}
	creds := tb.credentials(laptop)
	if len(creds) != 1 || !creds[0].IsResidentCredential {
		t.Fatalf("want one discoverable credential on the authenticator, got %d (%+v)", len(creds), creds)
	}

	// Later, in a browser context with no cookies: the same authenticator,
	// nothing typed.
	later := b.newTab("fresh browser context")
	later.carryAuthenticator(tb, laptop, platformPasskey)
	later.do("open the app", chromedp.Navigate(a.srv.URL+"/"))
	later.waitPage("the login page", "button#passkey-login")
	later.shot("login-passkey")
	later.do("sign in with the passkey", chromedp.Click(chromedp.ID("passkey-login")))
	c := later.signedIn()
	later.shot("app-signed-in-passkey")
	if c.ACR != idp.ACRPhishingResistantHardware || !slices.Equal(c.AMR, []string{"hwk", "user", "mfa"}) || c.Sub != first.Sub {
		t.Fatalf("passkey sign-in: acr %q amr %v sub %q, want %s, [hwk user mfa], %q", c.ACR, c.AMR, c.Sub, idp.ACRPhishingResistantHardware, first.Sub)
	}
}

// TestSecurityKeyAsSecondFactor: a security key without user
// verification, enrolled during the forced enrollment, is the second
// factor after the password in a later session; without user verification
// the level is two factors, not phishing-resistant.
func TestSecurityKeyAsSecondFactor(t *testing.T) {
	t.Parallel()
	_, a, b, tb := setup(t)
	key := tb.addAuthenticator(securityKey)

	tb.passwordLogin(a)
	tb.chooseEnrollment("webauthn")
	tb.registerWebAuthn("YubiKey")
	tb.saveBackupCodes()
	first := tb.signedIn()
	tb.shot("app-signed-in")
	if first.ACR != idp.ACRMFA || !slices.Contains(first.AMR, "hwk") || slices.Contains(first.AMR, "user") {
		t.Fatalf("after password and security key: acr %q amr %v, want %s with hwk and without user", first.ACR, first.AMR, idp.ACRMFA)
	}
	if creds := tb.credentials(key); len(creds) != 1 || creds[0].IsResidentCredential {
		t.Fatalf("want one server-side (non-discoverable) credential on the key, got %d (%+v)", len(creds), creds)
	}

	later := b.newTab("fresh browser context")
	later.carryAuthenticator(tb, key, securityKey)
	later.passwordLogin(a)
	later.waitPage("the WebAuthn challenge", "form#mfa-webauthn button#webauthn-verify")
	later.shot("mfa-webauthn")
	later.do("use the security key", chromedp.Click(chromedp.ID("webauthn-verify")))
	c := later.signedIn()
	later.shot("app-signed-in-security-key")
	if c.ACR != idp.ACRMFA || !slices.Contains(c.AMR, "hwk") || !slices.Contains(c.AMR, "mfa") || slices.Contains(c.AMR, "user") || c.Sub != first.Sub {
		t.Fatalf("security key as second factor: acr %q amr %v sub %q, want %s with hwk and mfa (no user), %q", c.ACR, c.AMR, c.Sub, idp.ACRMFA, first.Sub)
	}
}
