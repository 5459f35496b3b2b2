package apptest_test

import (
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

// The administrator's sentence, as configuration: "staff need MFA
// everywhere, contractors need a passkey for the finance app, everyone else
// gets MFA when an app asks".
func adminGuideFixture() directory.Static {
	st := staticFixture()
	st.Policies = []policy.Policy{
		{Name: "strict", RequireMFA: policy.Always},
		{Name: "contractor-finance", RequireMFA: policy.Always, MinLevel: policy.LevelPhishingResistant, Methods: []policy.Method{policy.WebAuthn}, Clients: []string{"books"}},
		{Name: "relaxed", RequireMFA: policy.OnRequest},
	}
	st.DefaultPolicy = "relaxed"
	st.Groups = []directory.Group{{Name: "staff", Policy: "strict"}, {Name: "contractors", Policy: "contractor-finance"}}
	st.Clients = append(st.Clients, directory.ClientSpec{ID: "books", Name: "Finance", Secret: appSecret, RedirectURIs: []string{appRedirect}, SkipConsent: true})
	st.Users = append(st.Users,
		directory.NewUser{Username: "sam", Password: alicePassword, Groups: []string{"staff"}},
		directory.NewUser{Username: "carl", Password: alicePassword, Groups: []string{"contractors"}},
		directory.NewUser{Username: "erin", Password: alicePassword},
	)
	return st
}

func TestTheAdminGuidePolicies(t *testing.T) {
	eachDatabaseServer(t, adminGuideFixture(), func(t *testing.T, s *apptest.Server) {
		app := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		books := apptest.NewRP(t, s, "books", appSecret, appRedirect)
		signIn := func(rp *apptest.RP, user string, extra ...oauth2.AuthCodeOption) *apptest.Page {
			return apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce, extra...), user, alicePassword)
		}
		acr := func(rp *apptest.RP, p *apptest.Page) string {
			code, _ := apptest.Code(t, p)
			tok, err := rp.Exchange(code, pkce)
			if err != nil {
				t.Fatal(err)
			}
			_, c := rp.IDToken(tok)
			return c.ACR
		}

		t.Run("staff need MFA everywhere", func(t *testing.T) {
			for _, rp := range []*apptest.RP{app, books} {
				if p := signIn(rp, "sam"); p.Redirect != nil || !strings.Contains(p.Body, `data-enroll=`) {
					t.Fatalf("sam at %s: no MFA enrollment (status %d, redirect %v)", rp.Config.ClientID, p.Status, p.Redirect)
				}
			}
		})
		t.Run("contractors need a passkey for the finance app", func(t *testing.T) {
			p := signIn(books, "carl")
			if !strings.Contains(p.Body, `data-enroll="webauthn"`) || strings.Contains(p.Body, `data-enroll="totp"`) {
				t.Fatalf("carl at books: want a passkey enrollment only:\n%s", p.Body)
			}
		})
		t.Run("contractors need nothing more elsewhere", func(t *testing.T) {
			if got := acr(app, signIn(app, "carl")); got != idp.ACRPassword {
				t.Fatalf("carl at app: acr %s", got)
			}
		})
		t.Run("everyone else signs in with a password", func(t *testing.T) {
			if got := acr(app, signIn(app, "erin")); got != idp.ACRPassword {
				t.Fatalf("erin at app: acr %s", got)
			}
		})
		t.Run("everyone else gets MFA when an app insists", func(t *testing.T) {
			claims := `{"id_token":{"acr":{"essential":true,"value":"urn:twofold:acr:mfa"}}}`
			if p := signIn(app, "erin", oauth2.SetAuthURLParam("claims", claims)); p.Redirect != nil || !strings.Contains(p.Body, `data-enroll=`) {
				t.Fatalf("erin with an essential mfa: no enrollment (status %d, redirect %v)", p.Status, p.Redirect)
			}
		})
		// SECURITY-RULES: "a voluntary `acr_values` is never claimed without being performed (OIDC Core §5.5.1.1, RFC
		// 9470)"
		t.Run("a voluntary request is answered with the level reached", func(t *testing.T) {
			if got := acr(app, signIn(app, "erin", oauth2.SetAuthURLParam("acr_values", idp.ACRMFA))); got != idp.ACRPassword {
				t.Fatalf("erin with acr_values mfa and no factor: acr %s", got)
			}
		})
	})
}

// SECURITY-RULES: "`prompt=none` never shows a page — not login, not step-up, not consent — it answers
// `login_required`/`interaction_required`/`consent_required` (OIDC Core §3.1.2.6)"
// — a stale second factor at prompt=none is interaction_required, not the step-up page.
func TestMFAMaxAgeAsksTheSecondFactorAgainWithoutThePassword(t *testing.T) {
	st := mfaFixture()
	st.Policies[0].MFAMaxAge = time.Hour
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: st})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	b := apptest.NewBrowser(t, s)
	secret, _, end := enrollTOTP(t, s, b, rp)
	apptest.Code(t, end)

	s.Clock.Advance(30 * time.Minute)
	apptest.Code(t, b.Get(rp.AuthURL("s", "n", pkce))) // within the hour: silent SSO

	s.Clock.Advance(time.Hour)
	p := b.Get(rp.AuthURL("s", "n", pkce))
	if !strings.Contains(p.Body, `id="mfa-totp"`) || strings.Contains(p.Body, `id="login"`) {
		t.Fatalf("after mfa_max_age: want the TOTP challenge and no password form:\n%s", p.Body)
	}
	p = b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
	code, _ := apptest.Code(t, p)
	tok, err := rp.Exchange(code, pkce)
	if err != nil {
		t.Fatal(err)
	}
	if _, c := rp.IDToken(tok); c.ACR != idp.ACRMFA || c.AuthTime != s.Clock.Now().Unix() {
		t.Fatalf("after the step-up: acr %s auth_time %d (now %d)", c.ACR, c.AuthTime, s.Clock.Now().Unix())
	}
	// prompt=none with the stale factor is interaction_required, never a page.
	s.Clock.Advance(2 * time.Hour)
	if q := apptest.Query(t, b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none")))); q.Get("error") != "interaction_required" {
		t.Fatalf("prompt=none with a stale second factor: %v", q)
	}
}

func TestARememberedDeviceSkipsPolicyMFAButNeverAPasskeyDemand(t *testing.T) {
	st := mfaFixture()
	st.Policies[0].RememberDevice = 30 * 24 * time.Hour
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: st})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	b := apptest.NewBrowser(t, s)
	secret, _, end := enrollTOTP(t, s, b, rp)
	apptest.Code(t, end)

	// A new sign-in in the same browser, ticking "remember this device".
	s.Clock.Advance(time.Minute)
	p := b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "login")))
	p = b.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword})
	if !strings.Contains(p.Body, `id="remember-device"`) {
		t.Fatalf("no remember-this-device box although the policy allows it:\n%s", p.Body)
	}
	apptest.Code(t, b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now())), "remember_device": "1"}))
	if b.Cookie(idp.DeviceCookieBase) == "" {
		t.Fatal("no device cookie")
	}

	// Next time the password is enough in this browser, for the policy's MFA.
	s.Clock.Advance(time.Hour)
	p = b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "login")))
	p = b.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword})
	code, _ := apptest.Code(t, p)
	tok, err := rp.Exchange(code, pkce)
	if err != nil {
		t.Fatal(err)
	}
	if _, c := rp.IDToken(tok); c.ACR != idp.ACRMFA {
		t.Fatalf("with a remembered device: acr %s", c.ACR)
	}

	// An explicit demand is never satisfied by it: the second factor is asked.
	p = b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"value":"urn:twofold:acr:phr"}}}`)))
	if !strings.Contains(p.Body, `id="mfa-totp"`) {
		t.Fatalf("an essential phr with a remembered device: want the TOTP proof before a passkey enrollment:\n%s", p.Body)
	}
	// Another browser is not remembered.
	other := apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
	if !strings.Contains(other.Body, `id="mfa-totp"`) {
		t.Fatalf("another browser skipped the second factor")
	}
}

func TestAPolicyChangeAppliesToTheNextSignInAndTheDecisionIsAudited(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	apptest.Code(t, apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword))

	ctx := t.Context()
	// The file changes and the server restarts: the client "app" is the file's.
	st := staticFixture()
	st.Policies = []policy.Policy{{Name: "strict", RequireMFA: policy.Always}}
	st.Clients[0].Policy = "strict"
	if err := s.Dir.ApplyStatic(ctx, st); err != nil {
		t.Fatal(err)
	}
	if p := apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword); !strings.Contains(p.Body, `data-enroll=`) {
		t.Fatalf("the new policy did not apply to the next sign-in:\n%s", p.Body)
	}
	// Viewing the same step again decides nothing new: one row per decision
	// that changed the flow, not one per page view.
	b := apptest.NewBrowser(t, s)
	p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
	for range 3 {
		b.Get(p.URL.String())
	}
	events, err := s.Dir.Audit(ctx, "alice", "policy.decision", 10)
	if err != nil || len(events) != 2 {
		t.Fatalf("want one audited decision for each of the two sign-ins, got %d: %v", len(events), err)
	}
	if reason, _ := events[0].Details["reason"].(string); !strings.Contains(reason, "policy strict (client app) requires MFA") {
		t.Fatalf("the audit does not say why: %+v", events[0].Details)
	}
}
