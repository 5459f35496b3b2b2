package apptest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
)

// verifiedFixture: "app" is under a policy that requires a verified email
// (require_verified_email); "opaque" is under none. carol has no address.
func verifiedFixture() directory.Static {
	st := staticFixture()
	st.Policies = []policy.Policy{
		{Name: "verified", RequireMFA: policy.OnRequest, RequireVerifiedEmail: true},
		{Name: "strict-verified", RequireMFA: policy.Always, RequireVerifiedEmail: true},
	}
	st.Clients[0].Policy = "verified"
	st.Clients[5].Policy = "strict-verified" // edclient
	st.Users = append(st.Users, directory.NewUser{Username: "carol", Password: alicePassword})
	return st
}

// A policy's require_verified_email asks a user whose address is not
// verified to verify it after the password and before the code is issued
// (form verify-email, the code from the mail); bad codes are refused with
// an alert; prompt=none answers interaction_required instead of a page; a
// user without an address cannot meet it (unmet_authentication_requirements,
// no dead end). Once verified, sign-ins go straight through.
func TestAPolicyRequiringAVerifiedEmailAsksForItBeforeTheCodeIsIssued(t *testing.T) {
	eachMailServer(t, verifiedFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)

		// A session complete at a client without the policy: prompt=none to app shows no page.
		opaque := apptest.NewRP(t, s, "opaque", appSecret, appRedirect)
		apptest.Code(t, b.Login(opaque.AuthURL("s", "n", pkce), "alice", alicePassword))
		if q := apptest.Query(t, b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none")))); q.Get("error") != "interaction_required" {
			t.Fatalf("prompt=none with an unverified address: %v", q)
		}

		b = apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if p.Redirect != nil || !strings.Contains(p.Body, `<form id="verify-email"`) || !strings.Contains(p.Body, "a•••e@example.com") {
			t.Fatalf("after the password: %d at %s (redirect %v)\n%s", p.Status, p.URL, p.Redirect, p.Body)
		}
		if n := len(s.Mailbox.Received("alice@example.com")); n != 0 {
			t.Fatalf("the page sent %d mails by being shown", n)
		}
		refused(t, "a code before any was sent", b.Submit(p, "verify-email", map[string]string{"code": "12345678"}), http.StatusUnauthorized)
		refused(t, "an empty code", b.Submit(p, "verify-email", map[string]string{"code": ""}), http.StatusBadRequest)

		p = b.Submit(p, "verify-email-send", nil)
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="verify-email-notice"`) {
			t.Fatalf("sending the code: %d\n%s", p.Status, p.Body)
		}
		code := s.Mailbox.Next(t, "alice@example.com").Code(t)
		refused(t, "a wrong code", b.Submit(p, "verify-email", map[string]string{"code": otherCode(code)}), http.StatusUnauthorized)
		refused(t, "a malformed code", b.Submit(p, "verify-email", map[string]string{"code": "abcdefgh"}), http.StatusBadRequest)
		got := b.Submit(p, "verify-email", map[string]string{"code": code})
		c, _ := apptest.Code(t, got)
		tok, err := rp.Exchange(c, pkce)
		if err != nil {
			t.Fatal(err)
		}
		if _, claims := rp.IDToken(tok); !claims.EmailVerified {
			t.Fatal("the ID token after verifying at sign-in says email_verified false")
		}

		// Verified: the next sign-in asks nothing more.
		apptest.Code(t, apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword))

		// The step comes after the factors: while one is still asked, no code is sent.
		strict := apptest.NewRP(t, s, "edclient", appSecret, appRedirect)
		bob := apptest.NewBrowser(t, s)
		p = bob.Get(strict.AuthURL("s", "n", pkce))
		csrf := csrfOf(t, p, "login")
		p = bob.Submit(p, "login", map[string]string{"username": "bob", "password": alicePassword})
		if !strings.Contains(p.Body, `data-enroll="totp"`) {
			t.Fatalf("bob under strict-verified: %d\n%s", p.Status, p.Body)
		}
		r := bob.PostForm(s.URL+"/login/verify-email/send", map[string]string{"id": p.URL.Query().Get("id"), "csrf_token": csrf})
		if r.Status != http.StatusNotFound || len(s.Mailbox.Received("bob@example.com")) != 0 {
			t.Fatalf("a code asked for before the second factor: %d, %d mails", r.Status, len(s.Mailbox.Received("bob@example.com")))
		}

		// carol has no address to verify: the relying party hears so, no page is a dead end.
		q := apptest.Query(t, apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "carol", alicePassword))
		if q.Get("error") != "unmet_authentication_requirements" {
			t.Fatalf("a user without an address: %v", q)
		}
	})
}

// require_verified_email through every source of truth but the file
// (which TestAPolicyRequiring… uses): the admin API (and its OpenAPI
// document, which its client checks answers against) and the console's
// policy form. And an administrator's reset through the API tells the user.
func TestRequireVerifiedEmailThroughTheAPIAndTheConsole(t *testing.T) {
	eachMailServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		c := newAPIClient(t, s, clientToken(t, s, adminBotID, adminBotSecret).AccessToken, nil)
		created := c.want(c.do("POST", "/policies", nil, nil, map[string]any{"name": "mailers", "require_verified_email": true}), 201).json(t)
		if created["require_verified_email"] != true {
			t.Fatalf("created: %v", created)
		}
		if got := c.want(c.do("GET", "/policies/{name}", []string{"mailers"}, nil, nil), 200).json(t); got["require_verified_email"] != true {
			t.Fatalf("read back: %v", got)
		}
		if rec, _ := s.Dir.Policy(context.Background(), "mailers"); !rec.Policy.RequireVerifiedEmail {
			t.Fatal("the API's policy does not require a verified email")
		}

		b, _ := consoleSignIn(t, s)
		p := b.Get(s.URL + "/admin/policies/new")
		r := b.Submit(p, "policy-form", map[string]string{"name": "console-mailers", "require_verified_email": "1", "action": "save"})
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="require_verified_email" name="require_verified_email" value="1" checked`) {
			t.Fatalf("creating a policy in the console: %d\n%s", r.Status, r.Body)
		}
		r = b.Submit(r, "policy-form", map[string]string{"action": "preview", "require_verified_email": ""})
		if !strings.Contains(r.Body, "require_verified_email") {
			t.Fatalf("the preview of unticking it does not list the change:\n%s", r.Body)
		}
		if rec, _ := s.Dir.Policy(context.Background(), "console-mailers"); !rec.Policy.RequireVerifiedEmail {
			t.Fatal("the console's policy does not require a verified email")
		}

		alice := userID(t, s, "alice")
		if ok, err := s.Store.SetEmailVerified(context.Background(), alice, "alice@example.com"); !ok || err != nil {
			t.Fatal(ok, err)
		}
		c.want(c.do("POST", "/users/{id}/reset-mfa", []string{alice}, nil, map[string]any{"reason": "lost phone, ticket 42"}), 204)
		reportLink(t, s, s.Mailbox.Next(t, "alice@example.com"), "administrator reset")
	})
}
