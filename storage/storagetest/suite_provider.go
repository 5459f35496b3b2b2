package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// providerTests cover auth requests, codes, sessions, tokens, consents,
// throttles and client-assertion replay protection.
func providerTests() []conformanceTest {
	return []conformanceTest{
		{"clients keep their token-endpoint settings and default the rest", testClientProviderSettings},
		{"an auth request is stored, read back and not found once expired", testAuthRequestCRUD},
		{"the first browser binds an auth request and another browser is refused", testBindAuthRequest},
		{"an auth request is completed only once and only while live", testCompleteAuthRequest},
		{"a code is saved only for a done request and only once", testSaveAuthCode},
		{"a code is redeemed once, a replay returns its request and an expired code is not found", testConsumeAuthCode},
		{"of 20 concurrent redemptions of one code exactly one wins", testConcurrentConsumeAuthCode},
		{"a session is found by its cookie only while live", testSessionLifetime},
		{"a pending session names its sign-in until completed, and keeps it through a factor", testPendingSession},
		{"factors added to 20 sessions at once all succeed (a transaction that reads first still gets to write)", testParallelSessionFactors},
		{"touching a session moves its idle expiry but never past the absolute expiry", testTouchSession},
		{"rotating the session cookie makes the old hash useless", testRotateSessionCookie},
		{"adding a factor appends it, moves auth_time and rotates the cookie", testAddSessionFactor},
		{"a user's live sessions are listed newest first and ended together", testUserSessions},
		{"access tokens are stored, read back and revoked idempotently", testAccessTokens},
		{"a refresh token rotates into the next token of its family", testRotateRefreshToken},
		{"replaying a rotated refresh token revokes the whole family", testRefreshTokenReplay},
		{"of 20 concurrent rotations of one refresh token exactly one succeeds", testConcurrentRotateRefreshToken},
		{"a replayed code revokes every token issued from its auth request", testRevokeAuthRequestTokens},
		{"logout revokes the tokens bound to the session", testRevokeSessionTokens},
		{"an account change revokes every token of the user and no one else's", testRevokeUserTokens},
		{"consents are upserted, listed and revoked", testConsents},
		{"of 40 concurrent attempts on one key exactly the burst of 5 are admitted", testConcurrentAttempts},
		{"attempts decay one per period, a refusal counts nothing, a returned attempt comes back and a reset remembers the success", testThrottleDecay},
		{"a client assertion is accepted once while it lives", testClientAssertions},
		{"expired rows are deleted and live ones kept", testDeleteExpired},
		{"expired rows are deleted in batches: every expired row goes, every live one stays", testDeleteExpiredInBatches},
		{"deleting a user or a client removes what hangs off it", testProviderCascades},
	}
}

func newPVClock() *Clock { return NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)) }

// pvStore returns a store on a fixed clock with user u1 and client app.
func pvStore(t *testing.T, newStore Factory) (*storage.Store, *Clock) {
	t.Helper()
	clock := newPVClock()
	s := newStore(t, storage.WithNow(clock.Now))
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "alice")))
	mustNil(t, s.CreateClient(ctx(t), &storage.Client{ID: "app", Name: "App", RedirectURIs: []string{"http://127.0.0.1:9999/callback"}}))
	return s, clock
}

// pvAuthRequest is a live request of client app, valid for 30 minutes.
func pvAuthRequest(id string, now time.Time) *storage.AuthRequest {
	return &storage.AuthRequest{
		ID: id, ClientID: "app", RedirectURI: "http://127.0.0.1:9999/callback",
		ResponseType: "code", State: "st", Nonce: "n", Scopes: []string{"openid", "profile"},
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256",
		ExpiresAt: now.Add(30 * time.Minute),
	}
}

// pvDoneRequest stores a request completed by u1 in session s1.
func pvDoneRequest(t *testing.T, s *storage.Store, id string, now time.Time) {
	t.Helper()
	mustNil(t, s.CreateAuthRequest(ctx(t), pvAuthRequest(id, now)))
	mustNil(t, s.CompleteAuthRequest(ctx(t), id, "u1", "s1", now, []string{"pwd"}, "urn:twofold:acr:pwd"))
}

func pvSession(id, cookieHash string, now time.Time) *storage.Session {
	return &storage.Session{
		ID: id, CookieHash: cookieHash, UserID: "u1",
		Factors:  storage.SessionFactors{{Method: "pwd", At: now, AMR: []string{"pwd"}}},
		AuthTime: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(12 * time.Hour),
		IP: "192.0.2.1", UserAgent: "test",
	}
}

func pvRefresh(id, family string, now time.Time) *storage.RefreshToken {
	return &storage.RefreshToken{
		ID: id, TokenHash: "hash-" + id, FamilyID: family, ClientID: "app", UserID: "u1", SessionID: "s1",
		AuthRequestID: "ar1", Scopes: []string{"openid", "offline_access"}, AMR: []string{"pwd"},
		ACR: "urn:twofold:acr:pwd", AuthTime: now.Add(-time.Minute), ExpiresAt: now.Add(24 * time.Hour),
	}
}

func pvAccess(id string, now time.Time) *storage.AccessToken {
	return &storage.AccessToken{
		ID: id, ClientID: "app", UserID: "u1", Scopes: []string{"openid"}, Audience: []string{"app"},
		ExpiresAt: now.Add(time.Hour),
	}
}

func sameTime(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil || !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func mustAccessRevoked(t *testing.T, s *storage.Store, want bool, ids ...string) {
	t.Helper()
	for _, id := range ids {
		at, err := s.GetAccessToken(ctx(t), id)
		mustNil(t, err)
		if (at.RevokedAt != nil) != want {
			t.Fatalf("access token %s revoked = %v, want %v", id, at.RevokedAt != nil, want)
		}
	}
}

func mustRefreshRevoked(t *testing.T, s *storage.Store, want bool, ids ...string) {
	t.Helper()
	for _, id := range ids {
		rt, err := s.GetRefreshTokenByHash(ctx(t), "hash-"+id)
		mustNil(t, err)
		if (rt.RevokedAt != nil) != want {
			t.Fatalf("refresh token %s revoked = %v, want %v", id, rt.RevokedAt != nil, want)
		}
	}
}

func testClientProviderSettings(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.CreateClient(ctx(t), &storage.Client{ID: "plain", Name: "Plain"}))
	got, err := s.GetClient(ctx(t), "plain")
	mustNil(t, err)
	if got.AuthMethod != "" || got.AccessTokenType != "jwt" || got.IDTokenAlg != "RS256" || got.JWKS != "" {
		t.Fatalf("defaults: %+v", got)
	}
	jwks := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`
	c := &storage.Client{ID: "svc", Name: "Service", AuthMethod: "private_key_jwt", AccessTokenType: "opaque", IDTokenAlg: "EdDSA", JWKS: jwks}
	mustNil(t, s.UpsertClient(ctx(t), c))
	got, err = s.GetClient(ctx(t), "svc")
	mustNil(t, err)
	if got.AuthMethod != "private_key_jwt" || got.AccessTokenType != "opaque" || got.IDTokenAlg != "EdDSA" || got.JWKS != jwks {
		t.Fatalf("stored: %+v", got)
	}
	// An upsert with the settings left zero returns them to the defaults.
	mustNil(t, s.UpsertClient(ctx(t), &storage.Client{ID: "svc", Name: "Service"}))
	got, err = s.GetClient(ctx(t), "svc")
	mustNil(t, err)
	if got.AuthMethod != "" || got.AccessTokenType != "jwt" || got.IDTokenAlg != "RS256" || got.JWKS != "" {
		t.Fatalf("after upsert with zero settings: %+v", got)
	}
	if err := s.CreateClient(ctx(t), &storage.Client{ID: "bad", Name: "Bad", AuthMethod: "client_secret_jwt"}); err == nil {
		t.Fatal("a client with an unknown auth method was stored")
	}
	if err := s.CreateClient(ctx(t), &storage.Client{ID: "bad2", Name: "Bad", AccessTokenType: "macaroon"}); err == nil {
		t.Fatal("a client with an unknown access token type was stored")
	}
}

func testAuthRequestCRUD(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	maxAge := int64(0)
	r := pvAuthRequest("ar1", now)
	r.ResponseMode, r.LoginHint, r.IDTokenHintSubject = "query", "alice", "u1"
	r.Claims = `{"id_token":{"acr":{"essential":true,"values":["urn:twofold:acr:mfa"]}}}`
	r.Prompt, r.UILocales, r.ACRValues = []string{"login"}, []string{"de", "en"}, []string{"urn:twofold:acr:mfa", "urn:twofold:acr:pwd"}
	r.MaxAgeSeconds = &maxAge
	mustNil(t, s.CreateAuthRequest(ctx(t), r))
	mustIs(t, s.CreateAuthRequest(ctx(t), pvAuthRequest("ar1", now)), storage.ErrConflict)
	unknown := pvAuthRequest("ar2", now)
	unknown.ClientID = "nope"
	mustIs(t, s.CreateAuthRequest(ctx(t), unknown), storage.ErrReference)

	got, err := s.GetAuthRequest(ctx(t), "ar1")
	mustNil(t, err)
	if got.ClientID != "app" || got.RedirectURI != r.RedirectURI || got.ResponseType != "code" || got.ResponseMode != "query" ||
		got.State != "st" || got.Nonce != "n" || got.CodeChallenge != r.CodeChallenge || got.CodeChallengeMethod != "S256" ||
		got.LoginHint != "alice" || got.IDTokenHintSubject != "u1" || got.Claims != r.Claims ||
		!slices.Equal(got.Scopes, r.Scopes) || !slices.Equal(got.Prompt, r.Prompt) || !slices.Equal(got.UILocales, r.UILocales) ||
		!slices.Equal(got.ACRValues, r.ACRValues) || got.MaxAgeSeconds == nil || *got.MaxAgeSeconds != 0 {
		t.Fatalf("GetAuthRequest = %+v", got)
	}
	if got.Done || got.ConsentGiven || got.UserID != nil || got.SessionID != nil || got.AuthTime != nil || got.CodeHash != nil ||
		got.BrowserHash != "" || len(got.AMR) != 0 || got.ACR != "" {
		t.Fatalf("a new request has state: %+v", got)
	}
	if !got.CreatedAt.Equal(now) || !got.ExpiresAt.Equal(now.Add(30*time.Minute)) {
		t.Fatalf("times = %v, %v", got.CreatedAt, got.ExpiresAt)
	}

	// max_age absent is nil, not 0.
	mustNil(t, s.CreateAuthRequest(ctx(t), pvAuthRequest("ar3", now)))
	got, err = s.GetAuthRequest(ctx(t), "ar3")
	mustNil(t, err)
	if got.MaxAgeSeconds != nil {
		t.Fatalf("MaxAgeSeconds = %d, want nil", *got.MaxAgeSeconds)
	}

	clock.Advance(30 * time.Minute)
	_, err = s.GetAuthRequest(ctx(t), "ar1")
	mustIs(t, err, storage.ErrNotFound)
	_, err = s.GetAuthRequest(ctx(t), "missing")
	mustIs(t, err, storage.ErrNotFound)
	mustNil(t, s.DeleteAuthRequest(ctx(t), "ar1"))
	mustIs(t, s.DeleteAuthRequest(ctx(t), "ar1"), storage.ErrNotFound)
}

func testBindAuthRequest(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateAuthRequest(ctx(t), pvAuthRequest("ar1", now)))
	mustNil(t, s.BindAuthRequest(ctx(t), "ar1", "browser-a"))
	mustNil(t, s.BindAuthRequest(ctx(t), "ar1", "browser-a"))
	mustIs(t, s.BindAuthRequest(ctx(t), "ar1", "browser-b"), storage.ErrConflict)
	got, err := s.GetAuthRequest(ctx(t), "ar1")
	mustNil(t, err)
	if got.BrowserHash != "browser-a" {
		t.Fatalf("BrowserHash = %q", got.BrowserHash)
	}
	if err := s.BindAuthRequest(ctx(t), "ar1", ""); err == nil {
		t.Fatal("binding to an empty hash succeeded")
	}
	mustIs(t, s.BindAuthRequest(ctx(t), "missing", "browser-a"), storage.ErrNotFound)

	// Two browsers racing for an unbound request: exactly one binds it.
	mustNil(t, s.CreateAuthRequest(ctx(t), pvAuthRequest("ar2", now)))
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.BindAuthRequest(ctx(t), "ar2", fmt.Sprint("browser-", i))
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d browsers bound the request, want 1", wins, n)
	}

	clock.Advance(time.Hour)
	mustIs(t, s.BindAuthRequest(ctx(t), "ar1", "browser-a"), storage.ErrNotFound)
}

func testCompleteAuthRequest(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateAuthRequest(ctx(t), pvAuthRequest("ar1", now)))
	authTime := now.Add(-time.Minute).Add(123456 * time.Nanosecond)
	amr := []string{"pwd", "otp", "mfa"}
	mustNil(t, s.CompleteAuthRequest(ctx(t), "ar1", "u1", "s1", authTime, amr, "urn:twofold:acr:mfa"))
	mustIs(t, s.CompleteAuthRequest(ctx(t), "ar1", "u1", "s2", now, []string{"pwd"}, "urn:twofold:acr:pwd"), storage.ErrNotFound)
	got, err := s.GetAuthRequest(ctx(t), "ar1")
	mustNil(t, err)
	if !got.Done || got.UserID == nil || *got.UserID != "u1" || got.SessionID == nil || *got.SessionID != "s1" ||
		!slices.Equal(got.AMR, amr) || got.ACR != "urn:twofold:acr:mfa" || got.ConsentGiven {
		t.Fatalf("completed request = %+v", got)
	}
	sameTime(t, "AuthTime", got.AuthTime, authTime.Truncate(time.Microsecond))

	mustNil(t, s.SetAuthRequestConsent(ctx(t), "ar1"))
	got, err = s.GetAuthRequest(ctx(t), "ar1")
	mustNil(t, err)
	if !got.ConsentGiven {
		t.Fatal("consent not recorded")
	}
	mustIs(t, s.SetAuthRequestConsent(ctx(t), "missing"), storage.ErrNotFound)
	mustIs(t, s.CompleteAuthRequest(ctx(t), "missing", "u1", "s1", now, nil, ""), storage.ErrNotFound)

	mustNil(t, s.CreateAuthRequest(ctx(t), pvAuthRequest("ar2", now)))
	clock.Advance(30 * time.Minute)
	mustIs(t, s.CompleteAuthRequest(ctx(t), "ar2", "u1", "s1", now, []string{"pwd"}, ""), storage.ErrNotFound)
	mustIs(t, s.SetAuthRequestConsent(ctx(t), "ar2"), storage.ErrNotFound)
}

func testSaveAuthCode(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateAuthRequest(ctx(t), pvAuthRequest("ar1", now)))
	mustIs(t, s.SaveAuthCode(ctx(t), "ar1", "code-1", now.Add(time.Minute)), storage.ErrNotFound) // not done yet
	mustNil(t, s.CompleteAuthRequest(ctx(t), "ar1", "u1", "s1", now, []string{"pwd"}, ""))
	mustNil(t, s.SaveAuthCode(ctx(t), "ar1", "code-1", now.Add(time.Minute)))
	mustIs(t, s.SaveAuthCode(ctx(t), "ar1", "code-2", now.Add(time.Minute)), storage.ErrConflict)
	mustIs(t, s.SaveAuthCode(ctx(t), "missing", "code-3", now.Add(time.Minute)), storage.ErrNotFound)
	// A code hash is unique across requests.
	pvDoneRequest(t, s, "ar2", now)
	mustIs(t, s.SaveAuthCode(ctx(t), "ar2", "code-1", now.Add(time.Minute)), storage.ErrConflict)
	got, err := s.GetAuthRequest(ctx(t), "ar1")
	mustNil(t, err)
	if got.CodeHash == nil || *got.CodeHash != "code-1" || got.CodeUsedAt != nil {
		t.Fatalf("code = %v, used %v", got.CodeHash, got.CodeUsedAt)
	}
	sameTime(t, "CodeExpiresAt", got.CodeExpiresAt, now.Add(time.Minute))

	pvDoneRequest(t, s, "ar3", now)
	clock.Advance(30 * time.Minute)
	mustIs(t, s.SaveAuthCode(ctx(t), "ar3", "code-4", now.Add(time.Hour)), storage.ErrNotFound)
}

func testConsumeAuthCode(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	pvDoneRequest(t, s, "ar1", now)
	mustNil(t, s.SaveAuthCode(ctx(t), "ar1", "code-1", now.Add(time.Minute)))
	pvDoneRequest(t, s, "ar2", now)
	mustNil(t, s.SaveAuthCode(ctx(t), "ar2", "code-2", now.Add(time.Minute)))

	clock.Advance(10 * time.Second)
	r, err := s.ConsumeAuthCode(ctx(t), "code-1")
	mustNil(t, err)
	if r.ID != "ar1" || r.UserID == nil || *r.UserID != "u1" || !slices.Equal(r.Scopes, []string{"openid", "profile"}) || r.Nonce != "n" {
		t.Fatalf("consumed request = %+v", r)
	}
	sameTime(t, "CodeUsedAt", r.CodeUsedAt, clock.Now())

	r, err = s.ConsumeAuthCode(ctx(t), "code-1")
	mustIs(t, err, storage.ErrCodeReused)
	if r == nil || r.ID != "ar1" {
		t.Fatalf("a replay returned request %+v, want ar1", r)
	}
	r, err = s.ConsumeAuthCode(ctx(t), "unknown")
	mustIs(t, err, storage.ErrNotFound)
	if r != nil {
		t.Fatalf("an unknown code returned %+v", r)
	}

	clock.Advance(time.Minute)
	_, err = s.ConsumeAuthCode(ctx(t), "code-2")
	mustIs(t, err, storage.ErrNotFound)
	// A replay stays a replay after the code expired.
	_, err = s.ConsumeAuthCode(ctx(t), "code-1")
	mustIs(t, err, storage.ErrCodeReused)
}

func testConcurrentConsumeAuthCode(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	pvDoneRequest(t, s, "ar1", now)
	mustNil(t, s.SaveAuthCode(ctx(t), "ar1", "race", now.Add(time.Minute)))
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
		reqs  = make([]*storage.AuthRequest, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			reqs[i], errs[i] = s.ConsumeAuthCode(ctx(t), "race")
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrCodeReused):
		default:
			t.Errorf("unexpected error: %v", err)
		}
		if reqs[i] == nil || reqs[i].ID != "ar1" {
			t.Errorf("redemption %d returned %+v", i, reqs[i])
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d redemptions won, want exactly 1", wins, n)
	}
}

func testSessionLifetime(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	se := pvSession("s1", "cookie-1", now)
	mustNil(t, s.CreateSession(ctx(t), se))
	mustIs(t, s.CreateSession(ctx(t), pvSession("s2", "cookie-1", now)), storage.ErrConflict)
	bad := pvSession("s3", "cookie-3", now)
	bad.UserID = "nobody"
	mustIs(t, s.CreateSession(ctx(t), bad), storage.ErrReference)

	got, err := s.GetLiveSessionByCookieHash(ctx(t), "cookie-1")
	mustNil(t, err)
	if got.ID != "s1" || got.UserID != "u1" || got.IP != "192.0.2.1" || got.UserAgent != "test" || got.EndedAt != nil ||
		len(got.Factors) != 1 || got.Factors[0].Method != "pwd" || !got.Factors[0].At.Equal(now) ||
		!slices.Equal(got.Factors[0].AMR, []string{"pwd"}) || !got.AuthTime.Equal(now) ||
		!got.CreatedAt.Equal(now) || !got.LastSeenAt.Equal(now) || !got.IdleExpiresAt.Equal(now.Add(time.Hour)) ||
		!got.ExpiresAt.Equal(now.Add(12*time.Hour)) || !got.LiveAt(now) {
		t.Fatalf("live session = %+v", got)
	}
	_, err = s.GetLiveSessionByCookieHash(ctx(t), "cookie-x")
	mustIs(t, err, storage.ErrNotFound)

	// Idle expiry.
	clock.Advance(time.Hour)
	_, err = s.GetLiveSessionByCookieHash(ctx(t), "cookie-1")
	mustIs(t, err, storage.ErrNotFound)
	got, err = s.GetSession(ctx(t), "s1")
	mustNil(t, err)
	if got.LiveAt(clock.Now()) {
		t.Fatal("an idle-expired session is live")
	}
	mustIs(t, s.TouchSession(ctx(t), "s1", clock.Now().Add(time.Hour)), storage.ErrNotFound)

	// Absolute expiry, however recently the session was used.
	now = clock.Now()
	se = pvSession("s4", "cookie-4", now)
	se.ExpiresAt = now.Add(90 * time.Minute)
	mustNil(t, s.CreateSession(ctx(t), se))
	clock.Advance(50 * time.Minute)
	mustNil(t, s.TouchSession(ctx(t), "s4", clock.Now().Add(time.Hour)))
	clock.Advance(40 * time.Minute)
	_, err = s.GetLiveSessionByCookieHash(ctx(t), "cookie-4")
	mustIs(t, err, storage.ErrNotFound)

	// Logout.
	now = clock.Now()
	mustNil(t, s.CreateSession(ctx(t), pvSession("s5", "cookie-5", now)))
	mustNil(t, s.EndSession(ctx(t), "s5"))
	_, err = s.GetLiveSessionByCookieHash(ctx(t), "cookie-5")
	mustIs(t, err, storage.ErrNotFound)
	got, err = s.GetSession(ctx(t), "s5")
	mustNil(t, err)
	sameTime(t, "EndedAt", got.EndedAt, now)
	mustIs(t, s.EndSession(ctx(t), "s5"), storage.ErrNotFound)
	mustIs(t, s.EndSession(ctx(t), "missing"), storage.ErrNotFound)
	_, err = s.GetSession(ctx(t), "missing")
	mustIs(t, err, storage.ErrNotFound)
}

func testTouchSession(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateSession(ctx(t), pvSession("s1", "cookie-1", now))) // absolute expiry now+12h
	clock.Advance(30 * time.Minute)
	mustNil(t, s.TouchSession(ctx(t), "s1", clock.Now().Add(time.Hour)))
	got, err := s.GetSession(ctx(t), "s1")
	mustNil(t, err)
	if !got.LastSeenAt.Equal(clock.Now()) || !got.IdleExpiresAt.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("after touch: last seen %v, idle until %v", got.LastSeenAt, got.IdleExpiresAt)
	}
	mustNil(t, s.TouchSession(ctx(t), "s1", now.Add(48*time.Hour)))
	got, err = s.GetSession(ctx(t), "s1")
	mustNil(t, err)
	if !got.IdleExpiresAt.Equal(now.Add(12 * time.Hour)) {
		t.Fatalf("idle expiry moved to %v, past the absolute expiry %v", got.IdleExpiresAt, got.ExpiresAt)
	}
	mustIs(t, s.TouchSession(ctx(t), "missing", now.Add(time.Hour)), storage.ErrNotFound)
	mustNil(t, s.EndSession(ctx(t), "s1"))
	mustIs(t, s.TouchSession(ctx(t), "s1", now.Add(time.Hour)), storage.ErrNotFound)
}

func testRotateSessionCookie(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateSession(ctx(t), pvSession("s1", "old", now)))
	mustNil(t, s.CreateSession(ctx(t), pvSession("s2", "other", now)))
	mustNil(t, s.RotateSessionCookie(ctx(t), "s1", "old", "new"))
	_, err := s.GetLiveSessionByCookieHash(ctx(t), "old")
	mustIs(t, err, storage.ErrNotFound)
	got, err := s.GetLiveSessionByCookieHash(ctx(t), "new")
	mustNil(t, err)
	if got.ID != "s1" {
		t.Fatalf("new cookie found session %s", got.ID)
	}
	mustIs(t, s.RotateSessionCookie(ctx(t), "s1", "old", "newer"), storage.ErrNotFound)
	mustIs(t, s.RotateSessionCookie(ctx(t), "s1", "new", "other"), storage.ErrConflict)
	mustIs(t, s.RotateSessionCookie(ctx(t), "s2", "old", "x"), storage.ErrNotFound)
	mustNil(t, s.EndSession(ctx(t), "s1"))
	mustIs(t, s.RotateSessionCookie(ctx(t), "s1", "new", "newest"), storage.ErrNotFound)
}

func testAddSessionFactor(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	start := clock.Now()
	mustNil(t, s.CreateSession(ctx(t), pvSession("s1", "c1", start)))
	clock.Advance(2 * time.Minute)
	at := clock.Now().Add(789 * time.Nanosecond) // stored at microsecond precision
	mustNil(t, s.AddSessionFactor(ctx(t), "s1", "c1", "c2", storage.SessionFactor{Method: "totp", At: at, AMR: []string{"otp"}}))
	_, err := s.GetLiveSessionByCookieHash(ctx(t), "c1")
	mustIs(t, err, storage.ErrNotFound)
	got, err := s.GetLiveSessionByCookieHash(ctx(t), "c2")
	mustNil(t, err)
	want := at.Truncate(time.Microsecond)
	if len(got.Factors) != 2 || got.Factors[0].Method != "pwd" || !got.Factors[0].At.Equal(start) ||
		got.Factors[1].Method != "totp" || !got.Factors[1].At.Equal(want) || !slices.Equal(got.Factors[1].AMR, []string{"otp"}) {
		t.Fatalf("factors = %+v", got.Factors)
	}
	if !got.AuthTime.Equal(want) {
		t.Fatalf("AuthTime = %v, want %v", got.AuthTime, want)
	}
	// The old cookie cannot add a factor any more, nor can an ended session.
	mustIs(t, s.AddSessionFactor(ctx(t), "s1", "c1", "c3", storage.SessionFactor{Method: "webauthn", At: at, AMR: []string{"hwk"}}), storage.ErrNotFound)
	mustIs(t, s.AddSessionFactor(ctx(t), "missing", "c2", "c3", storage.SessionFactor{Method: "webauthn", At: at}), storage.ErrNotFound)
	mustNil(t, s.EndSession(ctx(t), "s1"))
	mustIs(t, s.AddSessionFactor(ctx(t), "s1", "c2", "c3", storage.SessionFactor{Method: "webauthn", At: at}), storage.ErrNotFound)
	got, err = s.GetSession(ctx(t), "s1")
	mustNil(t, err)
	if len(got.Factors) != 2 || got.CookieHash != "c2" {
		t.Fatalf("a refused factor changed the session: %+v", got)
	}
}

func testUserSessions(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	mustNil(t, s.CreateUser(ctx(t), newUser("u2", "bob")))
	for i := range 3 {
		mustNil(t, s.CreateSession(ctx(t), pvSession(fmt.Sprint("s", i), fmt.Sprint("c", i), clock.Now())))
		clock.Advance(time.Minute)
	}
	other := pvSession("b1", "cb", clock.Now())
	other.UserID = "u2"
	mustNil(t, s.CreateSession(ctx(t), other))
	mustNil(t, s.EndSession(ctx(t), "s1"))
	list, err := s.ListUserSessions(ctx(t), "u1")
	mustNil(t, err)
	if len(list) != 2 || list[0].ID != "s2" || list[1].ID != "s0" {
		t.Fatalf("ListUserSessions = %+v", list)
	}
	n, err := s.EndUserSessions(ctx(t), "u1")
	mustNil(t, err)
	if n != 2 {
		t.Fatalf("EndUserSessions ended %d, want 2", n)
	}
	list, err = s.ListUserSessions(ctx(t), "u1")
	mustNil(t, err)
	if len(list) != 0 {
		t.Fatalf("sessions left after EndUserSessions: %+v", list)
	}
	if _, err := s.GetLiveSessionByCookieHash(ctx(t), "cb"); err != nil {
		t.Fatalf("another user's session was ended: %v", err)
	}
}

func testAccessTokens(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	authTime := now.Add(-time.Minute)
	at := pvAccess("at1", now)
	at.SessionID, at.AuthRequestID, at.RefreshFamilyID = "s1", "ar1", "f1"
	at.AMR, at.ACR, at.AuthTime = []string{"pwd", "otp", "mfa"}, "urn:twofold:acr:mfa", &authTime
	mustNil(t, s.CreateAccessToken(ctx(t), at))
	mustIs(t, s.CreateAccessToken(ctx(t), pvAccess("at1", now)), storage.ErrConflict)
	cc := pvAccess("at2", now) // client_credentials: no user
	cc.UserID = ""
	mustNil(t, s.CreateAccessToken(ctx(t), cc))

	got, err := s.GetAccessToken(ctx(t), "at1")
	mustNil(t, err)
	if got.ClientID != "app" || got.UserID != "u1" || got.SessionID != "s1" || got.AuthRequestID != "ar1" || got.RefreshFamilyID != "f1" ||
		!slices.Equal(got.Scopes, []string{"openid"}) || !slices.Equal(got.Audience, []string{"app"}) ||
		!slices.Equal(got.AMR, []string{"pwd", "otp", "mfa"}) || got.ACR != "urn:twofold:acr:mfa" ||
		!got.CreatedAt.Equal(now) || !got.ExpiresAt.Equal(now.Add(time.Hour)) || got.RevokedAt != nil {
		t.Fatalf("GetAccessToken = %+v", got)
	}
	sameTime(t, "AuthTime", got.AuthTime, authTime)
	got, err = s.GetAccessToken(ctx(t), "at2")
	mustNil(t, err)
	if got.UserID != "" || got.AuthTime != nil {
		t.Fatalf("client_credentials token = %+v", got)
	}

	mustNil(t, s.RevokeAccessToken(ctx(t), "at1"))
	clock.Advance(time.Minute)
	mustNil(t, s.RevokeAccessToken(ctx(t), "at1"))
	got, err = s.GetAccessToken(ctx(t), "at1")
	mustNil(t, err)
	sameTime(t, "RevokedAt", got.RevokedAt, now) // the first revocation time is kept
	mustIs(t, s.RevokeAccessToken(ctx(t), "missing"), storage.ErrNotFound)
	_, err = s.GetAccessToken(ctx(t), "missing")
	mustIs(t, err, storage.ErrNotFound)

	// Expired tokens are still returned: callers check.
	clock.Advance(2 * time.Hour)
	got, err = s.GetAccessToken(ctx(t), "at2")
	mustNil(t, err)
	if got.ExpiresAt.After(clock.Now()) {
		t.Fatal("clock did not move past expiry")
	}
}

func testRotateRefreshToken(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	first := pvRefresh("r1", "f1", now)
	mustNil(t, s.CreateRefreshToken(ctx(t), first))
	mustIs(t, s.CreateRefreshToken(ctx(t), pvRefresh("r1", "f1", now)), storage.ErrConflict)
	dup := pvRefresh("rX", "f1", now)
	dup.TokenHash = "hash-r1"
	mustIs(t, s.CreateRefreshToken(ctx(t), dup), storage.ErrConflict)

	clock.Advance(time.Minute)
	next := pvRefresh("r2", "f1", clock.Now())
	next.AuthTime = first.AuthTime
	access := pvAccess("at-r2", clock.Now())
	access.SessionID, access.AuthRequestID, access.RefreshFamilyID, access.AuthTime = "s1", "ar1", "f1", &first.AuthTime
	old, err := s.RotateRefreshToken(ctx(t), "hash-r1", next, access)
	mustNil(t, err)
	gotAT, err := s.GetAccessToken(ctx(t), "at-r2")
	mustNil(t, err)
	if gotAT.RefreshFamilyID != "f1" || gotAT.UserID != "u1" || gotAT.SessionID != "s1" || gotAT.AuthRequestID != "ar1" ||
		!slices.Equal(gotAT.Scopes, []string{"openid"}) || !gotAT.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("the access token stored with the rotation = %+v", gotAT)
	}
	sameTime(t, "access AuthTime", gotAT.AuthTime, first.AuthTime)
	if old.ID != "r1" || old.FamilyID != "f1" || old.RevokedAt != nil || !slices.Equal(old.Scopes, first.Scopes) {
		t.Fatalf("old token = %+v", old)
	}
	sameTime(t, "old RotatedAt", old.RotatedAt, clock.Now())
	got, err := s.GetRefreshTokenByHash(ctx(t), "hash-r2")
	mustNil(t, err)
	if got.ID != "r2" || got.FamilyID != "f1" || got.RotatedAt != nil || got.RevokedAt != nil ||
		!got.AuthTime.Equal(first.AuthTime) || !got.CreatedAt.Equal(clock.Now()) || !slices.Equal(got.AMR, []string{"pwd"}) ||
		got.ACR != "urn:twofold:acr:pwd" || got.SessionID != "s1" || got.AuthRequestID != "ar1" {
		t.Fatalf("next token = %+v", got)
	}
	_, err = s.GetRefreshTokenByHash(ctx(t), "hash-none")
	mustIs(t, err, storage.ErrNotFound)

	_, err = s.RotateRefreshToken(ctx(t), "hash-none", pvRefresh("r3", "f1", now), nil)
	mustIs(t, err, storage.ErrNotFound)

	// The next token must continue the family; a refused rotation changes
	// nothing.
	if _, err := s.RotateRefreshToken(ctx(t), "hash-r2", pvRefresh("r3", "f2", now), pvAccess("at-r3", now)); err == nil {
		t.Fatal("rotated into another family")
	}
	_, err = s.GetAccessToken(ctx(t), "at-r3")
	mustIs(t, err, storage.ErrNotFound)
	got, err = s.GetRefreshTokenByHash(ctx(t), "hash-r2")
	mustNil(t, err)
	if got.RotatedAt != nil {
		t.Fatal("a failed rotation marked the token rotated")
	}
	_, err = s.GetRefreshTokenByHash(ctx(t), "hash-r3")
	mustIs(t, err, storage.ErrNotFound)

	// An expired, never used token is not found, and not a replay.
	clock.Advance(24 * time.Hour)
	_, err = s.RotateRefreshToken(ctx(t), "hash-r2", pvRefresh("r4", "f1", clock.Now()), nil)
	mustIs(t, err, storage.ErrNotFound)
	got, err = s.GetRefreshTokenByHash(ctx(t), "hash-r2")
	mustNil(t, err)
	if got.RevokedAt != nil {
		t.Fatal("an expired token's family was revoked")
	}
}

func testRefreshTokenReplay(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateRefreshToken(ctx(t), pvRefresh("r1", "f1", now)))
	_, err := s.RotateRefreshToken(ctx(t), "hash-r1", pvRefresh("r2", "f1", now), nil)
	mustNil(t, err)
	_, err = s.RotateRefreshToken(ctx(t), "hash-r2", pvRefresh("r3", "f1", now), nil)
	mustNil(t, err)
	for _, id := range []string{"a1", "a2"} {
		at := pvAccess(id, now)
		at.RefreshFamilyID = "f1"
		mustNil(t, s.CreateAccessToken(ctx(t), at))
	}
	// Another family and a token outside any family stay untouched.
	mustNil(t, s.CreateRefreshToken(ctx(t), pvRefresh("o1", "f2", now)))
	other := pvAccess("o-at", now)
	other.RefreshFamilyID = "f2"
	mustNil(t, s.CreateAccessToken(ctx(t), other))
	mustNil(t, s.CreateAccessToken(ctx(t), pvAccess("plain", now)))

	clock.Advance(time.Minute)
	_, err = s.RotateRefreshToken(ctx(t), "hash-r1", pvRefresh("r4", "f1", now), nil)
	mustIs(t, err, storage.ErrTokenReused)
	mustRefreshRevoked(t, s, true, "r1", "r2", "r3")
	mustAccessRevoked(t, s, true, "a1", "a2")
	mustRefreshRevoked(t, s, false, "o1")
	mustAccessRevoked(t, s, false, "o-at", "plain")
	_, err = s.GetRefreshTokenByHash(ctx(t), "hash-r4")
	mustIs(t, err, storage.ErrNotFound)

	// The newest token, revoked with its family, is refused as a replay too.
	_, err = s.RotateRefreshToken(ctx(t), "hash-r3", pvRefresh("r5", "f1", now), nil)
	mustIs(t, err, storage.ErrTokenReused)

	// RevokeRefreshFamily does the same on request.
	mustNil(t, s.RevokeRefreshFamily(ctx(t), "f2"))
	mustRefreshRevoked(t, s, true, "o1")
	mustAccessRevoked(t, s, true, "o-at")
	mustAccessRevoked(t, s, false, "plain")
	mustNil(t, s.RevokeRefreshFamily(ctx(t), "f2"))
	mustNil(t, s.RevokeRefreshFamily(ctx(t), "none"))
}

func testConcurrentRotateRefreshToken(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateRefreshToken(ctx(t), pvRefresh("r0", "f1", now)))
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.RotateRefreshToken(ctx(t), "hash-r0", pvRefresh(fmt.Sprint("r", i+1), "f1", now), nil)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrTokenReused):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d rotations succeeded, want exactly 1", wins, n)
	}
	// Every loser looked like a replay, so the winner's token is revoked too.
	for i := range n {
		rt, err := s.GetRefreshTokenByHash(ctx(t), fmt.Sprint("hash-r", i+1))
		if errs[i] != nil {
			mustIs(t, err, storage.ErrNotFound)
			continue
		}
		mustNil(t, err)
		if rt.RevokedAt == nil {
			t.Fatal("the winning rotation's token survived the replays")
		}
	}
}

func testRevokeAuthRequestTokens(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateRefreshToken(ctx(t), pvRefresh("r1", "f1", now)))
	next := pvRefresh("r2", "f1", now)
	next.AuthRequestID = "" // carried by the family, not by every token
	_, err := s.RotateRefreshToken(ctx(t), "hash-r1", next, nil)
	mustNil(t, err)
	direct := pvAccess("a1", now)
	direct.AuthRequestID = "ar1"
	mustNil(t, s.CreateAccessToken(ctx(t), direct))
	viaFamily := pvAccess("a2", now)
	viaFamily.RefreshFamilyID = "f1"
	mustNil(t, s.CreateAccessToken(ctx(t), viaFamily))

	otherRT := pvRefresh("o1", "f2", now)
	otherRT.AuthRequestID = "ar2"
	mustNil(t, s.CreateRefreshToken(ctx(t), otherRT))
	otherAT := pvAccess("o-at", now)
	otherAT.AuthRequestID = "ar2"
	mustNil(t, s.CreateAccessToken(ctx(t), otherAT))

	mustNil(t, s.RevokeAuthRequestTokens(ctx(t), "ar1"))
	mustRefreshRevoked(t, s, true, "r1", "r2")
	mustAccessRevoked(t, s, true, "a1", "a2")
	mustRefreshRevoked(t, s, false, "o1")
	mustAccessRevoked(t, s, false, "o-at")
	mustNil(t, s.RevokeAuthRequestTokens(ctx(t), "ar1"))
	mustNil(t, s.RevokeAuthRequestTokens(ctx(t), "none"))

	// The revocation marks the request first, for a redemption still minting.
	pvDoneRequest(t, s, "ar3", now)
	if retracted, err := s.AuthRequestRetracted(ctx(t), "ar3"); err != nil || retracted {
		t.Fatalf("a done request reads as retracted: %v, %v", retracted, err)
	}
	mustNil(t, s.RevokeAuthRequestTokens(ctx(t), "ar3"))
	if retracted, err := s.AuthRequestRetracted(ctx(t), "ar3"); err != nil || !retracted {
		t.Fatalf("a revoked request does not read as retracted: %v, %v", retracted, err)
	}
}

func testRevokeSessionTokens(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateRefreshToken(ctx(t), pvRefresh("r1", "f1", now))) // session s1
	fam := pvAccess("a1", now)
	fam.RefreshFamilyID = "f1"
	mustNil(t, s.CreateAccessToken(ctx(t), fam))
	bound := pvAccess("a2", now)
	bound.SessionID = "s1"
	mustNil(t, s.CreateAccessToken(ctx(t), bound))

	other := pvRefresh("o1", "f2", now)
	other.SessionID = "s2"
	mustNil(t, s.CreateRefreshToken(ctx(t), other))
	otherAT := pvAccess("o-at", now)
	otherAT.SessionID = "s2"
	mustNil(t, s.CreateAccessToken(ctx(t), otherAT))
	cc := pvAccess("cc", now) // client_credentials: no session
	cc.UserID = ""
	mustNil(t, s.CreateAccessToken(ctx(t), cc))

	mustNil(t, s.RevokeSessionTokens(ctx(t), "s1"))
	mustRefreshRevoked(t, s, true, "r1")
	mustAccessRevoked(t, s, true, "a1", "a2")
	mustRefreshRevoked(t, s, false, "o1")
	mustAccessRevoked(t, s, false, "o-at", "cc")
	mustNil(t, s.RevokeSessionTokens(ctx(t), "s1"))
}

func testRevokeUserTokens(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateUser(ctx(t), newUser("u2", "bob")))
	mustNil(t, s.CreateRefreshToken(ctx(t), pvRefresh("r1", "f1", now)))
	rotated := pvRefresh("r2", "f1", now)
	rotated.SessionID = "s2"
	mustNil(t, s.CreateRefreshToken(ctx(t), rotated))
	mustNil(t, s.CreateAccessToken(ctx(t), pvAccess("a1", now)))
	bobs := pvRefresh("b1", "fb", now)
	bobs.UserID = "u2"
	mustNil(t, s.CreateRefreshToken(ctx(t), bobs))
	bobAT := pvAccess("b-at", now)
	bobAT.UserID = "u2"
	mustNil(t, s.CreateAccessToken(ctx(t), bobAT))

	mustNil(t, s.RevokeUserTokens(ctx(t), "u1"))
	mustRefreshRevoked(t, s, true, "r1", "r2")
	mustAccessRevoked(t, s, true, "a1")
	mustRefreshRevoked(t, s, false, "b1")
	mustAccessRevoked(t, s, false, "b-at")
	mustNil(t, s.RevokeUserTokens(ctx(t), "u1"))
}

func testConsents(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateClient(ctx(t), &storage.Client{ID: "another", Name: "Another"}))
	_, err := s.GetConsent(ctx(t), "u1", "app")
	mustIs(t, err, storage.ErrNotFound)
	mustNil(t, s.SaveConsent(ctx(t), &storage.Consent{UserID: "u1", ClientID: "app", Scopes: []string{"openid"}}))
	got, err := s.GetConsent(ctx(t), "u1", "app")
	mustNil(t, err)
	if !slices.Equal(got.Scopes, []string{"openid"}) || !got.GrantedAt.Equal(now) {
		t.Fatalf("consent = %+v", got)
	}
	clock.Advance(time.Hour)
	mustNil(t, s.SaveConsent(ctx(t), &storage.Consent{UserID: "u1", ClientID: "app", Scopes: []string{"openid", "email"}}))
	got, err = s.GetConsent(ctx(t), "u1", "app")
	mustNil(t, err)
	if !slices.Equal(got.Scopes, []string{"openid", "email"}) || !got.GrantedAt.Equal(clock.Now()) {
		t.Fatalf("replaced consent = %+v", got)
	}
	mustNil(t, s.SaveConsent(ctx(t), &storage.Consent{UserID: "u1", ClientID: "another", Scopes: []string{"openid"}}))
	mustIs(t, s.SaveConsent(ctx(t), &storage.Consent{UserID: "u1", ClientID: "missing"}), storage.ErrReference)
	mustIs(t, s.SaveConsent(ctx(t), &storage.Consent{UserID: "nobody", ClientID: "app"}), storage.ErrReference)
	list, err := s.ListConsents(ctx(t), "u1")
	mustNil(t, err)
	if len(list) != 2 || list[0].ClientID != "another" || list[1].ClientID != "app" {
		t.Fatalf("ListConsents = %+v", list)
	}
	mustNil(t, s.RevokeConsent(ctx(t), "u1", "app"))
	mustIs(t, s.RevokeConsent(ctx(t), "u1", "app"), storage.ErrNotFound)
	_, err = s.GetConsent(ctx(t), "u1", "app")
	mustIs(t, err, storage.ErrNotFound)
	list, err = s.ListConsents(ctx(t), "u1")
	mustNil(t, err)
	if len(list) != 1 {
		t.Fatalf("ListConsents after revoke = %+v", list)
	}
}

func testConcurrentAttempts(t *testing.T, newStore Factory) {
	s := newStore(t)
	const n, burst = 40, 5
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		waits    = make([]time.Duration, n)
		errs     = make([]error, n)
		admitted int
	)
	for i := range n {
		wg.Go(func() {
			<-start
			waits[i], errs[i] = s.Attempt(ctx(t), "login:name:alice", burst, time.Minute)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		mustNil(t, err)
		if waits[i] == 0 {
			admitted++
		}
	}
	if admitted != burst {
		t.Fatalf("%d of %d concurrent attempts admitted, want %d", admitted, n, burst)
	}
}

func testThrottleDecay(t *testing.T, newStore Factory) {
	clock := newPVClock()
	s := newStore(t, storage.WithNow(clock.Now))
	key, every := "login:ip:192.0.2.1", 10*time.Minute
	attempt := func() time.Duration {
		t.Helper()
		wait, err := s.Attempt(ctx(t), key, 3, every)
		mustNil(t, err)
		return wait
	}
	count := func() int {
		t.Helper()
		th, err := s.GetThrottle(ctx(t), key)
		mustNil(t, err)
		return th.Count(clock.Now(), every)
	}
	_, err := s.GetThrottle(ctx(t), key)
	mustIs(t, err, storage.ErrNotFound)
	for i := 1; i <= 3; i++ {
		if w := attempt(); w != 0 || count() != i {
			t.Fatalf("attempt %d: wait %v, count %d", i, w, count())
		}
	}
	// The fourth is refused, and a refusal counts nothing.
	for range 3 {
		if w := attempt(); w != every {
			t.Fatalf("a fourth attempt: wait %v, want %v", w, every)
		}
	}
	if c := count(); c != 3 {
		t.Fatalf("count after refusals = %d", c)
	}
	// One attempt is forgotten per period.
	clock.Advance(every - time.Minute)
	if w := attempt(); w != time.Minute {
		t.Fatalf("a minute early: wait %v", w)
	}
	clock.Advance(time.Minute)
	if c := count(); c != 2 {
		t.Fatalf("count after one period = %d", c)
	}
	if w := attempt(); w != 0 {
		t.Fatalf("after one period: wait %v", w)
	}
	clock.Advance(10 * every)
	if c := count(); c != 0 {
		t.Fatalf("count after ten periods = %d", c)
	}
	// A returned attempt is available again.
	for range 3 {
		attempt()
	}
	mustNil(t, s.ReturnAttempt(ctx(t), key, every))
	if c := count(); c != 2 {
		t.Fatalf("count after a return = %d", c)
	}
	if w := attempt(); w != 0 {
		t.Fatalf("after a return: wait %v", w)
	}
	// Keys are independent.
	if w, err := s.Attempt(ctx(t), "login:ip:192.0.2.2", 3, every); err != nil || w != 0 {
		t.Fatalf("another key: wait %v, %v", w, err)
	}
	// A reset forgets the attempts and remembers the success.
	th, err := s.GetThrottle(ctx(t), key)
	mustNil(t, err)
	if th.SucceededAt != nil {
		t.Fatalf("SucceededAt before any success: %v", th.SucceededAt)
	}
	mustNil(t, s.ResetThrottle(ctx(t), key))
	th, err = s.GetThrottle(ctx(t), key)
	mustNil(t, err)
	if th.Count(clock.Now(), every) != 0 {
		t.Fatalf("count after a reset = %d", th.Count(clock.Now(), every))
	}
	sameTime(t, "SucceededAt", th.SucceededAt, clock.Now())
	mustNil(t, s.ResetThrottle(ctx(t), "never-attempted"))
	mustNil(t, s.ReturnAttempt(ctx(t), "no-such-key", every))
}

func testClientAssertions(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	exp := clock.Now().Add(5 * time.Minute)
	mustNil(t, s.UseClientAssertion(ctx(t), "app", "jti-1", exp))
	mustIs(t, s.UseClientAssertion(ctx(t), "app", "jti-1", exp), storage.ErrConflict)
	mustNil(t, s.UseClientAssertion(ctx(t), "svc", "jti-1", exp)) // jti is per client
	mustNil(t, s.UseClientAssertion(ctx(t), "app", "jti-2", exp))

	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.UseClientAssertion(ctx(t), "app", "jti-race", exp)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d uses of one assertion were accepted, want 1", wins, n)
	}

	clock.Advance(5 * time.Minute)
	mustNil(t, s.UseClientAssertion(ctx(t), "app", "jti-1", clock.Now().Add(5*time.Minute)))
	mustIs(t, s.UseClientAssertion(ctx(t), "app", "jti-1", clock.Now().Add(5*time.Minute)), storage.ErrConflict)
}

func testDeleteExpired(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	attempt := func(key string, every time.Duration) {
		t.Helper()
		_, err := s.Attempt(ctx(t), key, 1, every)
		mustNil(t, err)
	}
	// Throttles a day old: one drained (stale), one still counting, one
	// that remembers a success; and one from long ago whose success is
	// forgotten.
	attempt("forgotten", time.Minute)
	mustNil(t, s.ResetThrottle(ctx(t), "forgotten"))
	clock.Advance(storage.ThrottleSuccessRetention)
	attempt("stale", time.Minute)
	attempt("counting", 48*time.Hour)
	attempt("known", time.Minute)
	mustNil(t, s.ResetThrottle(ctx(t), "known"))
	clock.Advance(24 * time.Hour)
	now := clock.Now()
	short, long := now.Add(time.Minute), now.Add(time.Hour)
	attempt("recent", time.Minute)

	// Auth requests: expired, live, and expired with a code that still lives.
	dead := pvAuthRequest("ar-dead", now)
	dead.ExpiresAt = short
	mustNil(t, s.CreateAuthRequest(ctx(t), dead))
	mustNil(t, s.CreateAuthRequest(ctx(t), pvAuthRequest("ar-live", now)))
	coded := pvAuthRequest("ar-code", now)
	coded.ExpiresAt = short
	mustNil(t, s.CreateAuthRequest(ctx(t), coded))
	mustNil(t, s.CompleteAuthRequest(ctx(t), "ar-code", "u1", "s1", now, []string{"pwd"}, ""))
	mustNil(t, s.SaveAuthCode(ctx(t), "ar-code", "code", now.Add(10*time.Minute)))

	// Sessions: ended, idle-expired, absolutely expired, live.
	mustNil(t, s.CreateSession(ctx(t), pvSession("s-ended", "c1", now)))
	mustNil(t, s.EndSession(ctx(t), "s-ended"))
	idle := pvSession("s-idle", "c2", now)
	idle.IdleExpiresAt = short
	mustNil(t, s.CreateSession(ctx(t), idle))
	abs := pvSession("s-abs", "c3", now)
	abs.ExpiresAt = short
	mustNil(t, s.CreateSession(ctx(t), abs))
	mustNil(t, s.CreateSession(ctx(t), pvSession("s-live", "c4", now)))

	// Tokens and client assertions.
	deadAT := pvAccess("at-dead", now)
	deadAT.ExpiresAt = short
	mustNil(t, s.CreateAccessToken(ctx(t), deadAT))
	liveAT := pvAccess("at-live", now)
	liveAT.ExpiresAt = long
	mustNil(t, s.CreateAccessToken(ctx(t), liveAT))
	deadRT := pvRefresh("rt-dead", "f1", now)
	deadRT.ExpiresAt = short
	mustNil(t, s.CreateRefreshToken(ctx(t), deadRT))
	mustNil(t, s.CreateRefreshToken(ctx(t), pvRefresh("rt-live", "f2", now)))
	mustNil(t, s.UseClientAssertion(ctx(t), "app", "jti-dead", short))
	mustNil(t, s.UseClientAssertion(ctx(t), "app", "jti-live", long))

	clock.Advance(5 * time.Minute)
	n, err := s.DeleteExpired(ctx(t))
	mustNil(t, err)
	// ar-dead; s-ended, s-idle, s-abs; at-dead; rt-dead; jti-dead; stale, forgotten.
	if n != 9 {
		t.Fatalf("DeleteExpired removed %d rows, want 9", n)
	}
	rows := func(table, where string) int {
		t.Helper()
		var c int
		if err := s.SQL().QueryRowContext(ctx(t), "SELECT count(*) FROM "+table+" WHERE "+where).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, c := range []struct {
		table, where string
		want         int
	}{
		{"auth_requests", "id = 'ar-dead'", 0},
		{"auth_requests", "id IN ('ar-live', 'ar-code')", 2},
		{"sessions", "id IN ('s-ended', 's-idle', 's-abs')", 0},
		{"sessions", "id = 's-live'", 1},
		{"access_tokens", "id = 'at-dead'", 0},
		{"access_tokens", "id = 'at-live'", 1},
		{"refresh_tokens", "id = 'rt-dead'", 0},
		{"refresh_tokens", "id = 'rt-live'", 1},
		{"client_assertions", "jti = 'jti-dead'", 0},
		{"client_assertions", "jti = 'jti-live'", 1},
		{"throttles", "key IN ('stale', 'forgotten')", 0},
		{"throttles", "key IN ('counting', 'known', 'recent')", 3},
	} {
		if got := rows(c.table, c.where); got != c.want {
			t.Errorf("%s WHERE %s: %d rows, want %d", c.table, c.where, got, c.want)
		}
	}
	// The request kept for its code can still be redeemed.
	r, err := s.ConsumeAuthCode(ctx(t), "code")
	mustNil(t, err)
	if r.ID != "ar-code" {
		t.Fatalf("redeemed %s", r.ID)
	}
	n, err = s.DeleteExpired(ctx(t))
	mustNil(t, err)
	if n != 0 {
		t.Fatalf("a second DeleteExpired removed %d rows", n)
	}
}

func testProviderCascades(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	pvDoneRequest(t, s, "ar1", now)
	mustNil(t, s.CreateSession(ctx(t), pvSession("s1", "c1", now)))
	mustNil(t, s.SaveConsent(ctx(t), &storage.Consent{UserID: "u1", ClientID: "app", Scopes: []string{"openid"}}))
	mustNil(t, s.CreateAccessToken(ctx(t), pvAccess("at1", now)))

	mustNil(t, s.DeleteUser(ctx(t), "u1"))
	_, err := s.GetAuthRequest(ctx(t), "ar1")
	mustIs(t, err, storage.ErrNotFound)
	_, err = s.GetSession(ctx(t), "s1")
	mustIs(t, err, storage.ErrNotFound)
	_, err = s.GetConsent(ctx(t), "u1", "app")
	mustIs(t, err, storage.ErrNotFound)
	// Tokens are not cascaded: they are revoked by the caller and expire.
	_, err = s.GetAccessToken(ctx(t), "at1")
	mustNil(t, err)

	mustNil(t, s.CreateUser(ctx(t), newUser("u2", "bob")))
	mustNil(t, s.CreateAuthRequest(ctx(t), pvAuthRequest("ar2", now)))
	mustNil(t, s.SaveConsent(ctx(t), &storage.Consent{UserID: "u2", ClientID: "app", Scopes: []string{"openid"}}))
	mustNil(t, s.DeleteClient(ctx(t), "app"))
	_, err = s.GetAuthRequest(ctx(t), "ar2")
	mustIs(t, err, storage.ErrNotFound)
	list, err := s.ListConsents(ctx(t), "u2")
	mustNil(t, err)
	if len(list) != 0 {
		t.Fatalf("consents of a deleted client remain: %+v", list)
	}
}

func testPendingSession(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	se := pvSession("s1", "cookie-1", clock.Now())
	req := "ar-1"
	se.PendingRequest = &req
	mustNil(t, s.CreateSession(ctx(t), se))
	mustNil(t, s.AddSessionFactor(ctx(t), "s1", "cookie-1", "cookie-2", storage.SessionFactor{Method: "totp", At: clock.Now(), AMR: []string{"otp"}}))
	got, err := s.GetLiveSessionByCookieHash(ctx(t), "cookie-2")
	mustNil(t, err)
	if got.PendingRequest == nil || *got.PendingRequest != "ar-1" {
		t.Fatalf("pending request = %v, want ar-1", got.PendingRequest)
	}
	mustNil(t, s.CompleteSession(ctx(t), "s1"))
	mustNil(t, s.CompleteSession(ctx(t), "s1")) // completing twice is no error
	got, err = s.GetLiveSessionByCookieHash(ctx(t), "cookie-2")
	mustNil(t, err)
	if got.PendingRequest != nil {
		t.Fatalf("a completed session is still pending for %q", *got.PendingRequest)
	}
}

// testParallelSessionFactors: AddSessionFactor reads the session, then
// writes it. On SQLite a transaction that began deferred fails at once with
// SQLITE_BUSY_SNAPSHOT when another writer committed between its read and
// its write; every transaction must take the write lock first.
func testParallelSessionFactors(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	const n = 20
	for i := range n {
		mustNil(t, s.CreateSession(ctx(t), pvSession(fmt.Sprint("s", i), fmt.Sprint("cookie-", i), clock.Now())))
	}
	errs := make(chan error, n)
	var start sync.WaitGroup
	start.Add(1)
	for i := range n {
		go func() {
			start.Wait()
			errs <- s.AddSessionFactor(ctx(t), fmt.Sprint("s", i), fmt.Sprint("cookie-", i), fmt.Sprint("cookie-next-", i),
				storage.SessionFactor{Method: "totp", At: clock.Now(), AMR: []string{"otp"}})
		}()
	}
	start.Done()
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("a parallel factor addition failed: %v", err)
		}
	}
}
