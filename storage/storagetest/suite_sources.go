package storagetest

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// sourceTests cover what the configuration apply relies on: one transaction, disabled clients, and who
// manages each object.
func sourceTests() []conformanceTest {
	return []conformanceTest{
		{"a transaction commits every change or none", testInTx},
		{"a transaction nests the store's own transactions", testInTxNested},
		{"transactions that take the same lock run one after the other", testLockTx},
		{"a disabled client is not found by id but is listed, and an upsert enables it", testDisabledClient},
		{"who manages an object defaults to the database and round-trips", testManagedBy},
		{"revoking a client's tokens leaves other clients' alone", testRevokeClientTokens},
	}
}

func testInTx(t *testing.T, newStore Factory) {
	s := newStore(t)
	boom := errors.New("boom")
	err := s.InTx(ctx(t), func(tx *storage.Store) error {
		mustNil(t, tx.UpsertPolicy(ctx(t), &storage.Policy{Name: "strict", RequireMFA: "always", Enrollment: "required"}))
		mustNil(t, tx.SetSetting(ctx(t), storage.SettingDefaultPolicy, "strict"))
		if _, err := tx.GetPolicy(ctx(t), "strict"); err != nil {
			t.Fatalf("the transaction does not see its own write: %v", err)
		}
		return boom
	})
	mustIs(t, err, boom)
	_, err = s.GetPolicy(ctx(t), "strict")
	mustIs(t, err, storage.ErrNotFound)
	_, err = s.GetSetting(ctx(t), storage.SettingDefaultPolicy)
	mustIs(t, err, storage.ErrNotFound)

	mustNil(t, s.InTx(ctx(t), func(tx *storage.Store) error {
		if err := tx.UpsertPolicy(ctx(t), &storage.Policy{Name: "strict", RequireMFA: "always", Enrollment: "required"}); err != nil {
			return err
		}
		return tx.SetSetting(ctx(t), storage.SettingDefaultPolicy, "strict")
	}))
	if _, err := s.GetPolicy(ctx(t), "strict"); err != nil {
		t.Fatalf("committed policy: %v", err)
	}
	if v, err := s.GetSetting(ctx(t), storage.SettingDefaultPolicy); err != nil || v != "strict" {
		t.Fatalf("committed setting = %q, %v", v, err)
	}
}

func testInTxNested(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.UpsertGroup(ctx(t), &storage.Group{Name: "staff"}))
	err := s.InTx(ctx(t), func(tx *storage.Store) error {
		// CreateUser and UpdateUser run their own transaction: inside InTx they are part of the outer one.
		mustNil(t, tx.CreateUser(ctx(t), newUser("u1", "alice", "staff")))
		u, err := tx.GetUser(ctx(t), "u1")
		mustNil(t, err)
		u.Email = "alice@corp.example.com"
		mustNil(t, tx.UpdateUser(ctx(t), u))
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("InTx returned nil")
	}
	_, err = s.GetUser(ctx(t), "u1")
	mustIs(t, err, storage.ErrNotFound)
}

func testDisabledClient(t *testing.T, newStore Factory) {
	s := newStore(t)
	c := &storage.Client{ID: "app", Name: "App", GrantTypes: []string{"authorization_code"}, ManagedBy: storage.ManagedByConfig}
	mustNil(t, s.UpsertClient(ctx(t), c))
	mustNil(t, s.SetClientDisabled(ctx(t), "app", true))
	_, err := s.GetClient(ctx(t), "app")
	mustIs(t, err, storage.ErrNotFound)
	cs, err := s.ListClients(ctx(t))
	mustNil(t, err)
	if len(cs) != 1 || !cs[0].Disabled || cs[0].ManagedBy != storage.ManagedByConfig {
		t.Fatalf("ListClients = %+v", cs)
	}
	mustIs(t, s.SetClientDisabled(ctx(t), "nobody", true), storage.ErrNotFound)
	// Declared again: the upsert writes disabled = false.
	mustNil(t, s.UpsertClient(ctx(t), c))
	got, err := s.GetClient(ctx(t), "app")
	mustNil(t, err)
	if got.Disabled || got.ManagedBy != storage.ManagedByConfig {
		t.Fatalf("GetClient after upsert = %+v", got)
	}
}

func testManagedBy(t *testing.T, newStore Factory) {
	s := newStore(t)
	// The zero value is the column default.
	mustNil(t, s.UpsertPolicy(ctx(t), &storage.Policy{Name: "p", RequireMFA: "never", Enrollment: "optional"}))
	mustNil(t, s.UpsertGroup(ctx(t), &storage.Group{Name: "g"}))
	mustNil(t, s.UpsertClient(ctx(t), &storage.Client{ID: "c", Name: "c"}))
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "alice")))
	p, err := s.GetPolicy(ctx(t), "p")
	mustNil(t, err)
	g, err := s.GetGroup(ctx(t), "g")
	mustNil(t, err)
	c, err := s.GetClient(ctx(t), "c")
	mustNil(t, err)
	u, err := s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	for what, got := range map[string]string{"policy": p.ManagedBy, "group": g.ManagedBy, "client": c.ManagedBy, "user": u.ManagedBy} {
		if got != storage.ManagedByDatabase {
			t.Errorf("%s managed by %q, want %q", what, got, storage.ManagedByDatabase)
		}
	}
	// An upsert changes who manages the object.
	mustNil(t, s.UpsertPolicy(ctx(t), &storage.Policy{Name: "p", RequireMFA: "never", Enrollment: "optional", ManagedBy: storage.ManagedByConfig}))
	mustNil(t, s.UpsertGroup(ctx(t), &storage.Group{Name: "g", ManagedBy: storage.ManagedByConfig}))
	ps, err := s.ListPolicies(ctx(t))
	mustNil(t, err)
	gs, err := s.ListGroups(ctx(t))
	mustNil(t, err)
	if ps[0].ManagedBy != storage.ManagedByConfig || gs[0].ManagedBy != storage.ManagedByConfig {
		t.Fatalf("after upsert: policy %q, group %q", ps[0].ManagedBy, gs[0].ManagedBy)
	}
	// UpdateUser keeps it unless told, and users are listed by it.
	u.Email = "new@example.com"
	mustNil(t, s.UpdateUser(ctx(t), &storage.User{ID: u.ID, Email: u.Email}))
	mustNil(t, s.CreateUser(ctx(t), &storage.User{ID: "u2", Username: "bob", ManagedBy: storage.ManagedByConfig}))
	mustNil(t, s.CreateUser(ctx(t), &storage.User{ID: "u3", Username: "Carol", ManagedBy: storage.ManagedByConfig}))
	us, err := s.ListUsersManagedBy(ctx(t), storage.ManagedByConfig)
	mustNil(t, err)
	if len(us) != 2 || us[0].Username != "bob" || us[1].Username != "Carol" {
		t.Fatalf("ListUsersManagedBy(config) = %+v", us)
	}
	mustNil(t, s.UpdateUser(ctx(t), &storage.User{ID: "u1", ManagedBy: storage.ManagedByConfig}))
	if us, _ := s.ListUsersManagedBy(ctx(t), storage.ManagedByConfig); len(us) != 3 {
		t.Fatalf("after UpdateUser with ManagedBy: %d config users", len(us))
	}
	if err := s.UpsertGroup(ctx(t), &storage.Group{Name: "x", ManagedBy: "someone"}); err == nil {
		t.Fatal("an unknown source was stored")
	}
}

func testLockTx(t *testing.T, newStore Factory) {
	s := newStore(t)
	// Each transaction reads a counter, waits, and writes it plus one: only if they run one after the other
	// does the counter end at the number of transactions.
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.InTx(ctx(t), func(tx *storage.Store) error {
				if err := tx.LockTx(ctx(t), "twofold.test"); err != nil {
					return err
				}
				v, err := tx.GetSetting(ctx(t), "counter")
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					return err
				}
				c, _ := strconv.Atoi(v)
				time.Sleep(20 * time.Millisecond)
				return tx.SetSetting(ctx(t), "counter", strconv.Itoa(c+1))
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		mustNil(t, err)
	}
	if v, err := s.GetSetting(ctx(t), "counter"); err != nil || v != strconv.Itoa(n) {
		t.Fatalf("counter = %q, %v; want %d", v, err, n)
	}
}

func testRevokeClientTokens(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateClient(ctx(t), &storage.Client{ID: "other", Name: "Other"}))
	mustNil(t, s.CreateRefreshToken(ctx(t), pvRefresh("r1", "f1", now)))
	fam := pvAccess("a1", now)
	fam.RefreshFamilyID = "f1"
	mustNil(t, s.CreateAccessToken(ctx(t), fam))
	cc := pvAccess("cc", now) // client_credentials: no user, no family
	cc.UserID = ""
	mustNil(t, s.CreateAccessToken(ctx(t), cc))
	otherRT := pvRefresh("o1", "f2", now)
	otherRT.ClientID = "other"
	mustNil(t, s.CreateRefreshToken(ctx(t), otherRT))
	otherAT := pvAccess("o-at", now)
	otherAT.ClientID = "other"
	mustNil(t, s.CreateAccessToken(ctx(t), otherAT))

	mustNil(t, s.InTx(ctx(t), func(tx *storage.Store) error { return tx.RevokeClientTokens(ctx(t), "app") }))
	mustRefreshRevoked(t, s, true, "r1")
	mustAccessRevoked(t, s, true, "a1", "cc")
	mustRefreshRevoked(t, s, false, "o1")
	mustAccessRevoked(t, s, false, "o-at")
	mustNil(t, s.RevokeClientTokens(ctx(t), "app"))
}
