package storagetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

func adminTests() []conformanceTest {
	return []conformanceTest{
		{"of 16 concurrent reservations of one idempotency key exactly one runs", testIdempotencyKeys},
		{"users are searched by part of the username or email, page by page", testSearchUsers},
		{"group members are counted and a group is created only if absent", testGroupCounts},
		{"forced re-enrollment removes the factors and lasts until a factor is confirmed", testForceReenrollment},
		{"audit events are filtered by party, actions and time", testAuditFilters},
	}
}

func testIdempotencyKeys(t *testing.T, newStore Factory) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := newStore(t, storage.WithNow(func() time.Time { return now }))
	const n = 16
	var wg sync.WaitGroup
	first := make([]bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := s.ReserveIdempotencyKey(ctx(t), "admin POST /groups", "k1", "h1")
			first[i] = err == nil && rec == nil
		}()
	}
	wg.Wait()
	if c := len(slices.DeleteFunc(first, func(b bool) bool { return !b })); c != 1 {
		t.Fatalf("%d reservations ran", c)
	}
	rec, err := s.ReserveIdempotencyKey(ctx(t), "admin POST /groups", "k1", "h2")
	mustNil(t, err)
	if rec == nil || rec.RequestHash != "h1" || rec.Status != 0 {
		t.Fatalf("the running record = %+v", rec)
	}
	mustNil(t, s.CompleteIdempotencyKey(ctx(t), "admin POST /groups", "k1", 201, "sealed"))
	mustIs(t, s.CompleteIdempotencyKey(ctx(t), "admin POST /groups", "k1", 201, "again"), storage.ErrNotFound)
	rec, err = s.ReserveIdempotencyKey(ctx(t), "admin POST /groups", "k1", "h1")
	mustNil(t, err)
	if rec.Status != 201 || rec.Response != "sealed" {
		t.Fatalf("the finished record = %+v", rec)
	}
	// Another scope is another key; a released reservation can be taken again.
	rec, err = s.ReserveIdempotencyKey(ctx(t), "other POST /groups", "k1", "h1")
	if err != nil || rec != nil {
		t.Fatalf("another scope: %+v, %v", rec, err)
	}
	mustNil(t, s.ReleaseIdempotencyKey(ctx(t), "other POST /groups", "k1"))
	rec, err = s.ReserveIdempotencyKey(ctx(t), "other POST /groups", "k1", "h9")
	if err != nil || rec != nil {
		t.Fatalf("after release: %+v, %v", rec, err)
	}
	n2, err := s.DeleteIdempotencyKeysBefore(ctx(t), now.Add(time.Second))
	mustNil(t, err)
	if n2 != 2 {
		t.Fatalf("deleted %d records, want 2", n2)
	}
}

func testSearchUsers(t *testing.T, newStore Factory) {
	s := newStore(t)
	for i, name := range []string{"alice", "Alicia", "bob", "carol_1", "carolx1"} {
		mustNil(t, s.CreateUser(ctx(t), newUser("u"+string(rune('0'+i)), name)))
	}
	names := func(us []storage.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Username)
		}
		return out
	}
	us, err := s.SearchUsers(ctx(t), "ALI", "", 10)
	mustNil(t, err)
	if !slices.Equal(names(us), []string{"alice", "Alicia"}) {
		t.Fatalf("ALI: %v", names(us))
	}
	us, err = s.SearchUsers(ctx(t), "ali", "alice", 10)
	mustNil(t, err)
	if !slices.Equal(names(us), []string{"Alicia"}) {
		t.Fatalf("the page after alice: %v", names(us))
	}
	// LIKE wildcards in the query are literal.
	us, err = s.SearchUsers(ctx(t), "carol_", "", 10)
	mustNil(t, err)
	if !slices.Equal(names(us), []string{"carol_1"}) {
		t.Fatalf("carol_: %v", names(us))
	}
	us, err = s.SearchUsers(ctx(t), "bob@example", "", 10)
	mustNil(t, err)
	if !slices.Equal(names(us), []string{"bob"}) {
		t.Fatalf("by email: %v", names(us))
	}
}

func testGroupCounts(t *testing.T, newStore Factory) {
	s := newStore(t)
	created, err := s.CreateGroupIfAbsent(ctx(t), "admins")
	mustNil(t, err)
	if !created {
		t.Fatal("admins was not created")
	}
	mustNil(t, s.UpsertPolicy(ctx(t), &storage.Policy{Name: "p", RequireMFA: "always", Enrollment: "required"}))
	mustNil(t, s.UpsertGroup(ctx(t), &storage.Group{Name: "staff", Policy: ptr("p")}))
	if created, err = s.CreateGroupIfAbsent(ctx(t), "staff"); err != nil || created {
		t.Fatalf("staff again: %v, %v", created, err)
	}
	if g, _ := s.GetGroup(ctx(t), "staff"); g.Policy == nil || *g.Policy != "p" {
		t.Fatal("CreateGroupIfAbsent changed an existing group")
	}
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "alice", "admins", "staff")))
	mustNil(t, s.CreateUser(ctx(t), newUser("u2", "bob", "staff")))
	counts, err := s.CountGroupMembers(ctx(t), []string{"admins", "staff", "none"})
	mustNil(t, err)
	if counts["admins"] != 1 || counts["staff"] != 2 || counts["none"] != 0 {
		t.Fatalf("counts %v", counts)
	}
	n, err := s.CountUsersInGroups(ctx(t), []string{"admins", "staff"})
	mustNil(t, err)
	if n != 2 {
		t.Fatalf("distinct users %d", n)
	}
}

func testForceReenrollment(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "alice")))
	mustNil(t, s.CreateTOTP(ctx(t), &storage.TOTPAuthenticator{ID: "t1", UserID: "u1", Name: "phone", SecretSealed: "x"}))
	mustNil(t, s.ConfirmTOTP(ctx(t), "u1", "t1", 10))
	r, err := s.ForceReenrollment(ctx(t), "u1")
	mustNil(t, err)
	u, _ := s.GetUser(ctx(t), "u1")
	if r.TOTP != 1 || !u.MustEnroll {
		t.Fatalf("reset %+v, must enroll %v", r, u.MustEnroll)
	}
	mustIs(t, func() error { _, err := s.ForceReenrollment(ctx(t), "nobody"); return err }(), storage.ErrNotFound)
	mustNil(t, s.CreateTOTP(ctx(t), &storage.TOTPAuthenticator{ID: "t2", UserID: "u1", Name: "new phone", SecretSealed: "y"}))
	if u, _ = s.GetUser(ctx(t), "u1"); !u.MustEnroll {
		t.Fatal("an unconfirmed authenticator cleared the mark")
	}
	mustNil(t, s.ConfirmTOTP(ctx(t), "u1", "t2", 11))
	if u, _ = s.GetUser(ctx(t), "u1"); u.MustEnroll {
		t.Fatal("a confirmed authenticator left the mark")
	}
}

func testAuditFilters(t *testing.T, newStore Factory) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := newStore(t)
	for i, e := range []storage.AuditEvent{
		{Actor: "client:bot", Action: "policy.created", Target: "p1"},
		{Actor: "u1", Action: "group.created", Target: "g1"},
		{Actor: "cli", Action: "user.disabled", Target: "u1"},
		{Actor: "cli", Action: "policy.updated", Target: "p1"},
	} {
		e.At = now.Add(time.Duration(i) * time.Minute)
		mustNil(t, s.AppendAudit(ctx(t), &e))
	}
	actions := func(f storage.AuditFilter) []string {
		es, err := s.ListAudit(ctx(t), f)
		mustNil(t, err)
		var out []string
		for _, e := range es {
			out = append(out, e.Action)
		}
		return out
	}
	if got := actions(storage.AuditFilter{Party: "u1"}); !slices.Equal(got, []string{"user.disabled", "group.created"}) {
		t.Fatalf("party u1: %v", got)
	}
	if got := actions(storage.AuditFilter{Actions: []string{"policy.created", "policy.updated"}}); !slices.Equal(got, []string{"policy.updated", "policy.created"}) {
		t.Fatalf("actions: %v", got)
	}
	if got := actions(storage.AuditFilter{Since: now.Add(time.Minute), Until: now.Add(3 * time.Minute)}); !slices.Equal(got, []string{"user.disabled", "group.created"}) {
		t.Fatalf("time range: %v", got)
	}
}
