package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length in bytes of a master key: 256 bits, the AES-256 key
// size and the HMAC-SHA256 block-sized key recommended by RFC 2104 §3.
const KeySize = 32

// Errors. None of them, nor anything wrapping them in this package, ever
// contains key material, plaintext or the text a key was parsed from, so they
// are safe to log.
var (
	ErrInvalidKey = errors.New("secrets: invalid master key")
	ErrUnknownKey = errors.New("secrets: sealed under a master key that is not in the keyring")
	ErrDecrypt    = errors.New("secrets: decryption failed")
)

// ParseKey decodes a master key given as base64 (standard or URL alphabet,
// padded or not, surrounding whitespace trimmed); exactly 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	enc, err := keyEncoding(s)
	if err != nil {
		return nil, err
	}
	key, err := enc.DecodeString(s)
	if err != nil {
		// The decoder's own error names an offset, never the input, but we
		// keep our message fixed so nothing about the key leaks into logs.
		return nil, fmt.Errorf("%w: not valid base64", ErrInvalidKey)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrInvalidKey, len(key), KeySize)
	}
	return key, nil
}

// keyEncoding picks the base64 variant s is written in. It checks the
// alphabet itself because the decoders silently skip CR and LF, and a key
// with a line break in the middle is more likely a paste error than a key.
func keyEncoding(s string) (*base64.Encoding, error) {
	var std, url bool
	pad := len(s) - len(strings.TrimRight(s, "="))
	for i := range len(s) - pad {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '+' || c == '/':
			std = true
		case c == '-' || c == '_':
			url = true
		default:
			return nil, fmt.Errorf("%w: not valid base64", ErrInvalidKey)
		}
	}
	if std && url {
		return nil, fmt.Errorf("%w: mixes the standard and URL base64 alphabets", ErrInvalidKey)
	}
	// Strict rejects non-zero trailing bits, so one key has one text form.
	switch {
	case url && pad > 0:
		return base64.URLEncoding.Strict(), nil
	case url:
		return base64.RawURLEncoding.Strict(), nil
	case pad > 0:
		return base64.StdEncoding.Strict(), nil
	default:
		return base64.RawStdEncoding.Strict(), nil
	}
}

// GenerateKey returns 32 CSPRNG bytes.
func GenerateKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secrets: generate key: %w", err)
	}
	return key, nil
}

// EncodeKey returns standard padded base64.
func EncodeKey(key []byte) string {
	return base64.StdEncoding.EncodeToString(key)
}
