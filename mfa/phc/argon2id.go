package phc

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id is one argon2id hash as the PHC string format carries it: the
// costs (RFC 9106 §3.1), the salt and the tag ("hash" in the format), raw.
// Parse checks the syntax only: whether the values are within bounds is for
// the caller, who knows what it hashes with.
type Argon2id struct {
	Memory      uint32 // m, in KiB
	Iterations  uint32 // t
	Parallelism uint8  // p: argon2.IDKey takes a uint8
	Salt        []byte
	Key         []byte
}

// b64 is the PHC string format's base64: standard alphabet, no padding.
// Strict refuses non-zero trailing bits, so each hash has one spelling.
var b64 = base64.RawStdEncoding.Strict()

// Encode returns a as "$argon2id$v=19$m=…,t=…,p=…$salt$hash", the one
// spelling Parse accepts.
func Encode(a Argon2id) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, a.Memory, a.Iterations, a.Parallelism,
		b64.EncodeToString(a.Salt), b64.EncodeToString(a.Key))
}

// Parse accepts exactly what Encode writes, following the PHC string format
// specification: argon2id only, version 19 (0x13, RFC 9106 §3.1) only,
// parameters in the order m, t, p as decimals without sign or leading zero,
// no optional keyid or data parameters, unpadded standard base64 without
// line breaks. Strings longer than maxLen bytes are refused before any work.
//
// The errors are short reasons without a package prefix, for the caller to
// wrap in its own error, and never quote s: a stored hash is itself
// sensitive and stays out of logs.
func Parse(s string, maxLen int) (Argon2id, error) {
	if len(s) > maxLen {
		return Argon2id{}, fmt.Errorf("longer than %d bytes", maxLen)
	}
	fields := strings.Split(s, "$")
	if len(fields) != 6 || fields[0] != "" {
		return Argon2id{}, errors.New("want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	if fields[1] != "argon2id" {
		return Argon2id{}, errors.New("algorithm is not argon2id")
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return Argon2id{}, fmt.Errorf("version is not %d", argon2.Version)
	}
	var a Argon2id
	var err error
	if a.Memory, a.Iterations, a.Parallelism, err = parseCosts(fields[3]); err != nil {
		return Argon2id{}, err
	}
	if a.Salt, err = decodeB64(fields[4]); err != nil {
		return Argon2id{}, fmt.Errorf("salt: %w", err)
	}
	if a.Key, err = decodeB64(fields[5]); err != nil {
		return Argon2id{}, fmt.Errorf("hash: %w", err)
	}
	return a, nil
}

func parseCosts(s string) (m, t uint32, p uint8, err error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return 0, 0, 0, errors.New("want parameters m=…,t=…,p=…")
	}
	var vals [3]uint32
	for i, name := range []string{"m", "t", "p"} {
		digits, ok := strings.CutPrefix(parts[i], name+"=")
		if !ok {
			return 0, 0, 0, fmt.Errorf("parameter %d is not %s", i+1, name)
		}
		if vals[i], err = parseDecimal(digits); err != nil {
			return 0, 0, 0, fmt.Errorf("parameter %s: %w", name, err)
		}
	}
	if vals[2] > 255 {
		return 0, 0, 0, fmt.Errorf("parallelism %d above 255", vals[2])
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
