package otpcode

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Code lengths: NIST SP 800-63B §5.1.3.1 asks for at least 6 decimal digits
// (20 bits); 8 keeps the code easy to copy from a text message.
const (
	MinDigits = 6
	MaxDigits = 8
)

// maxInput bounds what Normalize reads, keeping hostile input cheap.
const maxInput = 64

// ErrMalformed: the input is not a code of the expected length in any
// accepted spelling.
var ErrMalformed = errors.New("otpcode: not a code")

// Generate returns a code of digits decimal digits, uniform over every
// value (leading zeros included), from crypto/rand.
func Generate(digits int) (string, error) {
	if digits < MinDigits || digits > MaxDigits {
		return "", fmt.Errorf("otpcode: %d digits is outside %d–%d", digits, MinDigits, MaxDigits)
	}
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)
	n, err := rand.Int(rand.Reader, limit) // rejection sampling: no modulo bias
	if err != nil {
		return "", fmt.Errorf("otpcode: generate: %w", err)
	}
	return fmt.Sprintf("%0*d", digits, n), nil
}

// Normalize returns the code as digits only. It accepts what people paste
// or type: spaces (also non-breaking), dashes and dots between the digits.
// Anything else, or a code of another length, is ErrMalformed.
func Normalize(s string, digits int) (string, error) {
	if len(s) > maxInput {
		return "", ErrMalformed
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '\t' || r == '\u00a0':
		default:
			return "", ErrMalformed
		}
	}
	if b.Len() != digits {
		return "", ErrMalformed
	}
	return b.String(), nil
}
