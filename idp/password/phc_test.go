package password

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePHCRefusesMalformed(t *testing.T) {
	const (
		salt = "c29tZXNhbHQ"                                 // "somesalt"
		key  = "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4" // 32 bytes
	)
	good := "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key
	if _, err := parsePHC(good); err != nil {
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
		{"empty hash", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$"},
		{"empty salt", "$argon2id$v=19$m=256,t=2,p=1$$" + key},
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
		{"memory above 4 GiB", "$argon2id$v=19$m=4194305,t=2,p=1$" + salt + "$" + key},
		{"maximum 32-bit memory", "$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + key},
		{"memory below 8 KiB per lane", "$argon2id$v=19$m=8,t=2,p=2$" + salt + "$" + key},
		{"zero iterations", "$argon2id$v=19$m=256,t=0,p=1$" + salt + "$" + key},
		{"absurd iterations", "$argon2id$v=19$m=256,t=4294967295,p=1$" + salt + "$" + key},
		{"zero parallelism", "$argon2id$v=19$m=256,t=2,p=0$" + salt + "$" + key},
		{"parallelism above 255", "$argon2id$v=19$m=4096,t=2,p=256$" + salt + "$" + key},
		{"salt shorter than 8 bytes", "$argon2id$v=19$m=256,t=2,p=1$c29tZQ$" + key},
		{"salt longer than 64 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + strings.Repeat("A", 88) + "$" + key},
		{"hash shorter than 16 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$nf65EOgLrQMR"},
		{"hash longer than 64 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + strings.Repeat(key, 3)},
		{"padded base64", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "=$" + key},
		{"URL-alphabet base64", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + strings.ReplaceAll(key, "/", "_")},
		{"invalid base64 character", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key[:10] + "!" + key[11:]},
		{"non-zero trailing bits", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key[:42] + "5"},
		{"line break inside base64", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key[:20] + "\n" + key[20:]},
		{"trailing newline", good + "\n"},
		{"leading space", " " + good},
		{"over the length limit", good + strings.Repeat("A", maxEncodedLength)},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is ErrMalformedHash", func(t *testing.T) {
			_, err := parsePHC(tc.encoded)
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("parsePHC(%q) = %v, want ErrMalformedHash", tc.encoded, err)
			}
			if strings.Contains(err.Error(), key[:12]) || strings.Contains(err.Error(), salt) {
				t.Fatalf("error %q quotes the stored hash", err)
			}
			// Verify must refuse the same input without hashing or panicking.
			h := New(testParams, 1)
			if ok, needsRehash, err := h.Verify(t.Context(), tc.encoded, "password"); ok || needsRehash || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify = %v, %v, %v; want ErrMalformedHash", ok, needsRehash, err)
			}
		})
	}
}

func TestEncodeParseRoundTrip(t *testing.T) {
	p := Params{Memory: 4096, Iterations: 3, Parallelism: 4, SaltLength: 8, KeyLength: 16}
	salt := []byte("12345678")
	key := []byte("0123456789abcdef")
	encoded := encodePHC(p, salt, key)
	if want := "$argon2id$v=19$m=4096,t=3,p=4$MTIzNDU2Nzg$MDEyMzQ1Njc4OWFiY2RlZg"; encoded != want {
		t.Fatalf("encodePHC = %q, want %q", encoded, want)
	}
	got, err := parsePHC(encoded)
	if err != nil {
		t.Fatal(err)
	}
	if got.params != p || string(got.salt) != string(salt) || string(got.key) != string(key) {
		t.Fatalf("parsePHC = %+v", got)
	}
}
