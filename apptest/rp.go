package apptest

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// RP is a relying party built on the go-oidc and x/oauth2 libraries, as a
// real application would be.
type RP struct {
	t        testing.TB
	Provider *oidc.Provider
	Config   oauth2.Config
	Verifier *oidc.IDTokenVerifier
	HTTP     *http.Client
}

// NewRP discovers the server and configures a client.
func NewRP(t testing.TB, s *Server, clientID, secret, redirectURI string, scopes ...string) *RP {
	t.Helper()
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	return &RP{
		t: t, Provider: p, HTTP: http.DefaultClient,
		Config:   oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: redirectURI, Endpoint: p.Endpoint(), Scopes: scopes},
		Verifier: p.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{"RS256", "ES256", "EdDSA"}}),
	}
}

// AuthURL builds an authorization URL with PKCE S256 (verifier "" for none).
func (rp *RP) AuthURL(state, nonce, verifier string, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(nonce)}, extra...)
	if verifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	return rp.Config.AuthCodeURL(state, opts...)
}

// Exchange redeems a code.
func (rp *RP) Exchange(code, verifier string) (*oauth2.Token, error) {
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	return rp.Config.Exchange(context.Background(), code, opts...)
}

// IDToken verifies the ID token of tok and decodes its claims.
func (rp *RP) IDToken(tok *oauth2.Token) (*oidc.IDToken, Claims) {
	rp.t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		rp.t.Fatal("no id_token in the token response")
	}
	idt, err := rp.Verifier.Verify(context.Background(), raw)
	if err != nil {
		rp.t.Fatalf("id_token does not verify: %v", err)
	}
	var c Claims
	if err := idt.Claims(&c); err != nil {
		rp.t.Fatal(err)
	}
	return idt, c
}

// Claims are the ID token claims the tests look at.
type Claims struct {
	Subject  string   `json:"sub"`
	Nonce    string   `json:"nonce"`
	AuthTime int64    `json:"auth_time"`
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	SID      string   `json:"sid"`
	Username string   `json:"preferred_username"`
	Email    string   `json:"email"`
	// EmailVerified is absent (false) until the user verifies Email.
	EmailVerified bool `json:"email_verified"`
}

// Code returns the code from the redirect to the RP, failing on an error.
func Code(t testing.TB, p *Page) (code, state string) {
	t.Helper()
	if p.Redirect == nil {
		t.Fatalf("not redirected to the client; status %d at %s:\n%s", p.Status, p.URL, p.Body)
	}
	q := p.Redirect.Query()
	if e := q.Get("error"); e != "" {
		t.Fatalf("client got error %s: %s", e, q.Get("error_description"))
	}
	return q.Get("code"), q.Get("state")
}

// Query is the query of the redirect to the client.
func Query(t testing.TB, p *Page) url.Values {
	t.Helper()
	if p.Redirect == nil {
		t.Fatalf("not redirected to the client; status %d at %s:\n%s", p.Status, p.URL, p.Body)
	}
	return p.Redirect.Query()
}
