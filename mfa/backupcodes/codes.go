package backupcodes

import (
	"crypto/rand"
	"errors"
	"fmt"
	"unicode"
)

// Count is how many codes Generate returns: one set.
const Count = 10

const (
	// alphabet is Crockford's base32 in lower case: digits and letters
	// without i, l, o (read as 1, 1, 0) and u. 32 symbols, 5 bits each.
	alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	// length symbols of 5 bits make 50 bits per code, the floor we set;
	// NIST SP 800-63B §5.1.2.1 asks for at least 20.
	length = 10
	// group is where the display form has its dash: "xxxxx-xxxxx".
	group = 5
	// maxInput bounds what Normalize reads, keeping hostile input cheap.
	maxInput = 64
)

// ErrMalformed: the input is not a backup code in any accepted spelling.
var ErrMalformed = errors.New("backupcodes: not a backup code")

// Generate returns Count distinct codes from the CSPRNG (NIST SP 800-63B
// §5.1.2.1), in display form "xxxxx-xxxxx". Show them once; store only
// their tags and hashes. Hasher.Generate also keeps their tags distinct.
func Generate() ([]string, error) {
	return generate(func(string) bool { return true })
}

// generate draws codes until it has Count of them that are distinct and
// that accept admits given the ones kept so far.
func generate(accept func(code string) bool) ([]string, error) {
	codes := make([]string, 0, Count)
	seen := make(map[string]bool, Count)
	for len(codes) < Count {
		code, err := newCode()
		if err != nil {
			return nil, err
		}
		// A repeat has probability about 2^-44 per set; skipping it keeps
		// the promise that every code in a set is distinct.
		if !seen[code] && accept(code) {
			seen[code] = true
			codes = append(codes, code)
		}
	}
	return codes, nil
}

// newCode returns one random code in display form.
func newCode() (string, error) {
	var raw [length]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("backupcodes: generate: %w", err)
	}
	var b [length + 1]byte
	for i, j := 0, 0; i < length; i++ {
		if i == group {
			b[j] = '-'
			j++
		}
		// 256 is a multiple of 32, so the low 5 bits are uniform.
		b[j] = alphabet[raw[i]&31]
		j++
	}
	return string(b[:]), nil
}

// Normalize returns the canonical form of a typed code: 10 lower-case
// symbols of the alphabet, no dash. It accepts the code with or without the
// dash (or with any spaces and dashes), in any case, and applies Crockford's
// forgiving reading of look-alikes: i and l as 1, o as 0. Anything else,
// u included, is ErrMalformed.
func Normalize(s string) (string, error) {
	if len(s) > maxInput {
		return "", ErrMalformed
	}
	var out [length]byte
	n := 0
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) {
			continue // separators, including a copied no-break space or en dash
		}
		c, ok := canonicalSymbol(r)
		if !ok || n == length {
			return "", ErrMalformed
		}
		out[n] = c
		n++
	}
	if n != length {
		return "", ErrMalformed
	}
	return string(out[:]), nil
}

// canonicalSymbol maps one typed character to its alphabet symbol.
// Only ASCII is folded: strings.ToLower would also turn the Kelvin sign
// into "k".
func canonicalSymbol(r rune) (byte, bool) {
	if r >= 'A' && r <= 'Z' {
		r += 'a' - 'A'
	}
	switch r {
	case 'i', 'l':
		return '1', true
	case 'o':
		return '0', true
	}
	if r < 0x80 && indexOf(byte(r)) >= 0 {
		return byte(r), true
	}
	return 0, false
}

func indexOf(c byte) int {
	for i := range len(alphabet) {
		if alphabet[i] == c {
			return i
		}
	}
	return -1
}
