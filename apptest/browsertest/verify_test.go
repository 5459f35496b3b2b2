package browsertest

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// TestVerifyEmailOnTheAccountPage: signed in to the app, alice opens her
// account page, asks for a code, types a wrong one (refused, with an
// alert) and then the one from the mail the in-process SMTP server
// received: her address is verified. She changes it: the new address is
// verified by opening the link of its mail on another device (a
// confirmation page, then done), and the old address's notification has a
// "this wasn't me" link whose page signs her out everywhere. A screenshot
// of every page.
func TestVerifyEmailOnTheAccountPage(t *testing.T) {
	t.Parallel()
	b, tb := newBrowser(t)
	a := startApp(t)
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Mailbox: apptest.NewMailbox(t), Static: directory.Static{
		Clients: []directory.ClientSpec{{
			ID: appClientID, Name: appName, Secret: appSecret, RedirectURIs: []string{a.redirectURI()},
			PostLogoutRedirectURIs: []string{a.srv.URL + "/"}, SkipConsent: true,
		}},
		Users: []directory.NewUser{{Username: username, Email: "alice@example.com", Password: password}},
	}})
	a.connect(t, s)

	tb.passwordLogin(a)
	tb.signedIn()

	tb.do("open the account page", chromedp.Navigate(s.URL+"/account"))
	tb.waitPage("the account page", "#email-unverified")
	tb.shot("account-email-unverified")

	tb.submit("send-verification-email")
	tb.waitPage("the account page after sending", "#account-notice")
	tb.shot("account-code-sent")
	code := s.Mailbox.Next(t, "alice@example.com").Code(t)

	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	tb.do("type a wrong code", chromedp.SendKeys(chromedp.ID("email-code"), string(wrong)))
	tb.submit("verify-email")
	tb.waitPage("the refusal", "#email-error")
	if msg := get(tb, "read the alert", text("email-error")); !strings.Contains(msg, "not right") {
		t.Fatalf("a wrong code says %q", msg)
	}
	tb.shot("account-wrong-code")

	tb.do("type the code from the mail", chromedp.SendKeys(chromedp.ID("email-code"), code))
	tb.shot("account-code-typed")
	tb.submit("verify-email")
	tb.waitPage("the verified address", "#email-verified")
	tb.shot("account-email-verified")

	tb.do("open the address change", chromedp.Click(chromedp.CSS("#change-email-details summary")))
	tb.do("type the new address", chromedp.SendKeys(chromedp.ID("new-email"), "alice@new.example.com"))
	tb.shot("account-change-email")
	tb.submit("change-email")
	tb.waitPage("the changed address", "#email-unverified")
	tb.shot("account-email-changed")

	// The new address's mail, opened on another device: its link verifies once confirmed.
	phone := b.newTab("phone")
	link := s.Mailbox.Next(t, "alice@new.example.com").Link(t, s.URL+"/verify-email?token=")
	phone.do("open the verification link", chromedp.Navigate(link))
	phone.waitPage("the confirmation", "form#verify-email-link")
	phone.shot("link-confirm")
	phone.submit("verify-email-link")
	phone.waitPage("verified", "#verify-email-done")
	phone.shot("link-verified")

	tb.do("reload the account page", chromedp.Reload())
	tb.waitPage("the account page", "#email-verified")

	// The old address was told, with "this wasn't me".
	report := s.Mailbox.Next(t, "alice@example.com").Link(t, s.URL+"/not-me?token=")
	phone.do("open the report link", chromedp.Navigate(report))
	phone.waitPage("the report page", "form#not-me")
	phone.shot("not-me-confirm")
	phone.submit("not-me")
	phone.waitPage("secured", "#not-me-done")
	phone.shot("not-me-done")

	tb.do("reload the account page", chromedp.Reload())
	tb.waitPage("signed out: the login page", "form#login")
	tb.shot("signed-out-everywhere")
}

// TestVerifyEmailAtSignIn: an app whose policy requires a verified email;
// after her password alice is asked for the code Twofold mails her, and
// reaches the app once she types it. A screenshot of every page.
func TestVerifyEmailAtSignIn(t *testing.T) {
	t.Parallel()
	_, tb := newBrowser(t)
	a := startApp(t)
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Mailbox: apptest.NewMailbox(t), Static: directory.Static{
		Policies: []policy.Policy{{Name: "verified", RequireMFA: policy.OnRequest, RequireVerifiedEmail: true}},
		Clients: []directory.ClientSpec{{
			ID: appClientID, Name: appName, Secret: appSecret, RedirectURIs: []string{a.redirectURI()},
			PostLogoutRedirectURIs: []string{a.srv.URL + "/"}, SkipConsent: true, Policy: "verified",
		}},
		Users: []directory.NewUser{{Username: username, Email: "alice@example.com", Password: password}},
	}})
	a.connect(t, s)

	tb.passwordLogin(a)
	tb.waitPage("the verify-email step", "form#verify-email-send")
	tb.shot("verify-email-step")
	tb.submit("verify-email-send")
	tb.waitPage("the code sent", "#verify-email-notice")
	tb.shot("verify-email-sent")
	code := s.Mailbox.Next(t, "alice@example.com").Code(t)
	tb.do("type the code", chromedp.SendKeys(chromedp.ID("code"), code))
	tb.submit("verify-email")
	if c := tb.signedIn(); c.Sub == "" {
		t.Fatal("no subject in the app")
	}
	tb.shot("app-signed-in")
}
