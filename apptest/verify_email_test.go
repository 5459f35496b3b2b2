package apptest_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// Issue 11, "What rests on them" 1: verified email. The tests read the mail
// the server really sent (to the in-process SMTP server) and follow its code
// or its link, on both databases.

// eachMailServer runs fn against a server on SQLite and PostgreSQL whose
// mail goes to an in-process SMTP server (s.Mailbox).
func eachMailServer(t *testing.T, st directory.Static, fn func(t *testing.T, s *apptest.Server)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			fn(t, apptest.New(t, newStore, apptest.Options{Static: st, Mailbox: apptest.NewMailbox(t)}))
		})
	}
}

// accountPage opens the account page of b's session.
func accountPage(t *testing.T, s *apptest.Server, b *apptest.Browser) *apptest.Page {
	t.Helper()
	p := b.Get(s.URL + "/account")
	if p.Status != http.StatusOK || p.URL.Path != "/account" {
		t.Fatalf("the account page: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	return p
}

// csrfOf is the CSRF token of form id on p, for a hand-made post.
func csrfOf(t *testing.T, p *apptest.Page, id string) string {
	t.Helper()
	_, v := p.Form(t, id)
	return v.Get("csrf_token")
}

// otherCode is a code of the same length that is not code.
func otherCode(code string) string {
	b := []byte(code)
	b[len(b)-1] = '0' + (b[len(b)-1]-'0'+1)%10
	return string(b)
}

// refused checks that p is a refusal with status and a role="alert".
func refused(t *testing.T, what string, p *apptest.Page, status int) {
	t.Helper()
	if p.Status != status || !strings.Contains(p.Body, `role="alert"`) {
		t.Fatalf("%s: %d (want %d with role=alert) at %s\n%s", what, p.Status, status, p.URL, p.Body)
	}
}

// emailVerified reads whether the user's address is verified.
func emailVerified(t *testing.T, s *apptest.Server, username string) bool {
	t.Helper()
	u, err := s.Store.GetUserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return u.EmailVerifiedAt != nil
}

// sendCode asks for a verification mail on the account page and returns it.
func sendCode(t *testing.T, s *apptest.Server, b *apptest.Browser, to string) (*apptest.Page, *apptest.Mail) {
	t.Helper()
	p := b.Submit(accountPage(t, s, b), "send-verification-email", nil)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="account-notice"`) {
		t.Fatalf("sending a code: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	return p, s.Mailbox.Next(t, to)
}

// verifyAlice verifies alice's address from the account page of b with the
// code of the mail she gets.
func verifyAlice(t *testing.T, s *apptest.Server, b *apptest.Browser) {
	t.Helper()
	p, m := sendCode(t, s, b, "alice@example.com")
	if r := b.Submit(p, "verify-email", map[string]string{"code": m.Code(t)}); !strings.Contains(r.Body, `id="email-verified"`) {
		t.Fatalf("verifying alice: %d\n%s", r.Status, r.Body)
	}
}

func auditCount(t *testing.T, s *apptest.Server, action string) int {
	t.Helper()
	events, _, err := s.Dir.AuditPage(context.Background(), directory.AuditQuery{Actions: []string{action}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

// A code from the mail verifies the address on the account page; a wrong,
// malformed or reused one is refused with an alert and changes nothing;
// email_verified turns true in a real relying party's ID token (go-oidc)
// and at /userinfo only then.
func TestEmailIsVerifiedWithTheCodeFromTheMail(t *testing.T) {
	eachMailServer(t, staticFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		tok, c := loginApp(t, s, b, rp)
		if c.Email != "alice@example.com" || c.EmailVerified {
			t.Fatalf("before verifying: email %q verified %v", c.Email, c.EmailVerified)
		}
		if info, err := rp.Provider.UserInfo(ctx, rp.Config.TokenSource(ctx, tok)); err != nil || info.EmailVerified {
			t.Fatalf("userinfo before verifying: %+v, %v", info, err)
		}
		p := accountPage(t, s, b)
		if !strings.Contains(p.Body, `id="email-unverified"`) || !strings.Contains(p.Body, `<form id="verify-email"`) {
			t.Fatalf("the account page does not offer to verify:\n%s", p.Body)
		}
		// No code was sent yet: nothing to check a code against.
		refused(t, "a code before any was sent", b.Submit(p, "verify-email", map[string]string{"code": "12345678"}), http.StatusUnauthorized)

		p, m := sendCode(t, s, b, "alice@example.com")
		code := m.Code(t)
		if len(code) != 8 || !strings.Contains(m.Subject, "Verify your email address") {
			t.Fatalf("mail %q with code %q", m.Subject, code)
		}
		m.Link(t, s.URL+"/verify-email?token=")

		refused(t, "a malformed code", b.Submit(p, "verify-email", map[string]string{"code": "12ab"}), http.StatusBadRequest)
		refused(t, "an empty code", b.Submit(p, "verify-email", map[string]string{"code": ""}), http.StatusBadRequest)
		refused(t, "a wrong code", b.Submit(p, "verify-email", map[string]string{"code": otherCode(code)}), http.StatusUnauthorized)
		if emailVerified(t, s, "alice") {
			t.Fatal("refused codes verified the address")
		}

		// Typed with a space, as people copy it.
		r := b.Submit(p, "verify-email", map[string]string{"code": code[:4] + " " + code[4:]})
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="email-verified"`) || !strings.Contains(r.Body, "is verified") {
			t.Fatalf("the right code: %d\n%s", r.Status, r.Body)
		}
		// Used once: the same code again is refused, and nothing is recorded twice.
		refused(t, "the code used again", b.PostForm(s.URL+"/account/email/verify",
			map[string]string{"csrf_token": csrfOf(t, r, "change-email"), "code": code}), http.StatusUnauthorized)
		if n := auditCount(t, s, "email.verified"); n != 1 {
			t.Fatalf("%d email.verified events, want 1", n)
		}

		// The next sign-in's ID token and userinfo say so.
		tok, c = loginApp(t, s, apptest.NewBrowser(t, s), rp)
		if !c.EmailVerified {
			t.Fatalf("after verifying, the ID token says email_verified %v", c.EmailVerified)
		}
		if info, err := rp.Provider.UserInfo(ctx, rp.Config.TokenSource(ctx, tok)); err != nil || !info.EmailVerified || info.Email != "alice@example.com" {
			t.Fatalf("userinfo after verifying: %+v, %v", info, err)
		}
	})
}

// The mail's link verifies too, without typing: opening it (as a mail
// scanner would) only shows a confirmation; the POST verifies, once. A
// tampered, truncated or reused link gets a page with an alert and
// changes nothing.
func TestEmailIsVerifiedWithTheLinkFromTheMailOnlyWhenConfirmed(t *testing.T) {
	eachMailServer(t, staticFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		loginApp(t, s, b, rp)
		p, m := sendCode(t, s, b, "alice@example.com")
		link := m.Link(t, s.URL+"/verify-email?token=")
		u, _ := url.Parse(link)
		token := u.Query().Get("token")

		// Another browser, not signed in (the mail read on a phone): the token is the proof.
		phone := apptest.NewBrowser(t, s)
		flip := "A"
		if strings.HasSuffix(token, "A") {
			flip = "B"
		}
		tampered := token[:len(token)-1] + flip
		refused(t, "a tampered link", phone.Get(s.URL+"/verify-email?token="+url.QueryEscape(tampered)), http.StatusUnauthorized)
		refused(t, "a link without its token", phone.Get(s.URL+"/verify-email?token="), http.StatusBadRequest)

		c := phone.Get(link)
		if c.Status != http.StatusOK || !strings.Contains(c.Body, `<form id="verify-email-link"`) || !strings.Contains(c.Body, "a•••e@example.com") {
			t.Fatalf("opening the link: %d\n%s", c.Status, c.Body)
		}
		if emailVerified(t, s, "alice") {
			t.Fatal("opening the link (a GET) verified the address")
		}
		// SECURITY-RULES: "CSRF token on every state-changing POST; missing or wrong → 403, nothing changes"
		refused(t, "a confirmation without its CSRF token", apptest.NewBrowser(t, s).PostForm(s.URL+"/verify-email",
			map[string]string{"token": token}), http.StatusForbidden)
		if emailVerified(t, s, "alice") {
			t.Fatal("a refused confirmation verified the address")
		}
		done := phone.Submit(c, "verify-email-link", nil)
		if done.Status != http.StatusOK || !strings.Contains(done.Body, `id="verify-email-done"`) || !emailVerified(t, s, "alice") {
			t.Fatalf("confirming: %d\n%s", done.Status, done.Body)
		}
		refused(t, "the link opened again", phone.Get(link), http.StatusUnauthorized)
		refused(t, "the link confirmed again", phone.Submit(c, "verify-email-link", nil), http.StatusUnauthorized)
		// The code of the same mail was retired with it.
		refused(t, "the mail's code after its link", b.PostForm(s.URL+"/account/email/verify",
			map[string]string{"csrf_token": csrfOf(t, p, "change-email"), "code": m.Code(t)}), http.StatusUnauthorized)
		if n := auditCount(t, s, "email.verified"); n != 1 {
			t.Fatalf("%d email.verified events, want 1", n)
		}
	})
}

// A code lives 10 minutes; the fifth wrong guess retires it; a new code
// replaces the one sent before.
func TestEmailCodesExpireAreReplacedAndRetireAfterFiveWrongGuesses(t *testing.T) {
	eachMailServer(t, staticFixture(), func(t *testing.T, s *apptest.Server) {
		b := apptest.NewBrowser(t, s)
		loginApp(t, s, b, apptest.NewRP(t, s, "app", appSecret, appRedirect))

		p, m := sendCode(t, s, b, "alice@example.com")
		s.Clock.Advance(10*time.Minute + time.Second)
		r := b.Submit(p, "verify-email", map[string]string{"code": m.Code(t)})
		refused(t, "an expired code", r, http.StatusUnauthorized)
		if !strings.Contains(r.Body, "Send a new code") {
			t.Fatalf("an expired code does not say to send a new one:\n%s", r.Body)
		}

		p, m = sendCode(t, s, b, "alice@example.com")
		code := m.Code(t)
		for i := range 4 {
			r = b.Submit(p, "verify-email", map[string]string{"code": otherCode(code)})
			refused(t, "a wrong guess", r, http.StatusUnauthorized)
			if !strings.Contains(r.Body, "not right") {
				t.Fatalf("wrong guess %d:\n%s", i+1, r.Body)
			}
		}
		r = b.Submit(p, "verify-email", map[string]string{"code": otherCode(code)})
		if refused(t, "the fifth wrong guess", r, http.StatusUnauthorized); !strings.Contains(r.Body, "Send a new code") {
			t.Fatalf("the fifth wrong guess did not retire the code:\n%s", r.Body)
		}
		refused(t, "the right code after five wrong ones", b.Submit(p, "verify-email", map[string]string{"code": code}), http.StatusUnauthorized)

		_, first := sendCode(t, s, b, "alice@example.com")
		p, second := sendCode(t, s, b, "alice@example.com")
		if first.Code(t) != second.Code(t) {
			refused(t, "a code a newer one replaced", b.Submit(p, "verify-email", map[string]string{"code": first.Code(t)}), http.StatusUnauthorized)
		}
		if emailVerified(t, s, "alice") {
			t.Fatal("a refused code verified the address")
		}
		if r := b.Submit(p, "verify-email", map[string]string{"code": second.Code(t)}); !strings.Contains(r.Body, `id="email-verified"`) {
			t.Fatalf("the newest code: %d\n%s", r.Status, r.Body)
		}
	})
}

// Sixteen submissions of one code at once verify the address once: the
// others are refused as used.
func TestParallelSubmissionsOfOneEmailCodeVerifyOnce(t *testing.T) {
	eachMailServer(t, staticFixture(), func(t *testing.T, s *apptest.Server) {
		b := apptest.NewBrowser(t, s)
		loginApp(t, s, b, apptest.NewRP(t, s, "app", appSecret, appRedirect))
		p, m := sendCode(t, s, b, "alice@example.com")
		form := url.Values{"csrf_token": {csrfOf(t, p, "verify-email")}, "code": {m.Code(t)}}

		const n = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		verified := 0
		for range n {
			wg.Go(func() {
				resp, err := b.Client.PostForm(s.URL+"/account/email/verify", form)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				statuses[resp.StatusCode]++
				if resp.Request.URL.Query().Get("changed") == "email-verified" {
					verified++
				}
			})
		}
		wg.Wait()
		if verified != 1 || statuses[http.StatusOK] != 1 || statuses[http.StatusUnauthorized] != n-1 {
			t.Fatalf("%d of %d parallel submissions verified; statuses %v", verified, n, statuses)
		}
		if n := auditCount(t, s, "email.verified"); n != 1 || !emailVerified(t, s, "alice") {
			t.Fatalf("%d email.verified events", n)
		}
	})
}

// Changing the address needs a fresh proof, makes it unverified, tells the
// old (verified) address with a working "this wasn't me" link and sends a
// code to the new one; bad addresses are refused and change nothing.
func TestChangingTheEmailUnverifiesItAndTellsTheOldAddress(t *testing.T) {
	eachMailServer(t, staticFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		loginApp(t, s, b, rp)
		verifyAlice(t, s, b)

		p := accountPage(t, s, b)
		for _, bad := range []string{"not an address", "Alice <alice@elsewhere.example>", "ALICE@example.com"} {
			refused(t, "changing to "+bad, b.Submit(p, "change-email", map[string]string{"email": bad}), http.StatusBadRequest)
		}
		if !emailVerified(t, s, "alice") {
			t.Fatal("a refused change unverified the address")
		}

		// SECURITY-RULES: "Adding or removing a factor, regenerating codes or changing the password requires a fresh
		// proof of an existing factor" — the address is as sensitive: six minutes on, it asks to sign in again.
		s.Clock.Advance(6 * time.Minute)
		r := b.Submit(p, "change-email", map[string]string{"email": "alice@new.example.com"})
		if !strings.Contains(r.Body, `<form id="login"`) {
			t.Fatalf("a change without a fresh proof: %d at %s", r.Status, r.URL)
		}
		r = b.Submit(r, "login", map[string]string{"username": "alice", "password": alicePassword})
		r = b.Submit(r, "change-email", map[string]string{"email": "alice@new.example.com"})
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="email-unverified"`) || !strings.Contains(r.Body, "alice@new.example.com") {
			t.Fatalf("changing the address: %d at %s\n%s", r.Status, r.URL, r.Body)
		}
		if emailVerified(t, s, "alice") {
			t.Fatal("the new address is verified")
		}

		old := s.Mailbox.Next(t, "alice@example.com")
		if !strings.Contains(old.Subject, "email address") || !strings.Contains(old.Text, "was changed") {
			t.Fatalf("the old address was told: %q\n%s", old.Subject, old.Text)
		}
		report := old.Link(t, s.URL+"/not-me?token=")
		if c := apptest.NewBrowser(t, s).Get(report); c.Status != http.StatusOK || !strings.Contains(c.Body, `<form id="not-me"`) {
			t.Fatalf("the old address's report link: %d\n%s", c.Status, c.Body)
		}
		// The new address got its code: it verifies the new address.
		code := s.Mailbox.Next(t, "alice@new.example.com").Code(t)
		if r = b.Submit(r, "verify-email", map[string]string{"code": code}); !strings.Contains(r.Body, `id="email-verified"`) {
			t.Fatalf("verifying the new address: %d\n%s", r.Status, r.Body)
		}
		_, c := loginApp(t, s, apptest.NewBrowser(t, s), rp)
		if c.Email != "alice@new.example.com" || !c.EmailVerified {
			t.Fatalf("the ID token after the change: %q verified %v", c.Email, c.EmailVerified)
		}
		if n := auditCount(t, s, "email.changed"); n != 1 {
			t.Fatalf("%d email.changed events", n)
		}
	})
}

// An administrator's change of the address (the admin API, the config
// file) unverifies it too: email_verified is about the address now held.
func TestAnAddressAnAdministratorChangesIsUnverified(t *testing.T) {
	eachMailServer(t, staticFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		loginApp(t, s, b, rp)
		verifyAlice(t, s, b)
		st := staticFixture()
		st.Users[0].Email = "alice@moved.example.com"
		if err := s.Dir.ApplyStatic(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		_, c := loginApp(t, s, apptest.NewBrowser(t, s), rp)
		if c.Email != "alice@moved.example.com" || c.EmailVerified {
			t.Fatalf("after the file changed the address: %q verified %v", c.Email, c.EmailVerified)
		}
	})
}
