package keys_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/keys"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

func newKeysClock() *storagetest.Clock {
	return storagetest.NewClock(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
}

// keyTestOptions are the defaults spelled out, so the tests can move the
// clock by exactly these amounts.
var keyTestOptions = keys.Options{
	RotateEvery:      30 * 24 * time.Hour,
	PublishLead:      10 * time.Minute,
	MaxTokenLifetime: 24 * time.Hour,
	CacheTTL:         10 * time.Second,
}

type keysFixture struct {
	store *storage.Store
	ring  *secrets.Keyring
	clock *storagetest.Clock
	km    *keys.Manager
}

func keysTestKeyring(t testing.TB) *secrets.Keyring {
	t.Helper()
	key, err := secrets.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secrets.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func newKeysFixture(t testing.TB, newStore storagetest.Factory, opts keys.Options) keysFixture {
	t.Helper()
	clock := newKeysClock()
	s := newStore(t, storage.WithNow(clock.Now))
	ring := keysTestKeyring(t)
	return keysFixture{store: s, ring: ring, clock: clock, km: keys.New(s, ring, slog.New(slog.DiscardHandler), clock.Now, opts)}
}

// eachKeysDatabase runs fn against SQLite and (when configured) PostgreSQL.
func eachKeysDatabase(t *testing.T, opts keys.Options, fn func(t *testing.T, f keysFixture)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) { fn(t, newKeysFixture(t, newStore, opts)) })
	}
}

func keysMustEnsure(t testing.TB, km *keys.Manager) {
	t.Helper()
	if err := km.Ensure(t.Context()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
}

func keysMustSigningKey(t testing.TB, km *keys.Manager, alg string) op.SigningKey {
	t.Helper()
	k, err := km.SigningKey(t.Context(), alg)
	if err != nil {
		t.Fatalf("SigningKey(%s): %v", alg, err)
	}
	return k
}

func keysListRows(t testing.TB, s *storage.Store) []storage.SigningKey {
	t.Helper()
	ks, err := s.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func keysParseJWKS(t testing.TB, km *keys.Manager) jose.JSONWebKeySet {
	t.Helper()
	b, err := km.JWKS(t.Context())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, b)
	}
	return set
}

func keysJWKSKIDs(t testing.TB, km *keys.Manager) []string {
	t.Helper()
	var ids []string
	for _, k := range keysParseJWKS(t, km).Keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// keysSignJWT signs as op.SignerFromKey does.
func keysSignJWT(t testing.TB, k op.SigningKey, subject string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: k.SignatureAlgorithm(),
		Key:       &jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatalf("signer for %s: %v", k.SignatureAlgorithm(), err)
	}
	jws, err := signer.Sign([]byte(`{"sub":"` + subject + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// keysVerify verifies a compact JWS the way a relying party does: by
// its kid, against the published key set.
func keysVerify(t testing.TB, km *keys.Manager, tok string) error {
	b, err := km.JWKS(t.Context())
	if err != nil {
		return err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return err
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return err
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		return fmt.Errorf("kid %s: %d keys in JWKS", kid, len(keys))
	}
	_, err = jws.Verify(keys[0])
	return err
}

func TestKeyAlgorithmsAlwaysIncludeRS256First(t *testing.T) {
	ring := keysTestKeyring(t)
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"the default is every supported algorithm", nil, []string{"RS256", "ES256", "EdDSA"}},
		{"RS256 is added when left out", []string{"EdDSA"}, []string{"RS256", "EdDSA"}},
		{"the order is fixed whatever the configured order", []string{"EdDSA", "ES256", "RS256"}, []string{"RS256", "ES256", "EdDSA"}},
		{"unknown algorithms are dropped", []string{"HS256", "ES256"}, []string{"RS256", "ES256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			km := keys.New(nil, ring, slog.New(slog.DiscardHandler), nil, keys.Options{Algorithms: tc.in})
			if got := km.Algorithms(); !slices.Equal(got, tc.want) {
				t.Fatalf("Algorithms() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKeyFirstEnsureMakesOneActiveKeyPerAlgorithm(t *testing.T) {
	eachKeysDatabase(t, keyTestOptions, func(t *testing.T, f keysFixture) {
		keysMustEnsure(t, f.km)
		rows := keysListRows(t, f.store)
		if len(rows) != 3 {
			t.Fatalf("%d keys after the first Ensure, want 3", len(rows))
		}
		now := f.clock.Now()
		for _, alg := range f.km.Algorithms() {
			i := slices.IndexFunc(rows, func(r storage.SigningKey) bool { return r.Alg == alg })
			if i < 0 {
				t.Fatalf("no %s key", alg)
			}
			row := rows[i]
			if !row.ActiveAt.Equal(now) || row.RetireAt != nil || row.ExpiresAt != nil {
				t.Fatalf("%s key is not active at once: %+v", alg, row)
			}
			k := keysMustSigningKey(t, f.km, alg)
			if k.ID() != row.ID || string(k.SignatureAlgorithm()) != alg || k.Key() == nil {
				t.Fatalf("SigningKey(%s) = %s/%s, want %s", alg, k.ID(), k.SignatureAlgorithm(), row.ID)
			}
			if err := keysVerify(t, f.km, keysSignJWT(t, k, "alice")); err != nil {
				t.Fatalf("a fresh %s token does not verify: %v", alg, err)
			}
		}
		// Idempotent: a second start, or the periodic run, adds nothing.
		f.clock.Advance(time.Hour)
		keysMustEnsure(t, f.km)
		if n := len(keysListRows(t, f.store)); n != 3 {
			t.Fatalf("%d keys after a second Ensure, want 3", n)
		}
	})
}

func TestKeyJWKSPublishesPublicKeysWithUseAlgAndKid(t *testing.T) {
	f := newKeysFixture(t, storagetest.NewSQLite, keyTestOptions)
	keysMustEnsure(t, f.km)
	b, err := f.km.JWKS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	rows := keysListRows(t, f.store)
	if len(raw.Keys) != len(rows) {
		t.Fatalf("JWKS has %d keys, the database %d", len(raw.Keys), len(rows))
	}
	wantKty := map[string]string{"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}
	for i, k := range raw.Keys {
		if k["kid"] != rows[i].ID || k["alg"] != rows[i].Alg || k["use"] != "sig" || k["kty"] != wantKty[rows[i].Alg] {
			t.Fatalf("JWKS key %d = %v, want kid %s alg %s", i, k, rows[i].ID, rows[i].Alg)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS key %s has the private member %q", k["kid"], private)
			}
		}
	}
	pub, err := f.km.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range pub {
		if k.ID() != rows[i].ID || string(k.Algorithm()) != rows[i].Alg || k.Use() != "sig" {
			t.Fatalf("PublicKeys()[%d] = %s %s %s", i, k.ID(), k.Algorithm(), k.Use())
		}
		jwk := jose.JSONWebKey{Key: k.Key()}
		if !jwk.IsPublic() {
			t.Fatalf("PublicKeys()[%d].Key() is a %T", i, k.Key())
		}
	}
}

func TestKeyPrivateKeysAreStoredSealed(t *testing.T) {
	f := newKeysFixture(t, storagetest.NewSQLite, keyTestOptions)
	keysMustEnsure(t, f.km)
	rows := keysListRows(t, f.store)
	other := keysTestKeyring(t)
	for i, row := range rows {
		der, err := x509.MarshalPKCS8PrivateKey(keysMustSigningKey(t, f.km, row.Alg).Key())
		if err != nil {
			t.Fatal(err)
		}
		pemText := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		stored := []byte(row.PrivateSealed + row.PublicJWK)
		sealed, err := base64.StdEncoding.DecodeString(row.PrivateSealed)
		if err != nil {
			t.Fatalf("%s: private_sealed is not base64: %v", row.Alg, err)
		}
		for name, leak := range map[string][]byte{
			"PEM":        pemText,
			"DER":        der,
			"base64 DER": []byte(base64.StdEncoding.EncodeToString(der)),
			"PEM header": []byte("PRIVATE KEY"),
		} {
			if bytes.Contains(stored, leak) || bytes.Contains(sealed, leak) {
				t.Fatalf("%s key: the stored row contains its %s", row.Alg, name)
			}
		}
		opened, err := f.ring.Open("signing-key", sealed, []byte(row.ID))
		if err != nil || !bytes.Equal(opened, der) {
			t.Fatalf("%s key does not open to its PKCS#8 DER with the right keyring: %v", row.Alg, err)
		}
		if _, err := other.Open("signing-key", sealed, []byte(row.ID)); !errors.Is(err, secrets.ErrUnknownKey) {
			t.Fatalf("another keyring opened the %s key: %v", row.Alg, err)
		}
		// Bound to its row: the kid is the aad.
		if _, err := f.ring.Open("signing-key", sealed, []byte(rows[(i+1)%len(rows)].ID)); !errors.Is(err, secrets.ErrDecrypt) {
			t.Fatalf("the %s key opened under another kid: %v", row.Alg, err)
		}
	}
}

func TestKeyUnopenablePrivateKeyIsPublishedButNeverSigns(t *testing.T) {
	f := newKeysFixture(t, storagetest.NewSQLite, keyTestOptions)
	keysMustEnsure(t, f.km)
	rows := keysListRows(t, f.store)
	byAlg := map[string]storage.SigningKey{}
	for _, r := range rows {
		byAlg[r.Alg] = r
	}
	// Move the ES256 key's sealed private key onto the EdDSA row: neither
	// opens any more (the kid is the aad), RS256 is untouched.
	_, err := f.store.SQL().ExecContext(t.Context(), "UPDATE signing_keys SET private_sealed = ? WHERE id = ?", byAlg["ES256"].PrivateSealed, byAlg["EdDSA"].ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.store.SQL().ExecContext(t.Context(), "UPDATE signing_keys SET private_sealed = ? WHERE id = ?", "AQID", byAlg["ES256"].ID)
	if err != nil {
		t.Fatal(err)
	}
	// A replica starting now loads the damaged rows.
	replica := keys.New(f.store, f.ring, slog.New(slog.DiscardHandler), f.clock.Now, keyTestOptions)
	for _, alg := range []string{"ES256", "EdDSA"} {
		if _, err := replica.SigningKey(t.Context(), alg); !errors.Is(err, keys.ErrNoSigningKey) {
			t.Fatalf("SigningKey(%s) with an unopenable key: %v, want ErrNoSigningKey", alg, err)
		}
	}
	if k := keysMustSigningKey(t, replica, "RS256"); k.ID() != byAlg["RS256"].ID {
		t.Fatalf("RS256 signs with %s", k.ID())
	}
	if got := keysJWKSKIDs(t, replica); len(got) != 3 {
		t.Fatalf("JWKS = %v, want all 3 keys still published", got)
	}
	// Ensure replaces the unusable keys; the old ones stay published.
	keysMustEnsure(t, replica)
	for _, alg := range []string{"ES256", "EdDSA"} {
		if k := keysMustSigningKey(t, replica, alg); k.ID() == byAlg[alg].ID {
			t.Fatalf("%s still signs with the unopenable key", alg)
		}
	}
	if got := keysJWKSKIDs(t, replica); len(got) != 5 {
		t.Fatalf("JWKS = %v, want 5 keys", got)
	}
}

func TestKeyRotation(t *testing.T) {
	opts := keyTestOptions
	eachKeysDatabase(t, opts, func(t *testing.T, f keysFixture) {
		keysMustEnsure(t, f.km)
		before := map[string]op.SigningKey{}
		tokens := map[string]string{}
		for _, alg := range f.km.Algorithms() {
			before[alg] = keysMustSigningKey(t, f.km, alg)
			tokens[alg] = keysSignJWT(t, before[alg], "signed-before-rotation")
		}
		for _, alg := range f.km.Algorithms() {
			if err := f.km.Rotate(t.Context(), idp.Actor{ID: "test"}, alg); err != nil {
				t.Fatalf("Rotate(%s): %v", alg, err)
			}
		}
		rotatedAt := f.clock.Now()
		published := keysJWKSKIDs(t, f.km)
		if len(published) != 6 {
			t.Fatalf("JWKS right after rotation = %v, want old and new keys (6)", published)
		}
		successor := map[string]string{}
		for _, row := range keysListRows(t, f.store) {
			if row.ID != before[row.Alg].ID() {
				successor[row.Alg] = row.ID
				if !row.ActiveAt.Equal(rotatedAt.Add(opts.PublishLead)) {
					t.Fatalf("%s successor active at %v, want %v", row.Alg, row.ActiveAt, rotatedAt.Add(opts.PublishLead))
				}
				continue
			}
			if row.RetireAt == nil || !row.RetireAt.Equal(rotatedAt.Add(opts.PublishLead)) ||
				row.ExpiresAt == nil || !row.ExpiresAt.Equal(row.RetireAt.Add(opts.MaxTokenLifetime)) {
				t.Fatalf("%s predecessor retire %v expires %v", row.Alg, row.RetireAt, row.ExpiresAt)
			}
		}
		checkSigning := func(when string, want map[string]string) {
			t.Helper()
			for alg, id := range want {
				if got := keysMustSigningKey(t, f.km, alg).ID(); got != id {
					t.Fatalf("%s: %s signs with %s, want %s", when, alg, got, id)
				}
			}
		}
		checkTokens := func(when string) {
			t.Helper()
			for alg, tok := range tokens {
				if err := keysVerify(t, f.km, tok); err != nil {
					t.Fatalf("%s: the %s token signed before rotation does not verify: %v", when, alg, err)
				}
			}
		}
		old := map[string]string{}
		for alg, k := range before {
			old[alg] = k.ID()
		}
		checkSigning("right after rotation", old)
		checkTokens("right after rotation")

		f.clock.Advance(opts.PublishLead - time.Microsecond)
		checkSigning("just before the publish lead has passed", old)

		f.clock.Advance(time.Microsecond)
		checkSigning("once the publish lead has passed", successor)
		checkTokens("once the successor signs")
		for alg, id := range successor {
			tok := keysSignJWT(t, keysMustSigningKey(t, f.km, alg), "after")
			if err := keysVerify(t, f.km, tok); err != nil {
				t.Fatalf("a token from the %s successor %s does not verify: %v", alg, id, err)
			}
		}

		f.clock.Advance(opts.MaxTokenLifetime - time.Microsecond)
		if got := keysJWKSKIDs(t, f.km); len(got) != 6 {
			t.Fatalf("JWKS just before the old keys expire = %v, want 6 keys", got)
		}
		checkTokens("just before the old keys expire")

		f.clock.Advance(time.Microsecond)
		got := keysJWKSKIDs(t, f.km)
		slices.Sort(got)
		want := slices.Sorted(maps.Values(successor))
		if !slices.Equal(got, want) {
			t.Fatalf("JWKS after the old keys expired = %v, want only the successors %v", got, want)
		}
		checkSigning("after the old keys expired", successor)
		keysMustEnsure(t, f.km) // deletes the expired rows
		if n := len(keysListRows(t, f.store)); n != 3 {
			t.Fatalf("%d rows after Ensure, want 3", n)
		}
	})
}

func TestKeyEnsureRotatesOnSchedule(t *testing.T) {
	opts := keyTestOptions
	opts.Algorithms = []string{"RS256", "ES256"}
	f := newKeysFixture(t, storagetest.NewSQLite, opts)
	keysMustEnsure(t, f.km)
	first := keysMustSigningKey(t, f.km, "ES256").ID()

	f.clock.Advance(opts.RotateEvery - time.Second)
	keysMustEnsure(t, f.km)
	if n := len(keysListRows(t, f.store)); n != 2 {
		t.Fatalf("%d keys before RotateEvery, want 2", n)
	}
	f.clock.Advance(time.Second)
	keysMustEnsure(t, f.km)
	keysMustEnsure(t, f.km) // the pending successor is young: no second one
	if n := len(keysListRows(t, f.store)); n != 4 {
		t.Fatalf("%d keys after RotateEvery, want 4", n)
	}
	if got := keysMustSigningKey(t, f.km, "ES256").ID(); got != first {
		t.Fatalf("the successor signs before the publish lead: %s", got)
	}
	f.clock.Advance(opts.PublishLead)
	if got := keysMustSigningKey(t, f.km, "ES256").ID(); got == first {
		t.Fatal("the old key still signs after the publish lead")
	}
}

func TestKeyRotateRefusesAnUnconfiguredAlgorithm(t *testing.T) {
	opts := keyTestOptions
	opts.Algorithms = []string{"RS256"}
	f := newKeysFixture(t, storagetest.NewSQLite, opts)
	var ie *idp.InputError
	if err := f.km.Rotate(t.Context(), idp.Actor{ID: "test"}, "ES256"); !errors.As(err, &ie) || ie.Field != "alg" {
		t.Fatalf("Rotate(ES256) = %v, want an input error on alg", err)
	}
	if _, err := f.km.SigningKey(t.Context(), "ES256"); !errors.Is(err, keys.ErrNoSigningKey) {
		t.Fatalf("SigningKey(ES256) = %v, want ErrNoSigningKey", err)
	}
}

// TestKeyRotateIsAudited: every entry point (CLI, admin API, console)
// rotates through Rotate, which records who asked, and the new key's id.
func TestKeyRotateIsAudited(t *testing.T) {
	f := newKeysFixture(t, storagetest.NewSQLite, keyTestOptions)
	if err := f.km.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.km.Rotate(t.Context(), idp.Actor{ID: "admin-1", IP: "192.0.2.1"}, "ES256"); err != nil {
		t.Fatal(err)
	}
	ks, _, err := f.km.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	events, err := f.store.ListAudit(t.Context(), storage.AuditFilter{Action: "keys.rotated"})
	if err != nil || len(events) != 1 {
		t.Fatalf("audit events = %+v, %v", events, err)
	}
	var next keys.KeyStatus
	for _, k := range ks {
		if k.State == "next" {
			next = k
		}
	}
	e := events[0]
	if e.Actor != "admin-1" || e.IP != "192.0.2.1" || e.Target != "ES256" || e.Details["alg"] != "ES256" || next.Alg != "ES256" || e.Details["kid"] != next.ID {
		t.Fatalf("audit event = %+v (keys %+v)", e, ks)
	}
}

func TestKeyAlgorithmDroppedFromConfigIsRetired(t *testing.T) {
	f := newKeysFixture(t, storagetest.NewSQLite, keyTestOptions)
	keysMustEnsure(t, f.km)
	opts := keyTestOptions
	opts.Algorithms = []string{"RS256", "ES256"}
	narrowed := keys.New(f.store, f.ring, slog.New(slog.DiscardHandler), f.clock.Now, opts)
	keysMustEnsure(t, narrowed)
	for _, row := range keysListRows(t, f.store) {
		if (row.Alg == "EdDSA") != (row.RetireAt != nil) {
			t.Fatalf("%s key retire_at = %v", row.Alg, row.RetireAt)
		}
	}
	keysMustEnsure(t, narrowed)
	if n := len(keysListRows(t, f.store)); n != 3 {
		t.Fatalf("%d keys, want 3", n)
	}
}

// keysOpenReplica opens another store (its own connection pool, as another
// replica has) on url, sharing clock.
func keysOpenReplica(t *testing.T, url string, clock *storagetest.Clock, ring *secrets.Keyring) (*storage.Store, *keys.Manager) {
	t.Helper()
	s, err := storage.Open(t.Context(), url, storage.WithNow(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s, keys.New(s, ring, slog.New(slog.DiscardHandler), clock.Now, keyTestOptions)
}

func TestKeyReplicasConverge(t *testing.T) {
	for name, newURL := range storagetest.URLs() {
		t.Run(name, func(t *testing.T) {
			url := newURL(t)
			clock := newKeysClock()
			ring := keysTestKeyring(t)
			storeA, a := keysOpenReplica(t, url, clock, ring)
			_, b := keysOpenReplica(t, url, clock, ring)

			// Both replicas start at the same moment.
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, km := range []*keys.Manager{a, b} {
				wg.Go(func() { errs[i] = km.Ensure(t.Context()) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("Ensure: %v, %v", errs[0], errs[1])
			}
			clock.Advance(keyTestOptions.CacheTTL)
			for _, alg := range a.Algorithms() {
				ka, kb := keysMustSigningKey(t, a, alg), keysMustSigningKey(t, b, alg)
				if ka.ID() != kb.ID() {
					t.Fatalf("after a joint start the replicas sign %s with %s and %s", alg, ka.ID(), kb.ID())
				}
				// Whoever signs, the other replica's JWKS verifies it.
				if err := keysVerify(t, b, keysSignJWT(t, ka, "x")); err != nil {
					t.Fatalf("%s: %v", alg, err)
				}
			}
			if ja, jb := keysJWKSKIDs(t, a), keysJWKSKIDs(t, b); !slices.Equal(ja, jb) {
				t.Fatalf("JWKS differ: %v and %v", ja, jb)
			}

			// A rotation on a reaches b within CacheTTL, well before the new key signs.
			oldES := keysMustSigningKey(t, b, "ES256").ID()
			tok := keysSignJWT(t, keysMustSigningKey(t, b, "ES256"), "before")
			if err := a.Rotate(t.Context(), idp.Actor{ID: "test"}, "ES256"); err != nil {
				t.Fatal(err)
			}
			seenByA, seenByB := keysJWKSKIDs(t, a), keysJWKSKIDs(t, b)
			if len(seenByA) != len(seenByB)+1 {
				t.Fatalf("right after the rotation: a publishes %d keys, b %d (cached), want b one behind", len(seenByA), len(seenByB))
			}
			clock.Advance(keyTestOptions.CacheTTL - time.Microsecond)
			if got := keysJWKSKIDs(t, b); !slices.Equal(got, seenByB) {
				t.Fatalf("b reloaded before CacheTTL: %v", got)
			}
			clock.Advance(time.Microsecond)
			if got := keysJWKSKIDs(t, b); !slices.Equal(got, seenByA) {
				t.Fatalf("b after CacheTTL publishes %v, a %v", got, seenByA)
			}
			if got := keysMustSigningKey(t, b, "ES256").ID(); got != oldES {
				t.Fatalf("b signs with the successor %s before the publish lead", got)
			}
			clock.Advance(keyTestOptions.PublishLead)
			ka, kb := keysMustSigningKey(t, a, "ES256"), keysMustSigningKey(t, b, "ES256")
			if ka.ID() == oldES || ka.ID() != kb.ID() {
				t.Fatalf("after the publish lead: a signs with %s, b with %s (old %s)", ka.ID(), kb.ID(), oldES)
			}
			if err := keysVerify(t, a, tok); err != nil {
				t.Fatalf("a token b signed before a's rotation does not verify on a: %v", err)
			}
			unretired := 0
			for _, row := range keysListRows(t, storeA) {
				if row.RetireAt == nil {
					unretired++
				}
			}
			if unretired < len(a.Algorithms()) {
				t.Fatalf("%d unretired keys for %d algorithms", unretired, len(a.Algorithms()))
			}
		})
	}
}

func TestKeyJWKSBytesAreReusedUntilTheSetChanges(t *testing.T) {
	f := newKeysFixture(t, storagetest.NewSQLite, keyTestOptions)
	keysMustEnsure(t, f.km)
	jwks := func() []byte {
		b, err := f.km.JWKS(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	same := func(x, y []byte) bool { return len(x) == len(y) && &x[0] == &y[0] }
	b1 := jwks()
	if b2 := jwks(); !same(b1, b2) {
		t.Fatal("JWKS rebuilt within the cache TTL")
	}
	f.clock.Advance(3 * keyTestOptions.CacheTTL) // reloads, finds the same keys
	if b3 := jwks(); !same(b1, b3) {
		t.Fatal("JWKS rebuilt after a reload that found the same keys")
	}
	if err := f.km.Rotate(t.Context(), idp.Actor{ID: "test"}, "EdDSA"); err != nil {
		t.Fatal(err)
	}
	b4 := jwks()
	if same(b1, b4) || bytes.Equal(b1, b4) {
		t.Fatal("JWKS unchanged after a rotation")
	}
	// A retirement changes only the schedule: the published set is the same.
	f.clock.Advance(keyTestOptions.PublishLead)
	if b5 := jwks(); !same(b4, b5) {
		t.Fatal("JWKS rebuilt when a key only changed from pending to signing")
	}
}

func TestKeyReplicaKeepsServingItsKeysWhenTheDatabaseIsDown(t *testing.T) {
	f := newKeysFixture(t, storagetest.NewSQLite, keyTestOptions)
	keysMustEnsure(t, f.km)
	before, err := f.km.JWKS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	signer := keysMustSigningKey(t, f.km, "ES256")
	f.store.Close()
	f.clock.Advance(keyTestOptions.CacheTTL)
	after, err := f.km.JWKS(t.Context())
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("JWKS with the database down: %v", err)
	}
	if k := keysMustSigningKey(t, f.km, "ES256"); k.ID() != signer.ID() {
		t.Fatalf("SigningKey with the database down = %s, want %s", k.ID(), signer.ID())
	}
	// A manager that never loaded has nothing to serve.
	cold := keys.New(f.store, f.ring, slog.New(slog.DiscardHandler), f.clock.Now, keyTestOptions)
	if _, err := cold.JWKS(t.Context()); err == nil {
		t.Fatal("a manager with no keys loaded served JWKS with the database down")
	}
}

func BenchmarkJWKS(b *testing.B) {
	s := storagetest.NewSQLite(b)
	km := keys.New(s, keysTestKeyring(b), slog.New(slog.DiscardHandler), nil, keys.Options{})
	if err := km.Ensure(b.Context()); err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := km.JWKS(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := km.JWKS(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

func BenchmarkSigningKey(b *testing.B) {
	s := storagetest.NewSQLite(b)
	km := keys.New(s, keysTestKeyring(b), slog.New(slog.DiscardHandler), nil, keys.Options{})
	if err := km.Ensure(b.Context()); err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := km.SigningKey(ctx, "ES256"); err != nil {
			b.Fatal(err)
		}
	}
}
