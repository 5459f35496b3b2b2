package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// world is what every path shares: the issuer, its endpoints, one HTTP
// transport (keep-alive, as a fleet of clients behind one address), and
// the setup.
type world struct {
	issuer     string
	issuerURL  *url.URL
	transport  *http.Transport
	http       *http.Client // for the back channel: no cookies, no redirects
	provider   *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	mfaVerify  *oidc.IDTokenVerifier
	introspect string
	jwksURI    string
	setup      *Setup
	users      *users
	plain, mfa oauth2.Config
	// codeStock is how many codes each worker of the code path adds to
	// codePool before the timed part starts.
	codeStock int
	codePool  chan stockedCode
}

func newWorld(ctx context.Context, issuer string, workers int, timeout time.Duration, setup *Setup, now func() time.Time) (*world, error) {
	iu, err := url.Parse(issuer)
	if err != nil || (iu.Scheme != "http" && iu.Scheme != "https") || iu.Host == "" {
		return nil, fmt.Errorf("issuer %q is not an http(s) URL", issuer)
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the issuer given, nothing in between
	tr.MaxIdleConns = 4 * workers
	tr.MaxIdleConnsPerHost = 4 * workers
	w := &world{issuer: issuer, issuerURL: iu, transport: tr, setup: setup}
	w.http = &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	octx := oidc.ClientContext(ctx, w.http)
	if w.provider, err = oidc.NewProvider(octx, issuer); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var claims struct {
		JWKS       string `json:"jwks_uri"`
		Introspect string `json:"introspection_endpoint"`
	}
	if err := w.provider.Claims(&claims); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	w.jwksURI, w.introspect = claims.JWKS, claims.Introspect
	ep := w.provider.Endpoint()
	// Traffic goes to the issuer only, whatever discovery says.
	for _, e := range []string{ep.AuthURL, ep.TokenURL, w.jwksURI, w.introspect} {
		u, err := url.Parse(e)
		if err != nil || !sameOrigin(u, iu) {
			return nil, fmt.Errorf("discovery names an endpoint off the issuer: %q", e)
		}
	}
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if setup != nil {
		if setup.Issuer != issuer {
			return nil, fmt.Errorf("the setup was seeded at %s, not at %s", setup.Issuer, issuer)
		}
		scopes := []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess}
		w.plain = oauth2.Config{ClientID: setup.Client.ID, ClientSecret: setup.Client.Secret, RedirectURL: setup.Client.RedirectURI, Endpoint: ep, Scopes: scopes}
		w.mfa = oauth2.Config{ClientID: setup.MFAClient.ID, ClientSecret: setup.MFAClient.Secret, RedirectURL: setup.MFAClient.RedirectURI, Endpoint: ep, Scopes: scopes}
		algs := []string{"RS256", "ES256", "EdDSA"}
		w.verifier = w.provider.VerifierContext(octx, &oidc.Config{ClientID: setup.Client.ID, SupportedSigningAlgs: algs})
		w.mfaVerify = w.provider.VerifierContext(octx, &oidc.Config{ClientID: setup.MFAClient.ID, SupportedSigningAlgs: algs})
		if len(setup.Users) > 0 {
			if w.users, err = newUsers(slices.Clone(setup.Users), now); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

func (w *world) browser() *browser { return newBrowser(w.transport, w.issuerURL) }

// ctx carries the shared HTTP client to x/oauth2 and go-oidc.
func (w *world) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, w.http)
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authorization is one authorization request: PKCE S256, state, nonce.
type authorization struct {
	cfg                    *oauth2.Config
	state, nonce, verifier string
}

func newAuthorization(cfg *oauth2.Config) authorization {
	return authorization{cfg: cfg, state: random(), nonce: random(), verifier: oauth2.GenerateVerifier()}
}

func (a authorization) url(extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier)}, extra...)
	return a.cfg.AuthCodeURL(a.state, opts...)
}

func (w *world) code(a authorization, p *page) (string, error) {
	return codeFrom(p, a.cfg.RedirectURL, a.state, w.issuer)
}

// errNotSilent: an SSO request showed a page instead of answering at once.
var errNotSilent = errors.New("not signed in: /authorize showed a page")

// signIn runs a hosted sign-in in b: the authorization request, form#login
// and, when totpCode is set, form#mfa-totp. It returns the code.
func (w *world) signIn(ctx context.Context, b *browser, a authorization, u User, totpCode string) (string, error) {
	p, err := b.get(ctx, a.url())
	if err != nil {
		return "", err
	}
	if p.redirect != nil {
		return "", fmt.Errorf("/authorize answered without the login page: %s", p.redirect.Redacted())
	}
	if p, err = b.submit(ctx, p, "login", map[string]string{"username": u.Username, "password": u.Password}); err != nil {
		return "", err
	}
	if totpCode == "" {
		return w.code(a, p)
	}
	if p.redirect != nil {
		return "", errors.New("no TOTP challenge after the password")
	}
	if p, err = b.submit(ctx, p, "mfa-totp", map[string]string{"code": totpCode}); err != nil {
		return "", err
	}
	return w.code(a, p)
}

// silent asks for a code with prompt=none in a browser that has a session.
func (w *world) silent(ctx context.Context, b *browser, a authorization) (string, error) {
	p, err := b.get(ctx, a.url(oauth2.SetAuthURLParam("prompt", "none")))
	if err != nil {
		return "", err
	}
	if p.redirect == nil {
		return "", errNotSilent
	}
	return w.code(a, p)
}

// exchange redeems a code at the token endpoint.
func (w *world) exchange(ctx context.Context, a authorization, code string) (*oauth2.Token, error) {
	tok, err := a.cfg.Exchange(w.ctx(ctx), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		return nil, err
	}
	if tok.AccessToken == "" {
		return nil, errors.New("token response without an access token")
	}
	return tok, nil
}

// amr verifies the ID token of tok (signature, audience, nonce) and returns
// its amr.
func (w *world) amr(ctx context.Context, a authorization, tok *oauth2.Token) ([]string, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("token response without an ID token")
	}
	v := w.verifier
	if a.cfg.ClientID == w.mfa.ClientID {
		v = w.mfaVerify
	}
	idt, err := v.Verify(oidc.ClientContext(ctx, w.http), raw)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	var c struct {
		Nonce string   `json:"nonce"`
		AMR   []string `json:"amr"`
	}
	if err := idt.Claims(&c); err != nil {
		return nil, err
	}
	if c.Nonce != a.nonce {
		return nil, errors.New("ID token with the wrong nonce")
	}
	return c.AMR, nil
}

// session signs a new browser in with the plain client (password only)
// and returns it with the tokens of that sign-in.
func (w *world) session(ctx context.Context) (*browser, *oauth2.Token, error) {
	if w.users == nil {
		return nil, nil, errNoSetup
	}
	b := w.browser()
	a := newAuthorization(&w.plain)
	code, err := w.signIn(ctx, b, a, w.users.any(), "")
	if err != nil {
		return nil, nil, fmt.Errorf("sign in: %w", err)
	}
	tok, err := w.exchange(ctx, a, code)
	if err != nil {
		return nil, nil, fmt.Errorf("exchange: %w", err)
	}
	return b, tok, nil
}

var errNoSetup = errors.New("this path needs seeded users and clients: --seed N or --state FILE")

// getJSON fetches u and decodes a JSON object, requiring 200.
func (w *world) getJSON(ctx context.Context, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", strings.TrimPrefix(u, w.issuer), resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}
