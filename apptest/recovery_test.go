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
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// The ways back into an account without an administrator (issue 11): a forgotten password, a lost second factor,
// and the enrollment grace. Every test reads the real mail the server sent to the in-process SMTP server and
// follows its link or types its code.

const newPassword = "a brand new passphrase"

// eachMailServer runs fn against a server with a mailbox, on SQLite and PostgreSQL.
func eachMailServer(t *testing.T, st directory.Static, fn func(t *testing.T, s *apptest.Server)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			fn(t, apptest.New(t, newStore, apptest.Options{Static: st, Mailbox: apptest.NewMailbox(t)}))
		})
	}
}

func userID(t *testing.T, s *apptest.Server, username string) string {
	t.Helper()
	u, err := s.Dir.GetUserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// verifyEmail marks the user's address verified, as the account page's verification does.
func verifyEmail(t *testing.T, s *apptest.Server, username string) {
	t.Helper()
	u, err := s.Store.GetUserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Store.SetEmailVerified(context.Background(), u.ID, u.Email); err != nil || !ok {
		t.Fatalf("verify %s: %v %v", u.Email, ok, err)
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

// refused checks that p is a page that says what went wrong, with status.
func refused(t *testing.T, p *apptest.Page, status int, what string) {
	t.Helper()
	if p.Status != status || !strings.Contains(p.Body, `role="alert"`) {
		t.Fatalf("%s: status %d (want %d), alert %v:\n%s", what, p.Status, status, strings.Contains(p.Body, `role="alert"`), p.Body)
	}
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
	eachMailServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
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
		refused(t, b2.Submit(p, "password-reset-request", map[string]string{"username": ""}), http.StatusBadRequest, "an empty name")
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
		refused(t, b2.Submit(p, "password-reset", map[string]string{"password": newPassword, "password_confirm": "something else"}), http.StatusBadRequest, "two different passwords")
		refused(t, b2.Submit(p, "password-reset", map[string]string{"password": "short", "password_confirm": "short"}), http.StatusBadRequest, "a weak password")
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
		refused(t, b2.Get(link), http.StatusUnauthorized, "the used link")
		token := mustQuery(t, link).Get("t")
		_, vals := p.Form(t, "mfa-totp")
		r := b2.PostForm(s.URL+"/login/reset-password", map[string]string{"csrf_token": vals.Get("csrf_token"), "token": token, "password": "yet another passphrase", "password_confirm": "yet another passphrase"})
		refused(t, r, http.StatusUnauthorized, "the used link's form")
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
	refused(t, b.Submit(lost, "recovery-start", map[string]string{"code": wrongCode(code)}), http.StatusUnauthorized, "a wrong recovery code")
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

// wrongCode is a code that is not c.
func wrongCode(c string) string {
	if c == "00000000" {
		return "11111111"
	}
	return "00000000"
}

// SECURITY-RULES: "Backup codes: CSPRNG, ≥ 50 bits each, stored with a salted password hash (< 112 bits), single
// use, regenerating invalidates the old set, shown once with `Cache-Control: no-store`."
// SECURITY-RULES: "A step-up completes only the authorization request and browser session it belongs to."
// — a user who lost their authenticator is offered a backup code first, else a recovery by email: proven with a
// mailed code after the password, it waits (cancellable by the link every notification carries), then completes
// with the password and another mailed code; the old factors are gone, a new one is enrolled and new backup codes
// are shown once; the old ones no longer work.
func TestALostSecondFactorIsRecoveredByEmailAfterTheWait(t *testing.T) {
	eachMailServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		oldSecret, oldCodes, _ := enrollTOTP(t, s, apptest.NewBrowser(t, s), rp)
		verifyEmail(t, s, "alice")
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

		// Started with a mailed code, then cancelled by the link.
		_, cancel := startRecovery(t, s, b, p)
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
		refused(t, mailReader.Get(cancel), http.StatusUnauthorized, "a used cancel link")
		tampered := cancel[:len(cancel)-1] + string("AB"[strings.IndexByte("AB", cancel[len(cancel)-1])+1&1])
		refused(t, mailReader.Get(tampered), http.StatusUnauthorized, "a tampered cancel link")

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
		refused(t, early, http.StatusBadRequest, "completing before the wait is over")

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
		refused(t, b2.Submit(lost, "recovery-complete", map[string]string{"code": wrongCode(code)}), http.StatusUnauthorized, "a wrong code to complete")
		p = b2.Submit(lost, "recovery-complete", map[string]string{"code": code})
		if !has(p, `data-enroll="totp"`) || has(p, `id="enroll-later"`) {
			t.Fatalf("no enrollment after the recovery: %d\n%s", p.Status, p.Body)
		}
		if n := s.Mailbox.Next(t, "alice@example.com"); n.Subject != "Your localhost account was recovered" {
			t.Fatalf("notification %q", n.Subject)
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
		refused(t, b3.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(oldSecret, totp.Step(s.Clock.Now()))}), http.StatusUnauthorized, "the old authenticator")
		p = b3.Get(p.URL.String() + "&method=backup_code")
		refused(t, b3.Submit(p, "mfa-backup-code", map[string]string{"code": oldCodes[2]}), http.StatusUnauthorized, "an old backup code")
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
	eachMailServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
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
			case http.StatusUnauthorized, http.StatusBadRequest, http.StatusNotFound:
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
