package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// testDeleteExpiredInBatches purges with a batch of 3 rows per statement:
// every table has more expired rows than one batch (some an exact multiple
// of it, so that the last batch finds nothing), and live rows besides.
func testDeleteExpiredInBatches(t *testing.T, newStore Factory) {
	const batch = 3
	clock := newPVClock()
	s := newStore(t, storage.WithNow(clock.Now), storage.WithPurgeBatch(batch))
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "alice")))
	mustNil(t, s.CreateClient(ctx(t), &storage.Client{ID: "app", Name: "App", RedirectURIs: []string{"http://127.0.0.1:9999/callback"}}))

	// Throttles: stale ones (drained, idle for a day, no success), one that
	// remembers a recent success and one still counting.
	for i := range 4 {
		_, err := s.Attempt(ctx(t), fmt.Sprintf("stale-%d", i), 1, time.Minute)
		mustNil(t, err)
	}
	mustNil(t, s.ResetThrottle(ctx(t), "known"))
	clock.Advance(25 * time.Hour)
	_, err := s.Attempt(ctx(t), "recent", 1, time.Minute)
	mustNil(t, err)

	now := clock.Now()
	short := now.Add(time.Minute)
	var want []string // the live rows, as table/key
	for i := range 7 {
		r := pvAuthRequest(fmt.Sprintf("ar-dead-%d", i), now)
		r.ExpiresAt = short
		mustNil(t, s.CreateAuthRequest(ctx(t), r))
	}
	mustNil(t, s.CreateAuthRequest(ctx(t), pvAuthRequest("ar-live", now)))
	coded := pvAuthRequest("ar-code", now)
	coded.ExpiresAt = short
	mustNil(t, s.CreateAuthRequest(ctx(t), coded))
	mustNil(t, s.CompleteAuthRequest(ctx(t), "ar-code", "u1", "s-live-0", now, []string{"pwd"}, ""))
	mustNil(t, s.SaveAuthCode(ctx(t), "ar-code", "code", now.Add(time.Hour)))
	want = append(want, "auth_requests/ar-code", "auth_requests/ar-live")

	// Sessions: 4 ended, 3 idle-expired, 3 absolutely expired, one both
	// ended and expired, and 2 live.
	session := func(id string, edit func(*storage.Session)) {
		t.Helper()
		se := pvSession(id, "cookie-"+id, now)
		if edit != nil {
			edit(se)
		}
		mustNil(t, s.CreateSession(ctx(t), se))
	}
	for i := range 4 {
		id := fmt.Sprintf("s-ended-%d", i)
		session(id, nil)
		mustNil(t, s.EndSession(ctx(t), id))
	}
	for i := range 3 {
		session(fmt.Sprintf("s-idle-%d", i), func(se *storage.Session) { se.IdleExpiresAt = short })
		session(fmt.Sprintf("s-abs-%d", i), func(se *storage.Session) { se.ExpiresAt = short })
	}
	session("s-both", func(se *storage.Session) { se.ExpiresAt, se.IdleExpiresAt = short, short })
	mustNil(t, s.EndSession(ctx(t), "s-both"))
	for i := range 2 {
		session(fmt.Sprintf("s-live-%d", i), nil)
		want = append(want, fmt.Sprintf("sessions/s-live-%d", i))
	}

	// Tokens and client assertions.
	for i := range 6 {
		at := pvAccess(fmt.Sprintf("at-dead-%d", i), now)
		at.ExpiresAt = short
		mustNil(t, s.CreateAccessToken(ctx(t), at))
	}
	for i := range 7 {
		rt := pvRefresh(fmt.Sprintf("rt-dead-%d", i), fmt.Sprintf("f-dead-%d", i), now)
		rt.ExpiresAt = short
		mustNil(t, s.CreateRefreshToken(ctx(t), rt))
	}
	for i := range 5 {
		mustNil(t, s.UseClientAssertion(ctx(t), "app", fmt.Sprintf("jti-dead-%d", i), short))
	}
	for i := range 2 {
		mustNil(t, s.CreateAccessToken(ctx(t), pvAccess(fmt.Sprintf("at-live-%d", i), now)))
		mustNil(t, s.CreateRefreshToken(ctx(t), pvRefresh(fmt.Sprintf("rt-live-%d", i), fmt.Sprintf("f-live-%d", i), now)))
		mustNil(t, s.UseClientAssertion(ctx(t), "app", fmt.Sprintf("jti-live-%d", i), now.Add(time.Hour)))
		want = append(want, fmt.Sprintf("access_tokens/at-live-%d", i), fmt.Sprintf("refresh_tokens/rt-live-%d", i),
			fmt.Sprintf("client_assertions/jti-live-%d", i))
	}
	want = append(want, "throttles/known", "throttles/recent")
	clock.Advance(5 * time.Minute)

	// A cancelled purge deletes nothing and says why.
	cancelled, cancel := context.WithCancel(ctx(t))
	cancel()
	if n, err := s.DeleteExpired(cancelled); !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("DeleteExpired with a cancelled context = %d, %v; want 0, context.Canceled", n, err)
	}
	before := remainingRows(t, s)

	n, err := s.DeleteExpired(ctx(t))
	mustNil(t, err)
	if n != int64(len(before)-len(want)) || n != 7+11+6+7+5+4 {
		t.Fatalf("DeleteExpired removed %d rows, want %d", n, len(before)-len(want))
	}
	got := remainingRows(t, s)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("rows left after the purge:\n%v\nwant the live ones:\n%v", got, want)
	}
	if n, err := s.DeleteExpired(ctx(t)); err != nil || n != 0 {
		t.Fatalf("a second DeleteExpired = %d, %v; want 0", n, err)
	}

	// Abandoned TOTP enrollments go in batches too; confirmed and recent
	// ones stay.
	for i := range 7 {
		mustNil(t, s.CreateTOTP(ctx(t), &storage.TOTPAuthenticator{ID: fmt.Sprintf("t-stale-%d", i), UserID: "u1", SecretSealed: "x"}))
	}
	mustNil(t, s.CreateTOTP(ctx(t), &storage.TOTPAuthenticator{ID: "t-active", UserID: "u1", SecretSealed: "x"}))
	mustNil(t, s.ConfirmTOTP(ctx(t), "u1", "t-active", 1))
	clock.Advance(time.Hour)
	mustNil(t, s.CreateTOTP(ctx(t), &storage.TOTPAuthenticator{ID: "t-recent", UserID: "u1", SecretSealed: "x"}))
	n, err = s.DeleteStaleTOTP(ctx(t), clock.Now().Add(-time.Minute))
	mustNil(t, err)
	if n != 7 {
		t.Fatalf("DeleteStaleTOTP removed %d, want 7", n)
	}
	left, err := s.ListTOTP(ctx(t), "u1", false)
	mustNil(t, err)
	if len(left) != 2 || left[0].ID != "t-active" || left[1].ID != "t-recent" {
		t.Fatalf("authenticators left: %+v", left)
	}
}

// remainingRows lists the rows of the purged tables as table/key, sorted.
func remainingRows(t *testing.T, s *storage.Store) []string {
	t.Helper()
	var out []string
	for _, q := range []struct{ table, key string }{
		{"auth_requests", "id"}, {"sessions", "id"}, {"access_tokens", "id"}, {"refresh_tokens", "id"},
		{"client_assertions", "jti"}, {"throttles", "key"},
	} {
		rows, err := s.SQL().QueryContext(ctx(t), "SELECT "+q.key+" FROM "+q.table)
		mustNil(t, err)
		for rows.Next() {
			var k string
			mustNil(t, rows.Scan(&k))
			out = append(out, q.table+"/"+k)
		}
		mustNil(t, rows.Err())
		rows.Close()
	}
	slices.Sort(out)
	return out
}
