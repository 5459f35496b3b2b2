package apptest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

const (
	bclClientID = "bcl-app"
	bclRedirect = "http://127.0.0.1:9998/callback"
	bclEvent    = "http://schemas.openid.net/event/backchannel-logout"
)

// logoutRP is a relying party's back-channel logout endpoint: it verifies
// every logout token it gets with go-jose against the issuer's /keys and
// keeps the claims. It answers 500 to the first failFirst POSTs.
type logoutRP struct {
	srv    *httptest.Server
	issuer string // set once the server is up
	// replica: a second server on the same database (another issuer URL
	// in tests, where replicas cannot share a port).
	replica  string
	now      func() time.Time // the server's clock
	clientID string

	mu        sync.Mutex
	failFirst int
	posts     int
	got       []logoutClaims
	problems  []string
}

type logoutClaims struct {
	Issuer    string                    `json:"iss"`
	Audience  json.RawMessage           `json:"aud"`
	IssuedAt  int64                     `json:"iat"`
	Expiry    int64                     `json:"exp"`
	JTI       string                    `json:"jti"`
	Subject   string                    `json:"sub"`
	SessionID string                    `json:"sid"`
	Nonce     *string                   `json:"nonce"`
	Events    map[string]map[string]any `json:"events"`
}

func newLogoutRP(t testing.TB, clientID string) *logoutRP {
	rp := &logoutRP{clientID: clientID, now: time.Now}
	rp.srv = httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *logoutRP) URI() string { return rp.srv.URL + "/backchannel-logout" }

// expect sets the issuers whose tokens are accepted and the clock to judge
// them by (the server's).
func (rp *logoutRP) expect(issuer, replica string, now func() time.Time) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.issuer, rp.replica, rp.now = issuer, replica, now
}

func (rp *logoutRP) failing(n int) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.failFirst = n
}

func (rp *logoutRP) serve(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	rp.posts++
	fail := rp.posts <= rp.failFirst
	rp.mu.Unlock()
	if fail {
		http.Error(w, "not now", http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		rp.problem("method %s, content type %q", r.Method, r.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	c, err := rp.verify(r.PostFormValue("logout_token"))
	if err != nil {
		rp.problem("%v", err)
		http.Error(w, "bad token", http.StatusBadRequest)
		return
	}
	rp.mu.Lock()
	rp.got = append(rp.got, c)
	rp.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rp *logoutRP) problem(format string, args ...any) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.problems = append(rp.problems, fmt.Sprintf(format, args...))
}

// verify validates a logout token as OpenID Connect Back-Channel Logout 1.0
// §2.6 tells a relying party to.
func (rp *logoutRP) verify(raw string) (logoutClaims, error) {
	rp.mu.Lock()
	issuer, replica, clock := rp.issuer, rp.replica, rp.now
	rp.mu.Unlock()
	var c logoutClaims
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return c, fmt.Errorf("parse: %w", err)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "logout+jwt" {
		return c, fmt.Errorf("typ %q", typ)
	}
	var unverified struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &unverified); err != nil {
		return c, err
	}
	if unverified.Issuer != issuer && (replica == "" || unverified.Issuer != replica) {
		return c, fmt.Errorf("iss %q", unverified.Issuer)
	}
	resp, err := http.Get(unverified.Issuer + "/keys")
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return c, err
	}
	keys := set.Key(h.KeyID)
	if len(keys) == 0 {
		return c, fmt.Errorf("kid %q is not in /keys", h.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return c, fmt.Errorf("signature: %w", err)
	}
	var all map[string]any
	if err := json.Unmarshal(payload, &all); err != nil {
		return c, err
	}
	if _, ok := all["nonce"]; ok {
		return c, errors.New("a logout token must not have a nonce")
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, err
	}
	now := clock().Unix()
	switch {
	case string(c.Audience) != `"`+rp.clientID+`"` && !strings.Contains(string(c.Audience), `"`+rp.clientID+`"`):
		return c, fmt.Errorf("aud %s", c.Audience)
	case c.IssuedAt == 0 || c.IssuedAt > now+60 || c.Expiry <= c.IssuedAt || c.Expiry < now-60:
		return c, fmt.Errorf("iat %d exp %d (now %d)", c.IssuedAt, c.Expiry, now)
	case c.JTI == "":
		return c, errors.New("no jti")
	case c.SessionID == "" && c.Subject == "":
		return c, errors.New("neither sub nor sid")
	case c.Events == nil || c.Events[bclEvent] == nil || len(c.Events[bclEvent]) != 0:
		return c, fmt.Errorf("events %v", c.Events)
	}
	return c, nil
}

// received returns the verified logout tokens so far and fails the test on
// any token that did not verify.
func (rp *logoutRP) received(t testing.TB) []logoutClaims {
	t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.problems) > 0 {
		t.Fatalf("logout tokens that do not verify: %v", rp.problems)
	}
	return append([]logoutClaims(nil), rp.got...)
}

// bclFixture is the static fixture plus a client with a back-channel
// logout URI pointing at rp.
func bclFixture(rp *logoutRP) directory.Static {
	st := staticFixture()
	st.Clients = append(st.Clients, directory.ClientSpec{
		ID: bclClientID, Name: "Logout-aware app", Secret: appSecret, RedirectURIs: []string{bclRedirect}, SkipConsent: true,
		BackchannelLogoutURI: rp.URI(), BackchannelLogoutSessionRequired: true,
	})
	return st
}

// eachBCLServer runs fn on SQLite and PostgreSQL with a logout RP.
func eachBCLServer(t *testing.T, fn func(t *testing.T, s *apptest.Server, lrp *logoutRP)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			lrp := newLogoutRP(t, bclClientID)
			s := apptest.New(t, newStore, apptest.Options{Static: bclFixture(lrp)})
			lrp.expect(s.URL, "", s.Clock.Now)
			fn(t, s, lrp)
		})
	}
}

// bclLogin signs alice in to the logout-aware client with offline_access
// and returns its tokens and ID token claims.
func bclLogin(t *testing.T, s *apptest.Server, b *apptest.Browser) (*apptest.RP, *oauth2.Token, apptest.Claims) {
	t.Helper()
	rp := apptest.NewRP(t, s, bclClientID, appSecret, bclRedirect, "openid", "profile", "offline_access")
	tok, c := loginApp(t, s, b, rp)
	if tok.RefreshToken == "" || c.SID == "" {
		t.Fatalf("no refresh token or sid: %+v", c)
	}
	return rp, tok, c
}

// deliver runs the server's sender once, as `serve` does every few seconds.
func deliver(t *testing.T, s *apptest.Server) int {
	t.Helper()
	n, err := s.App.BackchannelLogouts.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func refreshRefused(t *testing.T, rp *apptest.RP, tok *oauth2.Token) {
	t.Helper()
	_, err := rp.Config.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("refresh after the session ended: %v, want invalid_grant", err)
	}
}

func TestBackchannelLogoutOnEveryKindOfSessionEnd(t *testing.T) {
	eachBCLServer(t, func(t *testing.T, s *apptest.Server, lrp *logoutRP) {
		ctx := context.Background()
		alice, err := s.Store.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		ends := []struct {
			name string
			end  func(t *testing.T, b *apptest.Browser, tok *oauth2.Token)
		}{
			{"an RP-initiated logout with id_token_hint", func(t *testing.T, b *apptest.Browser, tok *oauth2.Token) {
				hint, _ := tok.Extra("id_token").(string)
				p := b.Get(s.URL + "/end_session?" + url.Values{"id_token_hint": {hint}}.Encode())
				if p.Redirect == nil && p.URL.Path != "/logout/done" {
					t.Fatalf("logout: %d %v", p.Status, p.Redirect)
				}
			}},
			{"sign out everywhere on the account page", func(t *testing.T, b *apptest.Browser, _ *oauth2.Token) {
				p := b.Get(s.URL + "/account")
				if r := b.Submit(p, "end-all-sessions", nil); r.Status >= 400 {
					t.Fatalf("end all sessions: %d", r.Status)
				}
			}},
			{"an administrator ending the user's sessions", func(t *testing.T, _ *apptest.Browser, _ *oauth2.Token) {
				if n, err := s.App.Account.EndUserSessions(ctx, idp.ActorCLI, alice.ID); err != nil || n == 0 {
					t.Fatalf("admin end sessions: %d, %v", n, err)
				}
			}},
			{"an administrator resetting the user's second factors", func(t *testing.T, _ *apptest.Browser, _ *oauth2.Token) {
				if err := s.Dir.ResetMFA(ctx, idp.ActorCLI, "alice"); err != nil {
					t.Fatal(err)
				}
			}},
			{"the expiry sweep after the session idled out", func(t *testing.T, _ *apptest.Browser, _ *oauth2.Token) {
				s.Clock.Advance(13 * time.Hour) // past the 12 h idle timeout
				if n, err := s.Store.EndExpiredSessions(ctx); err != nil || n != 1 {
					t.Fatalf("expiry sweep ended %d sessions, %v", n, err)
				}
				if n, err := s.Store.EndExpiredSessions(ctx); err != nil || n != 0 {
					t.Fatalf("a second sweep ended %d sessions again, %v", n, err)
				}
			}},
			{"a password change in another session (last: alice's password changes)", func(t *testing.T, _ *apptest.Browser, _ *oauth2.Token) {
				other := apptest.NewBrowser(t, s)
				rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
				loginApp(t, s, other, rp)
				p := other.Get(s.URL + "/account")
				r := other.Submit(p, "change-password", map[string]string{"current_password": alicePassword, "password": "a brand new passphrase", "password_confirm": "a brand new passphrase"})
				if r.Status != http.StatusOK {
					t.Fatalf("password change: %d", r.Status)
				}
			}},
		}
		for _, e := range ends {
			t.Run(e.name+" sends one logout token and stops the session's refresh token", func(t *testing.T) {
				before := len(lrp.received(t))
				b := apptest.NewBrowser(t, s)
				rp, tok, c := bclLogin(t, s, b)
				if n := deliver(t, s); n != 0 {
					t.Fatalf("%d logouts sent before the session ended", n)
				}
				e.end(t, b, tok)
				if n := deliver(t, s); n != 1 {
					t.Fatalf("sent %d logouts, want 1", n)
				}
				got := lrp.received(t)[before:]
				if len(got) != 1 || got[0].SessionID != c.SID || got[0].Subject != c.Subject {
					t.Fatalf("logout tokens %+v, want one for sid %s sub %s", got, c.SID, c.Subject)
				}
				if n := deliver(t, s); n != 0 {
					t.Fatalf("sent %d more after delivery", n)
				}
				refreshRefused(t, rp, tok)
			})
		}
	})
}

// A client without a back-channel logout URI is not told; one that got no
// token in the session is not told either.
func TestBackchannelLogoutOnlyForClientsThatGotTokensInTheSession(t *testing.T) {
	eachBCLServer(t, func(t *testing.T, s *apptest.Server, lrp *logoutRP) {
		b := apptest.NewBrowser(t, s)
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		tok, _ := loginApp(t, s, b, rp)
		hint, _ := tok.Extra("id_token").(string)
		b.Get(s.URL + "/end_session?" + url.Values{"id_token_hint": {hint}}.Encode())
		if n := deliver(t, s); n != 0 || len(lrp.received(t)) != 0 {
			t.Fatalf("sent %d logouts for a session the logout-aware client had no token in", n)
		}
	})
}

// A code redeemed after its session ended gets no tokens: the session's
// logout was already announced without this client.
func TestBackchannelClientGetsNoTokensFromAnEndedSession(t *testing.T) {
	eachBCLServer(t, func(t *testing.T, s *apptest.Server, lrp *logoutRP) {
		b := apptest.NewBrowser(t, s)
		rp := apptest.NewRP(t, s, bclClientID, appSecret, bclRedirect)
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		code, _ := apptest.Code(t, p)
		alice, _ := s.Store.GetUserByUsername(context.Background(), "alice")
		if _, err := s.App.Account.EndUserSessions(context.Background(), idp.ActorCLI, alice.ID); err != nil {
			t.Fatal(err)
		}
		_, err := rp.Exchange(code, pkce)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("code of an ended session: %v, want invalid_grant", err)
		}
	})
}

// The first delivery fails; the server stops; a new server on the same
// database delivers the logout once its retry is due.
func TestBackchannelLogoutSurvivesARestart(t *testing.T) {
	for name, newURL := range storagetest.URLs() {
		t.Run(name, func(t *testing.T) {
			lrp := newLogoutRP(t, bclClientID)
			lrp.failing(1)
			open := storagetest.OpenURL(newURL(t))
			o := apptest.Options{Static: bclFixture(lrp)}
			first := apptest.New(t, open, o)
			lrp.expect(first.URL, "", first.Clock.Now)
			b := apptest.NewBrowser(t, first)
			rp, tok, c := bclLogin(t, first, b)
			hint, _ := tok.Extra("id_token").(string)
			b.Get(first.URL + "/end_session?" + url.Values{"id_token_hint": {hint}}.Encode())
			if n := deliver(t, first); n != 1 || len(lrp.received(t)) != 0 {
				t.Fatalf("first attempt: claimed %d, delivered %d; want one failed attempt", n, len(lrp.received(t)))
			}
			refreshRefused(t, rp, tok)

			// "Restart": a new server on the same database, same keys and clock.
			o.Clock, o.Ring = first.Clock, first.Ring
			second := apptest.New(t, open, o)
			lrp.expect(second.URL, "", second.Clock.Now)
			if n := deliver(t, second); n != 0 {
				t.Fatalf("retried %d before the backoff", n)
			}
			second.Clock.Advance(11 * time.Second) // the first retry waits 10 s
			if n := deliver(t, second); n != 1 {
				t.Fatalf("the new server sent %d, want 1", n)
			}
			got := lrp.received(t)
			if len(got) != 1 || got[0].SessionID != c.SID {
				t.Fatalf("after the restart: %+v", got)
			}
			rows, err := second.Store.ListBackchannelLogouts(context.Background())
			if err != nil || len(rows) != 1 || rows[0].DeliveredAt == nil || rows[0].Attempts != 2 || rows[0].ID != got[0].JTI {
				t.Fatalf("outbox %+v, %v", rows, err)
			}
			if n := deliver(t, first); n != 0 {
				t.Fatalf("the old server sent it again (%d)", n)
			}
		})
	}
}

// Two senders on one database, running at once, deliver each logout once.
func TestTwoSendersDeliverEachLogoutOnce(t *testing.T) {
	for name, newURL := range storagetest.URLs() {
		t.Run(name, func(t *testing.T) {
			lrp := newLogoutRP(t, bclClientID)
			open := storagetest.OpenURL(newURL(t))
			o := apptest.Options{Static: bclFixture(lrp)}
			a := apptest.New(t, open, o)
			o.Clock, o.Ring = a.Clock, a.Ring
			bs := apptest.New(t, open, o)
			lrp.expect(a.URL, bs.URL, a.Clock.Now)
			ctx := context.Background()
			alice, err := a.Store.GetUserByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			const sessions = 45
			now := a.Clock.Now()
			for i := range sessions {
				id := fmt.Sprintf("s-%02d-0123456789", i)
				se := &storage.Session{ID: id, CookieHash: id, UserID: alice.ID, AuthTime: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}
				if err := a.Store.CreateSession(ctx, se); err != nil {
					t.Fatal(err)
				}
				if err := a.Store.RecordSessionClient(ctx, id, bclClientID); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := a.Store.EndUserSessions(ctx, alice.ID); err != nil || n != sessions {
				t.Fatalf("ended %d, %v", n, err)
			}
			var wg sync.WaitGroup
			claimed := make([]int, 2)
			for i, s := range []*apptest.Server{a, bs} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						n, err := s.App.BackchannelLogouts.RunOnce(ctx)
						if err != nil {
							t.Error(err)
							return
						}
						if n == 0 {
							return
						}
						claimed[i] += n
					}
				}()
			}
			wg.Wait()
			got := lrp.received(t)
			seen := map[string]int{}
			for _, c := range got {
				seen[c.JTI]++
				if seen[c.JTI] > 1 {
					t.Fatalf("logout %s delivered twice", c.JTI)
				}
			}
			if len(seen) != sessions || claimed[0]+claimed[1] != sessions {
				t.Fatalf("delivered %d distinct logouts, claimed %v; want %d", len(seen), claimed, sessions)
			}
		})
	}
}

// A relying party that never answers 2xx: the sender retries with growing
// delays, then gives up and audits it.
func TestBackchannelLogoutGivesUpAfterTheBoundAndAudits(t *testing.T) {
	eachBCLServer(t, func(t *testing.T, s *apptest.Server, lrp *logoutRP) {
		lrp.failing(1 << 20)
		b := apptest.NewBrowser(t, s)
		_, tok, _ := bclLogin(t, s, b)
		hint, _ := tok.Extra("id_token").(string)
		b.Get(s.URL + "/end_session?" + url.Values{"id_token_hint": {hint}}.Encode())
		attempts := 0
		for range 20 {
			attempts += deliver(t, s)
			s.Clock.Advance(2 * time.Hour) // past the longest delay
		}
		rows, err := s.Store.ListBackchannelLogouts(context.Background())
		if err != nil || len(rows) != 1 || rows[0].FailedAt == nil || rows[0].Attempts != 8 || attempts != 8 {
			t.Fatalf("after %d attempts: %+v, %v", attempts, rows, err)
		}
		ev, err := s.Store.ListAudit(context.Background(), storage.AuditFilter{Action: "backchannel_logout.failed"})
		if err != nil || len(ev) != 1 || ev[0].Target != bclClientID {
			t.Fatalf("audit %+v, %v", ev, err)
		}
	})
}

func TestDiscoveryAnnouncesBackchannelLogout(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	resp, err := http.Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d["backchannel_logout_supported"] != true || d["backchannel_logout_session_supported"] != true {
		t.Fatalf("discovery: backchannel_logout_supported %v, backchannel_logout_session_supported %v",
			d["backchannel_logout_supported"], d["backchannel_logout_session_supported"])
	}
}

// The back-channel settings through the admin API and the console, judged
// by the same validator as the configuration file.
func TestBackchannelSettingsThroughTheAPIAndTheConsole(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		c := newAPIClient(t, s, clientToken(t, s, adminBotID, adminBotSecret).AccessToken, map[string]bool{})
		bad := c.want(c.do("POST", "/clients", nil, nil, map[string]any{
			"id": "news", "redirect_uris": []string{"https://news.example.com/cb"}, "backchannel_logout_uri": "http://news.example.com/logout",
		}), 400).json(t)
		if bad["errors"].([]any)[0].(map[string]any)["field"] != "backchannel_logout_uri" {
			t.Fatalf("an http back-channel URI on a public host: %v", bad)
		}
		c.want(c.do("POST", "/clients", nil, nil, map[string]any{
			"id": "news", "redirect_uris": []string{"https://news.example.com/cb"},
			"backchannel_logout_uri": "https://news.example.com/logout?tenant=1", "backchannel_logout_session_required": true,
		}), 201)
		got := c.want(c.do("GET", "/clients/{id}", []string{"news"}, nil, nil), 200).json(t)
		if got["backchannel_logout_uri"] != "https://news.example.com/logout?tenant=1" || got["backchannel_logout_session_required"] != true {
			t.Fatalf("the client as the API shows it: %v", got)
		}

		b, _ := consoleSignIn(t, s)
		p := b.Get(s.URL + "/admin/clients/news")
		if !strings.Contains(p.Body, `id="backchannel_logout_uri"`) || !strings.Contains(p.Body, `value="https://news.example.com/logout?tenant=1"`) ||
			!strings.Contains(p.Body, `id="backchannel_logout_session_required" name="backchannel_logout_session_required" type="checkbox" value="1" checked`) {
			t.Fatalf("the console's client form does not show the back-channel settings:\n%s", p.Body)
		}
		_, fields := p.Form(t, "client-form")
		fields.Set("backchannel_logout_uri", "https://news.example.com/logout#frag")
		r := b.SubmitValues(p, "client-form", fields)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="backchannel_logout_uri-error"`) {
			t.Fatalf("a back-channel URI with a fragment: %d\n%s", r.Status, r.Body)
		}
		fields.Set("backchannel_logout_uri", "")
		fields["backchannel_logout_session_required"] = []string{} // unchecked
		if r := b.SubmitValues(p, "client-form", fields); r.Status >= 400 {
			t.Fatalf("clearing the back-channel URI: %d\n%s", r.Status, r.Body)
		}
		cl, err := s.Dir.ClientByID(context.Background(), "news")
		if err != nil || cl.BackchannelLogoutURI != "" || cl.BackchannelLogoutSessionRequired {
			t.Fatalf("after the console cleared it: %+v, %v", cl, err)
		}
	})
}

// A re-authentication in the same browser (prompt=login) keeps the
// session: nobody is told.
func TestBackchannelLogoutNotSentOnReauthentication(t *testing.T) {
	eachBCLServer(t, func(t *testing.T, s *apptest.Server, lrp *logoutRP) {
		b := apptest.NewBrowser(t, s)
		rp, tok, c := bclLogin(t, s, b)
		other := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		if _, again := loginApp(t, s, b, other, oauth2.SetAuthURLParam("prompt", "login")); again.SID != c.SID {
			t.Fatalf("prompt=login moved the session from %s to %s", c.SID, again.SID)
		}
		if n := deliver(t, s); n != 0 || len(lrp.received(t)) != 0 {
			t.Fatalf("a re-authentication sent %d logouts", n)
		}
		if _, err := rp.Config.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
			t.Fatalf("the refresh token stopped working after a re-authentication: %v", err)
		}
	})
}
