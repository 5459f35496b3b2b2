package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash"
	"time"
)

// Parameters every authenticator app supports by default (RFC 6238 §1.2 and
// §4: HMAC-SHA-1, T0 = 0, X = 30 s; the Key Uri Format's defaults).
const (
	// Digits is the code length (RFC 4226 §5.3: at least 6).
	Digits = 6
	// Period is the time step X (RFC 6238 §4.1, §5.2 recommends 30 s).
	Period = 30 * time.Second
	// SecretBytes is the shared secret length: 160 bits, the length RFC 4226
	// §4 R6 recommends (at least 128 required) and SHA-1's output size.
	SecretBytes = 20
)

// periodSeconds is Period as the integer X of RFC 6238 §4.1.
const periodSeconds = int64(Period / time.Second)

// GenerateSecret returns SecretBytes bytes from the CSPRNG (RFC 4226 §7.5,
// RFC 6238 §5.1: keys are randomly generated).
func GenerateSecret() ([]byte, error) {
	b := make([]byte, SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("totp: generate secret: %w", err)
	}
	return b, nil
}

// Step returns the time step of t: T = floor((unix(t) - T0) / X) with T0 = 0
// and X = Period (RFC 6238 §4.2). Times before 1970 give negative steps.
func Step(t time.Time) int64 {
	// t.Unix() already rounds towards minus infinity; Go's / truncates
	// towards zero, so floor by hand for the (theoretical) negative case.
	u := t.Unix()
	s := u / periodSeconds
	if u%periodSeconds < 0 {
		s--
	}
	return s
}

// Code returns the Digits-digit code of secret for step (RFC 6238 §4.2:
// TOTP = HOTP(K, T)). step must not be negative. Production code verifies
// with Verify; Code exists for tests and tooling.
func Code(secret []byte, step int64) string {
	g := newGenerator(secret)
	var out [Digits]byte
	g.code(uint64(step), out[:])
	return string(out[:])
}

// generator computes HOTP values for one secret without allocating per call.
type generator struct {
	mac hash.Hash
	buf [8]byte
	sum [sha1.Size]byte
}

func newGenerator(secret []byte) *generator {
	return &generator{mac: hmac.New(sha1.New, secret)}
}

// code writes the len(out)-digit HOTP value of counter into out (RFC 4226
// §5.3). A shorter code is the longer one mod 10^Digit, so the 8-digit
// vectors of RFC 6238 Appendix B check this too.
func (g *generator) code(counter uint64, out []byte) {
	binary.BigEndian.PutUint64(g.buf[:], counter) // §5.2: C is 8 bytes, big-endian
	g.mac.Reset()
	g.mac.Write(g.buf[:])
	hs := g.mac.Sum(g.sum[:0])
	// §5.3 step 2, dynamic truncation: the low 4 bits of the last byte pick
	// an offset; 31 bits from there (the top bit masked off, §5.3 explains
	// why) form the binary code.
	off := hs[len(hs)-1] & 0x0f
	v := binary.BigEndian.Uint32(hs[off:off+4]) & 0x7fffffff
	// §5.3 step 3: Snum mod 10^Digit, zero-padded.
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
}
