package apptest_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/apptest/mailtest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// Issue 11, "What rests on them" 3: security notifications by mail, each
// with a "this wasn't me" link that ends every session, revokes the tokens
// and blocks changes until a full sign-in.

// userID is the id of the user called name.
func userID(t *testing.T, s *apptest.Server, name string) string {
	t.Helper()
	u, err := s.Store.GetUserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// reportLink checks that m is a security notification whose subject says
// what, and that its "this wasn't me" link opens the confirmation page
// (changing nothing); it returns the link.
func reportLink(t *testing.T, s *apptest.Server, m *apptest.Mail, what string) string {
	t.Helper()
	if !strings.Contains(m.Subject, what) || !strings.Contains(m.Text, "Wasn't you?") {
		t.Fatalf("mail %q, want a notification about %q:\n%s", m.Subject, what, m.Text)
	}
	link := m.Link(t, s.URL+"/not-me?token=")
	if p := apptest.NewBrowser(t, s).Get(link); p.Status != http.StatusOK || !strings.Contains(p.Body, `<form id="not-me"`) {
		t.Fatalf("the report link of %q: %d\n%s", m.Subject, p.Status, p.Body)
	}
	return link
}

// nextNotices takes the next n mails to to, by subject.
func nextNotices(t *testing.T, s *apptest.Server, to string, n int) map[string]*apptest.Mail {
	t.Helper()
	out := map[string]*apptest.Mail{}
	for range n {
		m := s.Mailbox.Next(t, to)
		out[m.Subject] = m
	}
	return out
}

// find is the mail among ms whose subject contains what.
func find(t *testing.T, ms map[string]*apptest.Mail, what string) *apptest.Mail {
	t.Helper()
	for subject, m := range ms {
		if strings.Contains(subject, what) {
			return m
		}
	}
	t.Fatalf("no mail about %q among %d", what, len(ms))
	return nil
}

// reauth proves the password and the authenticator app again from the
// account page's "Sign in again" (a fresh proof; what lifts a block), and
// returns the account page it comes back to.
func reauth(t *testing.T, s *apptest.Server, b *apptest.Browser, secret []byte) *apptest.Page {
	t.Helper()
	s.Clock.Advance(30 * time.Second) // the next TOTP step: a code is used once
	p := b.Get(s.URL + "/account/confirm")
	p = b.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword})
	p = proveTOTP(t, s, b, p, secret)
	if p.URL.Path != "/account" || p.Status != http.StatusOK {
		t.Fatalf("after signing in again: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	return p
}

// SECURITY-RULES: "Adding or removing a factor, regenerating codes or changing the password requires a fresh proof
// of an existing factor, and the user is told out of band when a channel exists." — the told half: each change
// mails the verified address, and so do a backup code used (with how many remain), a sign-in from a new device and
// an administrator's reset; every mail's "this wasn't me" link works.
func TestEveryChangeIsToldByMailWithAWorkingReportLink(t *testing.T) {
	eachMailServer(t, staticFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		const to = "alice@example.com"
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		loginApp(t, s, b, rp) // the first browser alice signs in from: nothing to tell it apart from
		verifyAlice(t, s, b)
		links := map[string]bool{}
		add := func(l string) {
			if links[l] {
				t.Fatalf("two notifications share the report link %s", l)
			}
			links[l] = true
		}

		secret := enrollTOTPInAccount(t, s, b)
		m := s.Mailbox.Next(t, to)
		add(reportLink(t, s, m, "A sign-in method was added"))
		if !strings.Contains(m.Text, "An authenticator app “Demo phone”") {
			t.Fatalf("the factor is not named:\n%s", m.Text)
		}

		p := reauth(t, s, b, secret)
		p = b.Submit(p, "regenerate-backup-codes", nil)
		var codes []string
		for _, c := range backupCodeRE.FindAllStringSubmatch(p.Body, -1) {
			codes = append(codes, c[1])
		}
		if len(codes) != 10 {
			t.Fatalf("regenerating backup codes: %d\n%s", p.Status, p.Body)
		}
		add(reportLink(t, s, s.Mailbox.Next(t, to), "New backup codes were created"))

		// Another browser, a backup code: a new device, and a code used, with how many are left.
		b2 := apptest.NewBrowser(t, s)
		p = b2.Login(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("acr_values", idp.ACRMFA)), "alice", alicePassword)
		p = b2.Get(p.URL.String() + "&method=backup_code")
		apptest.Code(t, b2.Submit(p, "mfa-backup-code", map[string]string{"code": codes[0]}))
		ms := nextNotices(t, s, to, 2)
		add(reportLink(t, s, find(t, ms, "New sign-in"), "New sign-in"))
		used := find(t, ms, "backup code was used")
		add(reportLink(t, s, used, "backup code was used"))
		if !strings.Contains(used.Text, "You have 9 backup codes left") {
			t.Fatalf("the backup code notice does not say how many remain:\n%s", used.Text)
		}
		// The same browser again is no longer new.
		loginApp(t, s, b2, rp, oauth2.SetAuthURLParam("prompt", "login"))

		fs, _, err := s.App.Account.UserFactors(ctx, userID(t, s, "alice"))
		if err != nil || len(fs) != 1 {
			t.Fatalf("alice's factors: %v, %v", fs, err)
		}
		p = accountPage(t, s, b)
		r := b.PostForm(s.URL+"/account/factors/remove", map[string]string{"csrf_token": csrfOf(t, p, "change-password"), "kind": fs[0].Method, "id": fs[0].ID})
		if r.Status != http.StatusOK || r.URL.Path != "/account" {
			t.Fatalf("removing the authenticator app: %d at %s", r.Status, r.URL)
		}
		m = s.Mailbox.Next(t, to)
		add(reportLink(t, s, m, "A sign-in method was removed"))
		if !strings.Contains(m.Text, "“Demo phone”") {
			t.Fatalf("the removed factor is not named:\n%s", m.Text)
		}

		r = b.Submit(accountPage(t, s, b), "change-password", map[string]string{
			"current_password": alicePassword, "password": "a brand new passphrase", "password_confirm": "a brand new passphrase"})
		if !strings.Contains(r.Body, `id="account-notice"`) {
			t.Fatalf("changing the password: %d\n%s", r.Status, r.Body)
		}
		add(reportLink(t, s, s.Mailbox.Next(t, to), "password was changed"))

		told, err := s.App.Account.ResetUserMFA(ctx, idp.Actor{ID: "test"}, userID(t, s, "alice"), "lost phone, ticket 42")
		if err != nil || !told {
			t.Fatalf("an administrator's reset: told %v, %v", told, err)
		}
		add(reportLink(t, s, s.Mailbox.Next(t, to), "administrator reset"))

		if n := auditCount(t, s, "notice.sent"); n != 7 {
			t.Fatalf("%d notice.sent events, want 7", n)
		}
		if got := len(s.Mailbox.Received(to)); got != 1+7 { // the verification code, then the notices
			t.Fatalf("%d mails to alice, want 8", got)
		}
	})
}

// Without a verified address nothing is sent — the account may hold
// someone else's address — and the audit trail says why.
func TestWithoutAVerifiedAddressNoticesAreSkippedWithAnAuditNote(t *testing.T) {
	eachMailServer(t, staticFixture(), func(t *testing.T, s *apptest.Server) {
		b := apptest.NewBrowser(t, s)
		loginApp(t, s, b, apptest.NewRP(t, s, "app", appSecret, appRedirect))
		r := b.Submit(accountPage(t, s, b), "change-password", map[string]string{
			"current_password": alicePassword, "password": "a brand new passphrase", "password_confirm": "a brand new passphrase"})
		if !strings.Contains(r.Body, `id="account-notice"`) {
			t.Fatalf("changing the password: %d\n%s", r.Status, r.Body)
		}
		if n := len(s.Mailbox.Received("alice@example.com")); n != 0 {
			t.Fatalf("%d mails to an unverified address", n)
		}
		ev := oneAudit(t, s, userID(t, s, "alice"), "notice.skipped")
		if ev.Details["kind"] != "password_changed" || ev.Details["reason"] != "no verified email address" {
			t.Fatalf("the audit note: %+v", ev)
		}
		told, err := s.App.Account.ResetUserMFA(context.Background(), idp.Actor{ID: "test"}, userID(t, s, "alice"), "ticket 7")
		if err != nil || told {
			t.Fatalf("a reset of an unverified user: told %v, %v", told, err)
		}
	})
}

// "This wasn't me": opening the link changes nothing; confirming it (once)
// ends every session, revokes access and refresh tokens (refused at
// /userinfo and /token) and blocks changes to the sign-in methods, the
// password and the email address — refused with a clear message — until a
// sign-in with the password and the second factor lifts the block.
func TestThisWasntMeEndsSessionsRevokesTokensAndBlocksChangesUntilAFullSignIn(t *testing.T) {
	eachMailServer(t, staticFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		tt := tokenTest{t: t, s: s}
		rp := tt.rp("app", "openid", "profile", "email", "offline_access")
		b := apptest.NewBrowser(t, s)
		code, _ := apptest.Code(t, b.Login(rp.AuthURL("st", "nonce-1", tokVerifier), "alice", alicePassword))
		tok, err := rp.Exchange(code, tokVerifier)
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("tokens: %+v, %v", tok, err)
		}
		verifyAlice(t, s, b)
		secret := enrollTOTPInAccount(t, s, b)
		link := reportLink(t, s, s.Mailbox.Next(t, "alice@example.com"), "A sign-in method was added")
		other := apptest.NewBrowser(t, s)
		loginApp(t, s, other, rp)
		if n := len(mustSessions(t, s)); n != 2 {
			t.Fatalf("%d sessions before the report", n)
		}

		// Opening the link (a mail scanner) and a post without the CSRF token change nothing.
		phone := apptest.NewBrowser(t, s)
		p := phone.Get(link)
		refused(t, "a report without its CSRF token", apptest.NewBrowser(t, s).PostForm(s.URL+"/not-me",
			map[string]string{"token": strings.TrimPrefix(link, s.URL+"/not-me?token=")}), http.StatusForbidden)
		refused(t, "a tampered report link", phone.Get(link+"x"), http.StatusUnauthorized)
		tt.want("userinfo before the report", tt.userinfo(tok.AccessToken), http.StatusOK, "")
		if n := len(mustSessions(t, s)); n != 2 {
			t.Fatalf("%d sessions after opening the link", n)
		}

		done := phone.Submit(p, "not-me", nil)
		if done.Status != http.StatusOK || !strings.Contains(done.Body, `id="not-me-done"`) {
			t.Fatalf("reporting: %d\n%s", done.Status, done.Body)
		}
		if n := len(mustSessions(t, s)); n != 0 {
			t.Fatalf("%d sessions after the report", n)
		}
		for _, br := range []*apptest.Browser{b, other} {
			if p := br.Get(s.URL + "/account"); !strings.Contains(p.Body, `<form id="login"`) {
				t.Fatalf("a session survived the report: %d at %s", p.Status, p.URL)
			}
		}
		tt.want("userinfo after the report", tt.userinfo(tok.AccessToken), http.StatusUnauthorized, "")
		tt.want("refresh after the report", tt.refresh("app", tok.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")
		refused(t, "the link used again", phone.Submit(p, "not-me", nil), http.StatusUnauthorized)
		if n := auditCount(t, s, "account.reported_not_me"); n != 1 {
			t.Fatalf("%d account.reported_not_me events", n)
		}

		// Signed in again with the password alone (the account page asks no more): every change is refused.
		b3 := apptest.NewBrowser(t, s)
		p = b3.Submit(b3.Get(s.URL+"/account"), "login", map[string]string{"username": "alice", "password": alicePassword})
		if p.URL.Path != "/account" || !strings.Contains(p.Body, `id="changes-blocked"`) {
			t.Fatalf("the account page after a password sign-in: %d at %s\n%s", p.Status, p.URL, p.Body)
		}
		for _, c := range []struct {
			form   string
			fields map[string]string
		}{
			{"regenerate-backup-codes", nil},
			{"add-totp", map[string]string{"name": "Attacker"}},
			{"change-password", map[string]string{"current_password": alicePassword, "password": "the attacker's phrase", "password_confirm": "the attacker's phrase"}},
			{"change-email", map[string]string{"email": "attacker@example.net"}},
		} {
			r := b3.Submit(p, c.form, c.fields)
			refused(t, c.form+" while blocked", r, http.StatusForbidden)
			if !strings.Contains(r.Body, "blocked") {
				t.Fatalf("%s while blocked does not say why:\n%s", c.form, r.Body)
			}
		}
		if status, body := b3.PostJSON("/account/webauthn/register/begin", csrfOf(t, p, "change-password"), []byte(`{}`)); status != http.StatusForbidden {
			t.Fatalf("adding a passkey while blocked: %d %s", status, body)
		}
		u, _ := s.Store.GetUserByUsername(ctx, "alice")
		if u.ChangesBlockedAt == nil || u.Email != "alice@example.com" {
			t.Fatalf("after the refused changes: blocked %v, email %q", u.ChangesBlockedAt, u.Email)
		}
		if fs, _, _ := s.App.Account.UserFactors(ctx, u.ID); len(fs) != 1 {
			t.Fatalf("alice has %d factors", len(fs))
		}

		// The password and the authenticator app: the block is lifted, changes work again.
		p = reauth(t, s, b3, secret)
		if strings.Contains(p.Body, `id="changes-blocked"`) {
			t.Fatal("a full sign-in did not lift the block")
		}
		if r := b3.Submit(p, "regenerate-backup-codes", nil); len(backupCodeRE.FindAllStringSubmatch(r.Body, -1)) != 10 {
			t.Fatalf("regenerating after the block: %d\n%s", r.Status, r.Body)
		}
		if n := auditCount(t, s, "account.unblocked"); n != 1 {
			t.Fatalf("%d account.unblocked events", n)
		}
	})
}

func mustSessions(t *testing.T, s *apptest.Server) []idp.SessionView {
	t.Helper()
	ss, err := s.App.Account.UserSessions(context.Background(), userID(t, s, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// A user whose verified address is on file hears of an administrator's
// reset from the console, and the console says so; without one it says
// to tell them.
func TestTheConsoleSaysWhetherTheUserWasToldOfAReset(t *testing.T) {
	eachMailServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		b, _ := consoleSignIn(t, s)
		alice := userID(t, s, "alice")
		p := b.Get(s.URL + "/admin/users/" + alice)
		r := b.Submit(p, "user-reset-mfa", map[string]string{"reason": "lost phone, ticket 42"})
		if !strings.Contains(r.Body, "tell them yourself") {
			t.Fatalf("a reset of a user without a verified address: %d\n%s", r.Status, r.Body)
		}
		if ok, err := s.Store.SetEmailVerified(context.Background(), alice, "alice@example.com"); !ok || err != nil {
			t.Fatal(ok, err)
		}
		r = b.Submit(r, "user-force-reenrollment", map[string]string{"reason": "suspected compromise"})
		if !strings.Contains(r.Body, "The user was told by email") {
			t.Fatalf("a re-enrollment of a verified user: %d\n%s", r.Status, r.Body)
		}
		reportLink(t, s, s.Mailbox.Next(t, "alice@example.com"), "administrator reset")
	})
}

// SECURITY-RULES: "Logs never contain passwords, codes, backup codes, tokens or secrets." — the whole
// application's log at debug level, through an email verification by code and by link, an address change with its
// notification, and a "this wasn't me" report: neither the codes nor the links' tokens appear.
func TestTheServerLogHoldsNoEmailCodeOrLinkToken(t *testing.T) {
	serverLog := captureServerLog(t)
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture(), Mailbox: apptest.NewMailbox(t)})
	b := apptest.NewBrowser(t, s)
	loginApp(t, s, b, apptest.NewRP(t, s, "app", appSecret, appRedirect))
	var secrets []string
	token := func(link string) string {
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		return u.Query().Get("token")
	}

	p, m := sendCode(t, s, b, "alice@example.com")
	secrets = append(secrets, m.Code(t), token(m.Link(t, s.URL+"/verify-email")))
	b.Submit(p, "verify-email", map[string]string{"code": m.Code(t)})
	b.Submit(accountPage(t, s, b), "change-email", map[string]string{"email": "alice@new.example.com"})
	report := s.Mailbox.Next(t, "alice@example.com").Link(t, s.URL+"/not-me")
	m = s.Mailbox.Next(t, "alice@new.example.com")
	secrets = append(secrets, token(report), m.Code(t), token(m.Link(t, s.URL+"/verify-email")))
	phone := apptest.NewBrowser(t, s)
	phone.Submit(phone.Get(m.Link(t, s.URL+"/verify-email")), "verify-email-link", nil)
	phone.Submit(phone.Get(report), "not-me", nil)
	if !emailVerified(t, s, "alice") || auditCount(t, s, "account.reported_not_me") != 1 {
		t.Fatal("the flows did not run")
	}

	logged := serverLog()
	if !strings.Contains(logged, "email verified by link") {
		t.Fatalf("the capture missed the server's log:\n%s", logged)
	}
	for _, secret := range secrets {
		if strings.Contains(logged, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
}

// A notification the mail server refuses is logged and audited; the change
// it tells of stands.
func TestARefusedNotificationNeverUndoesTheChange(t *testing.T) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			mb := apptest.NewMailbox(t, mailtest.RefuseRecipient("alice@example.com"))
			s := apptest.New(t, newStore, apptest.Options{Static: staticFixture(), Mailbox: mb})
			if ok, err := s.Store.SetEmailVerified(context.Background(), userID(t, s, "alice"), "alice@example.com"); !ok || err != nil {
				t.Fatal(ok, err)
			}
			b := apptest.NewBrowser(t, s)
			loginApp(t, s, b, apptest.NewRP(t, s, "app", appSecret, appRedirect))
			r := b.Submit(accountPage(t, s, b), "change-password", map[string]string{
				"current_password": alicePassword, "password": "a brand new passphrase", "password_confirm": "a brand new passphrase"})
			if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="account-notice"`) {
				t.Fatalf("changing the password while its notification fails: %d\n%s", r.Status, r.Body)
			}
			if _, err := s.Dir.Authenticate(context.Background(), "alice", "a brand new passphrase"); err != nil {
				t.Fatalf("the new password does not work: %v", err)
			}
			ev := oneAudit(t, s, userID(t, s, "alice"), "notice.failed")
			if ev.Details["kind"] != "password_changed" || ev.Details["reason"] != "send failed" {
				t.Fatalf("the audit note: %+v", ev)
			}
		})
	}
}

// SECURITY-RULES: "Adding or removing a factor, regenerating codes or changing the password requires a fresh proof
// of an existing factor, and the user is told out of band when a channel exists." — every channel the user has: a
// user with a verified number is told by SMS too, with a report link of its own that works.
func TestAUserWithAVerifiedNumberIsToldBySMSToo(t *testing.T) {
	eachMailSMSServer(t, staticFixture(), func(t *testing.T, s *apptest.Server) {
		verifyEmail(t, s, "alice")
		verifyPhone(t, s, "alice", "+15551234567")
		b := apptest.NewBrowser(t, s)
		loginApp(t, s, b, apptest.NewRP(t, s, "app", appSecret, appRedirect))
		r := b.Submit(accountPage(t, s, b), "change-password", map[string]string{
			"current_password": alicePassword, "password": "a brand new passphrase", "password_confirm": "a brand new passphrase"})
		if !strings.Contains(r.Body, `id="account-notice"`) {
			t.Fatalf("changing the password: %d\n%s", r.Status, r.Body)
		}
		mail := s.Mailbox.Next(t, "alice@example.com").Link(t, s.URL+"/not-me?token=")
		sms := s.SMS.Next(t, "+15551234567")
		var link string
		for _, l := range sms.Links {
			if strings.HasPrefix(l, s.URL+"/not-me?token=") {
				link = l
			}
		}
		if link == "" || link == mail {
			t.Fatalf("the SMS %q has no report link of its own (mail's: %s)", sms.Text, mail)
		}
		if p := apptest.NewBrowser(t, s).Get(link); p.Status != http.StatusOK || !strings.Contains(p.Body, `id="not-me"`) {
			t.Fatalf("the SMS's report link: %d\n%s", p.Status, p.Body)
		}
	})
}
