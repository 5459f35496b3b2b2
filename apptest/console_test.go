package apptest_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// consoleSignIn opens the admin console as root: the console's own policy
// makes root enroll an authenticator app on the way. It returns the
// browser, on the console's overview, and the app's secret.
func consoleSignIn(t *testing.T, s *apptest.Server) (*apptest.Browser, []byte) {
	t.Helper()
	b := apptest.NewBrowser(t, s)
	p := b.Login(s.URL+"/admin/", "root", rootPassword)
	if !strings.Contains(p.Body, `data-enroll="totp"`) {
		t.Fatalf("the console did not make root enroll a second factor: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	p = b.Get(s.URL + "/login/enroll/totp?id=" + p.URL.Query().Get("id"))
	m := regexp.MustCompile(`id="otpauth-uri" href="([^"]+)"`).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no TOTP enrollment: %d\n%s", p.Status, p.Body)
	}
	key, err := totp.ParseURI(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	p = b.Submit(p, "enroll-totp", map[string]string{"code": totp.Code(key.Secret, totp.Step(s.Clock.Now()))})
	p = b.Submit(p, "backup-codes-ack", nil)
	if p.Status != http.StatusOK || p.URL.Path != "/admin/" || !strings.Contains(p.Body, `aria-label="Admin console"`) {
		t.Fatalf("after signing in, not on the console: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	return b, key.Secret
}

// SECURITY-RULES: "CSRF token on every state-changing POST; missing or wrong → 403, nothing changes; also refuse
// cross-site `Sec-Fetch-Site`/`Origin` on those POSTs."
func TestConsolePolicies(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		b, _ := consoleSignIn(t, s)
		if _, err := s.Dir.CreateGroup(t.Context(), idp.Actor{ID: "test"}, directory.Group{Name: "ops"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Dir.CreateUserRecord(t.Context(), idp.Actor{ID: "test"}, directory.NewUser{Username: "olga", Password: alicePassword, Groups: []string{"ops"}}); err != nil {
			t.Fatal(err)
		}

		// A new policy with a bad duration: a field error, nothing saved.
		p := b.Get(s.URL + "/admin/policies/new")
		r := b.Submit(p, "policy-form", map[string]string{"name": "mfa-staff", "mfa_max_age": "soon", "action": "save"})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="mfa_max_age-error"`) || !strings.Contains(r.Body, `value="mfa-staff"`) {
			t.Fatalf("a bad duration: %d\n%s", r.Status, r.Body)
		}
		if _, err := s.Dir.Policy(t.Context(), "mfa-staff"); err == nil {
			t.Fatal("a refused policy was saved")
		}
		// A name the validators refuse, with the domain's message beside the field.
		r = b.Submit(p, "policy-form", map[string]string{"name": "bad name!", "action": "save"})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="name-error"`) {
			t.Fatalf("a bad name: %d\n%s", r.Status, r.Body)
		}

		r = b.Submit(p, "policy-form", map[string]string{"name": "mfa-staff", "mfa_max_age": "12h", "action": "save"})
		if r.Status != http.StatusOK || r.URL.Path != "/admin/policies/mfa-staff" || !strings.Contains(r.Body, `id="console-notice"`) {
			t.Fatalf("creating a policy: %d at %s\n%s", r.Status, r.URL, r.Body)
		}

		// Preview an edit: the change and whom it affects, nothing saved.
		r = b.Submit(r, "attach-group", map[string]string{"group": "ops"})
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "1 user in 1 group") {
			t.Fatalf("attaching to ops: %d\n%s", r.Status, r.Body)
		}
		pv := b.Submit(r, "policy-form", map[string]string{"mfa_max_age": "1h", "action": "preview"})
		if pv.Status != http.StatusOK || !strings.Contains(pv.Body, `id="policy-changes"`) || !strings.Contains(pv.Body, "1 user in 1 group are affected") {
			t.Fatalf("preview: %d\n%s", pv.Status, pv.Body)
		}
		if rec, _ := s.Dir.Policy(t.Context(), "mfa-staff"); rec.Policy.MFAMaxAge != 12*time.Hour {
			t.Fatalf("the preview saved: %v", rec.Policy.MFAMaxAge)
		}

		// Someone else saves meanwhile: the form based on the old version is refused.
		other := b.Submit(r, "policy-form", map[string]string{"mfa_max_age": "2h", "action": "save"})
		if other.Status != http.StatusOK {
			t.Fatalf("saving: %d\n%s", other.Status, other.Body)
		}
		stale := b.Submit(pv, "policy-form", map[string]string{"action": "save"})
		if stale.Status != http.StatusConflict || !strings.Contains(stale.Body, `id="console-error"`) {
			t.Fatalf("a stale edit: %d\n%s", stale.Status, stale.Body)
		}
		if rec, _ := s.Dir.Policy(t.Context(), "mfa-staff"); rec.Policy.MFAMaxAge != 2*time.Hour {
			t.Fatalf("after a refused stale edit: %v", rec.Policy.MFAMaxAge)
		}

		// A config-managed policy is read-only, with the reason.
		p = b.Get(s.URL + "/admin/policies/strict")
		if !strings.Contains(p.Body, `id="read-only-reason"`) || !strings.Contains(p.Body, "<fieldset disabled>") {
			t.Fatalf("a config policy is not shown read-only:\n%s", p.Body)
		}

		// A form without its CSRF token changes nothing.
		p = b.Get(s.URL + "/admin/policies/mfa-staff")
		_, values := p.Form(t, "delete-policy")
		values.Del("csrf_token")
		resp, err := b.Client.PostForm(s.URL+"/admin/policies/mfa-staff/delete", values)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a form without CSRF token: %d", resp.StatusCode)
		}
		// Deleted, the group it was attached to falls back to the default policy.
		if r := b.Submit(p, "delete-policy", nil); r.Status != http.StatusOK || r.URL.Path != "/admin/policies" {
			t.Fatalf("deleting a policy: %d at %s\n%s", r.Status, r.URL, r.Body)
		}
		if g, err := s.Dir.GroupByName(t.Context(), "ops"); err != nil || g.Policy != "" {
			t.Fatalf("the group after its policy was deleted: %+v, %v", g, err)
		}
	})
}

// TestConsoleAccess: administrators only; every change needs a second factor proven in the last 15 minutes.
func TestConsoleAccess(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		// Not an administrator: a clear 403, never the console.
		alice := apptest.NewBrowser(t, s)
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		apptest.Code(t, alice.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword))
		p := alice.Get(s.URL + "/admin/policies")
		if p.Status != http.StatusForbidden || strings.Contains(p.Body, `aria-label="Admin console"`) || !strings.Contains(p.Body, "Administrators only") {
			t.Fatalf("a non-administrator: %d at %s\n%s", p.Status, p.URL, p.Body)
		}

		b, secret := consoleSignIn(t, s)
		p = b.Get(s.URL + "/admin/policies/new")
		// 20 minutes later the second factor is stale: a change first asks for it again, then lands on the page
		// the form was on, and nothing was saved on the way.
		s.Clock.Advance(20 * time.Minute)
		r := b.Submit(p, "policy-form", map[string]string{"name": "late", "action": "save"})
		if !strings.Contains(r.Body, `id="mfa-totp"`) {
			t.Fatalf("a stale change did not ask for the second factor: %d at %s\n%s", r.Status, r.URL, r.Body)
		}
		if _, err := s.Dir.Policy(t.Context(), "late"); err == nil {
			t.Fatal("a stale change was saved")
		}
		r = b.Submit(r, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
		if r.Status != http.StatusOK || r.URL.Path != "/admin/policies/new" {
			t.Fatalf("after stepping up: %d at %s\n%s", r.Status, r.URL, r.Body)
		}
		if r = b.Submit(r, "policy-form", map[string]string{"name": "late", "action": "save"}); r.Status != http.StatusOK || r.URL.Path != "/admin/policies/late" {
			t.Fatalf("the change after stepping up: %d at %s", r.Status, r.URL)
		}

		// An administrator who weakens the console's own policy (no age limit on the second factor) still gets a
		// fresh proof before a change: the console's floor is 15 minutes whatever the policy says, and the sign-in
		// it asks for then is a whole one, so it cannot come back as stale as it left.
		p = b.Get(s.URL + "/admin/policies/twofold-admin")
		if r = b.Submit(p, "policy-form", map[string]string{"mfa_max_age": "", "action": "save"}); r.Status != http.StatusOK {
			t.Fatalf("relaxing the console's policy: %d\n%s", r.Status, r.Body)
		}
		if rec, _ := s.Dir.Policy(t.Context(), "twofold-admin"); rec.Policy.MFAMaxAge != 0 || rec.Policy.RequireMFA != "always" || len(rec.Policy.Methods) != 3 {
			t.Fatalf("the console's policy after the edit: %+v", rec.Policy)
		}
		s.Clock.Advance(20 * time.Minute)
		p = b.Get(s.URL + "/admin/policies/new")
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "changes will ask you to confirm") {
			t.Fatalf("reading after 20 minutes under the relaxed policy: %d\n%s", p.Status, p.Body)
		}
		r = b.Submit(p, "policy-form", map[string]string{"name": "later", "action": "save"})
		if !strings.Contains(r.Body, `id="login"`) {
			t.Fatalf("a stale change under a relaxed console policy did not ask to sign in again: %d at %s", r.Status, r.URL)
		}
		r = b.Submit(r, "login", map[string]string{"username": "root", "password": rootPassword})
		r = b.Submit(r, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
		if r.Status != http.StatusOK || r.URL.Path != "/admin/policies/new" {
			t.Fatalf("after the whole sign-in: %d at %s\n%s", r.Status, r.URL, r.Body)
		}

		// The console's cookies are host-only and SameSite=Strict; without the binding cookie (a request another
		// site starts) the session alone does not open the console.
		resp, err := b.Client.Get(s.URL + "/admin/callback?state=x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a callback without its state: %d", resp.StatusCode)
		}
		u, _ := url.Parse(s.URL)
		jar, _ := cookiejar.New(nil)
		jar.SetCookies(u, []*http.Cookie{{Name: "twofold_session", Value: b.Cookie("twofold_session")}})
		bare := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err = bare.Get(s.URL + "/admin/policies")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/authorize?") {
			t.Fatalf("the session cookie alone: %d to %q, not the console's sign-in", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// TestConsoleCookiesAreStrict: the console's cookies as set.
func TestConsoleCookiesAreStrict(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: adminFixture()})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(s.URL + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var found bool
	for _, c := range resp.Cookies() {
		if c.Name == "twofold_admin_state" {
			found = true
			if c.SameSite != http.SameSiteStrictMode || !c.HttpOnly || c.Domain != "" || c.Path != "/" {
				t.Fatalf("state cookie: %+v", c)
			}
		}
	}
	if !found {
		t.Fatal("no state cookie on the way to sign in")
	}
}

// TestFirstRunSetupLeadsToTheConsole: the first administrator, made by the
// one-time setup link, continues to the console, which asks them to add a
// second factor before anything else.
func TestFirstRunSetupLeadsToTheConsole(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{})
	token, err := s.Dir.PrepareSetup(t.Context())
	if err != nil || token == "" {
		t.Fatalf("setup token: %q, %v", token, err)
	}
	b := apptest.NewBrowser(t, s)
	p := b.Get(s.URL + "/setup?token=" + token)
	p = b.Submit(p, "setup", map[string]string{"username": "root", "email": "root@example.com", "password": rootPassword, "password_confirm": rootPassword})
	m := regexp.MustCompile(`href="([^"]+)" class="button button-primary" id="setup-continue"`).FindStringSubmatch(p.Body)
	if m == nil || m[1] != "/admin/" {
		t.Fatalf("setup done page: %d\n%s", p.Status, p.Body)
	}
	p = b.Login(s.URL+m[1], "root", rootPassword)
	if !strings.Contains(p.Body, `data-enroll="webauthn"`) || !strings.Contains(p.Body, `data-enroll="totp"`) {
		t.Fatalf("the console did not ask the new administrator to add a second factor: %d\n%s", p.Status, p.Body)
	}
}
