package browsertest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
)

const (
	appClientID = "app"
	appSecret   = "app-secret-0123456789abcdef"
	appName     = "Acme Notes"
	stateCookie = "acme_state"
)

// app is the relying party: a web application on 127.0.0.1 that signs its
// users in with Twofold the way a real one does, with go-oidc and
// x/oauth2 (authorization code, state, nonce, PKCE S256), and shows the ID
// token's claims on a page (#sub, #acr, #amr comma-joined) or what went
// wrong (#app-error).
type app struct {
	srv *httptest.Server

	mu      sync.Mutex
	rp      *apptest.RP
	issuer  string
	pending map[string]pending // by state: single use
}

// pending is what the callback needs from the redirect that started a
// sign-in.
type pending struct{ nonce, verifier string }

// startApp listens before the issuer exists: the issuer's configuration
// needs the app's redirect URI, and the app needs the issuer (connect).
func startApp(t *testing.T) *app {
	a := &app{pending: map[string]pending{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.signIn)
	mux.HandleFunc("GET /callback", a.callback)
	a.srv = httptest.NewServer(mux) // 127.0.0.1: only the issuer needs a host name (WebAuthn RP ID)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) redirectURI() string { return a.srv.URL + "/callback" }

// connect discovers the issuer (OIDC Discovery) and configures the client.
func (a *app) connect(t *testing.T, s *apptest.Server) {
	t.Helper()
	rp := apptest.NewRP(t, s, appClientID, appSecret, a.redirectURI())
	a.mu.Lock()
	a.rp, a.issuer = rp, s.URL
	a.mu.Unlock()
}

// signIn sends the browser to the issuer's authorization endpoint.
func (a *app) signIn(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	a.mu.Lock()
	a.pending[state] = pending{nonce: nonce, verifier: verifier}
	rp := a.rp
	a.mu.Unlock()
	// The cookie binds the state to this browser (RFC 6749 §10.12).
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, rp.AuthURL(state, nonce, verifier), http.StatusFound)
}

// callback redeems the code, verifies the ID token and shows its claims.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.mu.Lock()
	rp, issuer := a.rp, a.issuer
	p, known := a.pending[q.Get("state")]
	delete(a.pending, q.Get("state"))
	a.mu.Unlock()
	switch c, err := r.Cookie(stateCookie); {
	case q.Get("iss") != issuer: // RFC 9207: the answer comes from the issuer this sign-in went to
		a.fail(w, fmt.Sprintf("the response names issuer %q", q.Get("iss")))
		return
	case q.Get("error") != "":
		a.fail(w, fmt.Sprintf("the issuer answered %s: %s", q.Get("error"), q.Get("error_description")))
		return
	case err != nil || c.Value != q.Get("state") || !known:
		a.fail(w, "the state does not match this browser's sign-in")
		return
	}
	tok, err := rp.Config.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		a.fail(w, "code exchange: "+err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.Verifier.Verify(r.Context(), raw)
	if err != nil {
		a.fail(w, "ID token: "+err.Error())
		return
	}
	if idt.Nonce != p.nonce {
		a.fail(w, "the ID token's nonce is not this sign-in's")
		return
	}
	var c struct {
		ACR      string   `json:"acr"`
		AMR      []string `json:"amr"`
		AuthTime int64    `json:"auth_time"`
		Username string   `json:"preferred_username"`
	}
	if err := idt.Claims(&c); err != nil {
		a.fail(w, "ID token claims: "+err.Error())
		return
	}
	render(w, http.StatusOK, signedInPage, map[string]any{
		"App": appName, "Issuer": idt.Issuer, "Sub": idt.Subject, "Username": c.Username, "ACR": c.ACR,
		"AMR": strings.Join(c.AMR, ","), "AuthTime": time.Unix(c.AuthTime, 0).UTC().Format(time.RFC3339),
	})
}

func (a *app) fail(w http.ResponseWriter, msg string) {
	render(w, http.StatusBadRequest, errorPage, map[string]any{"App": appName, "Error": msg})
}

func render(w http.ResponseWriter, status int, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = t.Execute(w, data)
}

const appStyle = `<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f1ea;color:#2b2b2b}
header{background:#2f5d50;color:#fff;padding:.8rem 2rem;font-weight:600;letter-spacing:.02em}
main{max-width:40rem;margin:2.5rem auto;background:#fff;border-radius:10px;padding:1.5rem 2rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin:0 0 1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1.2rem;margin:0}
dt{color:#666}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
[role=alert]{background:#fdecea;color:#8a1c13;padding:.8rem 1rem;border-radius:6px}
</style>`

var signedInPage = template.Must(template.New("in").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.App}}</title>` + appStyle + `</head>
<body><header>{{.App}}</header><main>
<h1 id="signed-in">Signed in{{if .Username}} as {{.Username}}{{end}}</h1>
<dl>
<dt>issuer</dt><dd id="iss">{{.Issuer}}</dd>
<dt>sub</dt><dd id="sub">{{.Sub}}</dd>
<dt>acr</dt><dd id="acr">{{.ACR}}</dd>
<dt>amr</dt><dd id="amr">{{.AMR}}</dd>
<dt>auth_time</dt><dd id="auth-time">{{.AuthTime}}</dd>
</dl>
</main></body></html>`))

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.App}}</title>` + appStyle + `</head>
<body><header>{{.App}}</header><main>
<h1>Sign-in failed</h1>
<p role="alert" id="app-error">{{.Error}}</p>
</main></body></html>`))

// claims is what the app's page shows.
type claims struct {
	Sub, ACR string
	AMR      []string
}

// signedIn waits for the app's page and reads the claims, failing the
// test when the app shows an error instead (or the hosted page a WebAuthn
// failure).
func (tb *tab) signedIn() claims {
	tb.t.Helper()
	tb.waitPage("the app's page", "#signed-in, "+pageErrors)
	if msg := get(tb, "read the page", pageError); msg != "" {
		tb.fail("signing in to the app", errors.New(msg))
	}
	c := claims{
		Sub: get(tb, "read #sub", text("sub")),
		ACR: get(tb, "read #acr", text("acr")),
	}
	if amr := get(tb, "read #amr", text("amr")); amr != "" {
		c.AMR = strings.Split(amr, ",")
	}
	return c
}

// pageErrors selects what says a step failed: the app's error, a hosted
// page's refusal (re-rendered with its alert) or webauthn.js's message (the
// region only has class alert when there is one).
const pageErrors = "#app-error, #login-error, #enroll-error, #mfa-error, #webauthn-error.alert"

// pageError is the text of the first of pageErrors, "" when there is none.
var pageError = chromedp.Evaluate[string](`(document.querySelector(` + strconv.Quote(pageErrors) + `) || {}).textContent || ""`)

// text reads the text of the element with id.
func text(id string) chromedp.Action[string] { return chromedp.Text(chromedp.ID(id)) }
