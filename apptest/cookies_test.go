package apptest_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/cmd/twofold/wire"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/password"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/mfa/backupcodes"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// setCookies records every Set-Cookie a browser receives, redirects
// followed included.
type setCookies struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []*http.Cookie
}

func (s *setCookies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		s.seen = append(s.seen, resp.Cookies()...)
		s.mu.Unlock()
	}
	return resp, err
}

func (s *setCookies) all() []*http.Cookie {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Cookie(nil), s.seen...)
}

// wantCookieAttributes fails unless every cookie is HttpOnly, SameSite=Lax,
// host-only on the path /, and, on https, Secure with the __Host- prefix.
func wantCookieAttributes(t *testing.T, cookies []*http.Cookie, https bool, names ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range cookies {
		seen[c.Name] = true
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.Secure != https ||
			strings.HasPrefix(c.Name, "__Host-") != https {
			t.Errorf("cookie %s: HttpOnly %v, SameSite %v, Path %q, Domain %q, Secure %v; want HttpOnly, Lax, /, host-only, Secure and __Host- %v",
				c.Name, c.HttpOnly, c.SameSite, c.Path, c.Domain, c.Secure, https)
		}
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("no %s cookie among %d set", n, len(cookies))
		}
	}
}

// SECURITY-RULES: "Cookies: `HttpOnly`, `SameSite=Lax` (Strict breaks SSO from relying parties), `Secure` and
// `__Host-` on https." — every cookie the whole application sets, the provider's own included, through a
// sign-in with a second factor and a remembered device, and a sign-out.
func TestEveryCookieTheApplicationSetsIsHttpOnlyLaxAndHostBoundOnHTTPS(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		st := mfaFixture()
		st.Policies[0].RememberDevice = 24 * time.Hour
		s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: st})
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		rec := &setCookies{next: http.DefaultTransport}
		b := apptest.NewBrowser(t, s)
		b.Client.Transport = rec
		secret, _, end := enrollTOTP(t, s, b, rp)
		apptest.Code(t, end)
		s.Clock.Advance(time.Minute)
		p := b.Submit(b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "login"))), "login", map[string]string{"username": "alice", "password": alicePassword})
		apptest.Code(t, b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now())), "remember_device": "1"}))
		p = b.Get(s.URL + "/end_session?" + url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/"}}.Encode())
		b.Submit(p, "logout", nil)
		wantCookieAttributes(t, rec.all(), false, "twofold_session", "twofold_csrf", "twofold_device", "twofold_browser", "twofold_known")
	})
	t.Run("https", func(t *testing.T) {
		const issuer = "https://id.example.com"
		h := httpsApp(t, issuer)
		rec := &setCookies{next: inProcess{h}}
		b := apptest.NewBrowser(t, &apptest.Server{URL: issuer})
		b.Client.Transport = rec
		verifier := pkce
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{"client_id": {"app"}, "redirect_uri": {appRedirect}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
		apptest.Code(t, b.Login(issuer+"/authorize?"+q.Encode(), "alice", alicePassword))
		p := b.Get(issuer + "/end_session?" + url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/"}}.Encode())
		b.Submit(p, "logout", nil)
		wantCookieAttributes(t, rec.all(), true, "__Host-twofold_session", "__Host-twofold_csrf", "__Host-twofold_browser", "__Host-twofold_known")
	})
}

// inProcess serves requests with h, as if over TLS.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	r.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// httpsApp is the whole application, as apptest.New wires it, for an https
// issuer, served in process.
func httpsApp(t *testing.T, issuer string) http.Handler {
	t.Helper()
	clock := apptest.NewClock()
	store := storagetest.NewSQLite(t, storage.WithNow(clock.Now))
	key, err := secrets.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secrets.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	hasher := password.New(password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 4)
	dir := directory.New(store, hasher, ring, logger, clock.Now)
	if err := dir.ApplyStatic(context.Background(), staticFixture()); err != nil {
		t.Fatal(err)
	}
	app, err := wire.Build(context.Background(), wire.Options{
		Issuer: issuer, Store: store, Ring: ring, Logger: logger, Registry: prometheus.NewRegistry(), Now: clock.Now,
		Directory: dir, BackupCodeParams: backupcodes.Params{Memory: 64, Iterations: 1, Parallelism: 1},
		Mailer: notify.NewConsoleMailer(io.Discard, notify.NoSMTPNote),
	})
	if err != nil {
		t.Fatal(err)
	}
	return app.Server.Handler()
}
