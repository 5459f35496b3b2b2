package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/twofold-idp/twofold/mfa/phc"
)

// MaxLength is the longest password, in bytes, we hash. Longer passwords are
// refused before hashing (DoS guard), never truncated (NIST SP 800-63B
// §5.1.1.2: no truncation; at least 64 characters SHOULD be allowed).
const MaxLength = 1024

var (
	// ErrTooLong: the password exceeds MaxLength bytes.
	ErrTooLong = errors.New("password: longer than 1024 bytes")
	// ErrMalformedHash: a stored hash is not a strict argon2id PHC string
	// within our parameter bounds. Its messages never quote the hash.
	ErrMalformedHash = errors.New("password: malformed argon2id hash")
)

// Hasher hashes and verifies passwords with argon2id (RFC 9106). It is safe
// for concurrent use.
type Hasher struct {
	params Params
	// slots is a counting semaphore: argon2id is memory-hard by design, so
	// a burst of logins must queue rather than allocate m KiB each at once.
	slots chan struct{}
	// waiting counts callers queued for a slot; beyond maxWaiting, or after
	// maxWait in the queue, a caller gets ErrBusy at once (admission
	// control: under a flood the excess is refused quickly instead of every
	// request waiting until its deadline while memory and latency grow).
	waiting    atomic.Int64
	maxWaiting int64
	maxWait    time.Duration

	dummyOnce sync.Once
	dummy     string
}

// ErrBusy means every hashing slot was taken and the queue was full, or no
// slot freed up within the queue's wait: the caller should answer 503 with
// Retry-After, and not count the attempt against the account.
var ErrBusy = errors.New("password: too many password checks at once")

// Default admission: up to 8 queued callers per slot, each waiting at most
// DefaultMaxWait (at OWASP parameters a slot frees every ~45 ms per core).
const (
	DefaultQueuePerSlot = 8
	DefaultMaxWait      = 3 * time.Second
)

// New returns a hasher; maxConcurrent bounds how many argon2 evaluations run
// at once (memory-hard hashes must not exhaust memory under load). <=0 means
// runtime.GOMAXPROCS(0): argon2id is CPU-bound, so more slots than cores
// add no throughput, only memory and latency for everything else (a burst
// of 1,000 sign-ins on 2 cores: the same 47 checks a second, discovery's
// p99 67 → 52 ms, peak memory 522 → 373 MiB with twofold-bench
// --overload). New panics if p.Validate fails: hashing with
// parameters Verify would later refuse is a programming error.
func New(p Params, maxConcurrent int, opts ...Option) *Hasher {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: p, slots: make(chan struct{}, maxConcurrent),
		maxWaiting: int64(DefaultQueuePerSlot * maxConcurrent), maxWait: DefaultMaxWait}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Option tunes New.
type Option func(*Hasher)

// WithQueue sets how many callers may wait for a slot and for how long
// before ErrBusy.
func WithQueue(maxWaiting int, maxWait time.Duration) Option {
	return func(h *Hasher) { h.maxWaiting, h.maxWait = int64(maxWaiting), maxWait }
}

// Params returns h's parameters.
func (h *Hasher) Params() Params { return h.params }

// Hash returns a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt b64 raw std>$<hash b64 raw std>.
// Waits for a slot honouring ctx. Password policy (minimum length, breached
// lists) is the caller's; this only refuses what it cannot hash safely.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxLength {
		return "", ErrTooLong
	}
	salt := make([]byte, h.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return encodePHC(h.params, salt, key), nil
}

// Verify compares in constant time (crypto/subtle). needsRehash is true when
// the password is right and the stored params differ from h's (transparent
// upgrade); it is never true for a wrong password, so a caller that rehashes
// on it cannot overwrite a hash with an attacker's guess. A malformed or
// out-of-bounds hash is ErrMalformedHash; a wrong password is ok=false,
// err=nil; a password over MaxLength is ErrTooLong, which callers should
// present as a wrong password.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, needsRehash bool, err error) {
	if len(password) > MaxLength {
		return false, false, ErrTooLong
	}
	stored, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	key, err := h.derive(ctx, password, stored.salt, stored.params)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(key, stored.key) != 1 {
		return false, false, nil
	}
	return true, stored.params != h.params, nil
}

// VerifyDummy spends the same work as Verify against a hash with the current
// params, for unknown users, so that response timing does not reveal whether
// an account exists (SECURITY-RULES: no account enumeration).
//
// The dummy is made once per Hasher from random salt and random "hash"
// bytes rather than by hashing something: that needs no argon2 run, so even
// the first call costs the same as a real Verify instead of twice as much.
//
// It returns only ErrBusy or a context error: an unknown user must meet the
// same admission as a known one, or a 503 would tell them apart.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	h.dummyOnce.Do(func() {
		salt := make([]byte, h.params.SaltLength)
		key := make([]byte, h.params.KeyLength)
		// Since Go 1.24 crypto/rand.Read never returns an error (it crashes
		// the program instead), and zero bytes would cost the same work.
		_, _ = rand.Read(salt)
		_, _ = rand.Read(key)
		h.dummy = encodePHC(h.params, salt, key)
	})
	_, _, err := h.Verify(ctx, h.dummy, password)
	if errors.Is(err, ErrBusy) || ctx.Err() != nil {
		return err
	}
	return nil
}

// derive runs argon2id once a slot is free, or gives up when ctx ends.
func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	// Checked first because select picks at random when both are ready.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("password: waiting for a hashing slot: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-h.slots }()
	return argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength), nil
}

// acquire takes a slot: at once if one is free, else after queueing, if
// the queue has room, for at most maxWait.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	if h.waiting.Add(1) > h.maxWaiting {
		h.waiting.Add(-1)
		return ErrBusy
	}
	defer h.waiting.Add(-1)
	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return ErrBusy
	case <-ctx.Done():
		return fmt.Errorf("password: waiting for a hashing slot: %w", ctx.Err())
	}
}

// maxEncodedLength is well above the longest hash within our bounds (about
// 220 bytes) and keeps parsing of stored garbage cheap.
const maxEncodedLength = 512

// phcHash is a stored hash: its parameters and its raw salt and key.
type phcHash struct {
	params Params
	salt   []byte
	key    []byte
}

// encodePHC writes p, salt and key in the PHC string format (mfa/phc).
func encodePHC(p Params, salt, key []byte) string {
	return phc.Encode(phc.Argon2id{
		Memory: p.Memory, Iterations: p.Iterations, Parallelism: p.Parallelism,
		Salt: salt, Key: key,
	})
}

// parsePHC accepts exactly what encodePHC produces (mfa/phc's strict
// syntax), within Params.Validate's bounds. Anything else is
// ErrMalformedHash, whose messages never quote the input: a stored hash is
// itself sensitive and must stay out of logs.
func parsePHC(s string) (phcHash, error) {
	a, err := phc.Parse(s, maxEncodedLength)
	if err != nil {
		return phcHash{}, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	h := phcHash{
		params: Params{
			Memory:      a.Memory,
			Iterations:  a.Iterations,
			Parallelism: a.Parallelism,
			SaltLength:  uint32(len(a.Salt)),
			KeyLength:   uint32(len(a.Key)),
		},
		salt: a.Salt,
		key:  a.Key,
	}
	if err := h.params.Validate(); err != nil {
		return phcHash{}, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return h, nil
}
