package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/ui/demo"
)

const (
	demoClientID = "twofold-demo"
	demoUsername = "demo"
)

// startDemo registers the demo client (with a new secret every start,
// managed by the demo: read-only for the CLI) and
// the demo user (password printed once, when the user is created), and
// returns the demo application's handler.
func startDemo(ctx context.Context, e env, a *app) (http.Handler, error) {
	base := a.cfg.Issuer + "/demo"
	secret := randomString(32)
	// The demo is its own source of truth: the configuration file's apply
	// neither disables its client nor may take its id.
	st := directory.Static{Source: directory.ManagedByDemo, Clients: []directory.ClientSpec{{
		ID: demoClientID, Name: "Acme Notes (demo)", Secret: secret,
		RedirectURIs: []string{demo.RedirectURI(base)}, PostLogoutRedirectURIs: []string{demo.PostLogoutRedirectURI(base)},
		GrantTypes: []string{directory.GrantAuthorizationCode}, SkipConsent: true,
	}}}
	if err := a.dir.ApplyStatic(ctx, st); err != nil {
		return nil, err
	}
	if _, err := a.dir.GetUserByUsername(ctx, demoUsername); errors.Is(err, idp.ErrNotFound) {
		password := "demo " + randomString(9)
		if _, err := a.dir.CreateUser(ctx, idp.ActorCLI, directory.NewUser{Username: demoUsername, Email: "demo@example.com", Password: password}); err != nil {
			return nil, err
		}
		fmt.Fprintf(e.stderr, "\n  ==> Demo: open %s/ and sign in as %q with the password %q\n\n", base, demoUsername, password)
	} else if err != nil {
		return nil, err
	} else {
		fmt.Fprintf(e.stderr, "\n  ==> Demo: open %s/ and sign in as %q (password as printed when it was created)\n\n", base, demoUsername)
	}
	return demo.New(demo.Options{
		Issuer: a.cfg.Issuer, ClientID: demoClientID, ClientSecret: secret, BaseURL: base,
		CookieKey: a.keys.SubKey("demo-cookies"), Logger: a.log,
	})
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
