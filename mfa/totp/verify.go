package totp

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
	"unicode"
)

var (
	// ErrMalformedCode: the input is not Digits ASCII digits once spaces and
	// dashes are removed. Callers count it as a failed attempt like any other.
	ErrMalformedCode = errors.New("totp: code is not 6 digits")
	// ErrInvalidCode: the code matches none of the accepted time steps.
	ErrInvalidCode = errors.New("totp: invalid code")
	// ErrReplayedCode: the code is right, but for a step at or before the last
	// accepted one (RFC 6238 §5.2). Present it to the user like
	// ErrInvalidCode; log it separately, since it can mean a phished code.
	ErrReplayedCode = errors.New("totp: code already used")
)

// skew is how many time steps either side of the current one Verify
// accepts: RFC 6238 §5.2 recommends at most one step of network delay.
const skew = 1

// maxCodeInput bounds what NormalizeCode reads: a typed code with generous
// spacing is far shorter, and a bound keeps hostile input cheap.
const maxCodeInput = 64

// NormalizeCode removes the spaces and dashes a person may type or paste
// ("123 456", "123-456") and returns the Digits ASCII digits that remain, or
// ErrMalformedCode.
func NormalizeCode(s string) (string, error) {
	if len(s) > maxCodeInput {
		return "", ErrMalformedCode
	}
	var out [Digits]byte
	n := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			if n == Digits {
				return "", ErrMalformedCode
			}
			out[n] = byte(r)
			n++
		case unicode.IsSpace(r) || unicode.Is(unicode.Pd, r):
			// Apps group codes as "123 456"; copying may bring a
			// no-break or thin space, and typing a hyphen or en dash.
		default:
			// Including non-ASCII digits: authenticator apps show ASCII.
			return "", ErrMalformedCode
		}
	}
	if n != Digits {
		return "", ErrMalformedCode
	}
	return string(out[:]), nil
}

// Verify checks code against secret at now. It accepts the current time step
// and one step either side (RFC 6238 §5.2 recommends at most one step of
// network delay), and refuses a code of any step <= lastStep: RFC 6238 §5.2
// says a verifier MUST NOT accept the same OTP twice, and NIST SP 800-63B
// §5.1.4.2 / §5.1.5.2 that a time-based OTP is accepted only once in its
// validity period. Comparing with the last accepted step rather than the
// code also refuses an older code that was never used, which an attacker
// could only have from a phished or shoulder-surfed earlier prompt.
//
// lastStep < 0 means the secret has never been used. now must be the
// server's clock. On success Verify returns the matched step, which the
// caller stores as the new last step with one conditional update (WHERE
// last_step < step), so two replicas cannot both accept it. On failure it
// returns -1 and ErrMalformedCode, ErrInvalidCode or ErrReplayedCode; an
// empty secret is reported as ErrInvalidCode wrapped with the cause.
//
// Every candidate code is computed (by pquerna/otp) and compared here with
// crypto/subtle, and the result is chosen without branching on a comparison,
// so the running time does not depend on which step (if any) matched.
// pquerna/otp's totp.ValidateCustom does not fit: it reports no step (so no
// replay check), returns at the first match, and tries the steps in the
// order current, next, previous.
func Verify(secret []byte, code string, now time.Time, lastStep int64) (step int64, err error) {
	code, err = NormalizeCode(code)
	if err != nil {
		return -1, err
	}
	if len(secret) == 0 {
		// A missing secret is a storage or programming fault; never let an
		// empty HMAC key verify anything.
		return -1, fmt.Errorf("%w: empty secret", ErrInvalidCode)
	}

	b32Secret := b32.EncodeToString(secret)
	cur := Step(now)
	matched := int64(-1)
	for s := cur - skew; s <= cur+skew; s++ {
		if s < 0 {
			// No authenticator has a step before 1970. Skipping depends
			// only on the clock, not on the code, so it leaks nothing.
			continue
		}
		candidate, cerr := hotpCode(b32Secret, s)
		if cerr != nil {
			return -1, fmt.Errorf("%w: %w", ErrInvalidCode, cerr)
		}
		eq := subtle.ConstantTimeCompare([]byte(candidate), []byte(code))
		// Ascending loop: the highest matching step wins. A code that
		// matches two steps (a 10^-6 coincidence) is judged by the newer
		// one, and storing the newer one refuses more, never less.
		matched = selectInt64(eq, s, matched)
	}
	switch {
	case matched < 0:
		return -1, ErrInvalidCode
	case matched <= lastStep:
		return -1, ErrReplayedCode
	}
	return matched, nil
}

// selectInt64 returns x if v == 1 and y if v == 0, without branching.
func selectInt64(v int, x, y int64) int64 {
	mask := -int64(v) // all ones or all zeros
	return x&mask | y&^mask
}
