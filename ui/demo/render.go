package demo

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/home.html static/demo.css
var assets embed.FS

// pages holds the demo's one page template and its stylesheet (which adds to the provider's /static/style.css).
type pages struct {
	home *template.Template
	css  []byte
}

func newPages() (*pages, error) {
	home, err := template.ParseFS(assets, "templates/home.html")
	if err != nil {
		return nil, fmt.Errorf("demo: parse template: %w", err)
	}
	css, err := assets.ReadFile("static/demo.css")
	if err != nil {
		return nil, fmt.Errorf("demo: read stylesheet: %w", err)
	}
	return &pages{home: home, css: css}, nil
}

func (p *pages) serveStylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "demo.css", time.Time{}, bytes.NewReader(p.css))
}

// alertView is an error shown in the page's role="alert" box; html/template escapes every field.
type alertView struct {
	Title       string
	Code        string // an OAuth error code
	Description string
}

var (
	providerUnreachable = &alertView{
		Title: "Twofold cannot be reached", Code: "temporarily_unavailable",
		Description: "The demo could not read the provider's discovery document. Try again in a moment.",
	}
	internalError = &alertView{
		Title: "Something went wrong", Code: "server_error", Description: "The server log has the details.",
	}
)

// homePage is everything the page shows.
type homePage struct {
	Links       links
	Alert       *alertView
	Notice      string
	SignedIn    bool
	Claims      []claimRow
	Request     *requestView
	API         *apiView
	IDToken     string
	AccessToken string
}

// links are the page's targets, absolute paths under the mount point.
type links struct {
	Home, Stylesheet                         string
	SignIn, StepUp, Passkey, Reauth, SignOut string
	CallAPI, API                             string
}

// claimRow is one line of the claims table; ID is the id of the element holding exactly Value.
type claimRow struct {
	Name  string
	ID    string
	Value string
	Hint  string
	Unix  int64 // for times: the value in seconds since the epoch, as data-unix
}

// requestView says what the last sign-in asked for and what it got.
type requestView struct {
	Button  string
	Asked   string // the parameters sent beyond a plain code flow, e.g. acr_values=urn:twofold:acr:mfa
	Outcome string
	Warning bool // Twofold returned less than an essential request demanded
}

// apiView is the last call to the protected API.
type apiView struct {
	Status          string
	OK              bool
	WWWAuthenticate string
	Body            string
	At              string
	Challenge       *challengeView
}

// challengeView is an RFC 9470 challenge and the link that follows it.
type challengeView struct {
	Error       string
	Description string
	ACRValues   string
	MaxAge      string
	RetryURL    string
}

// renderHome renders the page for the request's session with an optional alert.
func (s *server) renderHome(w http.ResponseWriter, r *http.Request, status int, alert *alertView) {
	var sess *session
	if cur, ok := s.currentSession(r); ok {
		sess = &cur
	}
	s.renderPage(w, r, status, s.homePage(sess, alert, ""))
}

// handleHome shows the signed-in claims, or the Sign in button.
func (s *server) handleHome(w http.ResponseWriter, r *http.Request) {
	notice := s.signedOutNotice(w, r)
	var sess *session
	if cur, ok := s.currentSession(r); ok {
		sess = &cur
	} else if _, stale := s.sessionID(r); stale {
		s.signedIn.DeleteCookie(w, s.cookieName(sessionCookie)) // e.g. the server restarted
	}
	s.renderPage(w, r, http.StatusOK, s.homePage(sess, nil, notice))
}

func (s *server) renderPage(w http.ResponseWriter, r *http.Request, status int, page homePage) {
	var buf bytes.Buffer
	if err := s.pages.home.Execute(&buf, page); err != nil {
		s.log.ErrorContext(r.Context(), "demo: render page", "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store") // the page shows tokens and claims
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a failed write means the client went away
}

// homePage builds the page for a session (nil: signed out).
func (s *server) homePage(sess *session, alert *alertView, notice string) homePage {
	login := func(mode string) string { return s.path("/login") + "?mode=" + mode }
	page := homePage{
		Links: links{
			Home: s.path("/"), Stylesheet: s.path("/demo.css"),
			SignIn: login(modeSignIn), StepUp: login(modeStepUp), Passkey: login(modePasskey),
			Reauth: login(modeReauth), CallAPI: s.path("/call-api"), API: s.path("/api/report"),
		},
		Alert:  alert,
		Notice: notice,
	}
	if sess == nil {
		return page
	}
	now := s.now()
	page.SignedIn = true
	page.Links.SignOut = s.path("/logout") + "?t=" + url.QueryEscape(sess.signOut)
	page.Claims = claimRows(sess.claims, now)
	page.Request = describeRequest(sess.request, sess.claims, now)
	page.IDToken, page.AccessToken = sess.idToken, sess.accessToken
	if sess.api != nil {
		page.API = s.apiView(sess.api)
	}
	return page
}

// acrMeaning and amrMeaning explain the values in words (ARCHITECTURE.md "Claims", RFC 8176).
var (
	acrMeaning = map[string]string{
		acrPwd:             "one factor",
		acrMFA:             "two factors",
		acrPHR:             "phishing-resistant: a passkey with user verification",
		acrPAPEMultiFactor: "two factors (PAPE)",
	}
	amrMeaning = map[string]string{
		"pwd": "password", "otp": "one-time code", "hwk": "hardware-bound key", "swk": "software key",
		"user": "user presence", "pin": "PIN", "fpt": "fingerprint", "face": "face", "mfa": "multiple factors",
		"bkc": "backup code", "sms": "text message", "tel": "phone call",
	}
)

func claimRows(c idClaims, now time.Time) []claimRow {
	var amrHints []string
	for _, m := range c.AMR {
		if meaning, ok := amrMeaning[m]; ok {
			amrHints = append(amrHints, meaning)
		}
	}
	rows := []claimRow{
		{Name: "sub", ID: "claim-sub", Value: c.Subject},
		{Name: "preferred_username", ID: "claim-preferred-username", Value: c.PreferredUsername},
		{Name: "email", ID: "claim-email", Value: c.Email},
		{Name: "acr", ID: "claim-acr", Value: c.ACR, Hint: acrMeaning[c.ACR]},
		{Name: "amr", ID: "claim-amr", Value: strings.Join(c.AMR, ", "), Hint: strings.Join(amrHints, ", ")},
		{Name: "auth_time", ID: "claim-auth-time", Value: ago(c.AuthTime, now), Unix: unix(c.AuthTime)},
		{Name: "sid", ID: "claim-sid", Value: c.SessionID},
		{Name: "iss", ID: "claim-iss", Value: c.Issuer},
		{Name: "aud", ID: "claim-aud", Value: strings.Join(c.Audience, ", ")},
		{Name: "exp", ID: "claim-exp", Value: ago(c.Expiry, now), Unix: unix(c.Expiry)},
	}
	for i := range rows {
		if rows[i].Value == "" {
			rows[i].Value = "—"
		}
	}
	return rows
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// ago shows a time as a date and how far it is from now, in seconds: "2026-05-01 12:00:03 UTC · 42 seconds ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	date := t.UTC().Format("2006-01-02 15:04:05 MST")
	d := int64(now.Sub(t).Round(time.Second) / time.Second)
	switch {
	case d >= 0:
		return fmt.Sprintf("%s · %d %s ago", date, d, plural(d, "second"))
	default:
		return fmt.Sprintf("%s · in %d %s", date, -d, plural(-d, "second"))
	}
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// describeRequest says what the last sign-in asked for and how Twofold answered.
func describeRequest(req loginRequest, c idClaims, now time.Time) *requestView {
	v := &requestView{}
	var asked []string
	switch req.Mode {
	case modeStepUp:
		v.Button = "Step up to MFA"
	case modePasskey:
		v.Button = "Require a passkey"
	case modeReauth:
		v.Button = "Re-authenticate"
	case modeRetry:
		v.Button = "Step up and retry (RFC 9470)"
	default:
		v.Button = "Sign in"
	}
	if req.ACRValues != "" {
		asked = append(asked, "acr_values="+req.ACRValues)
	}
	if req.Claims != "" {
		asked = append(asked, "claims="+req.Claims)
	}
	if req.MaxAge != nil {
		asked = append(asked, "max_age="+strconv.Itoa(*req.MaxAge))
	}
	v.Asked = strings.Join(asked, " ") // empty: a plain code flow
	got := parseLevel(c.ACR)
	switch {
	case req.Claims != "":
		if want := essentialACR(req.Claims); want != "" && got < parseLevel(want) {
			v.Outcome = "Twofold returned a weaker acr than the essential claim demanded: an essential acr must never be downgraded."
			v.Warning = true
		} else {
			v.Outcome = "Twofold met the essential acr claim."
		}
	case req.ACRValues != "":
		if got < weakestLevel(req.ACRValues) {
			v.Outcome = "Twofold returned a weaker acr than asked: acr_values is voluntary (OpenID Connect Core §3.1.2.1) " +
				"unless a policy demands the level."
		} else {
			v.Outcome = "Twofold met the requested acr_values."
		}
	case req.MaxAge != nil:
		v.Outcome = "auth_time shows when you last authenticated: " + ago(c.AuthTime, now) + "."
	}
	return v
}

// weakestLevel is the weakest known level among space-separated acr values (levelNone if none is known).
func weakestLevel(acrValues string) level {
	weakest := levelNone
	for _, a := range strings.Fields(acrValues) {
		if l := parseLevel(a); l != levelNone && (weakest == levelNone || l < weakest) {
			weakest = l
		}
	}
	return weakest
}

// essentialACR reads the value of an essential acr claim in a claims request parameter.
func essentialACR(claims string) string {
	var req struct {
		IDToken struct {
			ACR struct {
				Essential bool     `json:"essential"`
				Value     string   `json:"value"`
				Values    []string `json:"values"`
			} `json:"acr"`
		} `json:"id_token"`
	}
	if json.Unmarshal([]byte(claims), &req) != nil || !req.IDToken.ACR.Essential {
		return ""
	}
	if req.IDToken.ACR.Value != "" {
		return req.IDToken.ACR.Value
	}
	if len(req.IDToken.ACR.Values) > 0 {
		return req.IDToken.ACR.Values[0]
	}
	return ""
}

// apiView presents a call to the protected API, with the step-up link RFC 9470 §4 describes when the API asked
// for a stronger authentication.
func (s *server) apiView(res *apiResult) *apiView {
	v := &apiView{
		Status:          fmt.Sprintf("%d %s", res.Status, http.StatusText(res.Status)),
		OK:              res.Status == http.StatusOK,
		WWWAuthenticate: strings.Join(res.WWWAuthenticate, "\n"),
		Body:            res.Body,
		At:              res.At.UTC().Format("15:04:05 MST"),
	}
	h := http.Header{"Www-Authenticate": res.WWWAuthenticate}
	su, ok := bearerChallenge(h)
	if !ok || su.Error != "insufficient_user_authentication" || (su.ACRValues == "" && su.MaxAge == nil) {
		return v
	}
	q := url.Values{"mode": {modeRetry}}
	c := &challengeView{Error: su.Error, Description: su.Description, ACRValues: su.ACRValues}
	if su.ACRValues != "" {
		q.Set("acr_values", su.ACRValues)
	}
	if su.MaxAge != nil {
		c.MaxAge = strconv.Itoa(*su.MaxAge)
		q.Set("max_age", c.MaxAge)
	}
	c.RetryURL = s.path("/login") + "?" + q.Encode()
	v.Challenge = c
	return v
}
