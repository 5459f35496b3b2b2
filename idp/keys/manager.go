package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/storage"
)

// signingKeyPurpose is the keyring purpose private signing keys are sealed
// under; the aad is the kid, so a sealed key cannot be moved to another row.
const signingKeyPurpose = "signing-key"

// Signing algorithms, in the order Algorithms reports them. RS256 is the one
// every OpenID provider must support (OIDC Core §15.1).
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

var knownAlgorithms = []string{AlgRS256, AlgES256, AlgEdDSA}

// keyReloadTimeout bounds a cache reload, which no single caller may cancel.
const keyReloadTimeout = 10 * time.Second

// ErrNoSigningKey is returned when no key of the requested algorithm may
// sign now (Ensure has not run, or every key failed to unseal).
var ErrNoSigningKey = errors.New("keys: no usable signing key")

// keyStore is the storage the Manager needs.
type keyStore interface {
	CreateSigningKey(ctx context.Context, k *storage.SigningKey) error
	ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	RetireSigningKeys(ctx context.Context, alg, keepID string, retireAt, expiresAt time.Time) (int64, error)
	DeleteExpiredSigningKeys(ctx context.Context) (int64, error)
	idp.AuditStore // a rotation an administrator asks for is audited
}

var _ keyStore = (*storage.Store)(nil)

// Options tune the Manager; zero values take the defaults.
type Options struct {
	// Algorithms to sign with; default RS256, ES256 and EdDSA. RS256 is
	// always included (OIDC Core §15.1).
	Algorithms []string
	// RotateEvery is the age at which a key gets a successor; default 30 days.
	RotateEvery time.Duration
	// PublishLead is how long a new key is in JWKS before it signs, so every
	// replica's cache and every relying party that fetched JWKS meanwhile
	// knows it; default 10 minutes, never less than CacheTTL.
	PublishLead time.Duration
	// MaxTokenLifetime is how long a retired key stays published: the
	// lifetime of the longest-lived token it may have signed; default 24h.
	MaxTokenLifetime time.Duration
	// CacheTTL is how long a replica serves its loaded key set before
	// reading the database again; default 10 seconds.
	CacheTTL time.Duration
	// RSABits is the RSA modulus size; default and minimum 2048 (RFC 7518
	// §3.3).
	RSABits int
}

// Manager owns the provider's signing keys: creates them sealed in the
// database, rotates them on a schedule, publishes a JWKS that contains a key
// before it signs and keeps it until the last token it signed has expired,
// and caches everything briefly so every replica converges within seconds.
//
// Readers (SigningKey, PublicKeys, JWKS) never wait for the database once a
// key set is loaded: the set is swapped atomically, one goroutine reloads it
// when it is older than CacheTTL, and the others keep using the previous set
// meanwhile.
type Manager struct {
	store keyStore
	keys  *secrets.Keyring
	log   *slog.Logger
	now   func() time.Time
	opts  Options
	algs  []string

	set     atomic.Pointer[keySet]
	loadMu  sync.Mutex // one reload at a time
	writeMu sync.Mutex // one Ensure or Rotate at a time in this process
}

// keySet is one loaded, immutable view of the published keys.
type keySet struct {
	fresh time.Time    // reload at or after this instant
	keys  []*loadedKey // published, oldest first
	// public, jwks and ids change only when the published ids do; a reload
	// that finds the same keys reuses them.
	public []op.Key
	jwks   []byte
	ids    string
}

type loadedKey struct {
	id, alg             string
	sealed, jwkText     string // as stored, to reuse the parsed key on reload
	createdAt, activeAt time.Time
	retireAt            *time.Time
	expiresAt           *time.Time
	jwk                 jose.JSONWebKey
	public              *publicKey
	signer              *signingKey // nil: the private key could not be opened
}

// signingKey is what op signs with; Key is the crypto.Signer.
type signingKey struct {
	id     string
	alg    jose.SignatureAlgorithm
	signer crypto.Signer
}

var (
	_ op.SigningKey = (*signingKey)(nil)
	_ op.Key        = (*publicKey)(nil)
)

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Key() any                                    { return k.signer }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is a published verification key; Key is the public key.
type publicKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.PublicKey
}

func (k *publicKey) ID() string                         { return k.id }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return k.key }

// New wires a Manager. now may be nil (time.Now). It does not
// touch the database; call Ensure.
func New(store keyStore, keys *secrets.Keyring, logger *slog.Logger, now func() time.Time, opts Options) *Manager {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.RotateEvery <= 0 {
		opts.RotateEvery = 30 * 24 * time.Hour
	}
	if opts.PublishLead <= 0 {
		opts.PublishLead = 10 * time.Minute
	}
	if opts.MaxTokenLifetime <= 0 {
		opts.MaxTokenLifetime = 24 * time.Hour
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 10 * time.Second
	}
	if opts.PublishLead < opts.CacheTTL {
		// A replica would otherwise sign with a key other replicas do not
		// publish yet.
		logger.Warn("signing key publish lead raised to the cache TTL", "publish_lead", opts.PublishLead, "cache_ttl", opts.CacheTTL)
		opts.PublishLead = opts.CacheTTL
	}
	if opts.RSABits < 2048 {
		if opts.RSABits > 0 {
			logger.Warn("RSA signing keys need at least 2048 bits (RFC 7518 §3.3); using 2048", "rsa_bits", opts.RSABits)
		}
		opts.RSABits = 2048
	}
	want := opts.Algorithms
	if len(want) == 0 {
		want = knownAlgorithms
	}
	for _, a := range want {
		if !slices.Contains(knownAlgorithms, a) {
			logger.Error("unknown signing algorithm ignored", "alg", a, "known", knownAlgorithms)
		}
	}
	var algs []string
	for _, a := range knownAlgorithms {
		if a == AlgRS256 || slices.Contains(want, a) {
			algs = append(algs, a)
		}
	}
	opts.Algorithms = algs
	return &Manager{store: store, keys: keys, log: logger, now: now, opts: opts, algs: algs}
}

// Algorithms lists the configured algorithms in a stable order, RS256 first.
func (m *Manager) Algorithms() []string { return slices.Clone(m.algs) }

// clock is now as the database stores it: UTC, microseconds.
func (m *Manager) clock() time.Time { return m.now().UTC().Truncate(time.Microsecond) }

// Ensure creates, for every configured algorithm with no usable key, a key
// that signs at once (first start: no relying party can hold an older JWKS),
// and gives every key older than RotateEvery a successor (see Rotate). Keys
// of algorithms no longer configured are retired; expired keys are deleted.
//
// Replicas may run it concurrently: at worst each makes a key, and the
// retirement rule (RetireSigningKeys) leaves only the later one signing.
// Call it at start and periodically (well under RotateEvery).
func (m *Manager) Ensure(ctx context.Context) error {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	if n, err := m.store.DeleteExpiredSigningKeys(ctx); err != nil {
		return fmt.Errorf("ensure signing keys: %w", err)
	} else if n > 0 {
		m.log.InfoContext(ctx, "expired signing keys deleted", "count", n)
	}
	set, err := m.reload(ctx)
	if err != nil {
		return fmt.Errorf("ensure signing keys: %w", err)
	}
	for _, alg := range knownAlgorithms {
		now := m.clock()
		changed := false
		switch newest := set.newestUnretired(alg); {
		case !slices.Contains(m.algs, alg):
			if set.hasUnretired(alg) {
				// Retire in advance, as a rotation does, so replicas still
				// configured with alg stop signing with it in step.
				retireAt := now.Add(m.opts.PublishLead)
				if err := m.retire(ctx, alg, "", retireAt, retireAt.Add(m.opts.MaxTokenLifetime)); err != nil {
					return err
				}
				changed = true
			}
		case newest == nil:
			k, err := m.createKey(ctx, alg, now, now)
			if err != nil {
				return err
			}
			// Whatever unusable key remained stops signing now; a replica
			// whose cache still has it as current may sign with it for up to
			// CacheTTL, so it stays published that much longer.
			if err := m.retire(ctx, alg, k.ID, now, now.Add(m.opts.MaxTokenLifetime+m.opts.CacheTTL)); err != nil {
				return err
			}
			m.log.InfoContext(ctx, "signing key created", "kid", k.ID, "alg", alg, "active_at", k.ActiveAt)
			changed = true
		case now.Sub(newest.createdAt) >= m.opts.RotateEvery:
			if _, err := m.rotate(ctx, alg, now); err != nil {
				return err
			}
			changed = true
		}
		if changed {
			// Re-list: a replica may have written meanwhile, and the next
			// algorithm's decision should see the database as it is.
			if set, err = m.reload(ctx); err != nil {
				return fmt.Errorf("ensure signing keys: %w", err)
			}
		}
	}
	return nil
}

// Rotate gives alg a new key now, at actor's request (twofold keys rotate,
// the admin API and console): it is published at once, signs after
// PublishLead, and the current key retires at that moment and stays
// published for MaxTokenLifetime more. The rotation is recorded in the
// audit trail as keys.rotated.
func (m *Manager) Rotate(ctx context.Context, actor idp.Actor, alg string) error {
	if !slices.Contains(m.algs, alg) {
		return idp.InputErrorf("alg", "must be one of %s", strings.Join(m.algs, ", "))
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	k, err := m.rotate(ctx, alg, m.clock())
	if err != nil {
		return err
	}
	idp.Auditor{Store: m.store, Log: m.log}.Record(ctx, actor, "keys.rotated", alg, map[string]any{"alg": alg, "kid": k.ID, "active_at": k.ActiveAt})
	if _, err := m.reload(ctx); err != nil {
		return fmt.Errorf("rotate signing key: %w", err)
	}
	return nil
}

func (m *Manager) rotate(ctx context.Context, alg string, now time.Time) (*storage.SigningKey, error) {
	k, err := m.createKey(ctx, alg, now, now.Add(m.opts.PublishLead))
	if err != nil {
		return nil, err
	}
	if err := m.retire(ctx, alg, k.ID, k.ActiveAt, k.ActiveAt.Add(m.opts.MaxTokenLifetime)); err != nil {
		return nil, err
	}
	m.log.InfoContext(ctx, "signing key rotated", "kid", k.ID, "alg", alg, "active_at", k.ActiveAt)
	return k, nil
}

func (m *Manager) retire(ctx context.Context, alg, keepID string, retireAt, expiresAt time.Time) error {
	n, err := m.store.RetireSigningKeys(ctx, alg, keepID, retireAt, expiresAt)
	if err != nil {
		return fmt.Errorf("retire signing keys: %w", err)
	}
	if n > 0 {
		m.log.InfoContext(ctx, "signing keys retired", "alg", alg, "count", n, "retire_at", retireAt, "expires_at", expiresAt)
	}
	return nil
}

// createKey generates a key of alg and stores it sealed.
func (m *Manager) createKey(ctx context.Context, alg string, createdAt, activeAt time.Time) (*storage.SigningKey, error) {
	priv, err := generateSigningKey(alg, m.opts.RSABits)
	if err != nil {
		return nil, err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	kid := base64.RawURLEncoding.EncodeToString(b[:])
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	sealed, err := m.keys.Seal(signingKeyPurpose, der, []byte(kid))
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	pub, err := json.Marshal(jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	row := &storage.SigningKey{
		ID: kid, Alg: alg,
		PrivateSealed: base64.StdEncoding.EncodeToString(sealed),
		PublicJWK:     string(pub),
		CreatedAt:     createdAt, ActiveAt: activeAt,
	}
	if err := m.store.CreateSigningKey(ctx, row); err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	return row, nil
}

func generateSigningKey(alg string, rsaBits int) (crypto.Signer, error) {
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case AlgRS256:
		k, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case AlgES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgEdDSA:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("signing algorithm %q is not supported", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return k, nil
}

// SigningKey returns the key to sign with for alg: of the keys that have
// become active and are not retired, the newest.
func (m *Manager) SigningKey(ctx context.Context, alg string) (op.SigningKey, error) {
	now := m.now()
	set, err := m.current(ctx, now)
	if err != nil {
		return nil, err
	}
	if k := set.signing(alg, now); k != nil {
		return k.signer, nil
	}
	return nil, fmt.Errorf("%w for %s", ErrNoSigningKey, alg)
}

// PublicKeys returns every published key, oldest first: those waiting to
// sign, the signing ones and the retired ones not yet expired. For
// op.Storage.KeySet and to verify our own tokens.
func (m *Manager) PublicKeys(ctx context.Context) ([]op.Key, error) {
	set, err := m.current(ctx, m.now())
	if err != nil {
		return nil, err
	}
	return slices.Clone(set.public), nil
}

// JWKS returns the JSON of {"keys":[…]} (RFC 7517 §5) for the published
// keys. The bytes are built when the published set changes and shared
// between calls: callers must not modify them.
func (m *Manager) JWKS(ctx context.Context) ([]byte, error) {
	set, err := m.current(ctx, m.now())
	if err != nil {
		return nil, err
	}
	return set.jwks, nil
}

// current returns the loaded key set, reloading it when stale at now.
func (m *Manager) current(ctx context.Context, now time.Time) (*keySet, error) {
	set := m.set.Load()
	if set != nil && now.Before(set.fresh) {
		return set, nil
	}
	if set != nil {
		// TryLock on purpose: when a reload is already under way the
		// previous set serves meanwhile, so no reader queues behind the
		// database.
		if !m.loadMu.TryLock() {
			return set, nil
		}
	} else {
		m.loadMu.Lock()
	}
	defer m.loadMu.Unlock()
	if set = m.set.Load(); set != nil && m.now().Before(set.fresh) {
		return set, nil // reloaded while we waited
	}
	// The reload serves every waiting caller: one request giving up must
	// not cancel it for the others.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyReloadTimeout)
	defer cancel()
	fresh, err := m.reloadLocked(rctx)
	if err == nil {
		return fresh, nil
	}
	if set == nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	// Keep serving what we had: the keys in it stay valid for signing and
	// verifying by their own times; retry soon.
	m.log.WarnContext(ctx, "signing keys not reloaded, serving the previous set", "err", err)
	stale := *set
	stale.fresh = m.now().Add(min(m.opts.CacheTTL, time.Second))
	m.set.Store(&stale)
	return &stale, nil
}

// reload reads the database now, after a write or for Ensure.
func (m *Manager) reload(ctx context.Context) (*keySet, error) {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	return m.reloadLocked(ctx)
}

func (m *Manager) reloadLocked(ctx context.Context) (*keySet, error) {
	rows, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := m.now()
	prev := m.set.Load()
	known := map[string]*loadedKey{}
	if prev != nil {
		for _, k := range prev.keys {
			known[k.id] = k
		}
	}
	next := &keySet{fresh: now.Add(m.opts.CacheTTL), keys: make([]*loadedKey, 0, len(rows))}
	var ids strings.Builder
	for _, row := range rows {
		k := known[row.ID]
		if k == nil || k.sealed != row.PrivateSealed || k.jwkText != row.PublicJWK || k.alg != row.Alg {
			if k, err = m.loadKey(ctx, row); err != nil {
				m.log.ErrorContext(ctx, "signing key not published: its public key is unusable", "kid", row.ID, "alg", row.Alg, "err", err)
				continue
			}
		} else {
			// Same key material; only its schedule may have changed.
			k = &loadedKey{
				id: k.id, alg: k.alg, sealed: k.sealed, jwkText: k.jwkText,
				jwk: k.jwk, public: k.public, signer: k.signer,
			}
		}
		k.createdAt, k.activeAt, k.retireAt, k.expiresAt = row.CreatedAt, row.ActiveAt, row.RetireAt, row.ExpiresAt
		if k.expiresAt != nil {
			if !k.expiresAt.After(now) {
				continue // expired between the query and now
			}
			if k.expiresAt.Before(next.fresh) {
				next.fresh = *k.expiresAt // leave JWKS when the key expires, not up to CacheTTL later
			}
		}
		next.keys = append(next.keys, k)
		ids.WriteString(k.id)
		ids.WriteByte(0)
	}
	next.ids = ids.String()
	if prev != nil && prev.ids == next.ids {
		next.public, next.jwks = prev.public, prev.jwks
	} else {
		webKeys := make([]jose.JSONWebKey, 0, len(next.keys))
		next.public = make([]op.Key, 0, len(next.keys))
		for _, k := range next.keys {
			webKeys = append(webKeys, k.jwk)
			next.public = append(next.public, k.public)
		}
		if next.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: webKeys}); err != nil {
			return nil, fmt.Errorf("marshal JWKS: %w", err)
		}
	}
	m.set.Store(next)
	return next, nil
}

// loadKey parses a stored key. A public key that does not parse or match
// its row is an error (the key cannot be published); a private key that
// does not open is logged and the key is published but never signs, so one
// bad row (say, sealed under a master key this replica lacks) does not take
// the others down.
func (m *Manager) loadKey(ctx context.Context, row storage.SigningKey) (*loadedKey, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal([]byte(row.PublicJWK), &jwk); err != nil {
		return nil, fmt.Errorf("public JWK: %w", err)
	}
	if !jwk.IsPublic() || jwk.KeyID != row.ID || jwk.Algorithm != row.Alg || jwk.Use != "sig" {
		return nil, errors.New("public JWK does not match its row")
	}
	if err := checkKeyType(row.Alg, jwk.Key); err != nil {
		return nil, err
	}
	alg := jose.SignatureAlgorithm(row.Alg)
	k := &loadedKey{
		id: row.ID, alg: row.Alg, sealed: row.PrivateSealed, jwkText: row.PublicJWK,
		jwk:    jwk,
		public: &publicKey{id: row.ID, alg: alg, key: jwk.Key},
	}
	signer, err := m.openPrivate(row, jwk.Key)
	if err != nil {
		m.log.ErrorContext(ctx, "signing key published but not used to sign: its private key does not open", "kid", row.ID, "alg", row.Alg, "err", err)
		return k, nil
	}
	k.signer = &signingKey{id: row.ID, alg: alg, signer: signer}
	return k, nil
}

func (m *Manager) openPrivate(row storage.SigningKey, pub crypto.PublicKey) (crypto.Signer, error) {
	sealed, err := base64.StdEncoding.DecodeString(row.PrivateSealed)
	if err != nil {
		return nil, errors.New("sealed private key is not base64")
	}
	der, err := m.keys.Open(signingKeyPurpose, sealed, []byte(row.ID))
	if err != nil {
		return nil, err // secrets errors hold no key material
	}
	defer clear(der)
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("private key is not PKCS#8") // the parser's message may quote key bytes
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", priv)
	}
	if err := checkKeyType(row.Alg, signer.Public()); err != nil {
		return nil, err
	}
	if eq, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
		return nil, errors.New("private key does not match the published public key")
	}
	return signer, nil
}

// checkKeyType says whether pub is a key alg signs with (RFC 7518 §3.1,
// RFC 8037 §3.1).
func checkKeyType(alg string, pub crypto.PublicKey) error {
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		ok = alg == AlgRS256 && k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		ok = alg == AlgES256 && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		ok = alg == AlgEdDSA
	}
	if !ok {
		return fmt.Errorf("a %T is not a %s key", pub, alg)
	}
	return nil
}

// signing returns the key to sign with for alg at now, or nil.
func (s *keySet) signing(alg string, now time.Time) *loadedKey {
	var best *loadedKey
	for _, k := range s.keys {
		if k.alg != alg || k.signer == nil || k.activeAt.After(now) || (k.retireAt != nil && !k.retireAt.After(now)) {
			continue
		}
		if best == nil || !k.activeAt.Before(best.activeAt) { // ties: the later created
			best = k
		}
	}
	return best
}

// newestUnretired returns alg's key that signs now or will next, counting
// only keys this replica can sign with; nil if there is none.
func (s *keySet) newestUnretired(alg string) *loadedKey {
	var best *loadedKey
	for _, k := range s.keys {
		if k.alg == alg && k.signer != nil && k.retireAt == nil && (best == nil || !k.activeAt.Before(best.activeAt)) {
			best = k
		}
	}
	return best
}

func (s *keySet) hasUnretired(alg string) bool {
	return slices.ContainsFunc(s.keys, func(k *loadedKey) bool { return k.alg == alg && k.retireAt == nil })
}
