package totp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
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

// hotpOpts are the parameters above as pquerna/otp spells them.
var hotpOpts = hotp.ValidateOpts{Digits: otp.Digits(Digits), Algorithm: otp.AlgorithmSHA1}

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
//
// pquerna/otp's totp package computes T as uint64(math.Floor(float64(unix) /
// X)), which converts a negative float to uint64 before 1970 (an
// implementation-defined value in Go); we compute T ourselves and hand
// pquerna/otp the counter.
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
	c, err := hotpCode(b32.EncodeToString(secret), step)
	if err != nil {
		panic(err) // unreachable: the secret is our own base32
	}
	return c
}

// hotpCode returns HOTP(K, step) (RFC 4226 §5.3) computed by pquerna/otp, which
// takes the secret base32-encoded, as the Key Uri Format carries it.
func hotpCode(b32Secret string, step int64) (string, error) {
	c, err := hotp.GenerateCodeCustom(b32Secret, uint64(step), hotpOpts)
	if err != nil {
		// pquerna/otp fails only on a secret that is not base32, which
		// ours always is.
		return "", errors.New("totp: secret is not base32")
	}
	return c, nil
}
