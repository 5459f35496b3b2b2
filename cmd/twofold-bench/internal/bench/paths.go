package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// A path is one kind of request the benchmark measures. prepare makes one
// worker's state (untimed: a signed-in browser, a refresh token) and
// returns its operation.
type path struct {
	name    string
	about   string
	prepare func(ctx context.Context, w *world, worker int) (op, error)
}

// anonymous paths need no seeded clients or accounts.
func (p path) anonymous() bool { return p.name == "discovery" || p.name == "jwks" }

// op performs one request and says how long its timed part took. stop ends
// at the run's deadline: waiting for a usable TOTP step stops there.
type op func(ctx, stop context.Context) outcome

type outcome struct {
	d    time.Duration
	err  error
	skip bool     // stopped before the request was made: not counted
	done bool     // the worker has nothing left to do (its stock of codes is used up)
	amr  []string // the amr of a verified sign-in, when one was verified
	sub  string   // the path a mix drew
}

func timed(ctx context.Context, f func(context.Context) error) outcome {
	start := time.Now()
	err := f(ctx)
	return outcome{d: time.Since(start), err: err}
}

// Paths lists every path in the order they run.
func Paths() []string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = p.name
	}
	return names
}

// PathHelp describes each path, for --help.
func PathHelp() string {
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "  %-18s %s\n", p.name, p.about)
	}
	return b.String()
}

var paths = []path{
	{"discovery", "GET /.well-known/openid-configuration", prepareDiscovery},
	{"jwks", "GET the jwks_uri", prepareJWKS},
	{"password", "hosted sign-in in a new browser: /authorize, form#login, code at the redirect_uri", preparePassword},
	{"totp", "the same at a client whose policy requires TOTP: form#login, then form#mfa-totp", prepareTOTP},
	{"sso", "silent SSO: /authorize with prompt=none in a signed-in browser, code at once", prepareSSO},
	{"code", "code exchange at /token (PKCE S256) alone: each worker first gets its stock of codes by silent SSO, untimed", prepareCode},
	{"refresh", "refresh_token grant; each answer's rotated token is used for the next", prepareRefresh},
	{"introspection", "POST /introspect of an access token (client_secret_basic)", prepareIntrospection},
	{"client_credentials", "client_credentials grant (client_secret_basic)", prepareClientCredentials},
	{"mix", "each request drawn from the paths above: discovery 5, jwks 10, password 4, totp 2, sso 10, code 15, refresh 20, introspection 24, client_credentials 10 (%)", prepareMix},
}

func findPath(name string) (path, bool) {
	for _, p := range paths {
		if p.name == name {
			return p, true
		}
	}
	return path{}, false
}

func prepareDiscovery(_ context.Context, w *world, _ int) (op, error) {
	return func(ctx, _ context.Context) outcome {
		return timed(ctx, func(ctx context.Context) error {
			var d struct {
				Issuer string `json:"issuer"`
			}
			if err := w.getJSON(ctx, w.issuer+"/.well-known/openid-configuration", &d); err != nil {
				return err
			}
			if d.Issuer != w.issuer {
				return fmt.Errorf("discovery names issuer %q", d.Issuer)
			}
			return nil
		})
	}, nil
}

func prepareJWKS(_ context.Context, w *world, _ int) (op, error) {
	return func(ctx, _ context.Context) outcome {
		return timed(ctx, func(ctx context.Context) error {
			var set struct {
				Keys []json.RawMessage `json:"keys"`
			}
			if err := w.getJSON(ctx, w.jwksURI, &set); err != nil {
				return err
			}
			if len(set.Keys) == 0 {
				return errors.New("an empty key set")
			}
			return nil
		})
	}, nil
}

// signInOp is a hosted sign-in per request; the worker's first success is
// also exchanged and its ID token verified (untimed), and its amr reported.
func signInOp(w *world, cfg *oauth2.Config, withTOTP bool) (op, error) {
	if w.users == nil {
		return nil, errNoSetup
	}
	verified := false
	return func(ctx, stop context.Context) outcome {
		u, code := w.users.any(), ""
		if withTOTP {
			var err error
			if u, code, err = w.users.withStep(stop); err != nil {
				return outcome{skip: true}
			}
		}
		a := newAuthorization(cfg)
		var got string
		o := timed(ctx, func(ctx context.Context) (err error) {
			got, err = w.signIn(ctx, w.browser(), a, u, code)
			return err
		})
		if o.err != nil || verified {
			return o
		}
		verified = true
		tok, err := w.exchange(ctx, a, got)
		if err == nil {
			o.amr, err = w.amr(ctx, a, tok)
		}
		if err == nil && withTOTP && !slices.Contains(o.amr, "otp") {
			err = fmt.Errorf("a TOTP sign-in without otp in amr: %v", o.amr)
		}
		o.err = err
		return o
	}, nil
}

func preparePassword(_ context.Context, w *world, _ int) (op, error) {
	return signInOp(w, &w.plain, false)
}

func prepareTOTP(_ context.Context, w *world, _ int) (op, error) {
	return signInOp(w, &w.mfa, true)
}

func prepareSSO(ctx context.Context, w *world, _ int) (op, error) {
	b, _, err := w.session(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx, _ context.Context) outcome {
		return timed(ctx, func(ctx context.Context) error {
			_, err := w.silent(ctx, b, newAuthorization(&w.plain))
			return err
		})
	}, nil
}

// prepareCode gets the worker's stock of codes first (silent SSOs, before
// the clock starts: a code lives 60 s), so that the timed part is the code
// exchange alone; a worker whose stock is used up stops.
func prepareCode(ctx context.Context, w *world, _ int) (op, error) {
	return codeOp(ctx, w, w.codeStock, false)
}

// prepareMixCode gets each code by an untimed silent SSO just before it is
// exchanged: a mix runs for its whole duration.
func prepareMixCode(ctx context.Context, w *world, _ int) (op, error) {
	return codeOp(ctx, w, 0, true)
}

// stockedCode is a code waiting for its exchange.
type stockedCode struct {
	a    authorization
	code string
}

// codeOp exchanges codes from the shared stock, to which this worker first
// adds n (any worker may exchange any code: the exchange is the client's
// back channel). With the stock used up, the worker stops — or, with
// refill, gets its next code by an untimed silent SSO.
func codeOp(ctx context.Context, w *world, n int, refill bool) (op, error) {
	b, _, err := w.session(ctx)
	if err != nil {
		return nil, err
	}
	for range n {
		a := newAuthorization(&w.plain)
		code, err := w.silent(ctx, b, a)
		if err != nil {
			return nil, fmt.Errorf("silent SSO for a code: %w", err)
		}
		w.codePool <- stockedCode{a, code}
	}
	return func(ctx, _ context.Context) outcome {
		var c stockedCode
		select {
		case c = <-w.codePool:
		default:
			if !refill {
				return outcome{skip: true, done: true}
			}
			c.a = newAuthorization(&w.plain)
			if c.code, err = w.silent(ctx, b, c.a); err != nil {
				return outcome{err: fmt.Errorf("silent SSO for a code: %w", err)}
			}
		}
		return timed(ctx, func(ctx context.Context) error {
			tok, err := w.exchange(ctx, c.a, c.code)
			if err == nil && tok.Extra("id_token") == nil {
				err = errors.New("token response without an ID token")
			}
			return err
		})
	}, nil
}

func prepareRefresh(ctx context.Context, w *world, _ int) (op, error) {
	_, tok, err := w.session(ctx)
	if err != nil {
		return nil, err
	}
	rt := tok.RefreshToken
	if rt == "" {
		return nil, errors.New("no refresh token for offline_access")
	}
	return func(ctx, _ context.Context) outcome {
		return timed(ctx, func(ctx context.Context) error {
			// Without an access token, Token always refreshes.
			t, err := w.plain.TokenSource(w.ctx(ctx), &oauth2.Token{RefreshToken: rt}).Token()
			switch {
			case err != nil:
				return err
			case t.RefreshToken == "" || t.RefreshToken == rt:
				return errors.New("the refresh token was not rotated")
			}
			rt = t.RefreshToken
			return nil
		})
	}, nil
}

func prepareIntrospection(ctx context.Context, w *world, _ int) (op, error) {
	_, tok, err := w.session(ctx)
	if err != nil {
		return nil, err
	}
	if w.introspect == "" {
		return nil, errors.New("discovery names no introspection_endpoint")
	}
	form := url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}.Encode()
	return func(ctx, _ context.Context) outcome {
		return timed(ctx, func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.introspect, strings.NewReader(form))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			// RFC 6749 §2.3.1: form-encode before Basic.
			req.SetBasicAuth(url.QueryEscape(w.plain.ClientID), url.QueryEscape(w.plain.ClientSecret))
			resp, err := w.http.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("introspection: status %d", resp.StatusCode)
			}
			var r struct {
				Active bool `json:"active"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				return err
			}
			if !r.Active {
				return errors.New("a live access token introspected inactive")
			}
			return nil
		})
	}, nil
}

func prepareClientCredentials(_ context.Context, w *world, _ int) (op, error) {
	if w.setup == nil {
		return nil, errNoSetup
	}
	cc := clientcredentials.Config{ClientID: w.plain.ClientID, ClientSecret: w.plain.ClientSecret,
		TokenURL: w.plain.Endpoint.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	return func(ctx, _ context.Context) outcome {
		return timed(ctx, func(ctx context.Context) error {
			_, err := cc.Token(w.ctx(ctx))
			return err
		})
	}, nil
}

// mixWeights is the mix: mostly relying parties' back channels, with
// fewer interactive sign-ins — a guess at a busy deployment, not a
// measurement of one. Weights are out of 100.
var mixWeights = []struct {
	path    string
	weight  int
	prepare func(ctx context.Context, w *world, worker int) (op, error)
}{
	{"discovery", 5, prepareDiscovery}, {"jwks", 10, prepareJWKS}, {"password", 4, preparePassword},
	{"totp", 2, prepareTOTP}, {"sso", 10, prepareSSO}, {"code", 15, prepareMixCode}, {"refresh", 20, prepareRefresh},
	{"introspection", 24, prepareIntrospection}, {"client_credentials", 10, prepareClientCredentials},
}

func prepareMix(ctx context.Context, w *world, worker int) (op, error) {
	ops := make([]op, len(mixWeights))
	total := 0
	for i, m := range mixWeights {
		o, err := m.prepare(ctx, w, worker)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.path, err)
		}
		ops[i] = o
		total += m.weight
	}
	// A fixed seed per worker: the same run draws the same sequence.
	r := rand.New(rand.NewPCG(uint64(worker), 0x7f0f01d))
	return func(ctx, stop context.Context) outcome {
		n := r.IntN(total)
		for i, m := range mixWeights {
			if n < m.weight {
				o := ops[i](ctx, stop)
				o.sub = m.path
				return o
			}
			n -= m.weight
		}
		panic("unreachable")
	}, nil
}
