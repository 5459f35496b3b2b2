package apptest_test

// End-to-end proofs of rules of /work/shared/SECURITY-RULES.md that no
// other test proved on the whole application.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// unsignedJWT is a JWT with "alg":"none" and no signature.
func unsignedJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

// signJWT signs claims with key, adding the extra protected headers and,
// when embed is set, the public key itself as a "jwk" header.
func signJWT(t *testing.T, key any, alg jose.SignatureAlgorithm, kid string, embed bool, headers map[jose.HeaderKey]any, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{EmbedJWK: embed}
	for k, v := range headers {
		opts.WithHeader(k, v)
	}
	sk := jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}
	if embed {
		sk.Key = key // go-jose embeds the public half of a raw key
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SECURITY-RULES: "JWTs we accept (`id_token_hint`, client assertions, request objects) are verified against an
// algorithm allow-list; `none` refused; `jku`/`x5u`/`jwk` headers never trusted."
func TestAcceptedJWTsRefuseAlgNoneAndNeverTrustTheKeysTheyPointTo(t *testing.T) {
	registered, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &registered.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	// The attacker's key set, served where a jku or x5u header points.
	attackerSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &attacker.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	var fetched atomic.Int32
	keyHost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(attackerSet)
	}))
	defer keyHost.Close()

	st := staticFixture()
	st.Clients = append(st.Clients, directory.ClientSpec{ID: "jwtclient", JWKS: string(jwks), GrantTypes: []string{directory.GrantClientCredentials}})
	eachDatabaseServer(t, st, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		jti := 0
		claims := func() map[string]any {
			jti++
			now := s.Clock.Now()
			return map[string]any{"iss": "jwtclient", "sub": "jwtclient", "aud": s.URL, "jti": fmt.Sprint("jti-", jti),
				"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		}
		token := func(assertion string) tokenAnswer {
			return tt.post("/token", "", "", url.Values{"grant_type": {"client_credentials"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
		}
		t.Run("client assertions", func(t *testing.T) {
			tt := tokenTest{t, s}
			// The registered key works: the refusals below are about the JWT, not the client.
			tt.want("an assertion signed with the registered key", token(signJWT(t, registered, jose.RS256, "k1", false, nil, claims())), http.StatusOK, "")
			for _, tc := range []struct{ name, assertion string }{
				{"alg none", unsignedJWT(t, claims())},
				{"signed by a key embedded as a jwk header", signJWT(t, attacker, jose.ES256, "", true, nil, claims())},
				{"signed by a key a jku header points to", signJWT(t, attacker, jose.ES256, "k1", false, map[jose.HeaderKey]any{"jku": keyHost.URL + "/jwks"}, claims())},
				{"signed by a key an x5u header points to", signJWT(t, attacker, jose.ES256, "k1", false, map[jose.HeaderKey]any{"x5u": keyHost.URL + "/cert"}, claims())},
			} {
				a := token(tc.assertion)
				tt.want(tc.name, a, http.StatusUnauthorized, "invalid_client")
				if a.str("access_token") != "" {
					t.Fatalf("%s: got a token: %s", tc.name, a.Body)
				}
			}
		})
		t.Run("id_token_hint", func(t *testing.T) {
			rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
			b := apptest.NewBrowser(t, s)
			_, c := loginApp(t, s, b, rp)
			now := s.Clock.Now()
			hint := map[string]any{"iss": s.URL, "sub": c.Subject, "aud": "app", "sid": c.SID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
			for _, tc := range []struct{ name, hint string }{
				{"alg none", unsignedJWT(t, hint)},
				{"signed by a key embedded as a jwk header", signJWT(t, attacker, jose.ES256, "", true, nil, hint)},
				{"signed by a key a jku header points to", signJWT(t, attacker, jose.ES256, "k1", false, map[jose.HeaderKey]any{"jku": keyHost.URL + "/jwks"}, hint)},
			} {
				q := url.Values{"id_token_hint": {tc.hint}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/"}, "state": {"bye"}}
				p := apptest.NewBrowser(t, s).Get(s.URL + "/end_session?" + q.Encode()) // a server's call: no cookie
				if p.Redirect != nil {
					t.Fatalf("%s: a forged hint was believed: redirected to %s", tc.name, p.Redirect)
				}
				// The hinted session lives on.
				apptest.Code(t, b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none"))))
			}
		})
		if n := fetched.Load(); n != 0 {
			t.Fatalf("the provider fetched keys from a URL a JWT named (%d times)", n)
		}
	})
}

// stepUpServer is a server whose "app" asks for the second factor again after an hour, with alice signed in
// with a TOTP code in the returned browser more than an hour ago.
func stepUpServer(t *testing.T) (*apptest.Server, *apptest.RP, *apptest.Browser, []byte) {
	t.Helper()
	st := mfaFixture()
	st.Policies[0].MFAMaxAge = time.Hour
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: st})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	b := apptest.NewBrowser(t, s)
	secret, _, end := enrollTOTP(t, s, b, rp)
	apptest.Code(t, end)
	s.Clock.Advance(time.Hour + time.Minute)
	return s, rp, b, secret
}

// SECURITY-RULES: "The session cookie value changes after the password, after each second factor and after every
// step-up; the old value then means nothing."
func TestTheSessionCookieChangesAfterAStepUpAndTheOldValueMeansNothing(t *testing.T) {
	s, rp, b, secret := stepUpServer(t)
	p := b.Get(rp.AuthURL("s", "n", pkce))
	if !strings.Contains(p.Body, `id="mfa-totp"`) || strings.Contains(p.Body, `id="login"`) {
		t.Fatalf("no step-up challenge:\n%s", p.Body)
	}
	before := b.Cookie(idp.SessionCookieBase)
	apptest.Code(t, b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))}))
	after := b.Cookie(idp.SessionCookieBase)
	if before == "" || after == "" || after == before {
		t.Fatalf("session cookie before the step-up %q, after %q: want a new value", before, after)
	}
	// The new value is the stepped-up session: silent SSO.
	apptest.Code(t, b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none"))))
	// The old value is nobody's session, not even a stale one.
	old := apptest.NewBrowser(t, s)
	u, _ := url.Parse(s.URL)
	old.Client.Jar.SetCookies(u, []*http.Cookie{{Name: idp.SessionCookieBase, Value: before}})
	if q := apptest.Query(t, old.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none")))); q.Get("error") != "login_required" {
		t.Fatalf("the pre-step-up cookie: %v, want login_required", q)
	}
}

// SECURITY-RULES: "A step-up completes only the authorization request and browser session it belongs to."
func TestAStepUpCompletesOnlyItsOwnRequestInItsOwnBrowser(t *testing.T) {
	s, rp, b, secret := stepUpServer(t)
	p := b.Get(rp.AuthURL("request-a", "n", pkce))
	if !strings.Contains(p.Body, `id="mfa-totp"`) {
		t.Fatalf("no step-up challenge:\n%s", p.Body)
	}
	id := p.URL.Query().Get("id")
	// Another browser, even with the right code, cannot complete it.
	other := apptest.NewBrowser(t, s)
	if got := other.Get(p.URL.String()); got.Status != http.StatusForbidden || got.Redirect != nil {
		t.Fatalf("another browser opened the step-up: %d %v", got.Status, got.Redirect)
	}
	_, form := other.Get(rp.AuthURL("other", "n", pkce)).Form(t, "login")
	right := totp.Code(secret, totp.Step(s.Clock.Now()))
	if r := other.PostForm(s.URL+"/login/mfa/totp", map[string]string{"id": id, "csrf_token": form.Get("csrf_token"), "code": right}); r.Redirect != nil || r.Status < 400 {
		t.Fatalf("another browser completed the step-up: %d %v", r.Status, r.Redirect)
	}
	if other.Cookie(idp.SessionCookieBase) != "" {
		t.Fatal("another browser got a session from the step-up")
	}
	// A second request of the owner's browser, pending at the same time, stays its own.
	second := b.Get(rp.AuthURL("request-b", "n", pkce))
	if !strings.Contains(second.Body, `id="mfa-totp"`) || second.URL.Query().Get("id") == id {
		t.Fatalf("the second request: %d at %s", second.Status, second.URL)
	}
	s.Clock.Advance(30 * time.Second)
	done := b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
	if _, state := apptest.Code(t, done); state != "request-a" {
		t.Fatalf("the step-up of request-a answered state %q", state)
	}
}

// SECURITY-RULES: "Failed-attempt limiting per account across the OTP-type factors (TOTP + backup codes
// together) … a success resets the counter"
func TestWrongTOTPAndBackupCodesShareOneLimitAndASuccessResetsIt(t *testing.T) {
	eachDatabaseServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		secret, _, _ := enrollTOTP(t, s, apptest.NewBrowser(t, s), rp)
		wrong := func(b *apptest.Browser, p *apptest.Page, form, code string) {
			t.Helper()
			if r := b.Submit(p, form, map[string]string{"code": code}); r.Status != http.StatusUnauthorized {
				t.Fatalf("wrong %s %s: %d, want 401", form, code, r.Status)
			}
		}
		// Four failures, then the right code: not yet throttled, and the success resets the counter.
		s.Clock.Advance(30 * time.Second)
		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		for range 4 {
			wrong(b, p, "mfa-totp", "000000")
		}
		apptest.Code(t, b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))}))

		// Five more failures, of both kinds, each checked: the counter started again at zero.
		s.Clock.Advance(30 * time.Second)
		b2 := apptest.NewBrowser(t, s)
		p = b2.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		backup := b2.Get(p.URL.String() + "&method=backup_code")
		wrong(b2, p, "mfa-totp", "000000")
		wrong(b2, backup, "mfa-backup-code", "00000-00000")
		wrong(b2, p, "mfa-totp", "111111")
		wrong(b2, backup, "mfa-backup-code", "11111-11111")
		wrong(b2, backup, "mfa-backup-code", "22222-22222")
		// Two wrong TOTP codes and three wrong backup codes are one account's five: the right code is refused.
		r := b2.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Fatalf("the right TOTP code after five failures across TOTP and backup codes: %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
		}
	})
}

// SECURITY-RULES: "TOTP: … enrollment activates only after one valid code."
func TestATOTPEnrollmentWithoutAValidCodeIsNoFactor(t *testing.T) {
	eachDatabaseServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		b := apptest.NewBrowser(t, s)
		p := b.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		p = b.Get(s.URL + "/login/enroll/totp?id=" + p.URL.Query().Get("id"))
		if !strings.Contains(p.Body, `id="otpauth-uri"`) {
			t.Fatalf("no enrollment page:\n%s", p.Body)
		}
		if r := b.Submit(p, "enroll-totp", map[string]string{"code": "000000"}); r.Status != http.StatusUnauthorized {
			t.Fatalf("a wrong enrollment code: %d", r.Status)
		}
		// Shown and answered wrongly, the secret is no factor: the next sign-in still enrolls.
		b2 := apptest.NewBrowser(t, s)
		p = b2.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(p.Body, `data-enroll="totp"`) || strings.Contains(p.Body, `id="mfa-totp"`) {
			t.Fatalf("after an unconfirmed enrollment: want the enrollment choice, not a challenge:\n%s", p.Body)
		}
		u, err := s.Dir.GetUserByUsername(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.Store.CountUnusedBackupCodes(context.Background(), u.ID); err != nil || n != 0 {
			t.Fatalf("an unconfirmed enrollment left %d backup codes (%v)", n, err)
		}
	})
}

// countingHasher counts the password hashes computed, real or dummy.
type countingHasher struct {
	directory.PasswordHasher
	n *atomic.Int32
}

func (h countingHasher) Verify(ctx context.Context, encoded, password string) (bool, bool, error) {
	h.n.Add(1)
	return h.PasswordHasher.Verify(ctx, encoded, password)
}

func (h countingHasher) VerifyDummy(ctx context.Context, password string) error {
	h.n.Add(1)
	return h.PasswordHasher.VerifyDummy(ctx, password)
}

// SECURITY-RULES: "Unknown user, wrong password, disabled account, with or without MFA: the same status, message,
// redirects, cookies and timing (a dummy hash for unknown users)."
func TestEveryRefusedPasswordCostsOneHashAndLooksTheSameWithOrWithoutMFA(t *testing.T) {
	var hashes atomic.Int32
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: mfaFixture(), WrapHasher: func(h directory.PasswordHasher) directory.PasswordHasher {
		return countingHasher{h, &hashes}
	}})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	// alice has a second factor; bob has none; dora is disabled.
	_, _, end := enrollTOTP(t, s, apptest.NewBrowser(t, s), rp)
	apptest.Code(t, end)
	if _, err := s.Dir.CreateUser(context.Background(), idp.ActorCLI, directory.NewUser{Username: "dora", Password: alicePassword}); err != nil {
		t.Fatal(err)
	}
	if err := s.Dir.SetUserDisabled(context.Background(), idp.ActorCLI, "dora", true); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status   int
		path     string
		alert    string
		cookies  string
		hashes   int32
		redirect bool
	}
	try := func(user, pw string) answer {
		t.Helper()
		b := apptest.NewBrowser(t, s)
		p := b.Get(rp.AuthURL("s", "n", pkce))
		hashes.Store(0)
		p = b.Submit(p, "login", map[string]string{"username": user, "password": pw})
		i := strings.Index(p.Body, `role="alert"`)
		if i < 0 {
			t.Fatalf("%s: no alert (status %d)", user, p.Status)
		}
		var names []string
		for _, c := range p.Header.Values("Set-Cookie") {
			names = append(names, strings.SplitN(c, "=", 2)[0])
		}
		return answer{p.Status, p.URL.Path, p.Body[i : i+strings.Index(p.Body[i:], "</")], strings.Join(names, ","), hashes.Load(), p.Redirect != nil}
	}
	want := try("alice", "wrong password here") // with a second factor
	if want.status != http.StatusUnauthorized || want.hashes != 1 || want.redirect {
		t.Fatalf("a wrong password for a user with MFA: %+v, want 401 after one hash", want)
	}
	for _, tc := range []struct{ name, user, pw string }{
		{"a wrong password without MFA", "bob", "wrong password here"},
		{"an unknown user (a dummy hash)", "nobody", "wrong password here"},
		{"a disabled account with its right password", "dora", alicePassword},
	} {
		if got := try(tc.user, tc.pw); got != want {
			t.Errorf("%s: %+v, want the same as a wrong password with MFA: %+v", tc.name, got, want)
		}
	}
}

// captureServerLog makes the servers apptest.New starts from now on log at
// debug level into the returned log; flush waits until everything logged so
// far is in it.
func captureServerLog(t *testing.T) (logged func() string) {
	t.Helper()
	t.Setenv("TWOFOLD_TEST_LOG", "1") // apptest.New then logs to os.Stderr, at debug level
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved, savedLog := os.Stderr, log.Writer()
	os.Stderr = w
	log.SetOutput(w) // what libraries log through the default logger, too
	var (
		mu    sync.Mutex
		lines []string
		seen  = make(chan string)
	)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "sentinel ") {
				seen <- l
			} else {
				mu.Lock()
				lines = append(lines, l)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { os.Stderr = saved; log.SetOutput(savedLog); w.Close() }) // after the servers' own cleanups
	n := 0
	return func() string {
		n++
		want := fmt.Sprint("sentinel ", n)
		fmt.Fprintln(w, want)
		for got := <-seen; got != want; got = <-seen {
		}
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "\n")
	}
}

// SECURITY-RULES: "Logs never contain passwords, codes, backup codes, tokens or secrets." — the whole
// application's log at debug level, through a sign-in with a password, a TOTP enrollment and challenge, a backup
// code, a code exchange with the client's secret, a refresh, an introspection and a revocation.
func TestTheServerLogHoldsNoPasswordCodeOrSecret(t *testing.T) {
	serverLog := captureServerLog(t)
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: mfaFixture()})
	tt := tokenTest{t, s}
	rp := tt.rp("app", strings.Fields(offlineScopes)...)
	secrets := map[string]string{"the password": alicePassword, "the client secret": appSecret}
	exact := map[string]string{} // six-digit codes: found only as a whole logged value

	b := apptest.NewBrowser(t, s)
	p := b.Login(rp.AuthURL("st", "n", tokVerifier), "alice", alicePassword)
	p = b.Get(s.URL + "/login/enroll/totp?id=" + p.URL.Query().Get("id"))
	_, form := p.Form(t, "enroll-totp")
	m := regexp.MustCompile(`id="otpauth-uri" href="([^"]+)"`).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no otpauth link:\n%s", p.Body)
	}
	key, err := totp.ParseURI(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	secrets["the TOTP secret"] = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(key.Secret)
	secrets["the CSRF token"] = form.Get("csrf_token")
	code := totp.Code(key.Secret, totp.Step(s.Clock.Now()))
	exact["the enrollment code"] = code
	p = b.Submit(p, "enroll-totp", map[string]string{"code": code})
	codes := backupCodeRE.FindAllStringSubmatch(p.Body, -1)
	if len(codes) != 10 {
		t.Fatalf("%d backup codes", len(codes))
	}
	for i, c := range codes {
		secrets[fmt.Sprint("backup code ", i)] = c[1]
		secrets[fmt.Sprint("backup code ", i, " as typed")] = strings.ToUpper(strings.ReplaceAll(c[1], "-", ""))
	}
	authCode, _ := apptest.Code(t, b.Submit(p, "backup-codes-ack", nil))
	secrets["the authorization code"] = authCode
	secrets["the session cookie"] = b.Cookie(idp.SessionCookieBase)
	tok, err := rp.Exchange(authCode, tokVerifier)
	if err != nil {
		t.Fatal(err)
	}

	// A TOTP challenge (one wrong code, then the right one) and a backup code, in new browsers.
	s.Clock.Advance(30 * time.Second)
	b2 := apptest.NewBrowser(t, s)
	p = b2.Login(rp.AuthURL("st", "n", tokVerifier), "alice", alicePassword)
	b2.Submit(p, "mfa-totp", map[string]string{"code": "314159"})
	exact["a wrong TOTP code"] = "314159"
	code = totp.Code(key.Secret, totp.Step(s.Clock.Now()))
	exact["the TOTP code"] = code
	apptest.Code(t, b2.Submit(p, "mfa-totp", map[string]string{"code": code}))
	b3 := apptest.NewBrowser(t, s)
	p = b3.Login(rp.AuthURL("st", "n", tokVerifier), "alice", "a wrong password typed")
	secrets["a wrong password"] = "a wrong password typed"
	p = b3.Login(rp.AuthURL("st", "n", tokVerifier), "alice", alicePassword)
	p = b3.Get(p.URL.String() + "&method=backup_code")
	apptest.Code(t, b3.Submit(p, "mfa-backup-code", map[string]string{"code": codes[0][1]}))

	// The token side.
	secrets["the access token"] = tok.AccessToken
	secrets["the refresh token"] = tok.RefreshToken
	secrets["the ID token"], _ = tok.Extra("id_token").(string)
	next := tt.refresh("app", tok.RefreshToken, "")
	tt.want("refresh", next, http.StatusOK, "")
	secrets["the refreshed access token"] = next.str("access_token")
	secrets["the rotated refresh token"] = next.str("refresh_token")
	tt.want("replay", tt.refresh("app", tok.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")
	tt.introspect("app", appSecret, next.str("access_token"))
	tt.post("/token", "app", "a-wrong-client-secret-0123", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.str("refresh_token")}})
	secrets["a wrong client secret"] = "a-wrong-client-secret-0123"
	tt.revoke("app", next.str("refresh_token"), "")

	all := serverLog()
	if !strings.Contains(all, "level=") || !strings.Contains(all, "invalid_client") {
		t.Fatalf("the capture missed the server's or the libraries' log:\n%s", all)
	}
	for what, v := range secrets {
		if v == "" {
			t.Fatalf("%s is empty", what)
		}
		if strings.Contains(all, v) {
			t.Errorf("the log holds %s", what)
		}
	}
	values := map[string]bool{}
	for _, f := range strings.FieldsFunc(all, func(r rune) bool { return r == ' ' || r == '=' || r == '"' || r == '\n' || r == '&' || r == '?' }) {
		values[f] = true
	}
	for what, v := range exact {
		if values[v] {
			t.Errorf("the log holds %s", what)
		}
	}
	if t.Failed() {
		t.Logf("the log:\n%s", all)
	}
}

// SECURITY-RULES: "TOTP: 160-bit CSPRNG secret, stored encrypted" — what the database holds is sealed: neither
// the secret the authenticator app was given nor any plain encoding of it, and two enrollments of the same
// secret would not match.
func TestTheTOTPSecretIsStoredSealed(t *testing.T) {
	eachDatabaseServer(t, mfaFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		secret, _, end := enrollTOTP(t, s, apptest.NewBrowser(t, s), rp)
		apptest.Code(t, end)
		if len(secret) != 20 {
			t.Fatalf("the secret has %d bits, want 160", len(secret)*8)
		}
		rows, err := s.Store.SQL().QueryContext(t.Context(), "SELECT secret_sealed FROM totp_authenticators")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var sealed []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			sealed = append(sealed, v)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(sealed) != 1 {
			t.Fatalf("%d TOTP rows, want 1", len(sealed))
		}
		plain := []string{
			string(secret),
			base32.StdEncoding.EncodeToString(secret),
			base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret),
			base64.StdEncoding.EncodeToString(secret),
			base64.RawStdEncoding.EncodeToString(secret),
			base64.RawURLEncoding.EncodeToString(secret),
			hex.EncodeToString(secret),
		}
		stored := sealed[0]
		if raw, err := base64.StdEncoding.DecodeString(stored); err == nil {
			stored += "\x00" + string(raw) // the sealed bytes, too
		}
		for _, p := range plain {
			if strings.Contains(strings.ToLower(stored), strings.ToLower(p)) {
				t.Fatalf("the stored TOTP secret holds the secret in plain: %q", sealed[0])
			}
		}
		if len(sealed[0]) < len(base64.StdEncoding.EncodeToString(secret))+16 {
			t.Fatalf("the stored TOTP secret %q is too short to be sealed with a nonce and a tag", sealed[0])
		}
	})
}

// answers records the method and status of every response a browser gets,
// redirects followed included.
type answers struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (a *answers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(r)
	if err == nil {
		a.mu.Lock()
		a.seen = append(a.seen, fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, resp.StatusCode))
		a.mu.Unlock()
	}
	return resp, err
}

// SECURITY-RULES: "After a credential POST, redirect with 303/302, never 307 (RFC 9700 §4.12)." — every POST of a
// whole sign-in (password, TOTP enrollment, backup codes, TOTP challenge, consent) and sign-out.
func TestNoPostOfTheHostedPagesIsRedirectedWith307Or308(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: mfaFixture()})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	third := apptest.NewRP(t, s, thirdPartyID, appSecret, thirdRedirect)
	rec := &answers{next: http.DefaultTransport}
	b := apptest.NewBrowser(t, s)
	b.Client.Transport = rec
	secret, _, end := enrollTOTP(t, s, b, rp)
	apptest.Code(t, end)
	s.Clock.Advance(time.Minute)
	p := b.Submit(b.Get(rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "login"))), "login", map[string]string{"username": "alice", "password": alicePassword})
	apptest.Code(t, b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))}))
	apptest.Code(t, b.Submit(b.Get(third.AuthURL("s", "n", pkce)), "consent", map[string]string{"decision": "allow"}))
	p = b.Get(s.URL + "/end_session?" + url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/"}}.Encode())
	b.Submit(p, "logout", nil)

	posts := 0
	for _, a := range rec.seen {
		if !strings.HasPrefix(a, "POST ") {
			continue
		}
		posts++
		if strings.HasSuffix(a, " 307") || strings.HasSuffix(a, " 308") {
			t.Errorf("%s: a POST redirected with a method-preserving status", a)
		}
	}
	if posts < 6 {
		t.Fatalf("only %d POSTs recorded: %v", posts, rec.seen)
	}
}

// SECURITY-RULES: "`return_to`-style parameters accept only same-origin relative paths" — Twofold takes none: no
// page follows a return_to, next, redirect or continue parameter off the site, signed in or not.
func TestNoPageFollowsAReturnToParameterOffTheSite(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
	signedIn := apptest.NewBrowser(t, s)
	loginApp(t, s, signedIn, rp)
	for _, b := range []*apptest.Browser{apptest.NewBrowser(t, s), signedIn} {
		for _, path := range []string{"/", "/account", "/account/callback", "/login", "/logout", "/logout/done", "/setup"} {
			for _, param := range []string{"return_to", "returnTo", "next", "redirect", "redirect_to", "redirect_uri", "continue", "url", "goto"} {
				for _, target := range []string{"https://evil.example/x", "//evil.example/x", `/\evil.example/x`, "http:evil.example"} {
					p := b.Get(s.URL + path + "?" + url.Values{param: {target}}.Encode())
					if p.Redirect != nil && p.Redirect.Host != "127.0.0.1:9999" {
						t.Errorf("%s?%s=%s redirected off the site to %s", path, param, target, p.Redirect)
					}
					if strings.Contains(p.URL.Host, "evil") {
						t.Errorf("%s?%s=%s ended at %s", path, param, target, p.URL)
					}
				}
			}
		}
	}
}
