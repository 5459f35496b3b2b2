package phc_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/mfa/phc"
)

const (
	salt = "c29tZXNhbHQ"                                 // "somesalt"
	key  = "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4" // 32 bytes
	good = "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key
	// maxLen is a limit larger than every case below.
	maxLen = 512
)

func TestParseRefusesMalformed(t *testing.T) {
	if _, err := phc.Parse(good, maxLen); err != nil {
		t.Fatalf("control case does not parse: %v", err)
	}
	cases := []struct{ name, encoded string }{
		{"empty", ""},
		{"not PHC at all", "not-a-hash"},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"},
		{"argon2i", "$argon2i$v=19$m=256,t=2,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=256,t=2,p=1$" + salt + "$" + key},
		{"upper-case algorithm", "$ARGON2ID$v=19$m=256,t=2,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=256,t=2,p=1$" + salt + "$" + key},
		{"version with a leading zero", "$argon2id$v=019$m=256,t=2,p=1$" + salt + "$" + key},
		{"no version (legacy 1.0 form)", "$argon2id$m=256,t=2,p=1$" + salt + "$" + key},
		{"no leading dollar", "argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key},
		{"missing hash", "$argon2id$v=19$m=256,t=2,p=1$" + salt},
		{"trailing field", good + "$"},
		{"missing parameter", "$argon2id$v=19$m=256,t=2$" + salt + "$" + key},
		{"extra parameter", "$argon2id$v=19$m=256,t=2,p=1,keyid=abc$" + salt + "$" + key},
		{"parameters out of order", "$argon2id$v=19$t=2,m=256,p=1$" + salt + "$" + key},
		{"duplicate parameter", "$argon2id$v=19$m=256,m=256,p=1$" + salt + "$" + key},
		{"parameter with a leading zero", "$argon2id$v=19$m=0256,t=2,p=1$" + salt + "$" + key},
		{"parameter with a sign", "$argon2id$v=19$m=+256,t=2,p=1$" + salt + "$" + key},
		{"negative parameter", "$argon2id$v=19$m=256,t=-2,p=1$" + salt + "$" + key},
		{"parameter with spaces", "$argon2id$v=19$m=256, t=2,p=1$" + salt + "$" + key},
		{"non-numeric parameter", "$argon2id$v=19$m=x,t=2,p=1$" + salt + "$" + key},
		{"memory beyond 32 bits", "$argon2id$v=19$m=99999999999,t=2,p=1$" + salt + "$" + key},
		{"parallelism above 255", "$argon2id$v=19$m=4096,t=2,p=256$" + salt + "$" + key},
		{"padded base64", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "=$" + key},
		{"URL-alphabet base64", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + strings.ReplaceAll(key, "/", "_")},
		{"invalid base64 character", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key[:10] + "!" + key[11:]},
		{"non-zero trailing bits", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key[:42] + "5"},
		{"line break inside base64", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key[:20] + "\n" + key[20:]},
		{"carriage return inside base64", "$argon2id$v=19$m=256,t=2,p=1$" + salt[:4] + "\r" + salt[4:] + "$" + key},
		{"trailing newline", good + "\n"},
		{"leading space", " " + good},
		{"over the length limit", good + strings.Repeat("A", maxLen)},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, err := phc.Parse(tc.encoded, maxLen)
			if err == nil {
				t.Fatalf("Parse(%q) accepted it", tc.encoded)
			}
			if strings.Contains(err.Error(), key[:12]) || strings.Contains(err.Error(), salt) {
				t.Fatalf("error %q quotes the stored hash", err)
			}
		})
	}
}

func TestParseHonoursTheCallersLengthLimit(t *testing.T) {
	if _, err := phc.Parse(good, len(good)); err != nil {
		t.Fatalf("a string of exactly maxLen bytes: %v", err)
	}
	_, err := phc.Parse(good, len(good)-1)
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("one byte over maxLen: %v, want a length error", err)
	}
}

// Bounds are the caller's: Parse returns whatever the syntax allows, raw.
func TestParseLeavesBoundsToTheCaller(t *testing.T) {
	tests := []struct {
		name, encoded    string
		m, t             uint32
		p                uint8
		saltLen, hashLen int
	}{
		{"zero costs", "$argon2id$v=19$m=0,t=0,p=0$" + salt + "$" + key, 0, 0, 0, 8, 32},
		{"the largest costs the syntax can carry", "$argon2id$v=19$m=4294967295,t=4294967295,p=255$" + salt + "$" + key,
			4294967295, 4294967295, 255, 8, 32},
		{"an empty salt and hash", "$argon2id$v=19$m=256,t=2,p=1$$", 256, 2, 1, 0, 0},
		{"a one-byte salt and a 96-byte hash", "$argon2id$v=19$m=256,t=2,p=1$AA$" + strings.Repeat("A", 128), 256, 2, 1, 1, 96},
	}
	for _, tt := range tests {
		t.Run(tt.name+" parse", func(t *testing.T) {
			got, err := phc.Parse(tt.encoded, maxLen)
			if err != nil {
				t.Fatal(err)
			}
			if got.Memory != tt.m || got.Iterations != tt.t || got.Parallelism != tt.p ||
				len(got.Salt) != tt.saltLen || len(got.Key) != tt.hashLen {
				t.Errorf("m=%d t=%d p=%d, %d-byte salt, %d-byte hash; want m=%d t=%d p=%d, %d, %d",
					got.Memory, got.Iterations, got.Parallelism, len(got.Salt), len(got.Key),
					tt.m, tt.t, tt.p, tt.saltLen, tt.hashLen)
			}
			// And the bytes are the ones written: they encode back.
			if again := phc.Encode(got); again != tt.encoded {
				t.Errorf("Encode = %q, want %q", again, tt.encoded)
			}
		})
	}
}

func TestEncodeParseRoundTrip(t *testing.T) {
	a := phc.Argon2id{Memory: 4096, Iterations: 3, Parallelism: 4, Salt: []byte("12345678"), Key: []byte("0123456789abcdef")}
	encoded := phc.Encode(a)
	if want := "$argon2id$v=19$m=4096,t=3,p=4$MTIzNDU2Nzg$MDEyMzQ1Njc4OWFiY2RlZg"; encoded != want {
		t.Fatalf("Encode = %q, want %q", encoded, want)
	}
	got, err := phc.Parse(encoded, maxLen)
	if err != nil {
		t.Fatal(err)
	}
	if got.Memory != a.Memory || got.Iterations != a.Iterations || got.Parallelism != a.Parallelism ||
		!bytes.Equal(got.Salt, a.Salt) || !bytes.Equal(got.Key, a.Key) {
		t.Fatalf("Parse = %+v, want %+v", got, a)
	}
}
