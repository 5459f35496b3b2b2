package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// maxEncodedLength is well above the longest hash within our bounds (about
// 220 bytes) and keeps parsing of stored garbage cheap.
const maxEncodedLength = 512

// b64 is the PHC string format's base64: standard alphabet, no padding.
// Strict rejects non-zero trailing bits so each hash has one encoding.
var b64 = base64.RawStdEncoding.Strict()

// phcHash is a parsed "$argon2id$v=19$m=…,t=…,p=…$salt$hash" string.
type phcHash struct {
	params Params
	salt   []byte
	key    []byte
}

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parsePHC accepts exactly what encodePHC produces, following the PHC string
// format specification: argon2id only, version 19 (0x13, RFC 9106 §3.1)
// only, parameters in the order m, t, p as decimal without leading zeros, no
// optional keyid or data parameters. Anything else is ErrMalformedHash.
func parsePHC(s string) (phcHash, error) {
	if len(s) > maxEncodedLength {
		return phcHash{}, malformed("longer than %d bytes", maxEncodedLength)
	}
	fields := strings.Split(s, "$")
	if len(fields) != 6 || fields[0] != "" {
		return phcHash{}, malformed("want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	if fields[1] != "argon2id" {
		return phcHash{}, malformed("algorithm is not argon2id")
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return phcHash{}, malformed("version is not %d", argon2.Version)
	}
	m, t, p, err := parseCosts(fields[3])
	if err != nil {
		return phcHash{}, err
	}
	salt, err := decodeB64(fields[4])
	if err != nil {
		return phcHash{}, malformed("salt: %v", err)
	}
	key, err := decodeB64(fields[5])
	if err != nil {
		return phcHash{}, malformed("hash: %v", err)
	}
	h := phcHash{
		params: Params{
			Memory:      m,
			Iterations:  t,
			Parallelism: p,
			SaltLength:  uint32(len(salt)),
			KeyLength:   uint32(len(key)),
		},
		salt: salt,
		key:  key,
	}
	if err := h.params.Validate(); err != nil {
		return phcHash{}, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return h, nil
}

func parseCosts(s string) (m, t uint32, p uint8, err error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return 0, 0, 0, malformed("want parameters m=…,t=…,p=…")
	}
	var vals [3]uint32
	for i, name := range []string{"m", "t", "p"} {
		digits, ok := strings.CutPrefix(parts[i], name+"=")
		if !ok {
			return 0, 0, 0, malformed("parameter %d is not %s", i+1, name)
		}
		if vals[i], err = parseDecimal(digits); err != nil {
			return 0, 0, 0, malformed("parameter %s: %v", name, err)
		}
	}
	if vals[2] > 255 {
		return 0, 0, 0, malformed("parallelism %d above 255", vals[2])
	}
	return vals[0], vals[1], uint8(vals[2]), nil
}

// parseDecimal is stricter than strconv: digits only, no sign, no leading
// zero, as the PHC string format requires for decimal values.
func parseDecimal(s string) (uint32, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.Trim(s, "0123456789") != "" {
		return 0, errors.New("not a canonical decimal")
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errors.New("does not fit in 32 bits")
	}
	return uint32(v), nil
}

func decodeB64(s string) ([]byte, error) {
	// The decoder skips CR and LF even in strict mode; we do not.
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, errors.New("not unpadded standard base64")
	}
	return b, nil
}

// malformed wraps ErrMalformedHash with a reason. Reasons never quote the
// input: a stored hash is itself sensitive and must stay out of logs.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformedHash}, args...)...)
}
