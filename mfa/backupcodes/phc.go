package backupcodes

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// b64 is the PHC string format's base64: standard alphabet, no padding;
// Strict refuses non-zero trailing bits, so each hash has one spelling.
var b64 = base64.RawStdEncoding.Strict()

// maxEncodedLength is well above the longest hash within bounds.
const maxEncodedLength = 256

type phcHash struct {
	params Params
	salt   []byte
	key    []byte
}

// encodePHC writes $argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>.
func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parsePHC accepts exactly what encodePHC writes: argon2id, version 19
// (RFC 9106 §3.1), m, t, p in that order as canonical decimals, salt and hash
// lengths and costs within bounds. Errors never quote the input.
func parsePHC(s string) (phcHash, error) {
	if len(s) > maxEncodedLength {
		return phcHash{}, errors.New("too long")
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return phcHash{}, errors.New("not $argon2id$v=19$…")
	}
	var costs [3]uint32
	parts := strings.Split(f[3], ",")
	if len(parts) != 3 {
		return phcHash{}, errors.New("want m=…,t=…,p=…")
	}
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(parts[i], name)
		if !ok {
			return phcHash{}, errors.New("want m=…,t=…,p=…")
		}
		v, err := parseDecimal(digits)
		if err != nil {
			return phcHash{}, err
		}
		costs[i] = v
	}
	if costs[2] > 255 {
		return phcHash{}, errors.New("parallelism above 255")
	}
	p := Params{Memory: costs[0], Iterations: costs[1], Parallelism: uint8(costs[2])}
	if err := p.validate(); err != nil {
		return phcHash{}, err
	}
	salt, err := decodeB64(f[4], minSaltBytes, maxSaltBytes)
	if err != nil {
		return phcHash{}, fmt.Errorf("salt: %w", err)
	}
	key, err := decodeB64(f[5], minKeyBytes, maxKeyBytes)
	if err != nil {
		return phcHash{}, fmt.Errorf("hash: %w", err)
	}
	return phcHash{params: p, salt: salt, key: key}, nil
}

// parseDecimal: digits only, no sign, no leading zero, fits in 32 bits.
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

func decodeB64(s string, minLen, maxLen int) ([]byte, error) {
	// The decoder skips CR and LF even in strict mode; we do not.
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, errors.New("not unpadded standard base64")
	}
	if len(b) < minLen || len(b) > maxLen {
		return nil, fmt.Errorf("%d bytes outside [%d, %d]", len(b), minLen, maxLen)
	}
	return b, nil
}
