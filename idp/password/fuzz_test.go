package password

import (
	"context"
	"errors"
	"testing"
)

func FuzzVerify(f *testing.F) {
	h := New(testParams, 0)
	good, err := h.Hash(context.Background(), "password")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "password")
	f.Add("$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", "password")
	f.Add("$argon2id$v=19$m=4194304,t=64,p=255$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", "")
	f.Add("$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$", "x")
	f.Add("", "")
	f.Add("$$$$$", "\x00")
	f.Fuzz(func(t *testing.T, encoded, password string) {
		parsed, err := parsePHC(encoded)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("parse error %v is not ErrMalformedHash", err)
			}
		} else {
			// The parser is strict, so it accepts one spelling per hash.
			if again := encodePHC(parsed.params, parsed.salt, parsed.key); again != encoded {
				t.Fatalf("accepted a non-canonical encoding:\n got %q\nwant %q", encoded, again)
			}
			// Anything accepted is within bounds, but running argon2 with up
			// to 4 GiB per input would stall the fuzzer: only cheap ones run.
			if parsed.params.Memory > 1024 || parsed.params.Iterations > 4 {
				return
			}
		}
		ok, needsRehash, err := h.Verify(context.Background(), encoded, password)
		if ok && err != nil || needsRehash && !ok {
			t.Fatalf("Verify = %v, %v, %v: inconsistent results", ok, needsRehash, err)
		}
	})
}
