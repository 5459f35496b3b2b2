package apptest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// SECURITY-RULES: "Adding or removing a factor, regenerating codes or changing the password requires a fresh proof of
// an existing factor"
// SECURITY-RULES: "Backup codes: … regenerating invalidates the old set"
// SECURITY-RULES: "Backup codes: … shown once with `Cache-Control: no-store`"
func TestAccountSelfServiceNeedsAFreshProof(t *testing.T) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			st := mfaFixture()
			st.Groups = []directory.Group{{Name: "staff", Policy: "strict"}}
			st.Users[0].Groups = []string{"staff"}
			s := apptest.New(t, newStore, apptest.Options{Static: st})
			rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
			b := apptest.NewBrowser(t, s)
			secret, codes, end := enrollTOTP(t, s, b, rp)
			apptest.Code(t, end)

			// Fresh right after enrolling: the account page shows the factor.
			p := b.Get(s.URL + "/account")
			if p.Status != http.StatusOK || !strings.Contains(p.Body, "Authenticator app") || !strings.Contains(p.Body, `id="webauthn-register"`) {
				t.Fatalf("account page: %d\n%s", p.Status, p.Body)
			}
			// The only factor of a user whom a policy requires MFA cannot be removed.
			if !strings.Contains(p.Body, `id="last-factor-note"`) {
				t.Fatal("no explanation why the last factor cannot be removed")
			}

			// Six minutes later a sensitive change first asks to confirm it is you.
			s.Clock.Advance(6 * time.Minute)
			p = b.Get(s.URL + "/account")
			r := b.Submit(p, "regenerate-backup-codes", nil)
			if !strings.Contains(r.Body, `id="login"`) {
				t.Fatalf("regenerating codes without a fresh proof did not ask to sign in again: %d %s\n%s", r.Status, r.URL, r.Body)
			}
			r = b.Submit(r, "login", map[string]string{"username": "alice", "password": alicePassword})
			if !strings.Contains(r.Body, `id="mfa-totp"`) {
				t.Fatalf("the reauthentication did not ask for the second factor:\n%s", r.Body)
			}
			r = b.Submit(r, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
			if r.URL.Path != "/account" || r.Status != http.StatusOK {
				t.Fatalf("after reauthenticating: %d at %s", r.Status, r.URL)
			}

			// Now fresh: new backup codes, and the old ones stop working.
			r = b.Submit(r, "regenerate-backup-codes", nil)
			fresh := backupCodeRE.FindAllStringSubmatch(r.Body, -1)
			if len(fresh) != 10 || r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("regenerated codes: %d shown, Cache-Control %q", len(fresh), r.Header.Get("Cache-Control"))
			}
			b2 := apptest.NewBrowser(t, s)
			p = b2.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
			p = b2.Get(p.URL.String() + "&method=backup_code")
			if got := b2.Submit(p, "mfa-backup-code", map[string]string{"code": codes[1]}); got.Status != http.StatusUnauthorized {
				t.Fatalf("an old backup code after regenerating: %d", got.Status)
			}
			apptest.Code(t, b2.Submit(p, "mfa-backup-code", map[string]string{"code": fresh[0][1]}))

			// A password change ends the other sessions (b2's).
			p = b.Get(s.URL + "/account")
			r = b.Submit(p, "change-password", map[string]string{"current_password": alicePassword, "password": "a brand new passphrase", "password_confirm": "a brand new passphrase"})
			if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="account-notice"`) {
				t.Fatalf("password change: %d\n%s", r.Status, r.Body)
			}
			if got := b2.Get(s.URL + "/account"); strings.Contains(got.Body, "Two-step sign-in") {
				t.Fatal("another session survived the password change")
			}
			if p := apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword); p.Status != http.StatusUnauthorized {
				t.Fatalf("the old password still works: %d", p.Status)
			}
		})
	}
}
