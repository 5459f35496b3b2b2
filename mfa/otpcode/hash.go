package otpcode

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// MinKeyLen is the shortest key a Hasher takes (HMAC-SHA256's output size).
const MinKeyLen = 32

// Hasher makes the keyed hash of a code that is stored instead of the code:
// HMAC-SHA256 under a key kept apart from the database (NIST SP 800-63B
// §5.1.1.2), so a stolen table alone does not let anyone try the 10^6
// candidates. The hash binds the code to its context — the code's record,
// its user, its purpose, where it was sent — so a hash copied to another
// record matches nothing.
type Hasher struct {
	key []byte
}

// NewHasher takes a key of at least MinKeyLen bytes (a sub-key of the
// master key).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < MinKeyLen {
		return nil, errors.New("otpcode: the key must be at least 32 bytes")
	}
	return &Hasher{key: append([]byte(nil), key...)}, nil
}

// Hash returns the keyed hash of code in context (base64url, no padding).
func (h *Hasher) Hash(code string, context ...string) string {
	return base64.RawURLEncoding.EncodeToString(h.mac(code, context))
}

// Verify reports whether code in context has hash, in constant time.
func (h *Hasher) Verify(code, hash string, context ...string) bool {
	want, err := base64.RawURLEncoding.DecodeString(hash)
	if err != nil {
		return false
	}
	return hmac.Equal(h.mac(code, context), want)
}

// mac is HMAC-SHA256 over every part, each prefixed with its length so that
// no two different lists of parts give the same input.
func (h *Hasher) mac(code string, context []string) []byte {
	m := hmac.New(sha256.New, h.key)
	var n [8]byte
	for _, p := range append(context, code) {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}
