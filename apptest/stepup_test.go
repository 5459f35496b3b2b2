package apptest_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/account"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// exchange redeems the code a page carries and returns the ID token claims.
func exchange(t *testing.T, rp *apptest.RP, p *apptest.Page) apptest.Claims {
	t.Helper()
	code, _ := apptest.Code(t, p)
	tok, err := rp.Exchange(code, pkce)
	if err != nil {
		t.Fatal(err)
	}
	_, c := rp.IDToken(tok)
	return c
}

// SECURITY-RULES: "A half-authenticated session (password done, second factor pending) is not a session"
// (issue 9 item 1): the account pages require the user's full level at the account client, whose own policy
// applies there too, even for a complete session from a laxer application.
func TestTheAccountAsksForTheFullLevelOfItsOwnPolicy(t *testing.T) {
	eachDatabaseServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		// The account pages' own policy, made strict (the built-in client itself cannot be changed).
		rec, err := s.Dir.Policy(t.Context(), account.AccountPolicy)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Dir.UpdatePolicy(t.Context(), idp.ActorCLI, account.AccountPolicy, rec.Version, policy.Policy{Name: account.AccountPolicy, RequireMFA: policy.Always}); err != nil {
			t.Fatal(err)
		}
		relaxed := apptest.NewRP(t, s, thirdPartyID, appSecret, thirdRedirect)
		b := apptest.NewBrowser(t, s)
		p := b.Login(relaxed.AuthURL("s", "n", pkce), "alice", alicePassword)
		apptest.Code(t, b.Submit(p, "consent", map[string]string{"decision": "allow"})) // password only: complete here
		a := b.Get(s.URL + "/account")
		if strings.Contains(a.Body, "alice@example.com") || !strings.Contains(a.Body, `data-enroll=`) {
			t.Fatalf("the account opened on a password-only session under a strict account policy: %d %s\n%s", a.Status, a.URL, a.Body)
		}
	})
}

// Issue 9 item 2: methods is an allow-list that is enforced — a factor outside it proves nothing, and the
// challenge page offers only the allowed ones.
func TestAFactorOutsideThePolicyMethodsIsRefused(t *testing.T) {
	eachDatabaseServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		_, codes, end := enrollTOTP(t, s, b, rp)
		apptest.Code(t, end)
		// From now on the app's policy (the file's) accepts TOTP only.
		st := mfaFixture()
		st.Policies[0].Methods = []policy.Method{policy.TOTP}
		if err := s.Dir.ApplyStatic(t.Context(), st); err != nil {
			t.Fatal(err)
		}
		b2 := apptest.NewBrowser(t, s)
		p := b2.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(p.Body, `id="mfa-totp"`) || strings.Contains(p.Body, `data-method="backup_code"`) {
			t.Fatalf("the challenge offers a method the policy excludes:\n%s", p.Body)
		}
		id := p.URL.Query().Get("id")
		_, form := p.Form(t, "mfa-totp")
		csrf := form.Get("csrf_token")
		r := b2.PostForm(s.URL+"/login/mfa/backup-code", map[string]string{"id": id, "csrf_token": csrf, "code": codes[0]})
		if r.Redirect != nil || r.Status < 400 {
			t.Fatalf("a backup code outside the policy's methods was accepted: %d %v", r.Status, r.Redirect)
		}
		if n, err := s.Store.CountUnusedBackupCodes(t.Context(), mustUserID(t, s, "alice")); err != nil || n != int64(len(codes)) {
			t.Fatalf("the refused backup code was used up: %d left of %d (%v)", n, len(codes), err)
		}
	})
}

func mustUserID(t *testing.T, s *apptest.Server, username string) string {
	t.Helper()
	u, err := s.Dir.GetUserByUsername(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// SECURITY-RULES: "prompt=login and max_age older than the session force active re-authentication" (issue 9
// item 6): a second factor posted to such a request proves nothing, and the amr lists only what this
// authentication proved.
func TestPromptLoginCannotBeSatisfiedByASecondFactorAlone(t *testing.T) {
	eachDatabaseServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		secret, _, end := enrollTOTP(t, s, b, rp)
		apptest.Code(t, end)
		s.Clock.Advance(time.Minute)
		for _, extra := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "30")} {
			p := b.Get(rp.AuthURL("s", "n", pkce, extra))
			if !strings.Contains(p.Body, `id="login"`) {
				t.Fatalf("no password form: %d %v %v\n%s", p.Status, p.URL, p.Redirect, p.Body)
			}
			id := p.URL.Query().Get("id")
			_, form := p.Form(t, "login")
			csrf := form.Get("csrf_token")
			s.Clock.Advance(30 * time.Second) // a new TOTP step
			r := b.PostForm(s.URL+"/login/mfa/totp", map[string]string{"id": id, "csrf_token": csrf, "code": totp.Code(secret, totp.Step(s.Clock.Now()))})
			if r.Redirect != nil {
				t.Fatalf("a TOTP code alone satisfied a re-authentication: %v", r.Redirect)
			}
			// The password, then the code: amr says both, from this authentication.
			p = b.Submit(b.Get(rp.AuthURL("s", "n", pkce, extra)), "login", map[string]string{"username": "alice", "password": alicePassword})
			s.Clock.Advance(30 * time.Second)
			c := exchange(t, rp, b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))}))
			if c.ACR != idp.ACRMFA || !hasAll(c.AMR, "pwd", "otp", "mfa") {
				t.Fatalf("after the password and the code: acr %s amr %v", c.ACR, c.AMR)
			}
			s.Clock.Advance(time.Minute)
		}
	})
}

// Issue 9 item 7: a device remembered under a 30-day policy counts only within the shortest remember_device of
// the policies of the sign-in, and the amr says what was proven plus the device, not mfa.
// SECURITY-RULES: "`amr` is an array …; `mfa` only when two different kinds of factor were used"
// — a password and a remembered device are not mfa.
func TestARememberedDeviceHonoursThePolicyThatAsks(t *testing.T) {
	st := mfaFixture()
	st.Policies[0].RememberDevice = 30 * 24 * time.Hour
	st.Policies = append(st.Policies, policy.Policy{Name: "brief", RequireMFA: policy.Always, RememberDevice: time.Minute})
	st.Clients[2].Policy = "brief" // the public client
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: st})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	b := apptest.NewBrowser(t, s)
	secret, _, end := enrollTOTP(t, s, b, rp)
	apptest.Code(t, end)

	s.Clock.Advance(time.Minute)
	p := b.Submit(b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "login"))), "login", map[string]string{"username": "alice", "password": alicePassword})
	apptest.Code(t, b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now())), "remember_device": "1"}))

	s.Clock.Advance(time.Hour)
	p = b.Submit(b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "login"))), "login", map[string]string{"username": "alice", "password": alicePassword})
	c := exchange(t, rp, p)
	if c.ACR != idp.ACRMFA || slices.Contains(c.AMR, "mfa") || !hasAll(c.AMR, "pwd", "rdev") {
		t.Fatalf("with a remembered device: acr %s amr %v, want mfa with pwd and rdev but no mfa amr", c.ACR, c.AMR)
	}
	// An hour old, the device is too old for the one-minute policy of the public client.
	spa := apptest.NewRP(t, s, publicClientID, "", publicRedirect)
	s.Clock.Advance(time.Second)
	p = b.Get(spa.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "login")))
	if !strings.Contains(p.Body, `id="login"`) {
		t.Fatalf("no password form: %d %v %v\n%s", p.Status, p.URL, p.Redirect, p.Body)
	}
	p = b.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword})
	if !strings.Contains(p.Body, `id="mfa-totp"`) {
		t.Fatalf("a device remembered an hour ago skipped a policy that remembers for a minute:\n%s", p.Body)
	}
}

// SECURITY-RULES: "An essential acr that cannot be met is a failed authentication (error, no code); a voluntary
// acr_values is never claimed without being performed" (issue 9 item 9).
func TestACRValuesAsRelyingPartiesSpeakThem(t *testing.T) {
	eachDatabaseServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		relaxed := apptest.NewRP(t, s, thirdPartyID, appSecret, thirdRedirect)
		b := apptest.NewBrowser(t, s)
		secret, _, end := enrollTOTP(t, s, b, rp)
		apptest.Code(t, end)

		// An essential acr Twofold does not know: unmet, no code.
		q := apptest.Query(t, b.Get(relaxed.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"values":["urn:example:gold"]}}}`))))
		if q.Get("error") != "unmet_authentication_requirements" || q.Get("code") != "" {
			t.Fatalf("an unknown essential acr: %v", q)
		}
		// phr asked, no passkey, TOTP enrolled: the TOTP challenge, and acr mfa.
		b2 := apptest.NewBrowser(t, s)
		p := b2.Login(relaxed.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("acr_values", "phr")), "alice", alicePassword)
		if !strings.Contains(p.Body, `id="mfa-totp"`) {
			t.Fatalf("acr_values=phr for a TOTP user: want the TOTP challenge, not a silent pwd:\n%s", p.Body)
		}
		s.Clock.Advance(30 * time.Second)
		p = b2.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
		p = b2.Submit(p, "consent", map[string]string{"decision": "allow"})
		if c := exchange(t, relaxed, p); c.ACR != idp.ACRMFA {
			t.Fatalf("acr_values=phr met at mfa: acr %s", c.ACR)
		}
		// The PAPE multi-factor value asked for and met comes back as written.
		if c := exchange(t, relaxed, b2.Get(relaxed.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("acr_values", idp.ACRPAPEMultiFactor)))); c.ACR != idp.ACRPAPEMultiFactor {
			t.Fatalf("acr_values=PAPE multi-factor: acr %s", c.ACR)
		}
		var disc struct {
			ACRValues []string `json:"acr_values_supported"`
		}
		getJSON(t, s.URL+"/.well-known/openid-configuration", &disc)
		for _, v := range []string{"phr", "phrh", idp.ACRMFA} {
			if !slices.Contains(disc.ACRValues, v) {
				t.Fatalf("discovery acr_values_supported lacks %q: %v", v, disc.ACRValues)
			}
		}
	})
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
