package backupcodes

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"

	"golang.org/x/crypto/argon2"

	"github.com/twofold-idp/twofold/mfa/phc"
)

// Params are argon2id cost parameters (RFC 9106 §3.1).
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
}

// DefaultParams is OWASP's argon2id minimum (Password Storage Cheat Sheet):
// m=19456 KiB, t=2, p=1. NIST SP 800-63B §5.1.2.2 requires a salted
// password-hashing KDF for look-up secrets under 112 bits; ours have 50.
var DefaultParams = Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1}

const (
	// MinPepperBytes: a 256-bit key, as for any HMAC-SHA-256 key we derive.
	MinPepperBytes = 32
	// TagBytes is how much of the keyed lookup tag is kept: 16 bits. See Tag
	// for why so few.
	TagBytes = 2
	// saltBytes: 128 bits, RFC 9106 §3.1's recommendation and well over the
	// 32 bits NIST SP 800-63B §5.1.2.2 requires.
	saltBytes = 16
	keyBytes  = 32
)

// Bounds on parameters read back from storage: a tampered row must not make
// one check allocate gigabytes or spin for minutes.
const (
	maxMemory     = 1 << 20 // KiB: 1 GiB
	maxIterations = 16
	minSaltBytes  = 8 // RFC 9106 §3.1
	maxSaltBytes  = 64
	minKeyBytes   = 16
	maxKeyBytes   = 64
)

// Hasher binds a pepper and argon2id parameters. It is safe for concurrent
// use.
type Hasher struct {
	tagKey  []byte
	hashKey []byte
	params  Params
	// slots bounds concurrent argon2id evaluations: each allocates Memory
	// KiB, and a burst of checks must queue rather than exhaust memory.
	slots chan struct{}
}

// NewHasher returns a Hasher for pepper, a secret key the caller derives from
// the master key and keeps out of the database (NIST SP 800-63B §5.1.1.2:
// a secret salt stored separately from the hashes). It panics, as for a
// programming error, when pepper is shorter than MinPepperBytes or p is not
// usable argon2id parameters.
func NewHasher(pepper []byte, p Params) *Hasher {
	if len(pepper) < MinPepperBytes {
		panic(fmt.Sprintf("backupcodes: pepper of %d bytes, want at least %d", len(pepper), MinPepperBytes))
	}
	if err := p.validate(); err != nil {
		panic(err)
	}
	// Separate keys for the tag and for the hash input, so that what is
	// stored in the clear as a tag is never a piece of the KDF's input.
	return &Hasher{
		tagKey:  mac(pepper, "twofold backupcodes lookup tag v1"),
		hashKey: mac(pepper, "twofold backupcodes argon2id input v1"),
		params:  p,
		slots:   make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
	}
}

func (p Params) validate() error {
	// RFC 9106 §3.1: at least one lane, one pass, 8 KiB per lane.
	if p.Parallelism < 1 || p.Iterations < 1 || p.Iterations > maxIterations ||
		p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxMemory {
		return fmt.Errorf("backupcodes: argon2id parameters m=%d t=%d p=%d out of bounds", p.Memory, p.Iterations, p.Parallelism)
	}
	return nil
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Tag returns the lookup tag of a canonical code: base64url (unpadded) of
// HMAC-SHA-256 under a key derived from the pepper, truncated to TagBytes.
// Store it next to the hash; find a typed code's one candidate row by user
// and tag among the unused codes, then Verify its hash. That is what makes a
// check cost one KDF evaluation instead of Count, and a wrong code usually
// none (it shares a tag with one of ten codes with probability 10/65536).
//
// The tag is short on purpose. Computing it needs the pepper, but were the
// pepper to leak together with the database, a full-length tag would be an
// unsalted fast hash of a 50-bit code: one sweep of 2^50 HMACs would then
// recover every user's codes at once and make argon2id pointless. A 16-bit
// tag only narrows a code down to 2^34 candidates, each of which still costs
// one salted argon2id evaluation. The price is that two codes of one set
// may share a tag (probability about 0.07%): generate sets with
// Hasher.Generate, which never returns such a set, so tags stay unique per
// user (as the storage's UNIQUE (user_id, tag) requires).
func (h *Hasher) Tag(canonical string) string {
	t := mac(h.tagKey, canonical)
	return base64.RawURLEncoding.EncodeToString(t[:TagBytes])
}

// Generate is the package's Generate, except that the Count codes also
// have distinct tags under h, so each tag finds at most one code of the set.
// Redrawing a code whose tag is taken costs under 0.001 of a code's 50 bits.
func (h *Hasher) Generate() ([]string, error) {
	tags := make(map[string]bool, Count)
	return generate(func(code string) bool {
		tag := h.Tag(canonicalOf(code))
		if tags[tag] {
			return false // draw another code instead
		}
		tags[tag] = true
		return true
	})
}

// Hash returns an argon2id hash, in PHC string format, of HMAC-SHA-256 of
// the code under a key derived from the pepper, with a random 16-byte salt
// (NIST SP 800-63B §5.1.2.2: salted, with a password-hashing KDF, since the
// codes have fewer than 112 bits; §5.1.1.2: plus a secret key).
// canonical must be Normalize's output; anything else is ErrMalformed.
func (h *Hasher) Hash(canonical string) (string, error) {
	if !isCanonical(canonical) {
		return "", ErrMalformed
	}
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("backupcodes: salt: %w", err)
	}
	key := h.derive(canonical, salt, h.params, keyBytes)
	return phc.Encode(phc.Argon2id{
		Memory: h.params.Memory, Iterations: h.params.Iterations, Parallelism: h.params.Parallelism,
		Salt: salt, Key: key,
	}), nil
}

// Verify reports whether canonical is the code encoded was made from,
// comparing in constant time (crypto/subtle). The parameters come from
// encoded, so hashes made with older parameters keep verifying. A code that
// is not canonical, or an encoded hash that is malformed or out of bounds,
// is false: Verify never panics on stored data.
func (h *Hasher) Verify(canonical, encoded string) bool {
	if !isCanonical(canonical) {
		return false
	}
	p, stored, err := parseHash(encoded)
	if err != nil {
		return false
	}
	key := h.derive(canonical, stored.Salt, p, uint32(len(stored.Key)))
	return subtle.ConstantTimeCompare(key, stored.Key) == 1
}

// maxEncodedLength is well above the longest hash within bounds.
const maxEncodedLength = 256

// parseHash accepts exactly what Hash writes (mfa/phc's strict syntax), with
// costs, salt and hash lengths within bounds. Errors never quote the input.
func parseHash(encoded string) (Params, phc.Argon2id, error) {
	a, err := phc.Parse(encoded, maxEncodedLength)
	if err != nil {
		return Params{}, phc.Argon2id{}, err
	}
	p := Params{Memory: a.Memory, Iterations: a.Iterations, Parallelism: a.Parallelism}
	if err := p.validate(); err != nil {
		return Params{}, phc.Argon2id{}, err
	}
	if n := len(a.Salt); n < minSaltBytes || n > maxSaltBytes {
		return Params{}, phc.Argon2id{}, fmt.Errorf("salt: %d bytes outside [%d, %d]", n, minSaltBytes, maxSaltBytes)
	}
	if n := len(a.Key); n < minKeyBytes || n > maxKeyBytes {
		return Params{}, phc.Argon2id{}, fmt.Errorf("hash: %d bytes outside [%d, %d]", n, minKeyBytes, maxKeyBytes)
	}
	return p, a, nil
}

func (h *Hasher) derive(canonical string, salt []byte, p Params, n uint32) []byte {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	return argon2.IDKey(mac(h.hashKey, canonical), salt, p.Iterations, p.Memory, p.Parallelism, n)
}

// canonicalOf is Normalize for a display-form code made by newCode.
func canonicalOf(display string) string {
	return display[:group] + display[group+1:]
}

func isCanonical(s string) bool {
	if len(s) != length {
		return false
	}
	for i := range len(s) {
		if indexOf(s[i]) < 0 {
			return false
		}
	}
	return true
}
