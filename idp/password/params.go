package password

import (
	"errors"
	"fmt"
)

// Params are argon2id cost parameters (RFC 9106 §3.1).
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32
	KeyLength   uint32
}

// DefaultParams: OWASP Password Storage Cheat Sheet argon2id minimum:
// m=19456 KiB (19 MiB), t=2, p=1; 16-byte salt (the 128 bits RFC 9106 §3.1
// recommends), 32-byte key.
var DefaultParams = Params{
	Memory:      19 * 1024,
	Iterations:  2,
	Parallelism: 1,
	SaltLength:  16,
	KeyLength:   32,
}

// Bounds on parameters, for our own configuration and, more importantly, for
// hashes read back from storage: a poisoned row must not make one login
// allocate gigabytes or spin for minutes.
const (
	maxMemory     = 4 << 20 // KiB, i.e. 4 GiB; RFC 9106 §4's first choice uses 2 GiB
	maxIterations = 64      // RFC 9106 §4 recommends 1 to 3 passes; OWASP's options go up to 5
	minSaltLength = 8       // RFC 9106 §3.1 minimum; we generate 16
	maxSaltLength = 64
	minKeyLength  = 16 // RFC 9106 allows 4, but a tag that short is guessable
	maxKeyLength  = 64
)

// Validate reports whether p is within the bounds this package will hash
// with or verify against. New panics on parameters Validate refuses, so
// callers building Params from configuration should call it first.
func (p Params) Validate() error {
	var errs []error
	if p.Parallelism == 0 {
		errs = append(errs, errors.New("parallelism must be at least 1"))
	}
	// RFC 9106 §3.1: memory is at least 8 KiB per lane.
	if p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxMemory {
		errs = append(errs, fmt.Errorf("memory %d KiB outside [8×parallelism, %d]", p.Memory, maxMemory))
	}
	if p.Iterations < 1 || p.Iterations > maxIterations {
		errs = append(errs, fmt.Errorf("iterations %d outside [1, %d]", p.Iterations, maxIterations))
	}
	if p.SaltLength < minSaltLength || p.SaltLength > maxSaltLength {
		errs = append(errs, fmt.Errorf("salt length %d outside [%d, %d]", p.SaltLength, minSaltLength, maxSaltLength))
	}
	if p.KeyLength < minKeyLength || p.KeyLength > maxKeyLength {
		errs = append(errs, fmt.Errorf("key length %d outside [%d, %d]", p.KeyLength, minKeyLength, maxKeyLength))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("password: argon2id parameters: %w", err)
	}
	return nil
}
