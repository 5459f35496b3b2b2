package backupcodes_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/mfa/backupcodes"
)

// tiny parameters keep tests fast; the algorithm is the same.
var tiny = backupcodes.Params{Memory: 64, Iterations: 1, Parallelism: 1}

func pepper(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func canonicalCodes(t testing.TB) []string {
	t.Helper()
	codes, err := backupcodes.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range codes {
		if codes[i], err = backupcodes.Normalize(c); err != nil {
			t.Fatal(err)
		}
	}
	return codes
}

func TestTag(t *testing.T) {
	h1 := backupcodes.NewHasher(pepper(1), tiny)
	h1Again := backupcodes.NewHasher(pepper(1), backupcodes.DefaultParams)
	h2 := backupcodes.NewHasher(pepper(2), tiny)
	codes := canonicalCodes(t)

	t.Run("is deterministic for one pepper, whatever the KDF parameters", func(t *testing.T) {
		for _, c := range codes {
			if a, b := h1.Tag(c), h1Again.Tag(c); a != b {
				t.Errorf("Tag(%q) = %q then %q", c, a, b)
			}
		}
	})
	t.Run("is unpadded base64url of TagBytes bytes", func(t *testing.T) {
		tag := h1.Tag(codes[0])
		if want := (backupcodes.TagBytes*8 + 5) / 6; len(tag) != want || strings.ContainsAny(tag, "+/=") {
			t.Errorf("tag %q: want %d base64url characters", tag, want)
		}
	})
	t.Run("differs across peppers", func(t *testing.T) {
		// With 16-bit tags two peppers agree on one code with probability
		// 2^-16; on all ten codes of a set, never.
		same := 0
		for _, c := range codes {
			if h1.Tag(c) == h2.Tag(c) {
				same++
			}
		}
		if same == len(codes) {
			t.Error("two peppers give the same tags")
		}
	})
	t.Run("differs across codes", func(t *testing.T) {
		tags := map[string]bool{}
		for _, c := range canonicalCodes(t) {
			tags[h1.Tag(c)] = true
		}
		if len(tags) < 2 {
			t.Error("ten codes share one tag")
		}
	})
}

func TestHasherGenerateGivesSetsWithDistinctTags(t *testing.T) {
	h := backupcodes.NewHasher(pepper(1), tiny)
	// Two codes of a set share a 16-bit tag in about 0.07% of plain sets:
	// 10 000 sets would hold about 7 such, so a generator that did not
	// redraw would almost surely be caught here.
	for range 10_000 {
		codes, err := h.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if len(codes) != backupcodes.Count {
			t.Fatalf("%d codes", len(codes))
		}
		tags := map[string]string{}
		for _, c := range codes {
			if !displayForm.MatchString(c) {
				t.Fatalf("%q is not in display form", c)
			}
			canonical, err := backupcodes.Normalize(c)
			if err != nil {
				t.Fatal(err)
			}
			tag := h.Tag(canonical)
			if other, dup := tags[tag]; dup {
				t.Fatalf("%q and %q share tag %q", other, c, tag)
			}
			tags[tag] = c
		}
	}
}

// SECURITY-RULES: "Backup codes: … stored with a salted password hash (< 112 bits)"
func TestHashAndVerify(t *testing.T) {
	h := backupcodes.NewHasher(pepper(1), tiny)
	codes := canonicalCodes(t)
	code := codes[0]
	encoded, err := h.Hash(code)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the hash is an argon2id PHC string with the hasher's parameters", func(t *testing.T) {
		if !strings.HasPrefix(encoded, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("encoded = %q", encoded)
		}
		if strings.Contains(encoded, code) {
			t.Error("the hash contains the code")
		}
	})
	t.Run("the right code verifies", func(t *testing.T) {
		if !h.Verify(code, encoded) {
			t.Fatal("Verify = false")
		}
	})
	t.Run("the salt is random: hashing again gives another string that also verifies", func(t *testing.T) {
		again, err := h.Hash(code)
		if err != nil {
			t.Fatal(err)
		}
		if again == encoded || !h.Verify(code, again) {
			t.Fatalf("second hash %q", again)
		}
	})
	t.Run("another code of the set fails", func(t *testing.T) {
		if h.Verify(codes[1], encoded) {
			t.Fatal("Verify = true")
		}
	})
	t.Run("a non-canonical spelling fails (callers Normalize first)", func(t *testing.T) {
		if h.Verify(strings.ToUpper(code[:5])+"-"+code[5:], encoded) {
			t.Fatal("Verify = true")
		}
	})
	t.Run("another pepper fails", func(t *testing.T) {
		if backupcodes.NewHasher(pepper(2), tiny).Verify(code, encoded) {
			t.Fatal("Verify = true")
		}
	})
	t.Run("a hasher with other parameters still verifies it", func(t *testing.T) {
		other := backupcodes.NewHasher(pepper(1), backupcodes.Params{Memory: 128, Iterations: 2, Parallelism: 2})
		if !other.Verify(code, encoded) {
			t.Fatal("Verify = false")
		}
	})
	t.Run("hashing a non-canonical code is refused", func(t *testing.T) {
		if _, err := h.Hash("ABCDE-FGH12"); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestVerifyRefusesTamperedOrMalformedHashes(t *testing.T) {
	h := backupcodes.NewHasher(pepper(1), tiny)
	code := canonicalCodes(t)[0]
	encoded, err := h.Hash(code)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(encoded, "$") // "", argon2id, v=19, costs, salt, hash
	join := func(parts ...string) string { return strings.Join(parts, "$") }
	flip := func(s string) string { // change one base64 character
		b := []byte(s)
		if b[3] == 'A' {
			b[3] = 'B'
		} else {
			b[3] = 'A'
		}
		return string(b)
	}
	tests := []struct{ name, encoded string }{
		{"a changed hash byte", join(f[0], f[1], f[2], f[3], f[4], flip(f[5]))},
		{"a changed salt byte", join(f[0], f[1], f[2], f[3], flip(f[4]), f[5])},
		{"changed costs", join(f[0], f[1], f[2], "m=64,t=2,p=1", f[4], f[5])},
		{"argon2i instead of argon2id", join(f[0], "argon2i", f[2], f[3], f[4], f[5])},
		{"another version", join(f[0], f[1], "v=16", f[3], f[4], f[5])},
		{"costs out of order", join(f[0], f[1], f[2], "t=1,m=64,p=1", f[4], f[5])},
		{"a leading zero", join(f[0], f[1], f[2], "m=064,t=1,p=1", f[4], f[5])},
		{"memory beyond the bound", join(f[0], f[1], f[2], "m=4194304,t=1,p=1", f[4], f[5])},
		{"iterations beyond the bound", join(f[0], f[1], f[2], "m=64,t=1000,p=1", f[4], f[5])},
		{"zero iterations", join(f[0], f[1], f[2], "m=64,t=0,p=1", f[4], f[5])},
		{"zero parallelism", join(f[0], f[1], f[2], "m=64,t=1,p=0", f[4], f[5])},
		{"parallelism over 255", join(f[0], f[1], f[2], "m=4096,t=1,p=256", f[4], f[5])},
		{"memory under 8 KiB per lane", join(f[0], f[1], f[2], "m=8,t=1,p=2", f[4], f[5])},
		{"a short salt", join(f[0], f[1], f[2], f[3], "c2FsdA", f[5])},
		{"a truncated hash", join(f[0], f[1], f[2], f[3], f[4], f[5][:10])},
		{"padded base64", join(f[0], f[1], f[2], f[3], f[4], f[5]+"=")},
		{"a line break in base64", join(f[0], f[1], f[2], f[3], f[4], f[5][:8]+"\n"+f[5][8:])},
		{"a missing field", join(f[0], f[1], f[2], f[3], f[5])},
		{"an extra field", encoded + "$x"},
		{"empty", ""},
		{"garbage", "$$$$$"},
		{"very long", encoded + strings.Repeat("A", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name+" fails", func(t *testing.T) {
			if h.Verify(code, tt.encoded) {
				t.Fatalf("Verify(%q) = true", tt.encoded)
			}
		})
	}
}

func TestNewHasherPanicsOnProgrammingErrors(t *testing.T) {
	tests := []struct {
		name   string
		pepper []byte
		params backupcodes.Params
	}{
		{"a 31-byte pepper", bytes.Repeat([]byte{1}, 31), tiny},
		{"no pepper", nil, tiny},
		{"zero iterations", pepper(1), backupcodes.Params{Memory: 64, Iterations: 0, Parallelism: 1}},
		{"zero parallelism", pepper(1), backupcodes.Params{Memory: 64, Iterations: 1, Parallelism: 0}},
		{"too little memory", pepper(1), backupcodes.Params{Memory: 4, Iterations: 1, Parallelism: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" panics", func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			backupcodes.NewHasher(tt.pepper, tt.params)
		})
	}
}

func TestHasherDoesNotKeepTheCallersPepperSlice(t *testing.T) {
	p := pepper(1)
	h := backupcodes.NewHasher(p, tiny)
	code := canonicalCodes(t)[0]
	tag := h.Tag(code)
	for i := range p {
		p[i] = 0
	}
	if h.Tag(code) != tag {
		t.Fatal("zeroing the caller's pepper changed the hasher")
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	h := backupcodes.NewHasher(pepper(1), backupcodes.DefaultParams)
	code := canonicalCodes(b)[0]
	encoded, err := h.Hash(code)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !h.Verify(code, encoded) {
			b.Fatal("Verify = false")
		}
	}
}
