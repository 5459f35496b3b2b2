package apptest_test

import (
	"net/http"
	"testing"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
)

// Issue 9 item 8: account changes reach tokens. Disabling the user,
// resetting their second factors, a password change and ending every
// session revoke the refresh families and make access tokens inactive at
// /userinfo and /introspect — JWT access tokens included, through their
// revocation record.
const carolPassword = "carol's long passphrase"

func TestAccountChangesRevokeTheUsersTokens(t *testing.T) {
	changes := []struct {
		name   string
		change func(t *testing.T, s *apptest.Server, b *apptest.Browser)
	}{
		{"the account is disabled", func(t *testing.T, s *apptest.Server, _ *apptest.Browser) {
			if err := s.Dir.SetUserDisabled(t.Context(), idp.ActorCLI, "carol", true); err != nil {
				t.Fatal(err)
			}
		}},
		{"an administrator resets the second factors", func(t *testing.T, s *apptest.Server, _ *apptest.Browser) {
			if err := s.Dir.ResetMFA(t.Context(), idp.ActorCLI, "carol"); err != nil {
				t.Fatal(err)
			}
		}},
		{"the user signs out everywhere", func(t *testing.T, s *apptest.Server, b *apptest.Browser) {
			p := b.Get(s.URL + "/account")
			if r := b.Submit(p, "end-all-sessions", nil); r.URL.Path != "/logout/done" {
				t.Fatalf("sign out everywhere: %d at %s", r.Status, r.URL)
			}
		}},
		{"the password is changed", func(t *testing.T, s *apptest.Server, b *apptest.Browser) {
			browser := idp.Browser{SessionCookie: b.Cookie(idp.SessionCookieBase)}
			if err := s.App.Account.AccountChangePassword(t.Context(), browser, carolPassword, "a brand new passphrase"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			eachServer(t, func(t *testing.T, s *apptest.Server) {
				// carol is the administrator's (made with the CLI), not the file's.
				if _, err := s.Dir.CreateUser(t.Context(), idp.ActorCLI, directory.NewUser{Username: "carol", Password: carolPassword}); err != nil {
					t.Fatal(err)
				}
				tt := tokenTest{t: t, s: s}
				rp := tt.rp("app", "openid", "profile", "offline_access")
				b := apptest.NewBrowser(t, s)
				code, _ := apptest.Code(t, b.Login(rp.AuthURL("st", "nonce-1", tokVerifier), "carol", carolPassword))
				tok, err := rp.Exchange(code, tokVerifier)
				if err != nil {
					t.Fatal(err)
				}
				tt.want("userinfo before the change", tt.userinfo(tok.AccessToken), http.StatusOK, "")
				// Introspected once before: the replica now remembers the token's
				// signature as checked, which must not keep it alive.
				if a := tt.introspect("app", appSecret, tok.AccessToken); a.JSON["active"] != true {
					t.Fatalf("introspection before the change: %s", a.Body)
				}

				c.change(t, s, b)

				tt.want("userinfo after the change", tt.userinfo(tok.AccessToken), http.StatusUnauthorized, "")
				if a := tt.introspect("app", appSecret, tok.AccessToken); a.JSON["active"] != false {
					t.Fatalf("introspection after the change: %s", a.Body)
				}
				tt.want("refresh after the change", tt.refresh("app", tok.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")
			})
		})
	}
}
