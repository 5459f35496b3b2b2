package apptest_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// The ways back into an account without an administrator (issue 11): a forgotten password, a lost second factor,
// and the enrollment grace. Every test reads the real mail the server sent to the in-process SMTP server and
// follows its link or types its code.

const newPassword = "a brand new passphrase"

// eachMailSMSServer runs fn against a server with a mailbox and an SMS gateway, on SQLite and PostgreSQL.
func eachMailSMSServer(t *testing.T, st directory.Static, fn func(t *testing.T, s *apptest.Server)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			fn(t, apptest.New(t, newStore, apptest.Options{Static: st, Mailbox: apptest.NewMailbox(t), SMS: apptest.NewSMSReceiver(t)}))
		})
	}
}

// hrefOf is the href of the link with id on p.
func hrefOf(t *testing.T, p *apptest.Page, id string) string {
	t.Helper()
	for _, re := range []string{`<a\b[^>]*\bid="` + id + `"[^>]*\bhref="([^"]*)"`, `<a\b[^>]*\bhref="([^"]*)"[^>]*\bid="` + id + `"`} {
		if m := regexp.MustCompile(re).FindStringSubmatch(p.Body); m != nil {
			return strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	t.Fatalf("no a#%s on %s (%d):\n%s", id, p.URL, p.Status, p.Body)
	return ""
}

func has(p *apptest.Page, s string) bool { return strings.Contains(p.Body, s) }

// noRedirects is b's client that stops at the first redirect, to see the answer itself.
func noRedirects(b *apptest.Browser) *http.Client {
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// askReset asks for a reset link for name from the forgotten-password page of browser b.
func askReset(t *testing.T, s *apptest.Server, b *apptest.Browser, name string) *apptest.Page {
	t.Helper()
	p := b.Get(s.URL + "/login/forgot-password")
	return b.Submit(p, "password-reset-request", map[string]string{"username": name})
}

// SECURITY-RULES: "Adding or removing a factor, regenerating codes or changing the password requires a fresh proof
// of an existing factor, and the user is told out of band when a channel exists."
// SECURITY-RULES: "Refresh tokens are bound to their client and rotated; replaying a rotated token →
// `invalid_grant` …"
// — a forgotten password is replaced through a link mailed to the verified address (proof of the mailbox, not of
// the password): afterwards every session has ended, the refresh token is refused, the user is told by mail, and
// the next sign-in still asks for the second factor; the link works once.
func TestAForgottenPasswordIsResetByMailAndTheSecondFactorIsStillAsked(t *testing.T) {
	eachMailSMSServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect, "openid", "offline_access")
		b := apptest.NewBrowser(t, s)
		secret, _, end := enrollTOTP(t, s, b, rp)
		code, _ := apptest.Code(t, end)
		tok, err := rp.Exchange(code, pkce)
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("tokens: %v (refresh token %q)", err, tok.RefreshToken)
		}
		verifyEmail(t, s, "alice")

		// The login page links to the forgotten-password page, keeping the sign-in request.
		s.Clock.Advance(30 * time.Second)
		b2 := apptest.NewBrowser(t, s)
		p := b2.Get(rp.AuthURL("s", "n", pkce))
		id := p.URL.Query().Get("id")
		if href := hrefOf(t, p, "forgot-password"); href != "/login/forgot-password?id="+id {
			t.Fatalf("a#forgot-password goes to %q", href)
		}
		p = b2.Get(s.URL + hrefOf(t, p, "forgot-password"))
		refused(t, "an empty name", b2.Submit(p, "password-reset-request", map[string]string{"username": ""}), http.StatusBadRequest)
		sent := b2.Submit(p, "password-reset-request", map[string]string{"username": "alice"})
		if sent.Status != http.StatusOK || !has(sent, "Check your email") || hrefOf(t, sent, "back-to-sign-in") != "/login?id="+id {
			t.Fatalf("after asking: %d\n%s", sent.Status, sent.Body)
		}
		m := s.Mailbox.Next(t, "alice@example.com")
		link := m.Link(t, s.URL+"/login/reset-password?t=")
		if m.Subject != "Reset your localhost password" || !strings.Contains(link, "&id="+id) {
			t.Fatalf("mail %q, link %s", m.Subject, link)
		}

		// The link's page; refused passwords keep it usable.
		p = b2.Get(link)
		if p.Status != http.StatusOK || !has(p, `id="password-reset"`) || !has(p, "<strong>alice</strong>") {
			t.Fatalf("the link's page: %d\n%s", p.Status, p.Body)
		}
		refused(t, "two different passwords", b2.Submit(p, "password-reset", map[string]string{"password": newPassword, "password_confirm": "something else"}), http.StatusBadRequest)
		refused(t, "a weak password", b2.Submit(p, "password-reset", map[string]string{"password": "short", "password_confirm": "short"}), http.StatusBadRequest)
		done := b2.Submit(p, "password-reset", map[string]string{"password": newPassword, "password_confirm": newPassword})
		if done.Status != http.StatusOK || !has(done, "Your password was changed") || hrefOf(t, done, "continue-sign-in") != "/login?id="+id {
			t.Fatalf("after the reset: %d\n%s", done.Status, done.Body)
		}

		// Every session ended, every token is refused, and alice is told.
		if a := b.Get(s.URL + "/account"); has(a, "alice@example.com") {
			t.Fatal("the session from before the reset still opens the account page")
		}
		if _, err := rp.Config.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
			t.Fatal("the refresh token from before the reset still works")
		}
		if n := s.Mailbox.Next(t, "alice@example.com"); n.Subject != "Your localhost password was changed" {
			t.Fatalf("notification %q", n.Subject)
		}

		// The sign-in goes on: the old password no longer works, the new one leads to the second factor — a
		// reset never lowers the level.
		p = b2.Get(s.URL + hrefOf(t, done, "continue-sign-in"))
		if r := b2.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword}); r.Status != http.StatusUnauthorized {
			t.Fatalf("the old password: %d", r.Status)
		}
		p = b2.Submit(p, "login", map[string]string{"username": "alice", "password": newPassword})
		if p.Redirect != nil || !has(p, `id="mfa-totp"`) {
			t.Fatalf("after the new password: %d %v\n%s", p.Status, p.Redirect, p.Body)
		}
		code, _ = apptest.Code(t, b2.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))}))
		tok, err = rp.Exchange(code, pkce)
		if err != nil {
			t.Fatal(err)
		}
		if _, c := rp.IDToken(tok); c.ACR != idp.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
			t.Fatalf("after the reset: acr %s amr %v", c.ACR, c.AMR)
		}

		// The link worked once: now its page says so and its form changes nothing.
		refused(t, "the used link", b2.Get(link), http.StatusUnauthorized)
		token := mustQuery(t, link).Get("t")
		_, vals := p.Form(t, "mfa-totp")
		r := b2.PostForm(s.URL+"/login/reset-password", map[string]string{"csrf_token": vals.Get("csrf_token"), "token": token, "password": "yet another passphrase", "password_confirm": "yet another passphrase"})
		refused(t, "the used link's form", r, http.StatusUnauthorized)
		if _, err := s.Dir.Authenticate(context.Background(), "alice", newPassword); err != nil {
			t.Fatalf("the password changed through a used link: %v", err)
		}
	})
}

func mustQuery(t *testing.T, link string) url.Values {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// heldMailer holds every mail until released.
type heldMailer struct {
	next    notify.Mailer
	release chan struct{}
}

func (h *heldMailer) SendMail(ctx context.Context, m notify.Mail) error {
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.next.SendMail(ctx, m)
}

// SECURITY-RULES: "Unknown user, wrong password, disabled account, with or without MFA: the same status, message,
// redirects, cookies and timing (a dummy hash for unknown users)."
// — asked for an account that exists with a verified address, by username or by address, that has no verified
// address, that is disabled, or that does not exist, the answer is the same redirect, cookies and page, given
// before any mail is sent (the lookup and the mail happen afterwards); only the first two get a link.
func TestAForgottenPasswordRequestAnswersAlikeForEveryName(t *testing.T) {
	st := staticFixture()
	st.Users = append(st.Users, directory.NewUser{Username: "carol", Email: "carol@example.com", Password: alicePassword})
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			mb := apptest.NewMailbox(t)
			held := &heldMailer{release: make(chan struct{})}
			s := apptest.New(t, newStore, apptest.Options{Static: st, Mailbox: mb, WrapMailer: func(m notify.Mailer) notify.Mailer {
				held.next = m
				return held
			}})
			ctx := context.Background()
			verifyEmail(t, s, "alice")
			verifyEmail(t, s, "carol")
			if err := s.Store.SetUserDisabled(ctx, userID(t, s, "carol"), true); err != nil {
				t.Fatal(err)
			}
			b := apptest.NewBrowser(t, s)
			_, form := b.Get(s.URL+"/login/forgot-password?id=someid").Form(t, "password-reset-request")
			type answer struct {
				status   int
				location string
				cookies  string
				page     string
			}
			ask := func(name string) answer {
				form.Set("username", name)
				resp, err := noRedirects(b).PostForm(s.URL+"/login/forgot-password", form)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return answer{resp.StatusCode, resp.Header.Get("Location"), strings.Join(resp.Header.Values("Set-Cookie"), "; "),
					b.Get(s.URL + resp.Header.Get("Location")).Body}
			}
			names := []string{"alice", "alice@example.com", "bob", "carol", "nobody", "nobody@example.com"}
			first := ask(names[0])
			if first.status != http.StatusSeeOther || first.location != "/login/forgot-password/sent?id=someid" || !strings.Contains(first.page, "Check your email") {
				t.Fatalf("the answer: %+v", first)
			}
			for _, n := range names[1:] {
				if a := ask(n); a != first {
					t.Errorf("asked for %q: %+v\nwant the same as for alice: %+v", n, a, first)
				}
			}
			// Every answer came while the mail was held: none waited for it.
			if got := mb.Count(); got != 0 {
				t.Fatalf("%d mails before the answers were all given", got)
			}
			close(held.release)
			s.App.Recovery.WaitSends()
			if got := len(mb.Received("alice@example.com")); got != 2 {
				t.Fatalf("alice got %d links, want 2 (by username and by address)", got)
			}
			for _, addr := range []string{"bob@example.com", "carol@example.com", "nobody@example.com"} {
				if got := mb.Received(addr); len(got) != 0 {
					t.Errorf("%s got %d mails", addr, len(got))
				}
			}
			// The audit trail says what happened, without the names typed.
			events, err := s.Store.ListAudit(ctx, storage.AuditFilter{Action: "password.reset_requested"})
			if err != nil {
				t.Fatal(err)
			}
			sentTo, reasons := 0, map[string]int{}
			for _, e := range events {
				if e.Details["sent"] == true {
					sentTo++
				} else {
					reason, _ := e.Details["reason"].(string)
					reasons[reason]++
				}
				if e.Actor != "anonymous" || strings.Contains(fmt.Sprint(e.Details), "nobody") {
					t.Errorf("event %+v", e)
				}
			}
			want := map[string]int{"the account has no verified email address": 1, "the account is disabled": 1, "no such account": 2}
			if sentTo != 2 || !maps.Equal(reasons, want) {
				t.Fatalf("audit: %d sent, refused %v", sentTo, reasons)
			}
		})
	}
}

// signInToChallenge signs alice in to rp in a new browser, up to the second-factor challenge.
func signInToChallenge(t *testing.T, s *apptest.Server, rp *apptest.RP) (*apptest.Browser, *apptest.Page) {
	t.Helper()
	b := apptest.NewBrowser(t, s)
	p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
	if p.Redirect != nil || !has(p, `id="mfa-totp"`) {
		t.Fatalf("no TOTP challenge after the password: %d\n%s", p.Status, p.Body)
	}
	return b, p
}

// startRecovery starts a recovery from the challenge page p of browser b: the lost-factor page, a code by mail, the
// code. It returns the lost-factor page after the start and the cancel link the notification carries.
func startRecovery(t *testing.T, s *apptest.Server, b *apptest.Browser, p *apptest.Page) (*apptest.Page, string) {
	t.Helper()
	lost := b.Get(s.URL + hrefOf(t, p, "lost-factor"))
	if lost.Status != http.StatusOK || !has(lost, `id="recovery-send"`) || has(lost, `id="recovery-start"`) {
		t.Fatalf("the lost-factor page before a code: %d\n%s", lost.Status, lost.Body)
	}
	lost = b.Submit(lost, "recovery-send", nil)
	if !has(lost, `id="recovery-start"`) || !has(lost, `id="code-sent"`) {
		t.Fatalf("no form#recovery-start after sending a code: %d\n%s", lost.Status, lost.Body)
	}
	code := s.Mailbox.Next(t, "alice@example.com").Code(t)
	refused(t, "a wrong recovery code", b.Submit(lost, "recovery-start", map[string]string{"code": wrongCode(code)}), http.StatusUnauthorized)
	started := b.Submit(lost, "recovery-start", map[string]string{"code": code})
	if started.Status != http.StatusOK || !has(started, `id="recovery-waiting"`) || !has(started, "Recovery started.") {
		t.Fatalf("after the code: %d\n%s", started.Status, started.Body)
	}
	n := s.Mailbox.Next(t, "alice@example.com")
	if n.Subject != "Recovery of your localhost account has started" {
		t.Fatalf("notification %q", n.Subject)
	}
	return started, n.Link(t, s.URL+"/recovery/cancel?t=")
}

// SECURITY-RULES: "Backup codes: CSPRNG, ≥ 50 bits each, stored with a salted password hash (< 112 bits), single
// use, regenerating invalidates the old set, shown once with `Cache-Control: no-store`."
// SECURITY-RULES: "A step-up completes only the authorization request and browser session it belongs to."
// — a user who lost their authenticator is offered a backup code first, else a recovery by email: proven with a
// mailed code after the password, it waits (cancellable by the link every notification carries), then completes
// with the password and another mailed code; the old factors are gone, a new one is enrolled and new backup codes
// are shown once; the old ones no longer work.
func TestALostSecondFactorIsRecoveredByEmailAfterTheWait(t *testing.T) {
	eachMailSMSServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		oldSecret, oldCodes, _ := enrollTOTP(t, s, apptest.NewBrowser(t, s), rp)
		verifyEmail(t, s, "alice")
		const phone = "+15551234567"
		now := s.Clock.Now()
		if err := s.Store.SetPhone(ctx, userID(t, s, "alice"), phone, &now); err != nil {
			t.Fatal(err)
		}
		s.Clock.Advance(30 * time.Second)

		// The challenge offers "I can't use my authenticator": a backup code first.
		b, p := signInToChallenge(t, s, rp)
		id := p.URL.Query().Get("id")
		if hrefOf(t, p, "lost-factor") != "/login/lost?id="+id {
			t.Fatalf("a#lost-factor goes to %q", hrefOf(t, p, "lost-factor"))
		}
		lost := b.Get(s.URL + hrefOf(t, p, "lost-factor"))
		if !has(lost, `data-method="backup_code"`) || hrefOf(t, lost, "use-backup-code") != "/login?id="+id+"&method=backup_code" {
			t.Fatalf("no backup code offered first:\n%s", lost.Body)
		}

		// Started with a mailed code, then cancelled by the link, which the text message carries too.
		_, cancel := startRecovery(t, s, b, p)
		if sms := s.SMS.Next(t, phone); !strings.Contains(sms.Text, "recovery of your account started") || !strings.Contains(sms.Text, s.URL+"/recovery/cancel?t=") {
			t.Fatalf("text message %q", sms.Text)
		}
		p = b.Get(s.URL + "/login?id=" + id)
		if !has(p, `id="recovery-notice"`) || !has(p, "will be ready on") {
			t.Fatalf("the challenge does not say when the recovery is ready:\n%s", p.Body)
		}
		mailReader := apptest.NewBrowser(t, s)
		c := mailReader.Get(cancel)
		if c.Status != http.StatusOK || !has(c, `id="recovery-cancel"`) {
			t.Fatalf("the cancel link's page: %d\n%s", c.Status, c.Body)
		}
		if c = mailReader.Submit(c, "recovery-cancel", nil); c.Status != http.StatusOK || !has(c, "The recovery was cancelled") {
			t.Fatalf("after cancelling: %d\n%s", c.Status, c.Body)
		}
		refused(t, "a used cancel link", mailReader.Get(cancel), http.StatusUnauthorized)
		tampered := cancel[:len(cancel)-1] + string("AB"[strings.IndexByte("AB", cancel[len(cancel)-1])+1&1])
		refused(t, "a tampered cancel link", mailReader.Get(tampered), http.StatusUnauthorized)

		// Started again; before the wait is over it cannot be completed, and the sign-in says when it can.
		p = b.Get(s.URL + "/login?id=" + id)
		if has(p, `id="recovery-notice"`) {
			t.Fatal("the cancelled recovery is still shown")
		}
		started, _ := startRecovery(t, s, b, p)
		if !has(started, dateWords(s.Clock.Now().Add(24*time.Hour))) {
			t.Fatalf("the lost-factor page does not say when the recovery is ready:\n%s", started.Body)
		}
		_, vals := b.Get(s.URL+"/login?id="+id).Form(t, "mfa-totp")
		early := b.PostForm(s.URL+"/login/recovery/complete", map[string]string{"csrf_token": vals.Get("csrf_token"), "id": id, "code": "12345678"})
		refused(t, "completing before the wait is over", early, http.StatusBadRequest)

		// After the wait: the password, then a mailed code, then enrollment and new backup codes.
		s.Clock.Advance(24 * time.Hour)
		b2, p := signInToChallenge(t, s, rp)
		id2 := p.URL.Query().Get("id")
		lost = b2.Get(s.URL + hrefOf(t, p, "finish-recovery"))
		if !has(lost, `id="recovery-ready"`) || has(lost, `id="recovery-complete"`) {
			t.Fatalf("the lost-factor page of a ready recovery:\n%s", lost.Body)
		}
		lost = b2.Submit(lost, "recovery-send", nil)
		code := s.Mailbox.Next(t, "alice@example.com").Code(t)
		refused(t, "a wrong code to complete", b2.Submit(lost, "recovery-complete", map[string]string{"code": wrongCode(code)}), http.StatusUnauthorized)
		p = b2.Submit(lost, "recovery-complete", map[string]string{"code": code})
		if !has(p, `data-enroll="totp"`) || has(p, `id="enroll-later"`) {
			t.Fatalf("no enrollment after the recovery: %d\n%s", p.Status, p.Body)
		}
		if n := s.Mailbox.Next(t, "alice@example.com"); n.Subject != "Your localhost account was recovered" {
			t.Fatalf("notification %q", n.Subject)
		}
		s.SMS.Next(t, phone) // the second start's
		if sms := s.SMS.Next(t, phone); !strings.Contains(sms.Text, "your account was recovered") {
			t.Fatalf("text message %q", sms.Text)
		}
		p = b2.Get(s.URL + "/login/enroll/totp?id=" + id2)
		m := regexp.MustCompile(`id="otpauth-uri" href="([^"]+)"`).FindStringSubmatch(p.Body)
		key, err := totp.ParseURI(strings.ReplaceAll(m[1], "&amp;", "&"))
		if err != nil {
			t.Fatal(err)
		}
		p = b2.Submit(p, "enroll-totp", map[string]string{"code": totp.Code(key.Secret, totp.Step(s.Clock.Now()))})
		var newCodes []string
		for _, c := range backupCodeRE.FindAllStringSubmatch(p.Body, -1) {
			newCodes = append(newCodes, c[1])
		}
		if len(newCodes) != 10 || p.Header.Get("Cache-Control") != "no-store" || slices.Contains(newCodes, oldCodes[1]) {
			t.Fatalf("new backup codes: %v\n%s", newCodes, p.Body)
		}
		code2, _ := apptest.Code(t, b2.Submit(p, "backup-codes-ack", nil))
		tok, err := rp.Exchange(code2, pkce)
		if err != nil {
			t.Fatal(err)
		}
		if _, c := rp.IDToken(tok); c.ACR != idp.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
			t.Fatalf("after the recovery: acr %s amr %v", c.ACR, c.AMR)
		}

		// The old authenticator and the old backup codes are gone; the recovery cannot be completed again; the
		// sign-in that started it is over.
		s.Clock.Advance(30 * time.Second)
		b3, p := signInToChallenge(t, s, rp)
		refused(t, "the old authenticator", b3.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(oldSecret, totp.Step(s.Clock.Now()))}), http.StatusUnauthorized)
		p = b3.Get(p.URL.String() + "&method=backup_code")
		refused(t, "an old backup code", b3.Submit(p, "mfa-backup-code", map[string]string{"code": oldCodes[2]}), http.StatusUnauthorized)
		if p := b3.Get(s.URL + "/login/lost?id=" + p.URL.Query().Get("id")); has(p, `id="recovery-ready"`) || has(p, `id="recovery-waiting"`) {
			t.Fatal("a completed recovery is still open")
		}
		if p := b.Get(s.URL + "/login?id=" + id); p.Status != http.StatusNotFound {
			t.Fatalf("the sign-in that started the recovery: %d", p.Status)
		}

		// Audited at every step, the re-enrollment under the administrator's own event.
		events, err := s.Store.ListAudit(ctx, storage.AuditFilter{Party: userID(t, s, "alice")})
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, e := range events {
			count[e.Action]++
			if e.Action == "mfa.reenrollment_forced" && e.Details["reason"] != "self-service recovery of a lost second factor" {
				t.Errorf("re-enrollment %v", e.Details)
			}
		}
		for action, want := range map[string]int{"recovery.code_sent": 3, "recovery.code_failed": 3, "recovery.started": 2,
			"recovery.cancelled": 1, "recovery.completed": 1, "mfa.reenrollment_forced": 1} {
			if count[action] != want {
				t.Errorf("%d %s events, want %d", count[action], action, want)
			}
		}
	})
}

// dateWords is how the pages write a time.
func dateWords(t time.Time) string { return t.UTC().Format("Monday, 2 January 2006 at 15:04 UTC") }

// Completing one recovery from many requests at once completes it once: one request goes on to enrollment, the
// others are refused, and the factors are reset once.
func TestARecoveryCompletesOnceUnderConcurrency(t *testing.T) {
	eachMailSMSServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		enrollTOTP(t, s, apptest.NewBrowser(t, s), rp)
		verifyEmail(t, s, "alice")
		b, p := signInToChallenge(t, s, rp)
		startRecovery(t, s, b, p)
		s.Clock.Advance(24 * time.Hour)

		b2, p := signInToChallenge(t, s, rp)
		lost := b2.Submit(b2.Get(s.URL+hrefOf(t, p, "lost-factor")), "recovery-send", nil)
		code := s.Mailbox.Next(t, "alice@example.com").Code(t)
		action, form := lost.Form(t, "recovery-complete")
		form.Set("code", code)
		target, _ := lost.URL.Parse(action)
		const n = 8
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				resp, err := noRedirects(b2).PostForm(target.String(), form)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		wg.Wait()
		won := 0
		for _, st := range statuses {
			switch st {
			case http.StatusSeeOther:
				won++
			case http.StatusUnauthorized, http.StatusBadRequest, http.StatusNotFound, http.StatusTooManyRequests:
				// a spent code, a recovery completed meanwhile, a sign-in whose session it ended, or the attempts
				// on the user's codes counted before any is checked
			default:
				t.Errorf("a concurrent completion got %d", st)
			}
		}
		if won != 1 {
			t.Fatalf("%d completions succeeded (%v), want 1", won, statuses)
		}
		for _, action := range []string{"recovery.completed", "mfa.reenrollment_forced"} {
			events, err := s.Store.ListAudit(ctx, storage.AuditFilter{Action: action})
			if err != nil || len(events) != 1 {
				t.Fatalf("%d %s events (%v), want 1", len(events), action, err)
			}
		}
	})
}

// A reset link that is tampered with, expired or used changes nothing and says so; of many uses of one link at
// once, one sets the password.
func TestAResetLinkWorksOnceWithinItsLife(t *testing.T) {
	eachMailSMSServer(t, staticFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		verifyEmail(t, s, "alice")
		b := apptest.NewBrowser(t, s)
		askReset(t, s, b, "alice")
		link := s.Mailbox.Next(t, "alice@example.com").Link(t, s.URL+"/login/reset-password?t=")
		token := mustQuery(t, link).Get("t")
		for _, bad := range []string{flip(token), token[:len(token)-1], token + "A", ""} {
			refused(t, "a tampered link", b.Get(s.URL+"/login/reset-password?t="+url.QueryEscape(bad)), http.StatusUnauthorized)
		}
		p := b.Get(link)
		if r := b.Submit(p, "password-reset", map[string]string{"token": flip(token), "password": newPassword, "password_confirm": newPassword}); r.Status != http.StatusUnauthorized || has(r, `id="password-reset"`) {
			t.Fatalf("a tampered token in the form: %d", r.Status)
		}
		// Expired after 30 minutes.
		s.Clock.Advance(30*time.Minute + time.Second)
		refused(t, "an expired link", b.Get(link), http.StatusUnauthorized)
		refused(t, "an expired link's form", b.Submit(p, "password-reset", map[string]string{"password": newPassword, "password_confirm": newPassword}), http.StatusUnauthorized)
		if _, err := s.Dir.Authenticate(ctx, "alice", alicePassword); err != nil {
			t.Fatalf("the password changed: %v", err)
		}

		// One link used by many requests at once: one wins.
		askReset(t, s, b, "alice")
		link = s.Mailbox.Next(t, "alice@example.com").Link(t, s.URL+"/login/reset-password?t=")
		action, form := b.Get(link).Form(t, "password-reset")
		target, _ := p.URL.Parse(action)
		const n = 8
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			pw := fmt.Sprintf("parallel passphrase %d", i)
			f.Set("password", pw)
			f.Set("password_confirm", pw)
			wg.Go(func() {
				resp, err := noRedirects(b).PostForm(target.String(), f)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		wg.Wait()
		winner := -1
		for i, st := range statuses {
			switch st {
			case http.StatusSeeOther:
				if winner >= 0 {
					t.Fatalf("two uses of one link succeeded: %v", statuses)
				}
				winner = i
			case http.StatusUnauthorized:
			default:
				t.Fatalf("a concurrent use got %d (%v)", st, statuses)
			}
		}
		if winner < 0 {
			t.Fatalf("no use succeeded: %v", statuses)
		}
		for i := range n {
			_, err := s.Dir.Authenticate(ctx, "alice", fmt.Sprintf("parallel passphrase %d", i))
			if (err == nil) != (i == winner) {
				t.Errorf("password %d (the winner is %d): %v", i, winner, err)
			}
		}
		refused(t, "the used link", b.Get(link), http.StatusUnauthorized)
	})
}

// flip changes the last character of a token.
func flip(s string) string {
	last := s[len(s)-1]
	if last == 'A' {
		return s[:len(s)-1] + "B"
	}
	return s[:len(s)-1] + "A"
}

// Asking for links too often is refused alike for a name that exists and one that does not: 429 with
// Retry-After, and a role="alert".
func TestForgottenPasswordRequestsAreLimitedAlikeForEveryName(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture(), Mailbox: apptest.NewMailbox(t)})
	verifyEmail(t, s, "alice")
	b := apptest.NewBrowser(t, s)
	for _, name := range []string{"alice", "nobody"} {
		for range 3 {
			if p := askReset(t, s, b, name); p.Status != http.StatusOK {
				t.Fatalf("%s: %d", name, p.Status)
			}
		}
		p := askReset(t, s, b, name)
		refused(t, "the 4th request for "+name, p, http.StatusTooManyRequests)
		if p.Header.Get("Retry-After") == "" {
			t.Fatalf("no Retry-After for %s", name)
		}
	}
	s.App.Recovery.WaitSends()
	if got := len(s.Mailbox.Received("alice@example.com")); got != 3 {
		t.Fatalf("alice got %d links, want 3", got)
	}
}

// graceFixture: "app" is under a policy that requires MFA with a grace of a week or three sign-ins.
func graceFixture() directory.Static {
	st := staticFixture()
	st.Policies = []policy.Policy{{Name: "graced", RequireMFA: policy.Always, EnrollmentGrace: 7 * 24 * time.Hour, EnrollmentGraceSignIns: 3}}
	st.Clients[0].Policy = "graced"
	for _, u := range []string{"carol", "dave"} {
		st.Users = append(st.Users, directory.NewUser{Username: u, Email: u + "@example.com", Password: alicePassword})
	}
	return st
}

// putOff signs username in to rp in a new browser and puts enrollment off; it returns the browser and the
// enrollment page's reminder.
func putOff(t *testing.T, s *apptest.Server, rp *apptest.RP, username string) (*apptest.Browser, string) {
	t.Helper()
	b := apptest.NewBrowser(t, s)
	p := b.Login(rp.AuthURL("s", "n", pkce), username, alicePassword)
	m := regexp.MustCompile(`<p class="notice" id="enroll-reminder">([^<]*)</p>`).FindStringSubmatch(p.Body)
	if m == nil || !has(p, `id="enroll-later"`) || !has(p, `data-enroll="totp"`) {
		t.Fatalf("no reminder and Not now for %s: %d\n%s", username, p.Status, p.Body)
	}
	code, _ := apptest.Code(t, b.Submit(p, "enroll-later", nil))
	tok, err := rp.Exchange(code, pkce)
	if err != nil {
		t.Fatal(err)
	}
	if _, c := rp.IDToken(tok); c.ACR != idp.ACRPassword || !slices.Equal(c.AMR, []string{"pwd"}) {
		t.Fatalf("a sign-in that put enrollment off: acr %s amr %v", c.ACR, c.AMR)
	}
	return b, m[1]
}

// mustEnroll checks that username's sign-in to rp now enrolls, without a Not now, and that a Not now posted anyway
// is refused and changes nothing.
func mustEnroll(t *testing.T, s *apptest.Server, rp *apptest.RP, username string, opts ...oauth2.AuthCodeOption) {
	t.Helper()
	b := apptest.NewBrowser(t, s)
	p := b.Get(rp.AuthURL("s", "n", pkce, opts...))
	_, form := p.Form(t, "login")
	p = b.Submit(p, "login", map[string]string{"username": username, "password": alicePassword})
	if !has(p, `data-enroll="totp"`) || has(p, `id="enroll-later"`) || has(p, `id="enroll-reminder"`) {
		t.Fatalf("%s is offered to put enrollment off: %d\n%s", username, p.Status, p.Body)
	}
	r := b.PostForm(s.URL+"/login/enroll/later", map[string]string{"csrf_token": form.Get("csrf_token"), "id": p.URL.Query().Get("id")})
	refused(t, "a Not now after the grace", r, http.StatusForbidden)
	if r.Redirect != nil || !has(r, `data-enroll="totp"`) {
		t.Fatalf("a refused Not now: %v\n%s", r.Redirect, r.Body)
	}
}

// The enrollment grace: a user who must enroll may put it off — saying what is left — for the policy's sign-ins or
// its time, whichever ends first; then they must enroll. A sign-in demanded at MFA by the application (an essential
// acr) is never put off.
func TestTheEnrollmentGraceLetsUsersPutEnrollmentOffThenNoMore(t *testing.T) {
	eachDatabaseServer(t, graceFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		until := s.Clock.Now().Add(7 * 24 * time.Hour).UTC().Format("Monday, 2 January 2006")

		// By sign-ins: three, counted down.
		b, reminder := putOff(t, s, rp, "alice")
		if !strings.Contains(reminder, "(3 more sign-ins or until "+until+")") {
			t.Fatalf("first reminder %q", reminder)
		}
		// The session that put it off goes on: SSO asks nothing more.
		apptest.Code(t, b.Get(rp.AuthURL("s", "n", pkce)))
		for _, left := range []string{"2 more sign-ins", "1 more sign-in"} {
			s.Clock.Advance(time.Hour)
			if _, reminder := putOff(t, s, rp, "alice"); !strings.Contains(reminder, "("+left+" or until "+until+")") {
				t.Fatalf("reminder %q, want %s left", reminder, left)
			}
		}
		mustEnroll(t, s, rp, "alice")

		// By time: a week after the first "Not now", however few sign-ins.
		if _, reminder := putOff(t, s, rp, "bob"); !strings.Contains(reminder, "3 more sign-ins") {
			t.Fatalf("bob's reminder %q", reminder)
		}
		s.Clock.Advance(7 * 24 * time.Hour)
		mustEnroll(t, s, rp, "bob")
		// (A session that put it off lasts no longer than the grace either: policy.TestEnrollmentGraceReadsLikeTheAdminGuide.)

		// An essential acr is never put off, even within the grace.
		essential := oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"value":"`+idp.ACRMFA+`"}}}`)
		mustEnroll(t, s, rp, "carol", essential)
		if _, reminder := putOff(t, s, rp, "carol"); !strings.Contains(reminder, "3 more sign-ins") {
			t.Fatalf("carol's reminder after the essential acr %q: the refused one was counted", reminder)
		}

		// The audit trail has each one.
		events, err := s.Store.ListAudit(context.Background(), storage.AuditFilter{Action: "enrollment.put_off"})
		if err != nil || len(events) != 5 {
			t.Fatalf("%d enrollment.put_off events (%v), want 5", len(events), err)
		}
	})
}

// The grace's last sign-ins are taken once: of many "Not now" at once, as many succeed as the grace has left.
func TestTheGraceCountsEverySignInUnderConcurrency(t *testing.T) {
	eachDatabaseServer(t, graceFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		const n = 6
		browsers, pages := make([]*apptest.Browser, n), make([]*apptest.Page, n)
		for i := range n {
			browsers[i] = apptest.NewBrowser(t, s)
			pages[i] = browsers[i].Login(rp.AuthURL("s", "n", pkce), "dave", alicePassword)
			if !has(pages[i], `id="enroll-later"`) {
				t.Fatalf("no Not now:\n%s", pages[i].Body)
			}
		}
		results := make([]*apptest.Page, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i] = browsers[i].Submit(pages[i], "enroll-later", nil) })
		}
		wg.Wait()
		ok := 0
		for _, r := range results {
			switch {
			case r.Redirect != nil && r.Redirect.Query().Get("code") != "":
				ok++
			case r.Status == http.StatusForbidden && has(r, `role="alert"`):
			default:
				t.Fatalf("a concurrent Not now: %d %v\n%s", r.Status, r.Redirect, r.Body)
			}
		}
		if ok != 3 {
			t.Fatalf("%d of %d concurrent Not now succeeded, want the grace's 3", ok, n)
		}
	})
}

// SECURITY-RULES: "CSRF token on every state-changing POST; missing or wrong → 403, nothing changes"
// — each form of the ways back in: asking for a reset link, setting the password, sending a recovery code, starting
// a recovery, cancelling one, putting enrollment off.
func TestTheRecoveryFormsRefuseAWrongCSRFTokenAndChangeNothing(t *testing.T) {
	st := mfaFixture()
	st.Policies = append(st.Policies, policy.Policy{Name: "graced", RequireMFA: policy.Always, EnrollmentGraceSignIns: 3})
	st.Clients[2].Policy = "graced" // the public client
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: st, Mailbox: apptest.NewMailbox(t)})
	ctx := context.Background()
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	enrollTOTP(t, s, apptest.NewBrowser(t, s), rp)
	verifyEmail(t, s, "alice")
	forged := func(b *apptest.Browser, p *apptest.Page, form string, fields map[string]string) *apptest.Page {
		t.Helper()
		action, values := p.Form(t, form)
		values.Set("csrf_token", "forged")
		for k, v := range fields {
			values.Set(k, v)
		}
		target, _ := p.URL.Parse(action)
		return b.Post(target.String(), values)
	}

	b := apptest.NewBrowser(t, s)
	refused(t, "a forged reset request", forged(b, b.Get(s.URL+"/login/forgot-password"), "password-reset-request", map[string]string{"username": "alice"}), http.StatusForbidden)
	s.App.Recovery.WaitSends()
	if n := s.Mailbox.Count(); n != 0 {
		t.Fatalf("%d mails after a forged request", n)
	}
	askReset(t, s, b, "alice")
	link := s.Mailbox.Next(t, "alice@example.com").Link(t, s.URL+"/login/reset-password?t=")
	refused(t, "a forged reset", forged(b, b.Get(link), "password-reset", map[string]string{"password": newPassword, "password_confirm": newPassword}), http.StatusForbidden)
	if p := b.Get(link); p.Status != http.StatusOK {
		t.Fatalf("the link was used by a forged form: %d", p.Status)
	}
	if _, err := s.Dir.Authenticate(ctx, "alice", alicePassword); err != nil {
		t.Fatalf("the password changed: %v", err)
	}

	s.Clock.Advance(30 * time.Second)
	b, p := signInToChallenge(t, s, rp)
	lost := b.Get(s.URL + hrefOf(t, p, "lost-factor"))
	refused(t, "a forged code request", forged(b, lost, "recovery-send", nil), http.StatusForbidden)
	if n := len(s.Mailbox.Received("alice@example.com")); n != 1 {
		t.Fatalf("%d mails after a forged code request, want the 1 link", n)
	}
	lost = b.Submit(lost, "recovery-send", nil)
	code := s.Mailbox.Next(t, "alice@example.com").Code(t)
	refused(t, "a forged start", forged(b, lost, "recovery-start", map[string]string{"code": code}), http.StatusForbidden)
	started := b.Submit(lost, "recovery-start", map[string]string{"code": code})
	if !has(started, `id="recovery-waiting"`) {
		t.Fatalf("the code was spent by a forged form:\n%s", started.Body)
	}
	cancel := s.Mailbox.Next(t, "alice@example.com").Link(t, s.URL+"/recovery/cancel?t=")
	refused(t, "a forged cancel", forged(b, b.Get(cancel), "recovery-cancel", nil), http.StatusForbidden)
	if p := b.Get(cancel); p.Status != http.StatusOK || !has(p, `id="recovery-cancel"`) {
		t.Fatalf("the recovery was cancelled by a forged form: %d", p.Status)
	}

	spa := apptest.NewRP(t, s, publicClientID, "", publicRedirect)
	b = apptest.NewBrowser(t, s)
	p = b.Login(spa.AuthURL("s", "n", pkce), "bob", alicePassword)
	refused(t, "a forged Not now", forged(b, p, "enroll-later", nil), http.StatusForbidden)
	if u, _ := s.Store.GetUserByUsername(ctx, "bob"); u.GraceSignIns != 0 {
		t.Fatalf("a forged Not now was counted: %d", u.GraceSignIns)
	}
	apptest.Code(t, b.Submit(p, "enroll-later", nil))
}
