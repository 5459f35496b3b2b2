package browsertest

import (
	"context"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// TestEmailCodeAsSecondFactor: under a policy that allows email codes, a user
// whose address is verified signs in with the password, then with the code
// the in-process mail server received: a wrong code is refused on the page,
// "Send a new code" mails another, and the app receives a two-factor ID
// token (amr pwd mail mfa).
func TestEmailCodeAsSecondFactor(t *testing.T) {
	t.Parallel()
	_, tb := newBrowser(t)
	a := startApp(t)
	mb := apptest.NewMailbox(t)
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Mailbox: mb, Static: directory.Static{
		Policies: []policy.Policy{{Name: "codes", RequireMFA: policy.Always, Methods: []policy.Method{policy.Email}}},
		Clients: []directory.ClientSpec{{
			ID: appClientID, Name: appName, Secret: appSecret, RedirectURIs: []string{a.redirectURI()},
			PostLogoutRedirectURIs: []string{a.srv.URL + "/"}, SkipConsent: true, Policy: "codes",
		}},
		Users: []directory.NewUser{{Username: username, Email: "alice@example.com", Password: password}},
	}})
	a.connect(t, s)
	u, err := s.Store.GetUserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Store.SetEmailVerified(context.Background(), u.ID, u.Email); err != nil || !ok {
		t.Fatalf("verify the address: %v %v", ok, err)
	}

	tb.passwordLogin(a)
	tb.waitPage("the email code page", "form#mfa-email")
	tb.shot("mfa-email")
	code := mb.Next(t, "alice@example.com").Code(t)

	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	tb.do("type a wrong code", chromedp.SendKeys(chromedp.ID("code"), wrong))
	tb.submit("mfa-email")
	tb.waitPage("the refused code", "#mfa-error")
	tb.shot("mfa-email-wrong-code")

	tb.submit("mfa-resend")
	tb.waitPage("the page after sending a new code", "#mfa-notice")
	tb.shot("mfa-email-new-code")
	code = mb.Next(t, "alice@example.com").Code(t)
	tb.do("type the code", chromedp.Clear(chromedp.ID("code")), chromedp.SendKeys(chromedp.ID("code"), code))
	tb.submit("mfa-email")

	c := tb.signedIn()
	tb.shot("app-signed-in")
	if c.ACR != idp.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "mail", "mfa"}) {
		t.Fatalf("after password and email code: acr %q amr %v, want %s and [pwd mail mfa]", c.ACR, c.AMR, idp.ACRMFA)
	}
}

// TestPhoneNumberOnTheAccountPage: a signed-in user adds a phone number on
// the account page and confirms it with the code the SMS webhook receiver
// got; the number is then shown as confirmed.
func TestPhoneNumberOnTheAccountPage(t *testing.T) {
	t.Parallel()
	_, tb := newBrowser(t)
	sms := apptest.NewSMSReceiver(t)
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{SMS: sms, Static: directory.Static{
		Users: []directory.NewUser{{Username: username, Email: "alice@example.com", Password: password}},
	}})
	tb.do("open the account page", chromedp.Navigate(s.URL+"/account"))
	tb.typePassword(username, password)
	tb.waitPage("the account page", "form#add-phone")
	tb.do("scroll to the phone section", chromedp.ScrollIntoView(chromedp.ID("phone")))
	tb.shot("account-phone")
	tb.do("type a number", chromedp.SendKeys(chromedp.ID("phone-input"), "+1 555 123 4567"))
	tb.submit("add-phone")
	tb.waitPage("the code form", "form#verify-phone")
	tb.do("scroll to the phone section", chromedp.ScrollIntoView(chromedp.ID("phone")))
	tb.shot("account-phone-code")
	code := sms.Next(t, "+15551234567").Code(t)
	tb.do("type the code", chromedp.SendKeys(chromedp.ID("phone-code"), code))
	tb.submit("verify-phone")
	tb.waitPage("the confirmed number", "form#remove-phone")
	tb.do("scroll to the phone section", chromedp.ScrollIntoView(chromedp.ID("phone")))
	tb.shot("account-phone-confirmed")
	u, err := s.Store.GetUserByUsername(context.Background(), username)
	if err != nil || u.Phone != "+15551234567" || u.PhoneVerifiedAt == nil {
		t.Fatalf("after confirming: %+v, %v", u, err)
	}
}
