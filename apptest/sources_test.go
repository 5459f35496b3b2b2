package apptest_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/directory"
)

// A client removed from the configuration file is disabled at the next start: /authorize shows an error page
// (never a redirect), /token refuses its credentials and its tokens are revoked, until the file declares it again.
func TestAClientRemovedFromTheFileIsUnknownToAuthorizeAndToken(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		tok := tt.signIn(tt.rp("app", strings.Fields(offlineScopes)...))
		refresh := tok.RefreshToken
		tt.want("userinfo before", tt.userinfo(tok.AccessToken), http.StatusOK, "")

		st := staticFixture()
		st.Clients = slices.DeleteFunc(st.Clients, func(c directory.ClientSpec) bool { return c.ID == "app" || c.ID == machineClientID })
		if err := s.Dir.ApplyStatic(t.Context(), st); err != nil {
			t.Fatal(err)
		}
		p := apptest.NewBrowser(t, s).Get(rp.AuthURL("s", "n", pkce))
		if p.Redirect != nil || p.Status < 400 {
			t.Fatalf("/authorize for a disabled client: status %d, redirect %v", p.Status, p.Redirect)
		}
		a := tt.post("/token", machineClientID, machineSecret, url.Values{"grant_type": {"client_credentials"}})
		tt.want("client_credentials of a disabled client", a, http.StatusUnauthorized, "invalid_client")
		a = tt.refresh("app", refresh, "")
		if a.Status == http.StatusOK {
			t.Fatalf("a disabled client refreshed a token: %s", a.Body)
		}
		tt.want("userinfo with a disabled client's access token", tt.userinfo(tok.AccessToken), http.StatusUnauthorized, "")

		if err := s.Dir.ApplyStatic(t.Context(), staticFixture()); err != nil {
			t.Fatal(err)
		}
		a = tt.post("/token", machineClientID, machineSecret, url.Values{"grant_type": {"client_credentials"}})
		tt.want("client_credentials once declared again", a, http.StatusOK, "")
		apptest.Code(t, apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword))
	})
}
