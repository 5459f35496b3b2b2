package storagetest

import (
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// verifyTests cover what verified email and security notifications rest on
// beyond the one-time codes (channelTests): an address changed by an
// administrator is unverified, policies keep require_verified_email, and
// the browsers a user signed in from are known, so that another is new.
func verifyTests() []conformanceTest {
	return []conformanceTest{
		{"an address an administrator changes is unverified; one kept as it was stays verified", testUpdateUserUnverifiesAChangedEmail},
		{"a policy keeps require_verified_email", testPolicyRequireVerifiedEmail},
		{"a browser is new to a user once, and the first one of a user has no others before it", testKnownDevices},
		{"of 20 concurrent sign-ins from one new browser exactly one finds it new", testConcurrentKnownDevice},
		{"known devices are forgotten per user and purged when unseen until they expire", testForgetAndPurgeKnownDevices},
	}
}

func testUpdateUserUnverifiesAChangedEmail(t *testing.T, newStore Factory) {
	s, _ := channelStore(t, newStore)
	u, err := s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if ok, err := s.SetEmailVerified(ctx(t), "u1", u.Email); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
	u.Admin = true // the address as it was
	mustNil(t, s.UpdateUser(ctx(t), u))
	if u, _ = s.GetUser(ctx(t), "u1"); u.EmailVerifiedAt == nil {
		t.Fatal("an update that kept the address unverified it")
	}
	u.Email = "elsewhere@example.com"
	mustNil(t, s.UpdateUser(ctx(t), u))
	if u, _ = s.GetUser(ctx(t), "u1"); u.Email != "elsewhere@example.com" || u.EmailVerifiedAt != nil {
		t.Fatalf("after changing the address: %q verified %v", u.Email, u.EmailVerifiedAt)
	}
}

func testPolicyRequireVerifiedEmail(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.UpsertPolicy(ctx(t), &storage.Policy{Name: "p", RequireMFA: "always", Enrollment: "required", RequireVerifiedEmail: true}))
	p, err := s.GetPolicy(ctx(t), "p")
	mustNil(t, err)
	if !p.RequireVerifiedEmail {
		t.Fatal("require_verified_email was not kept")
	}
	p.RequireVerifiedEmail = false
	mustNil(t, s.UpsertPolicy(ctx(t), p))
	if p, _ = s.GetPolicy(ctx(t), "p"); p.RequireVerifiedEmail {
		t.Fatal("require_verified_email was not cleared by an update")
	}
}

func testKnownDevices(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	exp := clock.Now().Add(400 * 24 * time.Hour)
	see := func(user, hash string) (bool, bool) {
		t.Helper()
		isNew, hadOthers, err := s.SeeKnownDevice(ctx(t), user, hash, exp)
		mustNil(t, err)
		return isNew, hadOthers
	}
	if isNew, hadOthers := see("u1", "h1"); !isNew || hadOthers {
		t.Fatalf("the first browser: new %v, others %v", isNew, hadOthers)
	}
	if isNew, hadOthers := see("u1", "h1"); isNew || hadOthers {
		t.Fatalf("the same browser again: new %v, others %v", isNew, hadOthers)
	}
	if isNew, hadOthers := see("u1", "h2"); !isNew || !hadOthers {
		t.Fatalf("a second browser: new %v, others %v", isNew, hadOthers)
	}
	// One browser, two users: known to each on its own.
	if isNew, hadOthers := see("u2", "h1"); !isNew || hadOthers {
		t.Fatalf("another user's first sign-in from a shared browser: new %v, others %v", isNew, hadOthers)
	}
	// A device unseen past its expiry is new again.
	clock.Advance(401 * 24 * time.Hour)
	exp = clock.Now().Add(400 * 24 * time.Hour)
	if isNew, hadOthers := see("u1", "h1"); !isNew || hadOthers {
		t.Fatalf("an expired browser: new %v, others %v (the others expired too)", isNew, hadOthers)
	}
	if isNew, _ := see("u1", "h1"); isNew {
		t.Fatal("seen again after coming back, it is new once more")
	}
	mustIs(t, func() error { _, _, err := s.SeeKnownDevice(ctx(t), "nobody", "h", exp); return err }(), storage.ErrReference)
}

func testConcurrentKnownDevice(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	exp := clock.Now().Add(time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	news := 0
	for range 20 {
		wg.Go(func() {
			isNew, _, err := s.SeeKnownDevice(ctx(t), "u1", "h", exp)
			if err != nil {
				t.Error(err)
				return
			}
			if isNew {
				mu.Lock()
				news++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if news != 1 {
		t.Fatalf("%d of 20 concurrent sign-ins found the browser new, want 1", news)
	}
}

func testForgetAndPurgeKnownDevices(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	exp := clock.Now().Add(time.Hour)
	for _, u := range []string{"u1", "u2"} {
		if _, _, err := s.SeeKnownDevice(ctx(t), u, "h", exp); err != nil {
			t.Fatal(err)
		}
	}
	mustNil(t, s.ForgetKnownDevices(ctx(t), "u1"))
	if isNew, hadOthers, _ := s.SeeKnownDevice(ctx(t), "u1", "h2", exp); !isNew || hadOthers {
		t.Fatalf("after forgetting: new %v, others %v", isNew, hadOthers)
	}
	if isNew, _, _ := s.SeeKnownDevice(ctx(t), "u2", "h", exp); isNew {
		t.Fatal("forgetting one user's devices forgot another's")
	}
	clock.Advance(2 * time.Hour)
	n, err := s.DeleteExpired(ctx(t))
	mustNil(t, err)
	if n < 2 {
		t.Fatalf("purged %d rows, want the 2 known devices at least", n)
	}
	if isNew, hadOthers, _ := s.SeeKnownDevice(ctx(t), "u2", "h", clock.Now().Add(time.Hour)); !isNew || hadOthers {
		t.Fatalf("a purged device: new %v, others %v", isNew, hadOthers)
	}
}
