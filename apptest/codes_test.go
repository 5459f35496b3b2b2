package apptest_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/apptest/mailtest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/factors"
	"github.com/twofold-idp/twofold/idp/login"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// Email and SMS one-time codes as second factors (issue 11): each test reads the code from the mail the in-process
// SMTP server received, or from the text message the SMS webhook receiver accepted (signature checked), and types
// it into the challenge page.

// codesFixture puts "app" under a policy that always requires MFA by one of methods; no other policy applies.
func codesFixture(methods ...policy.Method) directory.Static {
	st := staticFixture()
	st.Policies = []policy.Policy{{Name: "codes", RequireMFA: policy.Always, Methods: methods}}
	st.Clients[0].Policy = "codes"
	return st
}

// eachCodeServer runs fn on SQLite and PostgreSQL against a server that sends mail to a Mailbox and text messages
// to an SMS webhook receiver.
func eachCodeServer(t *testing.T, st directory.Static, fn func(t *testing.T, s *apptest.Server)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			fn(t, apptest.New(t, newStore, apptest.Options{Static: st, Mailbox: apptest.NewMailbox(t), SMS: apptest.NewSMSReceiver(t)}))
		})
	}
}

// userNamed loads a user from the store.
func userNamed(t *testing.T, s *apptest.Server, username string) *storage.User {
	t.Helper()
	u, err := s.Store.GetUserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// verifyEmail marks the user's address verified, as the email verification (another part of issue 11) does.
func verifyEmail(t *testing.T, s *apptest.Server, username string) *storage.User {
	t.Helper()
	u := userNamed(t, s, username)
	if ok, err := s.Store.SetEmailVerified(context.Background(), u.ID, u.Email); err != nil || !ok {
		t.Fatalf("verify %s's address: %v %v", username, ok, err)
	}
	return userNamed(t, s, username)
}

// verifyPhone gives the user a verified number, as the account page does once its code comes back.
func verifyPhone(t *testing.T, s *apptest.Server, username, phone string) {
	t.Helper()
	at := s.Clock.Now()
	if err := s.Store.SetPhone(context.Background(), userNamed(t, s, username).ID, phone, &at); err != nil {
		t.Fatal(err)
	}
}

// wantRefused checks a refused code: the status, the alert, the form again, no redirect.
func wantRefused(t *testing.T, p *apptest.Page, status int, form string) {
	t.Helper()
	if p.Status != status || p.Redirect != nil || !strings.Contains(p.Body, `role="alert"`) || !strings.Contains(p.Body, `<form id="`+form+`"`) {
		t.Fatalf("got %d (redirect %v), want %d with role=alert and form#%s:\n%s", p.Status, p.Redirect, status, form, p.Body)
	}
}

// idToken redeems the code the page carries and returns the ID token's claims.
func idToken(t *testing.T, rp *apptest.RP, p *apptest.Page) apptest.Claims {
	t.Helper()
	code, _ := apptest.Code(t, p)
	tok, err := rp.Exchange(code, pkce)
	if err != nil {
		t.Fatal(err)
	}
	_, c := rp.IDToken(tok)
	return c
}

// liveCode is the user's one-time code of purpose that is neither used nor expired (nil: none; a new code retires
// the one before, so there is at most one).
func liveCode(t *testing.T, s *apptest.Server, userID, purpose string) *storage.OneTimeCode {
	t.Helper()
	c, err := s.Store.LiveOneTimeCode(context.Background(), userID, purpose)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// SECURITY-RULES: "`amr` is an array of RFC 8176 values; `mfa` only when two different kinds of factor were used"
// SECURITY-RULES: "The session cookie value changes after the password, after each second factor and after every
// step-up; the old value then means nothing"
// SECURITY-RULES: "Logs never contain passwords, codes, backup codes, tokens or secrets"
// — a code mailed to the verified address, after the password, is amr pwd mail mfa, acr mfa; the cookie changes;
// only the code's HMAC is stored; a wrong, a reused, an expired and a replaced code are 401 with role=alert and
// change nothing; "Send a new code" sends one that works.
func TestAnEmailCodeSignIn(t *testing.T) {
	eachCodeServer(t, codesFixture(policy.Email), func(t *testing.T, s *apptest.Server) {
		alice := verifyEmail(t, s, "alice")
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(p.Body, `<form id="mfa-email"`) || !strings.Contains(p.Body, `<strong class="sent-to">a•••@example.com</strong>`) {
			t.Fatalf("no email challenge after the password: %d\n%s", p.Status, p.Body)
		}
		m := s.Mailbox.Next(t, "alice@example.com")
		code := m.Code(t)
		if m.Subject != "Your localhost sign-in code" || len(code) != factors.SentCodeDigits {
			t.Fatalf("mail %q with code %q", m.Subject, code)
		}
		// Only a keyed hash is kept; showing the page again sends nothing more.
		stored := liveCode(t, s, alice.ID, storage.PurposeSignInEmail)
		if stored == nil || strings.Contains(stored.CodeHash, code) || len(stored.CodeHash) < 40 || stored.Target != "alice@example.com" {
			t.Fatalf("stored %+v for code %s", stored, code)
		}
		p = b.Get(p.URL.String())
		if s.Mailbox.Count() != 1 || !strings.Contains(p.Body, `<form id="mfa-email"`) {
			t.Fatalf("reloading the page: %d mails", s.Mailbox.Count())
		}

		// A wrong code and a malformed one: 401 and 400, the session cookie unchanged, the code still good.
		before := b.Cookie(idp.SessionCookieBase)
		wantRefused(t, b.Submit(p, "mfa-email", map[string]string{"code": wrongCode(code)}), http.StatusUnauthorized, "mfa-email")
		wantRefused(t, b.Submit(p, "mfa-email", map[string]string{"code": ""}), http.StatusBadRequest, "mfa-email")
		wantRefused(t, b.Submit(p, "mfa-email", map[string]string{"code": "12ab56"}), http.StatusUnauthorized, "mfa-email")
		if b.Cookie(idp.SessionCookieBase) != before || liveCode(t, s, alice.ID, storage.PurposeSignInEmail) == nil {
			t.Fatal("a refused code changed the session or retired the code")
		}

		done := b.Submit(p, "mfa-email", map[string]string{"code": code[:3] + " " + code[3:]})
		c := idToken(t, rp, done)
		if c.ACR != idp.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "mail", "mfa"}) {
			t.Fatalf("acr %s amr %v", c.ACR, c.AMR)
		}
		if after := b.Cookie(idp.SessionCookieBase); after == before || after == "" {
			t.Fatal("the session cookie did not change after the email code")
		}
		if audits(t, s, "mfa.code_sent") != 1 || audits(t, s, "mfa.used") != 1 || audits(t, s, "mfa.failed") != 2 {
			t.Fatalf("audit: %d sent, %d used, %d failed", audits(t, s, "mfa.code_sent"), audits(t, s, "mfa.used"), audits(t, s, "mfa.failed"))
		}

		// Another browser: its own code. The used one is refused.
		b2 := apptest.NewBrowser(t, s)
		p = b2.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		second := s.Mailbox.Next(t, "alice@example.com").Code(t)
		if second != code {
			wantRefused(t, b2.Submit(p, "mfa-email", map[string]string{"code": code}), http.StatusUnauthorized, "mfa-email")
		}
		// Expired after 10 minutes.
		s.Clock.Advance(factors.SentCodeTTL + time.Second)
		wantRefused(t, b2.Submit(p, "mfa-email", map[string]string{"code": second}), http.StatusUnauthorized, "mfa-email")
		// A new code on request; it replaces the one before.
		p = b2.Submit(p, "mfa-resend", nil)
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `role="status"`) || !strings.Contains(p.Body, `<form id="mfa-email"`) {
			t.Fatalf("after Send a new code: %d\n%s", p.Status, p.Body)
		}
		third := s.Mailbox.Next(t, "alice@example.com").Code(t)
		if s.Mailbox.Count() != 3 {
			t.Fatalf("%d mails after one resend, want 3", s.Mailbox.Count())
		}
		c = idToken(t, rp, b2.Submit(p, "mfa-email", map[string]string{"code": third}))
		if !slices.Equal(c.AMR, []string{"pwd", "mail", "mfa"}) {
			t.Fatalf("amr %v", c.AMR)
		}
	})
}

// wrongCode is a code of the same length that is not code.
func wrongCode(code string) string {
	zeros := strings.Repeat("0", len(code))
	if code == zeros {
		return strings.Repeat("1", len(code))
	}
	return zeros
}

// SECURITY-RULES: "A step-up completes only the authorization request and browser session it belongs to"
// — a code mailed for one sign-in does not complete another sign-in of the same user: a second sign-in mails its own
// code, which replaces the first, and that code is refused in the first sign-in.
func TestAnEmailCodeCompletesOnlyTheSignInItWasSentFor(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: codesFixture(policy.Email), Mailbox: apptest.NewMailbox(t)})
	verifyEmail(t, s, "alice")
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	a, b := apptest.NewBrowser(t, s), apptest.NewBrowser(t, s)
	first := a.Login(rp.AuthURL("a", "n", pkce), "alice", alicePassword)
	code := s.Mailbox.Next(t, "alice@example.com").Code(t)
	second := b.Login(rp.AuthURL("b", "n", pkce), "alice", alicePassword)
	newer := s.Mailbox.Next(t, "alice@example.com").Code(t)
	// The live code, sent for b's sign-in, proves nothing in a's.
	wantRefused(t, a.Submit(first, "mfa-email", map[string]string{"code": newer}), http.StatusUnauthorized, "mfa-email")
	if newer != code { // the first code was replaced
		wantRefused(t, b.Submit(second, "mfa-email", map[string]string{"code": code}), http.StatusUnauthorized, "mfa-email")
	}
	if _, st := apptest.Code(t, b.Submit(second, "mfa-email", map[string]string{"code": newer})); st != "b" {
		t.Fatalf("state %q", st)
	}
}

// SECURITY-RULES: "`amr` is an array of RFC 8176 values; `mfa` only when two different kinds of factor were used"
// — a code texted to the verified number through the signed webhook is amr pwd sms mfa.
func TestAnSMSCodeSignIn(t *testing.T) {
	eachCodeServer(t, codesFixture(policy.SMS), func(t *testing.T, s *apptest.Server) {
		verifyPhone(t, s, "alice", "+15551234567")
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(p.Body, `<form id="mfa-sms"`) || !strings.Contains(p.Body, "the number ending in 4567") {
			t.Fatalf("no SMS challenge after the password: %d\n%s", p.Status, p.Body)
		}
		msg := s.SMS.Next(t, "+15551234567")
		code := msg.Code(t)
		if !strings.Contains(msg.Text, "sign-in code") || !strings.HasSuffix(msg.Text, "#"+code) {
			t.Fatalf("SMS %q", msg.Text)
		}
		for _, c := range s.SMS.Calls() {
			if !c.Verified {
				t.Fatal("a webhook call whose signature did not verify")
			}
		}
		wantRefused(t, b.Submit(p, "mfa-sms", map[string]string{"code": wrongCode(code)}), http.StatusUnauthorized, "mfa-sms")
		c := idToken(t, rp, b.Submit(p, "mfa-sms", map[string]string{"code": code}))
		if c.ACR != idp.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "sms", "mfa"}) {
			t.Fatalf("acr %s amr %v", c.ACR, c.AMR)
		}
		// Used once.
		b2 := apptest.NewBrowser(t, s)
		p = b2.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if again := s.SMS.Next(t, "+15551234567").Code(t); again != code {
			wantRefused(t, b2.Submit(p, "mfa-sms", map[string]string{"code": code}), http.StatusUnauthorized, "mfa-sms")
		}
	})
}

// SECURITY-RULES: "A code is single-use" (the second-factor codes as the authorization codes)
// — of parallel submissions of one emailed code, on two replicas, exactly one signs in.
func TestParallelSubmissionsOfOneCodeSignInOnce(t *testing.T) {
	for name, newURL := range storagetest.URLs() {
		t.Run(name, func(t *testing.T) {
			open := storagetest.OpenURL(newURL(t))
			mb := apptest.NewMailbox(t)
			o := apptest.Options{Static: codesFixture(policy.Email), Mailbox: mb}
			a := apptest.New(t, open, o)
			o.Clock, o.Ring = a.Clock, a.Ring
			b := apptest.New(t, open, o)
			alice := verifyEmail(t, a, "alice")
			rp := apptest.NewRP(t, a, "app", appSecret, appRedirect)
			br := apptest.NewBrowser(t, a)
			page := br.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
			code := mb.Next(t, "alice@example.com").Code(t)
			const n = 8
			got := guessInParallel(br, page, "mfa-email", n, func(int) map[string]string { return map[string]string{"code": code} }, func() {}, a, b)
			t.Logf("answers by status: %v", got)
			if got[http.StatusSeeOther] != 1 {
				t.Fatalf("answers %v: want exactly one success (303 to the application)", got)
			}
			for status, k := range got {
				switch status {
				case http.StatusSeeOther, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusNotFound:
				default:
					t.Fatalf("%d answers of %d", k, status)
				}
			}
			if used := audits(t, a, "mfa.used"); used != 1 {
				t.Fatalf("%d successes audited", used)
			}
			if liveCode(t, a, alice.ID, storage.PurposeSignInEmail) != nil {
				t.Fatal("the code is still live")
			}
		})
	}
}

// SECURITY-RULES: "Failed-attempt limiting per account across the OTP-type factors (TOTP + backup codes together),
// ≤ 100 consecutive failures by NIST, far fewer by our choice; while throttled even the correct code is refused; a
// success resets the counter"
// — email codes count with them: five wrong email codes and the right TOTP code is refused (429), the right email
// code too; after the wait the TOTP code works.
func TestWrongEmailCodesCountTowardTheTOTPThrottle(t *testing.T) {
	st := codesFixture(policy.TOTP, policy.Email, policy.BackupCode)
	eachCodeServer(t, st, func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		secret, _, end := enrollTOTP(t, s, apptest.NewBrowser(t, s), rp)
		apptest.Code(t, end)
		verifyEmail(t, s, "alice")
		s.Clock.Advance(30 * time.Second)

		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(p.Body, `<form id="mfa-totp"`) || !strings.Contains(p.Body, `data-method="email"`) {
			t.Fatalf("want the TOTP page with a link to an email code:\n%s", p.Body)
		}
		if s.Mailbox.Count() != 0 {
			t.Fatal("the TOTP page sent a mail")
		}
		email := b.Get(p.URL.String() + "&method=email")
		code := s.Mailbox.Next(t, "alice@example.com").Code(t)
		for range 5 {
			wantRefused(t, b.Submit(email, "mfa-email", map[string]string{"code": wrongCode(code)}), http.StatusUnauthorized, "mfa-email")
		}
		r := b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Body, `role="alert"`) {
			t.Fatalf("after 5 wrong email codes the right TOTP code got %d", r.Status)
		}
		if r = b.Submit(email, "mfa-email", map[string]string{"code": code}); r.Status != http.StatusTooManyRequests {
			t.Fatalf("while throttled the right email code got %d", r.Status)
		}
		if audits(t, s, "mfa.throttled") != 2 {
			t.Fatalf("%d throttled attempts audited", audits(t, s, "mfa.throttled"))
		}
		s.Clock.Advance(16 * time.Minute)
		c := idToken(t, rp, b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))}))
		if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
			t.Fatalf("amr %v", c.AMR)
		}
	})
}

// An address that is not verified receives no code, and the method is not offered; nor is it where the policies
// do not list it, nor an SMS code without a gateway.
func TestOnlyAVerifiedAddressOrNumberTheyAllowIsOffered(t *testing.T) {
	eachCodeServer(t, codesFixture(policy.Email, policy.SMS, policy.TOTP), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		alice := userNamed(t, s, "alice")
		if err := s.Store.SetPhone(t.Context(), alice.ID, "+15551234567", nil); err != nil { // not verified
			t.Fatal(err)
		}
		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(p.Body, `data-enroll="totp"`) || strings.Contains(p.Body, `data-method=`) {
			t.Fatalf("an unverified user is offered something else than enrollment:\n%s", p.Body)
		}
		// Asking for it by name changes nothing.
		id := p.URL.Query().Get("id")
		for _, m := range []string{"email", "sms"} {
			if q := b.Get(s.URL + "/login?id=" + id + "&method=" + m); !strings.Contains(q.Body, `data-enroll="totp"`) {
				t.Fatalf("?method=%s:\n%s", m, q.Body)
			}
		}
		if s.Mailbox.Count() != 0 || len(s.SMS.Calls()) != 0 {
			t.Fatalf("%d mails and %d text messages sent to unverified destinations", s.Mailbox.Count(), len(s.SMS.Calls()))
		}
	})

	t.Run("a policy that does not list email", func(t *testing.T) {
		s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: codesFixture(), Mailbox: apptest.NewMailbox(t)})
		verifyEmail(t, s, "alice")
		p := apptest.NewBrowser(t, s).Login(apptest.NewRP(t, s, "app", appSecret, appRedirect).AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(p.Body, `data-enroll="totp"`) || strings.Contains(p.Body, "mfa-email") || s.Mailbox.Count() != 0 {
			t.Fatalf("email offered by a policy that does not list it:\n%s", p.Body)
		}
	})
	t.Run("SMS without a gateway", func(t *testing.T) {
		s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: codesFixture(policy.SMS, policy.TOTP)})
		verifyPhone(t, s, "alice", "+15551234567")
		p := apptest.NewBrowser(t, s).Login(apptest.NewRP(t, s, "app", appSecret, appRedirect).AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(p.Body, `data-enroll="totp"`) || strings.Contains(p.Body, "mfa-sms") {
			t.Fatalf("SMS offered without a gateway:\n%s", p.Body)
		}
	})
}

// SECURITY-RULES: "An essential `acr` that cannot be met is a failed authentication (error, no code); a voluntary
// `acr_values` is never claimed without being performed"
// — an email code is never phishing-resistant: a voluntary phr is met at mfa, an essential one asks the email code
// as the proof before enrolling a passkey, never issues a code on it, and where no passkey is allowed ends unmet.
func TestAnEmailCodeNeverReachesPhishingResistance(t *testing.T) {
	st := staticFixture()
	st.Policies = []policy.Policy{
		{Name: "codes", RequireMFA: policy.OnRequest, Methods: []policy.Method{policy.WebAuthn, policy.Email}},
		{Name: "mail-only", RequireMFA: policy.OnRequest, Methods: []policy.Method{policy.Email}},
	}
	st.Clients[0].Policy = "codes"
	st.Clients[4].Policy = "mail-only" // "opaque"
	eachCodeServer(t, st, func(t *testing.T, s *apptest.Server) {
		verifyEmail(t, s, "alice")
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)

		// Voluntary: the closest level, two factors.
		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("acr_values", "phr")), "alice", alicePassword)
		code := s.Mailbox.Next(t, "alice@example.com").Code(t)
		c := idToken(t, rp, b.Submit(p, "mfa-email", map[string]string{"code": code}))
		if c.ACR != idp.ACRMFA || slices.Contains(c.AMR, "hwk") {
			t.Fatalf("acr %s amr %v for acr_values=phr", c.ACR, c.AMR)
		}

		// Essential: the email code proves it is alice, then a passkey is to be enrolled; no code is issued.
		b = apptest.NewBrowser(t, s)
		essential := oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"value":"phr"}}}`)
		p = b.Login(rp.AuthURL("s", "n", pkce, essential), "alice", alicePassword)
		if !strings.Contains(p.Body, `<form id="mfa-email"`) {
			t.Fatalf("an essential phr did not ask the email code as the proof before enrolling:\n%s", p.Body)
		}
		p = b.Submit(p, "mfa-email", map[string]string{"code": s.Mailbox.Next(t, "alice@example.com").Code(t)})
		if p.Redirect != nil || !strings.Contains(p.Body, `data-enroll="webauthn"`) || strings.Contains(p.Body, `data-enroll="totp"`) {
			t.Fatalf("after the email code an essential phr went on to %v:\n%s", p.Redirect, p.Body)
		}

		// Where no passkey is allowed, an essential phr is unmet, whatever codes the user has.
		opaque := apptest.NewRP(t, s, "opaque", appSecret, appRedirect)
		p = apptest.NewBrowser(t, s).Login(opaque.AuthURL("s", "n", pkce, essential), "alice", alicePassword)
		if q := apptest.Query(t, p); q.Get("error") != "unmet_authentication_requirements" || q.Get("code") != "" {
			t.Fatalf("an essential phr under an email-only policy: %v", q)
		}
	})
}

// A send the limits refuse is a 429 with Retry-After that keeps the form (the last code still works); a send the
// mail server or the gateway refuses is a clear page that offers another try and the other ways, never a stuck
// sign-in.
func TestRefusedAndFailedSendsKeepTheSignInGoing(t *testing.T) {
	t.Run("the per-recipient limit", func(t *testing.T) {
		s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: codesFixture(policy.Email), Mailbox: apptest.NewMailbox(t)})
		verifyEmail(t, s, "alice")
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		var last string
		for i := range 5 { // the page's code, then four more
			last = s.Mailbox.Next(t, "alice@example.com").Code(t)
			if i < 4 {
				p = b.Submit(p, "mfa-resend", nil)
			}
		}
		r := b.Submit(p, "mfa-resend", nil)
		wantRefused(t, r, http.StatusTooManyRequests, "mfa-email")
		if r.Header.Get("Retry-After") == "" || !strings.Contains(r.Body, "Too many codes were sent") || s.Mailbox.Count() != 5 {
			t.Fatalf("Retry-After %q, %d mails:\n%s", r.Header.Get("Retry-After"), s.Mailbox.Count(), r.Body)
		}
		apptest.Code(t, b.Submit(r, "mfa-email", map[string]string{"code": last}))
	})
	t.Run("a mail server that refuses the address", func(t *testing.T) {
		st := codesFixture(policy.Email, policy.BackupCode)
		s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: st, Mailbox: apptest.NewMailbox(t, mailtest.RefuseRecipient("alice@example.com"))})
		verifyEmail(t, s, "alice")
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		p := apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		wantRefused(t, p, http.StatusServiceUnavailable, "mfa-email")
		if !strings.Contains(p.Body, "We could not send the code") || !strings.Contains(p.Body, `<form id="mfa-resend"`) {
			t.Fatalf("a failed send:\n%s", p.Body)
		}
	})
	t.Run("an SMS gateway that fails", func(t *testing.T) {
		sms := apptest.NewSMSReceiver(t)
		s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: codesFixture(policy.SMS), SMS: sms})
		verifyPhone(t, s, "alice", "+15551234567")
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		sms.Respond(400) // a refusal, not retried
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		wantRefused(t, p, http.StatusServiceUnavailable, "mfa-sms")
		// The gateway is back: a new code gets through and signs in.
		p = b.Submit(p, "mfa-resend", nil)
		apptest.Code(t, b.Submit(p, "mfa-sms", map[string]string{"code": sms.Next(t, "+15551234567").Code(t)}))
	})
}

// SECURITY-RULES: "Adding or removing a factor, regenerating codes or changing the password requires a fresh proof of
// an existing factor"
// — the account page adds a phone number only once a code texted to it comes back (a wrong code is 401 and keeps
// nothing), needs a fresh proof to do it, then the number receives sign-in codes; removing it ends that.
func TestAPhoneNumberAddedOnTheAccountPageReceivesSignInCodes(t *testing.T) {
	eachCodeServer(t, codesFixture(policy.SMS, policy.TOTP), func(t *testing.T, s *apptest.Server) {
		alice := userNamed(t, s, "alice")
		b := apptest.NewBrowser(t, s)
		p := b.Get(s.URL + "/account")
		p = b.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword})
		if p.URL.Path != "/account" || !strings.Contains(p.Body, `<form id="add-phone"`) {
			t.Fatalf("account page: %d %s\n%s", p.Status, p.URL, p.Body)
		}
		r := b.Submit(p, "add-phone", map[string]string{"phone": "555 123 4567"})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="phone-error"`) || len(s.SMS.Calls()) != 0 {
			t.Fatalf("a number without its country code: %d\n%s", r.Status, r.Body)
		}
		r = b.Submit(p, "add-phone", map[string]string{"phone": "+1 (555) 123-4567"})
		if !strings.Contains(r.Body, `<form id="verify-phone"`) {
			t.Fatalf("after adding a number: %d\n%s", r.Status, r.Body)
		}
		code := s.SMS.Next(t, "+15551234567").Code(t)
		bad := b.Submit(r, "verify-phone", map[string]string{"code": wrongCode(code)})
		if bad.Status != http.StatusUnauthorized || !strings.Contains(bad.Body, `id="phone-error"`) {
			t.Fatalf("a wrong code: %d\n%s", bad.Status, bad.Body)
		}
		if u := userNamed(t, s, "alice"); u.Phone != "" || u.PhoneVerifiedAt != nil {
			t.Fatalf("a wrong code kept the number %q", u.Phone)
		}
		r = b.Submit(bad, "verify-phone", map[string]string{"code": code})
		if u := userNamed(t, s, "alice"); r.Status != http.StatusOK || u.Phone != "+15551234567" || u.PhoneVerifiedAt == nil {
			t.Fatalf("after the right code: %d, number %q verified %v", r.Status, u.Phone, u.PhoneVerifiedAt)
		}
		if audits(t, s, "phone.verified") != 1 {
			t.Fatal("the new number was not audited")
		}

		// The number now receives sign-in codes.
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b2 := apptest.NewBrowser(t, s)
		p = b2.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		c := idToken(t, rp, b2.Submit(p, "mfa-sms", map[string]string{"code": s.SMS.Next(t, "+15551234567").Code(t)}))
		if !slices.Equal(c.AMR, []string{"pwd", "sms", "mfa"}) {
			t.Fatalf("amr %v", c.AMR)
		}

		// Removing it needs a fresh proof: six minutes later, the password again (the account client's policy
		// does not list sms, so the code is no proof there and is not asked).
		s.Clock.Advance(6 * time.Minute)
		p = b2.Get(s.URL + "/account")
		texts := len(s.SMS.Received("+15551234567")) // codes, and the security notifications the number also gets
		r = b2.Submit(p, "remove-phone", nil)
		if !strings.Contains(r.Body, `id="login"`) {
			t.Fatalf("removing the number without a fresh proof: %d %s\n%s", r.Status, r.URL, r.Body)
		}
		r = b2.Submit(r, "login", map[string]string{"username": "alice", "password": alicePassword})
		if r.URL.Path != "/account" || len(s.SMS.Received("+15551234567")) != texts {
			t.Fatalf("after proving it again: %d %s", r.Status, r.URL)
		}
		r = b2.Submit(r, "remove-phone", nil)
		if u := userNamed(t, s, "alice"); r.Status != http.StatusOK || u.Phone != "" || !strings.Contains(r.Body, "Your phone number was removed") {
			t.Fatalf("after removing: %d, number %q", r.Status, u.Phone)
		}
		if liveCode(t, s, alice.ID, storage.PurposeSignInSMS) != nil {
			t.Fatal("a code sent to the removed number is still live")
		}
	})
}

// The console's policy form offers email and sms codes, unticked on a new policy, marked as the weaker choice with
// a note that says why; a policy saved with email lists it.
func TestTheConsoleOffersEmailAndSMSCodesAsTheWeakerChoice(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: adminFixture(), Mailbox: apptest.NewMailbox(t)})
	b, _ := consoleSignIn(t, s)
	p := b.Get(s.URL + "/admin/policies/new")
	for _, want := range []string{
		`value="email" aria-describedby="weaker-methods-note"> email <span class="badge badge-warning">weaker</span>`,
		`value="sms" aria-describedby="weaker-methods-note"> sms <span class="badge badge-warning">weaker</span>`,
		`id="weaker-methods-note"`, "NIST SP 800-63B",
	} {
		if !strings.Contains(p.Body, want) {
			t.Fatalf("the new policy form lacks %q:\n%s", want, p.Body)
		}
	}
	_, values := p.Form(t, "policy-form")
	if m := values["methods"]; slices.Contains(m, "email") || slices.Contains(m, "sms") || !slices.Contains(m, "totp") {
		t.Fatalf("a new policy ticks %v", m)
	}
	r := b.SubmitValues(p, "policy-form", url.Values{"name": {"field-staff"}, "methods": {"totp", "email"}, "action": {"save"}})
	rec, err := s.Dir.Policy(t.Context(), "field-staff")
	if err != nil || !slices.Equal(rec.Policy.Methods, []policy.Method{policy.TOTP, policy.Email}) {
		t.Fatalf("saved %+v, %v (page %d)", rec.Policy, err, r.Status)
	}
}

// The policy simulator shows the email and SMS codes like any factor: offered where the policies list them and the
// user has a verified address or number, counted toward mfa when proven, and said not to count where a policy
// does not list them.
func TestTheSimulatorExplainsEmailAndSMSCodes(t *testing.T) {
	st := codesFixture(policy.TOTP, policy.Email, policy.SMS)
	st.Policies = append(st.Policies, policy.Policy{Name: "apps", RequireMFA: policy.Always})
	st.Clients[1].Policy = "apps" // thirdparty: default methods
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: st, Mailbox: apptest.NewMailbox(t), SMS: apptest.NewSMSReceiver(t)})
	verifyEmail(t, s, "alice")
	verifyPhone(t, s, "alice", "+15551234567")
	sim := func(client string, session ...login.SimulatedFactor) login.SimulationResult {
		t.Helper()
		r, err := s.App.Flow.Simulate(t.Context(), login.Simulation{User: "alice", ClientID: client, Session: session})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := sim("app")
	if !r.SignIn || r.Outcome != login.OutcomeSecondFactor || !slices.Equal(r.Methods, []string{"email", "sms"}) ||
		!slices.Equal(r.MethodsAllowed, []string{"totp", "email", "sms"}) || !slices.Equal(r.User.Enrolled, []string{"email", "sms"}) {
		t.Fatalf("at app: %+v", r)
	}
	r = sim("app", login.SimulatedFactor{Method: "pwd", Age: 60}, login.SimulatedFactor{Method: "sms", Age: 30})
	if r.Outcome != login.OutcomeNone || r.ACR != idp.ACRMFA {
		t.Fatalf("after pwd and sms at app: %+v", r)
	}
	r = sim(thirdPartyID, login.SimulatedFactor{Method: "pwd", Age: 60}, login.SimulatedFactor{Method: "email", Age: 30})
	if r.Outcome != login.OutcomeEnrollment || slices.Contains(r.Methods, "email") || !strings.Contains(strings.Join(r.Explanation, "\n"), "email is not allowed by every policy") {
		t.Fatalf("after pwd and email where email is not listed: %+v", r)
	}
}
