package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// deviceGrantTests cover the device authorization grant (RFC 8628).
func deviceGrantTests() []conformanceTest {
	return []conformanceTest{
		{"a device grant is found by either code, approved once, polled at its interval and issued once", testDeviceGrantLifecycle},
		{"of 20 concurrent decisions, polls and redemptions of one device grant exactly one of each wins", testConcurrentDeviceGrant},
	}
}

// dgGrant stores a pending grant of client app, live for 10 minutes.
func dgGrant(t *testing.T, s *storage.Store, id string, now time.Time) {
	t.Helper()
	mustNil(t, s.CreateDeviceGrant(ctx(t), &storage.DeviceGrant{
		ID: id, DeviceCodeHash: "dc-" + id, UserCodeHash: "uc-" + id, ClientID: "app", Scopes: []string{"openid"},
		IntervalSeconds: 5, NextPollAt: now, ExpiresAt: now.Add(10 * time.Minute),
	}))
}

func testDeviceGrantLifecycle(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	dgGrant(t, s, "g1", now)
	mustIs(t, s.CreateDeviceGrant(ctx(t), &storage.DeviceGrant{ID: "g2", DeviceCodeHash: "x", UserCodeHash: "uc-g1", ClientID: "app",
		IntervalSeconds: 5, NextPollAt: now, ExpiresAt: now.Add(time.Minute)}), storage.ErrConflict)
	g, err := s.GetDeviceGrantByUserCode(ctx(t), "uc-g1")
	mustNil(t, err)
	if g.ID != "g1" || g.Status != storage.DeviceGrantPending || len(g.Scopes) != 1 {
		t.Fatalf("by user code: %+v", g)
	}
	_, err = s.GetDeviceGrantByDeviceCode(ctx(t), "dc-nope")
	mustIs(t, err, storage.ErrNotFound)

	// Polled at once: the turn; again within the interval: slow down, 5 seconds more.
	turn, err := s.PollDeviceGrant(ctx(t), "g1", 5*time.Second)
	mustNil(t, err)
	if !turn {
		t.Fatal("the first poll had no turn")
	}
	if turn, _ = s.PollDeviceGrant(ctx(t), "g1", 5*time.Second); turn {
		t.Fatal("a poll within the interval had the turn")
	}
	g, _ = s.GetDeviceGrantByDeviceCode(ctx(t), "dc-g1")
	if g.IntervalSeconds != 10 {
		t.Fatalf("interval after slow_down = %d", g.IntervalSeconds)
	}

	_, err = s.IssueDeviceGrant(ctx(t), "g1")
	mustIs(t, err, storage.ErrNotFound) // pending: nothing to issue
	pvDoneRequest(t, s, "ar1", now)
	mustNil(t, s.AttachDeviceGrantSignIn(ctx(t), "g1", "ar1"))
	mustNil(t, s.DecideDeviceGrant(ctx(t), "ar1", true, "u1", "s1", now, []string{"pwd", "otp", "mfa"}, "urn:twofold:acr:mfa"))
	mustIs(t, s.DecideDeviceGrant(ctx(t), "ar1", false, "u1", "s1", now, nil, ""), storage.ErrNotFound)
	mustIs(t, s.AttachDeviceGrantSignIn(ctx(t), "g1", "ar2"), storage.ErrNotFound) // decided: no new sign-in
	g, err = s.IssueDeviceGrant(ctx(t), "g1")
	mustNil(t, err)
	if g.Status != storage.DeviceGrantIssued || g.UserID == nil || *g.UserID != "u1" || g.ACR != "urn:twofold:acr:mfa" || len(g.AMR) != 3 || g.AuthTime == nil {
		t.Fatalf("issued grant: %+v", g)
	}
	_, err = s.IssueDeviceGrant(ctx(t), "g1")
	mustIs(t, err, storage.ErrNotFound)

	// An expired grant is neither attached, decided nor issued.
	dgGrant(t, s, "g3", now)
	clock.Advance(11 * time.Minute)
	mustIs(t, s.AttachDeviceGrantSignIn(ctx(t), "g3", "ar1"), storage.ErrNotFound)
}

func testConcurrentDeviceGrant(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	dgGrant(t, s, "g1", now)
	pvDoneRequest(t, s, "ar1", now)
	mustNil(t, s.AttachDeviceGrantSignIn(ctx(t), "g1", "ar1"))
	const n = 20
	race := func(what string, fn func() (bool, error)) {
		t.Helper()
		var wg sync.WaitGroup
		start := make(chan struct{})
		wins := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				wins[i], errs[i] = fn()
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i := range n {
			if errs[i] != nil && !errors.Is(errs[i], storage.ErrNotFound) {
				t.Errorf("%s: %v", what, errs[i])
			}
			if wins[i] {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("%s: %d of %d won, want exactly 1", what, won, n)
		}
	}
	race("decide", func() (bool, error) {
		err := s.DecideDeviceGrant(ctx(t), "ar1", true, "u1", "s1", now, []string{"pwd"}, "urn:twofold:acr:pwd")
		return err == nil, err
	})
	race("poll", func() (bool, error) { return s.PollDeviceGrant(ctx(t), "g1", 5*time.Second) })
	race("issue", func() (bool, error) {
		_, err := s.IssueDeviceGrant(ctx(t), "g1")
		return err == nil, err
	})
}
