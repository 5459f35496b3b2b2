package apptest_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// mfaFixture: "app" is under a policy that always requires MFA.
func mfaFixture() directory.Static {
	st := staticFixture()
	st.Policies = []policy.Policy{
		{Name: "strict", RequireMFA: policy.Always},
		{Name: "relaxed", RequireMFA: policy.OnRequest},
	}
	st.Clients[0].Policy = "strict"
	st.Clients[1].Policy = "relaxed" // thirdparty
	return st
}

var backupCodeRE = regexp.MustCompile(`class="backup-code">([^<]+)<`)

// enrollTOTP signs alice in to app, enrolls an authenticator app as the
// forced second factor, saves the backup codes, and returns the secret,
// the codes and the page the server ended on.
func enrollTOTP(t *testing.T, s *apptest.Server, b *apptest.Browser, rp *apptest.RP) (secret []byte, codes []string, end *apptest.Page) {
	t.Helper()
	p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
	if !strings.Contains(p.Body, `data-enroll="totp"`) {
		t.Fatalf("no enrollment choice after the password: %d\n%s", p.Status, p.Body)
	}
	_, id := "", p.URL.Query().Get("id")
	p = b.Get(s.URL + "/login/enroll/totp?id=" + id)
	m := regexp.MustCompile(`id="otpauth-uri" href="([^"]+)"`).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no otpauth link:\n%s", p.Body)
	}
	key, err := totp.ParseURI(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatalf("otpauth URI %q: %v", m[1], err)
	}
	if !strings.Contains(p.Body, `src="data:image/png;base64,`) {
		t.Fatal("no QR code image")
	}
	wrong := b.Submit(p, "enroll-totp", map[string]string{"code": "000000"})
	if wrong.Status != http.StatusUnauthorized || !strings.Contains(wrong.Body, `role="alert"`) {
		t.Fatalf("a wrong enrollment code: %d", wrong.Status)
	}
	code := totp.Code(key.Secret, totp.Step(s.Clock.Now()))
	p = b.Submit(wrong, "enroll-totp", map[string]string{"code": code})
	for _, c := range backupCodeRE.FindAllStringSubmatch(p.Body, -1) {
		codes = append(codes, c[1])
	}
	if len(codes) != 10 || p.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("backup codes page: %d codes, Cache-Control %q\n%s", len(codes), p.Header.Get("Cache-Control"), p.Body)
	}
	return key.Secret, codes, b.Submit(p, "backup-codes-ack", nil)
}

// SECURITY-RULES: "The session cookie value changes after the password, after each second factor and after every
// step-up; the old value then means nothing"
// SECURITY-RULES: "TOTP: … a code of a step at or before the last accepted one is refused, also across sessions and
// replicas"
// SECURITY-RULES: "TOTP: … verify with server time"
// SECURITY-RULES: "Backup codes: … single use"
// SECURITY-RULES: "Backup codes: … shown once with `Cache-Control: no-store`"
// SECURITY-RULES: "`amr` is an array …; `mfa` only when two different kinds of factor were used"
// — the cookie changes after the second factor; a used TOTP step is refused in another browser; codes judged at the
// server clock; a backup code works once; enrollTOTP checks the codes page is no-store; TOTP after the password is
// amr pwd otp mfa.
func TestForcedTOTPEnrollmentThenChallenges(t *testing.T) {
	eachDatabaseServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		secret, codes, end := enrollTOTP(t, s, b, rp)
		code, _ := apptest.Code(t, end)
		tok, err := rp.Exchange(code, pkce)
		if err != nil {
			t.Fatal(err)
		}
		_, c := rp.IDToken(tok)
		if c.ACR != idp.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) {
			t.Fatalf("after enrollment: acr %s amr %v", c.ACR, c.AMR)
		}

		// A new browser: password, then the TOTP challenge.
		s.Clock.Advance(30 * time.Second)
		b2 := apptest.NewBrowser(t, s)
		p := b2.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(p.Body, `id="mfa-totp"`) || !strings.Contains(p.Body, `data-method="backup_code"`) {
			t.Fatalf("no TOTP challenge with a backup-code link:\n%s", p.Body)
		}
		before := b2.Cookie(idp.SessionCookieBase)
		step := totp.Step(s.Clock.Now())
		done := b2.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, step)})
		apptest.Code(t, done)
		if after := b2.Cookie(idp.SessionCookieBase); after == before || after == "" {
			t.Fatal("the session cookie did not change after the second factor")
		}

		// The same code again, in a third browser: a replay.
		b3 := apptest.NewBrowser(t, s)
		p = b3.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if r := b3.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, step)}); r.Status != http.StatusUnauthorized {
			t.Fatalf("a replayed TOTP code: %d", r.Status)
		}
		// A backup code works once.
		p = b3.Get(p.URL.String() + "&method=backup_code")
		apptest.Code(t, b3.Submit(p, "mfa-backup-code", map[string]string{"code": strings.ToUpper(strings.ReplaceAll(codes[0], "-", ""))}))
		b4 := apptest.NewBrowser(t, s)
		p = b4.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		p = b4.Get(p.URL.String() + "&method=backup_code")
		if r := b4.Submit(p, "mfa-backup-code", map[string]string{"code": codes[0]}); r.Status != http.StatusUnauthorized {
			t.Fatalf("a used backup code: %d", r.Status)
		}
	})
}

// SECURITY-RULES: "Failed-attempt limiting per account across the OTP-type factors (TOTP + backup codes together) …;
// while throttled even the correct code is refused"
func TestSecondFactorFailuresAreThrottledEvenForTheRightCode(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: mfaFixture()})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	secret, _, _ := enrollTOTP(t, s, apptest.NewBrowser(t, s), rp)
	s.Clock.Advance(30 * time.Second)
	b := apptest.NewBrowser(t, s)
	p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
	var r *apptest.Page
	for range 5 {
		r = b.Submit(p, "mfa-totp", map[string]string{"code": "000000"})
	}
	r = b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after 5 failures the right code got %d", r.Status)
	}
	s.Clock.Advance(16 * time.Minute)
	apptest.Code(t, b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))}))
}

// SECURITY-RULES: "A half-authenticated session (password done, second factor pending) is not a session: no code,
// no silent SSO."
func TestAPendingSignInIsNoSessionForPromptNoneOrTheAccount(t *testing.T) {
	eachDatabaseServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		relaxed := apptest.NewRP(t, s, thirdPartyID, appSecret, thirdRedirect)
		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword) // password done, enrollment pending
		if p.Redirect != nil {
			t.Fatalf("a half-authenticated session got a redirect: %s", p.Redirect)
		}
		// Not even at a client whose policy needs no second factor.
		for _, c := range []*apptest.RP{rp, relaxed} {
			q := apptest.Query(t, b.Get(c.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none"))))
			if q.Get("error") != "login_required" || q.Get("code") != "" {
				t.Fatalf("prompt=none at %s with a pending sign-in: %v", c.Config.ClientID, q)
			}
		}
		// The account pages send it to sign in, showing nothing of the account.
		a := b.Get(s.URL + "/account")
		if strings.Contains(a.Body, "alice@example.com") || strings.Contains(a.Body, `action="/account/sessions/end"`) {
			t.Fatalf("the account opened for a pending sign-in: %d %s\n%s", a.Status, a.URL, a.Body)
		}
	})
}

// SECURITY-RULES: "`prompt=none` never shows a page — not login, not step-up, not consent — it answers
// `login_required`/`interaction_required`/`consent_required` (OIDC Core §3.1.2.6)"
// — interaction_required.
func TestACompleteSessionNeedingMoreIsInteractionRequiredAtPromptNone(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: mfaFixture()})
	relaxed := apptest.NewRP(t, s, thirdPartyID, appSecret, thirdRedirect)
	b := apptest.NewBrowser(t, s)
	p := b.Login(relaxed.AuthURL("s", "n", pkce), "alice", alicePassword)
	apptest.Code(t, b.Submit(p, "consent", map[string]string{"decision": "allow"}))
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	q := apptest.Query(t, b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none"))))
	if q.Get("error") != "interaction_required" {
		t.Fatalf("prompt=none: %v", q)
	}
}

// SECURITY-RULES: "`amr` is an array …; `mfa` only when two different kinds of factor were used"
// — a user-verifying passkey (possession and inherence) is hwk user mfa.
func TestWebAuthnSecurityKeyAndPasskeySignIn(t *testing.T) {
	eachDatabaseServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		alice, err := s.Dir.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		key := apptest.NewAuthenticator(t, s, alice.ID, true)

		// Forced enrollment with a passkey.
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		id := p.URL.Query().Get("id")
		p = b.Get(s.URL + "/login/enroll/webauthn?id=" + id)
		if !strings.Contains(p.Body, `id="webauthn-register"`) {
			t.Fatalf("no registration button:\n%s", p.Body)
		}
		p = b.WebAuthn(p, "/login/webauthn/register/begin", "/login/webauthn/register/finish", func(begin []byte, id string) []byte {
			return key.Register(begin, id, "Test key")
		})
		if !strings.Contains(p.Body, `class="backup-code"`) {
			t.Fatalf("no backup codes after registering:\n%s", p.Body)
		}
		apptest.Code(t, b.Submit(p, "backup-codes-ack", nil))

		// As a second factor after the password.
		b2 := apptest.NewBrowser(t, s)
		p = b2.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(p.Body, `id="mfa-webauthn"`) || !strings.Contains(p.Body, `id="webauthn-verify"`) {
			t.Fatalf("no WebAuthn challenge:\n%s", p.Body)
		}
		end := b2.WebAuthn(p, "/login/webauthn/begin", "/login/webauthn/finish", key.Assert)
		code, _ := apptest.Code(t, end)
		tok, err := rp.Exchange(code, pkce)
		if err != nil {
			t.Fatal(err)
		}
		// The virtual security key is device-bound (backup-eligible flag
		// clear) and verifies the user: phrh.
		if _, c := rp.IDToken(tok); c.ACR != idp.ACRPhishingResistantHardware || !slices.Contains(c.AMR, "hwk") || !slices.Contains(c.AMR, "mfa") {
			t.Fatalf("security key as second factor: acr %s amr %v", c.ACR, c.AMR)
		}

		// Passwordless: the passkey alone, from the login page.
		b3 := apptest.NewBrowser(t, s)
		p = b3.Get(rp.AuthURL("s", "n", pkce))
		if !strings.Contains(p.Body, `id="passkey-login"`) {
			t.Fatal("no passkey button on the login page")
		}
		end = b3.WebAuthn(p, "/login/passkey/begin", "/login/passkey/finish", key.Assert)
		code, _ = apptest.Code(t, end)
		tok, err = rp.Exchange(code, pkce)
		if err != nil {
			t.Fatal(err)
		}
		_, c := rp.IDToken(tok)
		if c.ACR != idp.ACRPhishingResistantHardware || !slices.Equal(c.AMR, []string{"hwk", "user", "mfa"}) || c.Subject != alice.ID {
			t.Fatalf("passkey sign-in: acr %s amr %v sub %s", c.ACR, c.AMR, c.Subject)
		}
	})
}

// SECURITY-RULES: "Adding or removing a factor, regenerating codes or changing the password requires a fresh proof of
// an existing factor"
// SECURITY-RULES: "An essential `acr` that cannot be met is a failed authentication (error, no code)"
// — adding a passkey first asks for the existing TOTP; no code below the essential level.
func TestEssentialPhishingResistantForATOTPOnlyUserMeansPasskeyEnrollment(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: mfaFixture()})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	secret, _, _ := enrollTOTP(t, s, apptest.NewBrowser(t, s), rp)
	s.Clock.Advance(30 * time.Second)
	third := apptest.NewRP(t, s, thirdPartyID, appSecret, thirdRedirect)
	b := apptest.NewBrowser(t, s)
	claims := `{"id_token":{"acr":{"essential":true,"values":["urn:twofold:acr:phr"]}}}`
	p := b.Login(third.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("claims", claims)), "alice", alicePassword)
	// First a fresh proof of the factor alice has, then the passkey enrollment.
	if !strings.Contains(p.Body, `id="mfa-totp"`) {
		t.Fatalf("no proof of the existing factor before enrolling:\n%s", p.Body)
	}
	p = b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
	if !strings.Contains(p.Body, `data-enroll="webauthn"`) || strings.Contains(p.Body, `data-enroll="totp"`) {
		t.Fatalf("essential phr must offer only a passkey enrollment:\n%s", p.Body)
	}
	// Never a lower acr: declining is not an option that issues a code.
	if p.Redirect != nil {
		t.Fatalf("redirected before a passkey: %s", p.Redirect)
	}
}

// SECURITY-RULES: "An essential `acr` that cannot be met is a failed authentication (error, no code)"
func TestUnmetRequirementsEndAtTheClient(t *testing.T) {
	st := mfaFixture()
	st.Policies = append(st.Policies, policy.Policy{Name: "totponly", RequireMFA: policy.OnRequest, Methods: []policy.Method{policy.TOTP}})
	st.Clients[1].Policy = "totponly"
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: st})
	third := apptest.NewRP(t, s, thirdPartyID, appSecret, thirdRedirect)
	claims := `{"id_token":{"acr":{"essential":true,"value":"urn:twofold:acr:phr"}}}`
	b := apptest.NewBrowser(t, s)
	p := b.Login(third.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("claims", claims)), "alice", alicePassword)
	q := apptest.Query(t, p)
	if q.Get("error") != "unmet_authentication_requirements" || q.Get("iss") != s.URL || q.Get("state") != "s" {
		t.Fatalf("unmet requirement: %s", p.Redirect)
	}
}

func TestAnAdministratorResetOfSecondFactorsLeadsToANewEnrollment(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: mfaFixture()})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	b := apptest.NewBrowser(t, s)
	_, _, end := enrollTOTP(t, s, b, rp)
	apptest.Code(t, end)
	if err := s.Dir.ResetMFA(context.Background(), idp.ActorCLI, "alice"); err != nil {
		t.Fatal(err)
	}
	// The session ended with the reset; the next sign-in enrolls again.
	p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
	if !strings.Contains(p.Body, `data-enroll="totp"`) {
		t.Fatalf("after a reset: want a new enrollment:\n%s", p.Body)
	}
}
