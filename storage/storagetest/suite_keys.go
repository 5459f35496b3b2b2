package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// signingKeyTests cover the signing-key table.
func signingKeyTests() []conformanceTest {
	return []conformanceTest{
		{"signing keys are created and listed oldest first with every field", testSigningKeyCreateList},
		{"a signing key id is unique and its algorithm is checked", testSigningKeyConstraints},
		{"retiring hands an algorithm to the kept key and spares later successors", testSigningKeyRetire},
		{"two rotations racing leave the later successor signing", testSigningKeyRetireRace},
		{"expired signing keys leave the list and are deleted", testSigningKeyExpiry},
	}
}

func skRow(id, alg string, created, active time.Time) *storage.SigningKey {
	return &storage.SigningKey{
		ID: id, Alg: alg, PrivateSealed: "sealed-" + id,
		PublicJWK: `{"kty":"EC","kid":"` + id + `"}`,
		CreatedAt: created, ActiveAt: active,
	}
}

func skIDs(ks []storage.SigningKey) []string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.ID
	}
	return ids
}

func skFind(t *testing.T, ks []storage.SigningKey, id string) storage.SigningKey {
	t.Helper()
	i := slices.IndexFunc(ks, func(k storage.SigningKey) bool { return k.ID == id })
	if i < 0 {
		t.Fatalf("key %s not listed (have %v)", id, skIDs(ks))
	}
	return ks[i]
}

func skSameTime(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil || !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func testSigningKeyCreateList(t *testing.T, newStore Factory) {
	clock := NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := newStore(t, storage.WithNow(clock.Now))
	t0 := clock.Now()
	// CreatedAt left zero: the store's clock fills it, and ActiveAt with it.
	first := &storage.SigningKey{ID: "k-rsa", Alg: "RS256", PrivateSealed: "AQID", PublicJWK: `{"kty":"RSA"}`}
	mustNil(t, s.CreateSigningKey(ctx(t), first))
	if !first.CreatedAt.Equal(t0) || !first.ActiveAt.Equal(t0) {
		t.Fatalf("defaults: created %v active %v, want %v", first.CreatedAt, first.ActiveAt, t0)
	}
	// Caller times in another zone and with nanoseconds are stored as UTC
	// microseconds.
	cet := time.FixedZone("CET", 3600)
	created := t0.Add(time.Minute).In(cet)
	active := created.Add(10*time.Minute + 789)
	mustNil(t, s.CreateSigningKey(ctx(t), skRow("k-ec", "ES256", created, active)))
	mustNil(t, s.CreateSigningKey(ctx(t), skRow("k-ed", "EdDSA", t0.Add(2*time.Minute), t0.Add(2*time.Minute))))

	ks, err := s.ListSigningKeys(ctx(t))
	mustNil(t, err)
	if want := []string{"k-rsa", "k-ec", "k-ed"}; !slices.Equal(skIDs(ks), want) {
		t.Fatalf("ListSigningKeys = %v, want %v (oldest first)", skIDs(ks), want)
	}
	ec := skFind(t, ks, "k-ec")
	if ec.Alg != "ES256" || ec.PrivateSealed != "sealed-k-ec" || ec.PublicJWK != `{"kty":"EC","kid":"k-ec"}` {
		t.Fatalf("k-ec = %+v", ec)
	}
	if !ec.CreatedAt.Equal(created) || !ec.ActiveAt.Equal(active.Truncate(time.Microsecond)) {
		t.Fatalf("k-ec times: created %v active %v", ec.CreatedAt, ec.ActiveAt)
	}
	if ec.RetireAt != nil || ec.ExpiresAt != nil {
		t.Fatalf("a new key is retired: %+v", ec)
	}
}

func testSigningKeyConstraints(t *testing.T, newStore Factory) {
	s := newStore(t)
	now := time.Now()
	mustNil(t, s.CreateSigningKey(ctx(t), skRow("k1", "RS256", now, now)))
	mustIs(t, s.CreateSigningKey(ctx(t), skRow("k1", "ES256", now, now)), storage.ErrConflict)
	if err := s.CreateSigningKey(ctx(t), skRow("k2", "HS256", now, now)); err == nil {
		t.Fatal("a key with algorithm HS256 was stored")
	}
	ks, err := s.ListSigningKeys(ctx(t))
	mustNil(t, err)
	if !slices.Equal(skIDs(ks), []string{"k1"}) {
		t.Fatalf("keys after refused creates: %v", skIDs(ks))
	}
}

func testSigningKeyRetire(t *testing.T, newStore Factory) {
	clock := NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := newStore(t, storage.WithNow(clock.Now))
	t0 := clock.Now()
	handover := t0.Add(10 * time.Minute)
	expires := handover.Add(24 * time.Hour)
	mustNil(t, s.CreateSigningKey(ctx(t), skRow("rs-old", "RS256", t0.Add(-time.Hour), t0.Add(-time.Hour))))
	mustNil(t, s.CreateSigningKey(ctx(t), skRow("rs-pending", "RS256", t0.Add(-time.Minute), t0.Add(5*time.Minute))))
	mustNil(t, s.CreateSigningKey(ctx(t), skRow("rs-new", "RS256", t0, handover)))
	mustNil(t, s.CreateSigningKey(ctx(t), skRow("rs-later", "RS256", t0, handover.Add(time.Minute))))
	mustNil(t, s.CreateSigningKey(ctx(t), skRow("es-old", "ES256", t0.Add(-time.Hour), t0.Add(-time.Hour))))
	earlierRetire, earlierExpiry := t0.Add(-time.Minute), t0.Add(time.Hour)
	retired := skRow("rs-retired", "RS256", t0.Add(-2*time.Hour), t0.Add(-2*time.Hour))
	retired.RetireAt, retired.ExpiresAt = &earlierRetire, &earlierExpiry
	mustNil(t, s.CreateSigningKey(ctx(t), retired))

	n, err := s.RetireSigningKeys(ctx(t), "RS256", "rs-new", handover, expires)
	mustNil(t, err)
	if n != 2 {
		t.Fatalf("RetireSigningKeys = %d, want 2 (rs-old and rs-pending)", n)
	}
	ks, err := s.ListSigningKeys(ctx(t))
	mustNil(t, err)
	for _, id := range []string{"rs-old", "rs-pending"} {
		k := skFind(t, ks, id)
		skSameTime(t, id+" retire_at", k.RetireAt, handover)
		skSameTime(t, id+" expires_at", k.ExpiresAt, expires)
	}
	// The kept key, a key activating after the handover and another
	// algorithm's key stay unretired; a key retired before keeps its times.
	for _, id := range []string{"rs-new", "rs-later", "es-old"} {
		if k := skFind(t, ks, id); k.RetireAt != nil || k.ExpiresAt != nil {
			t.Fatalf("%s was retired: %+v", id, k)
		}
	}
	r := skFind(t, ks, "rs-retired")
	skSameTime(t, "rs-retired retire_at", r.RetireAt, earlierRetire)
	skSameTime(t, "rs-retired expires_at", r.ExpiresAt, earlierExpiry)

	n, err = s.RetireSigningKeys(ctx(t), "RS256", "rs-new", handover, expires)
	mustNil(t, err)
	if n != 0 {
		t.Fatalf("a repeated retirement retired %d keys", n)
	}
}

func testSigningKeyRetireRace(t *testing.T, newStore Factory) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lead, life := 10*time.Minute, 24*time.Hour
	// Both orders of the two replicas' statements end the same way.
	for _, order := range [][]string{{"a", "b"}, {"b", "a"}} {
		s := newStore(t, storage.WithNow(func() time.Time { return t0 }))
		mustNil(t, s.CreateSigningKey(ctx(t), skRow("old", "ES256", t0.Add(-time.Hour), t0.Add(-time.Hour))))
		// Replica a rotated at t0, replica b a second later.
		succ := map[string]time.Time{"a": t0.Add(lead), "b": t0.Add(time.Second + lead)}
		for _, r := range []string{"a", "b"} {
			mustNil(t, s.CreateSigningKey(ctx(t), skRow(r, "ES256", succ[r].Add(-lead), succ[r])))
		}
		for _, r := range order {
			_, err := s.RetireSigningKeys(ctx(t), "ES256", r, succ[r], succ[r].Add(life))
			mustNil(t, err)
		}
		ks, err := s.ListSigningKeys(ctx(t))
		mustNil(t, err)
		if k := skFind(t, ks, "b"); k.RetireAt != nil {
			t.Fatalf("order %v: the later successor was retired", order)
		}
		skSameTime(t, "a retire_at", skFind(t, ks, "a").RetireAt, succ["b"])
		if k := skFind(t, ks, "old"); k.RetireAt == nil || k.RetireAt.After(succ["b"]) {
			t.Fatalf("order %v: old retire_at = %v", order, k.RetireAt)
		}
	}
}

func testSigningKeyExpiry(t *testing.T, newStore Factory) {
	clock := NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := newStore(t, storage.WithNow(clock.Now))
	t0 := clock.Now()
	mustNil(t, s.CreateSigningKey(ctx(t), skRow("old", "RS256", t0.Add(-48*time.Hour), t0.Add(-48*time.Hour))))
	mustNil(t, s.CreateSigningKey(ctx(t), skRow("new", "RS256", t0, t0)))
	_, err := s.RetireSigningKeys(ctx(t), "RS256", "new", t0, t0.Add(time.Hour))
	mustNil(t, err)

	clock.Set(t0.Add(time.Hour - time.Microsecond))
	ks, err := s.ListSigningKeys(ctx(t))
	mustNil(t, err)
	if !slices.Equal(skIDs(ks), []string{"old", "new"}) {
		t.Fatalf("before expiry: %v", skIDs(ks))
	}
	n, err := s.DeleteExpiredSigningKeys(ctx(t))
	mustNil(t, err)
	if n != 0 {
		t.Fatalf("deleted %d keys before any expired", n)
	}

	clock.Set(t0.Add(time.Hour)) // expires_at is exclusive: gone at that instant
	ks, err = s.ListSigningKeys(ctx(t))
	mustNil(t, err)
	if !slices.Equal(skIDs(ks), []string{"new"}) {
		t.Fatalf("at expiry: %v", skIDs(ks))
	}
	n, err = s.DeleteExpiredSigningKeys(ctx(t))
	mustNil(t, err)
	if n != 1 {
		t.Fatalf("DeleteExpiredSigningKeys = %d, want 1", n)
	}
	n, err = s.DeleteExpiredSigningKeys(ctx(t))
	mustNil(t, err)
	if n != 0 {
		t.Fatalf("a second delete removed %d", n)
	}
	ks, err = s.ListSigningKeys(ctx(t))
	mustNil(t, err)
	if !slices.Equal(skIDs(ks), []string{"new"}) {
		t.Fatalf("after delete: %v", skIDs(ks))
	}
}
