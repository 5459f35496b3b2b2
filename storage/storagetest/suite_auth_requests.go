package storagetest

import (
	"testing"
	"time"
)

// authRequestTests cover what bounds the authorization requests anyone can
// start: each remembers its client's address, an address's pending ones
// can be counted, and expired ones are purged.
func authRequestTests() []conformanceTest {
	return []conformanceTest{
		{"an auth request keeps the address it came from", testAuthRequestAddress},
		{"pending auth requests are counted per address: live and unfinished only", testCountPendingAuthRequests},
		{"expired unfinished auth requests are purged and no longer count", testPurgePendingAuthRequests},
	}
}

func testAuthRequestAddress(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	r := pvAuthRequest("ar1", clock.Now())
	r.ClientAddress = "2001:db8:1:2::/64"
	mustNil(t, s.CreateAuthRequest(ctx(t), r))
	got, err := s.GetAuthRequest(ctx(t), "ar1")
	mustNil(t, err)
	if got.ClientAddress != "2001:db8:1:2::/64" {
		t.Fatalf("ClientAddress = %q", got.ClientAddress)
	}
}

func testCountPendingAuthRequests(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	add := func(id, addr string, ttl time.Duration) {
		t.Helper()
		r := pvAuthRequest(id, now)
		r.ClientAddress, r.ExpiresAt = addr, now.Add(ttl)
		mustNil(t, s.CreateAuthRequest(ctx(t), r))
	}
	add("a1", "192.0.2.1", 30*time.Minute)
	add("a2", "192.0.2.1", 30*time.Minute)
	add("a3", "192.0.2.1", time.Minute) // expires first
	add("done", "192.0.2.1", 30*time.Minute)
	mustNil(t, s.CompleteAuthRequest(ctx(t), "done", "u1", "s1", now, []string{"pwd"}, ""))
	add("b1", "198.51.100.9", 30*time.Minute)
	count := func(addr string) int64 {
		t.Helper()
		n, err := s.CountPendingAuthRequests(ctx(t), addr)
		mustNil(t, err)
		return n
	}
	if n := count("192.0.2.1"); n != 3 {
		t.Fatalf("pending from 192.0.2.1: %d, want 3 (a finished sign-in does not count)", n)
	}
	if n := count("198.51.100.9"); n != 1 {
		t.Fatalf("pending from 198.51.100.9: %d, want 1", n)
	}
	if n := count("203.0.113.5"); n != 0 {
		t.Fatalf("pending from an unseen address: %d", n)
	}
	clock.Advance(2 * time.Minute)
	if n := count("192.0.2.1"); n != 2 {
		t.Fatalf("pending after one expired: %d, want 2", n)
	}
}

func testPurgePendingAuthRequests(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	for _, id := range []string{"p1", "p2", "p3"} {
		r := pvAuthRequest(id, now)
		r.ClientAddress = "192.0.2.1"
		mustNil(t, s.CreateAuthRequest(ctx(t), r))
	}
	clock.Advance(31 * time.Minute)
	n, err := s.DeleteExpired(ctx(t))
	mustNil(t, err)
	if n != 3 {
		t.Fatalf("DeleteExpired removed %d rows, want the 3 expired requests", n)
	}
	var rows int
	if err := s.SQL().QueryRowContext(ctx(t), "SELECT count(*) FROM auth_requests").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Fatalf("%d auth requests left", rows)
	}
	pending, err := s.CountPendingAuthRequests(ctx(t), "192.0.2.1")
	mustNil(t, err)
	if pending != 0 {
		t.Fatalf("pending after the purge: %d", pending)
	}
}
