package apptest_test

import (
	"context"
	"testing"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

const (
	appRedirect     = "http://127.0.0.1:9999/callback"
	appSecret       = "app-secret-0123456789abcdef"
	alicePassword   = "correct horse battery"
	thirdPartyID    = "thirdparty"
	thirdRedirect   = "https://thirdparty.example.com/cb"
	publicClientID  = "spa"
	publicRedirect  = "http://127.0.0.1/cb"
	machineClientID = "m2m"
	machineSecret   = "m2m-secret-0123456789abcdef"
)

func staticFixture() directory.Static {
	return directory.Static{
		Clients: []directory.ClientSpec{
			{ID: "app", Name: "Acme Notes", Secret: appSecret, RedirectURIs: []string{appRedirect},
				PostLogoutRedirectURIs: []string{"http://127.0.0.1:9999/"}, SkipConsent: true},
			{ID: thirdPartyID, Name: "Third Party", Secret: appSecret, RedirectURIs: []string{thirdRedirect}},
			{ID: publicClientID, Name: "Single Page", RedirectURIs: []string{publicRedirect}, SkipConsent: true},
			{ID: machineClientID, Secret: machineSecret, GrantTypes: []string{directory.GrantClientCredentials}},
			{ID: "opaque", Secret: appSecret, RedirectURIs: []string{appRedirect}, SkipConsent: true, AccessTokenType: "opaque"},
			{ID: "edclient", Secret: appSecret, RedirectURIs: []string{appRedirect}, SkipConsent: true, IDTokenAlg: "EdDSA"},
		},
		Users: []directory.NewUser{
			{Username: "alice", Email: "alice@example.com", Password: alicePassword},
			{Username: "bob", Email: "bob@example.com", Password: alicePassword},
		},
	}
}

// eachServer runs fn against a full server on SQLite and PostgreSQL.
func eachServer(t *testing.T, fn func(t *testing.T, s *apptest.Server)) {
	eachDatabaseServer(t, staticFixture(), fn)
}

// eachDatabaseServer is eachServer with another static configuration.
func eachDatabaseServer(t *testing.T, st directory.Static, fn func(t *testing.T, s *apptest.Server)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			fn(t, apptest.New(t, newStore, apptest.Options{Static: st}))
		})
	}
}

// SECURITY-RULES: "Every authorization response, success or error, carries `iss`; discovery says
// `authorization_response_iss_parameter_supported: true` (RFC 9207)"
// SECURITY-RULES: "`amr` is an array …; `mfa` only when two different kinds of factor were used"
// — a success carries iss; a password alone is amr ["pwd"], no mfa.
func TestPasswordLoginWithCodeAndPKCE(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("st4te", "n0nce", "verifier-0123456789-0123456789-0123456789"), "alice", alicePassword)
		code, state := apptest.Code(t, p)
		if state != "st4te" || apptest.Query(t, p).Get("iss") != s.URL {
			t.Fatalf("redirect %s lacks state or iss", p.Redirect)
		}
		tok, err := rp.Exchange(code, "verifier-0123456789-0123456789-0123456789")
		if err != nil {
			t.Fatal(err)
		}
		_, c := rp.IDToken(tok)
		if c.Nonce != "n0nce" || c.ACR != idp.ACRPassword || len(c.AMR) != 1 || c.AMR[0] != "pwd" || c.AuthTime == 0 || c.SID == "" || c.Username != "alice" || c.Email != "alice@example.com" {
			t.Fatalf("claims = %+v", c)
		}
		info, err := rp.Provider.UserInfo(context.Background(), rp.Config.TokenSource(context.Background(), tok))
		if err != nil || info.Subject != c.Subject || info.Email != "alice@example.com" {
			t.Fatalf("userinfo = %+v, %v", info, err)
		}
	})
}
