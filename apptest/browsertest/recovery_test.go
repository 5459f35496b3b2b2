package browsertest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

const newPassword = "a brand new passphrase"

// setupWithMail is setup with the in-process mail server as Twofold's SMTP server and alice's address verified;
// alice has set up an authenticator app (the returned secret) in a first tab.
func setupWithMail(t *testing.T) (*apptest.Server, *app, *browser, []byte) {
	t.Helper()
	b, first := newBrowser(t)
	a := startApp(t)
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Mailbox: apptest.NewMailbox(t), Static: directory.Static{
		Policies: []policy.Policy{{Name: "strict", RequireMFA: policy.Always}},
		Clients: []directory.ClientSpec{{
			ID: appClientID, Name: appName, Secret: appSecret, RedirectURIs: []string{a.redirectURI()},
			PostLogoutRedirectURIs: []string{a.srv.URL + "/"}, SkipConsent: true, Policy: "strict",
		}},
		Users: []directory.NewUser{{Username: username, Email: "alice@example.com", Password: password}},
	}})
	a.connect(t, s)
	u, err := s.Store.GetUserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Store.SetEmailVerified(context.Background(), u.ID, u.Email); !ok || err != nil {
		t.Fatalf("verify alice's address: %v %v", ok, err)
	}
	first.passwordLogin(a)
	secret := first.enrollTOTP(s)
	first.saveBackupCodes()
	first.signedIn()
	// Setting up the app is a security notification to the verified address: read it, so that the next mail the
	// test waits for is the one its steps send.
	if m := s.Mailbox.Next(t, "alice@example.com"); !strings.Contains(m.Subject, "added") {
		t.Fatalf("the first mail after enrolling is %q, want the notification that a sign-in method was added", m.Subject)
	}
	s.Clock.Advance(30 * time.Second) // the next TOTP step
	return s, a, b, secret
}

// enrollTOTP sets up an authenticator app from the enrollment choice, as its owner would after scanning the code.
func (tb *tab) enrollTOTP(s *apptest.Server) []byte {
	tb.t.Helper()
	tb.chooseEnrollment("totp")
	tb.waitPage("the TOTP enrollment page", "form#enroll-totp")
	href := get(tb, "read the otpauth link", chromedp.AttributeValue(chromedp.ID("otpauth-uri"), "href"))
	key, err := totp.ParseURI(href.Value)
	if err != nil {
		tb.t.Fatalf("a#otpauth-uri href %q: %v", href.Value, err)
	}
	tb.do("type the code", chromedp.SendKeys(chromedp.ID("code"), totp.Code(key.Secret, totp.Step(s.Clock.Now()))))
	tb.shot("enroll-totp")
	tb.submit("enroll-totp")
	return key.Secret
}

// typeInto types value into the field with id and submits form, after a screenshot named shot.
func (tb *tab) typeInto(form, id, value, shot string) {
	tb.t.Helper()
	tb.do("type into #"+id, chromedp.SendKeys(chromedp.ID(id), value))
	tb.shot(shot)
	tb.submit(form)
}

// TestForgottenPasswordThenTheSecondFactorInChromium: from the login page's "Forgot your password?", a link by
// mail, a new password, and back to the same sign-in — which still asks for the authenticator app.
func TestForgottenPasswordThenTheSecondFactorInChromium(t *testing.T) {
	t.Parallel()
	s, a, b, secret := setupWithMail(t)
	tb := b.newTab("another device")
	tb.do("open the app", chromedp.Navigate(a.srv.URL+"/"))
	tb.waitPage("the login page", "a#forgot-password")
	tb.shot("login")
	tb.follow("forgot password", "a#forgot-password")
	tb.waitPage("the forgotten-password page", "form#password-reset-request")
	tb.typeInto("password-reset-request", "username", username, "forgot-password")
	tb.waitPage("the check-your-email page", "a#back-to-sign-in")
	tb.shot("check-your-email")

	link := s.Mailbox.Next(t, "alice@example.com").Link(t, s.URL+"/login/reset-password?t=")
	tb.do("open the link in the mail", chromedp.Navigate(link))
	tb.waitPage("the reset page", "form#password-reset")
	tb.do("type the new password twice",
		chromedp.SendKeys(chromedp.ID("password"), newPassword),
		chromedp.SendKeys(chromedp.ID("password_confirm"), newPassword))
	tb.shot("reset-password")
	tb.submit("password-reset")
	tb.waitPage("the password-changed page", "a#continue-sign-in")
	tb.shot("password-changed")
	if n := s.Mailbox.Next(t, "alice@example.com"); n.Subject != "Your localhost password was changed" {
		t.Fatalf("notification %q", n.Subject)
	}

	tb.follow("continue signing in", "a#continue-sign-in")
	tb.typePassword(username, newPassword)
	tb.waitPage("the TOTP challenge", "form#mfa-totp")
	tb.typeInto("mfa-totp", "code", totp.Code(secret, totp.Step(s.Clock.Now())), "mfa-totp")
	c := tb.signedIn()
	tb.shot("app-signed-in")
	if c.ACR != idp.ACRMFA || !slices.Contains(c.AMR, "otp") || !slices.Contains(c.AMR, "mfa") {
		t.Fatalf("after a reset: acr %q amr %v, want %s with otp and mfa", c.ACR, c.AMR, idp.ACRMFA)
	}
}

// TestLostDeviceRecoveryInChromium: "I can't use my authenticator" on the challenge, a backup code offered first,
// then recovery by email: a mailed code starts it, the mails carry a cancel link (its page shown, not used), the
// sign-in says when it is ready; a day later the password and another mailed code finish it, and a new
// authenticator is set up with new backup codes.
func TestLostDeviceRecoveryInChromium(t *testing.T) {
	t.Parallel()
	s, a, b, _ := setupWithMail(t)
	tb := b.newTab("the phone is lost")
	tb.passwordLogin(a)
	tb.waitPage("the TOTP challenge", "a#lost-factor")
	tb.shot("mfa-totp")
	tb.follow("I can't use my authenticator", "a#lost-factor")
	tb.waitPage("the lost-factor page", "form#recovery-send")
	tb.do("a backup code is offered first", chromedp.WaitVisible(chromedp.CSS(`a#use-backup-code[data-method="backup_code"]`)))
	tb.shot("lost-factor")
	tb.submit("recovery-send")
	tb.waitPage("the code form", "form#recovery-start")
	code := s.Mailbox.Next(t, "alice@example.com").Code(t)
	tb.typeInto("recovery-start", "code", code, "recovery-start")
	tb.waitPage("the waiting recovery", "#recovery-waiting")
	tb.shot("recovery-waiting")

	cancel := s.Mailbox.Next(t, "alice@example.com").Link(t, s.URL+"/recovery/cancel?t=")
	mail := b.newTab("the mailbox")
	mail.do("open the cancel link", chromedp.Navigate(cancel))
	mail.waitPage("the cancel page", "form#recovery-cancel")
	mail.shot("recovery-cancel")

	tb.follow("back to the challenge", "a#back-to-challenge")
	tb.waitPage("the challenge with the recovery's date", "#recovery-notice")
	tb.shot("mfa-totp-recovery-waiting")

	s.Clock.Advance(24 * time.Hour)
	later := b.newTab("a day later")
	later.passwordLogin(a)
	later.waitPage("the challenge with the recovery ready", "a#finish-recovery")
	later.shot("mfa-totp-recovery-ready")
	later.follow("finish the recovery", "a#finish-recovery")
	later.waitPage("the ready recovery", "#recovery-ready")
	later.shot("recovery-ready")
	later.submit("recovery-send")
	later.waitPage("the code form", "form#recovery-complete")
	later.typeInto("recovery-complete", "code", s.Mailbox.Next(t, "alice@example.com").Code(t), "recovery-complete")
	later.enrollTOTP(s)
	later.saveBackupCodes()
	c := later.signedIn()
	later.shot("app-signed-in")
	if c.ACR != idp.ACRMFA || !slices.Contains(c.AMR, "otp") || !slices.Contains(c.AMR, "mfa") {
		t.Fatalf("after the recovery: acr %q amr %v, want %s with otp and mfa", c.ACR, c.AMR, idp.ACRMFA)
	}
	if n := s.Mailbox.Next(t, "alice@example.com"); n.Subject != "Your localhost account was recovered" {
		t.Fatalf("notification %q", n.Subject)
	}
}
