package secrets

import (
	"strings"
	"testing"
)

func TestHashSecret(t *testing.T) {
	t.Run("matches the golden value", func(t *testing.T) {
		if got := mustKeyring(t, goldenKey).HashSecret("client-secret", []byte("s3cret")); got != goldenSecretHashed {
			t.Fatalf("HashSecret = %s, want %s", got, goldenSecretHashed)
		}
	})

	k := mustKeyring(t, mustKey(t))
	encoded := k.HashSecret("client-secret", []byte("s3cret"))

	t.Run("has the documented shape", func(t *testing.T) {
		parts := strings.Split(encoded, "$")
		if len(parts) != 3 || parts[0] != "hmac-sha256" || parts[1] != k.KeyID() || len(parts[2]) != 43 {
			t.Fatalf("encoded = %q", encoded)
		}
	})
	t.Run("is deterministic so it can be looked up", func(t *testing.T) {
		if k.HashSecret("client-secret", []byte("s3cret")) != encoded {
			t.Fatal("two hashes of the same secret differ")
		}
	})
	t.Run("the right secret verifies as current", func(t *testing.T) {
		if ok, current := k.VerifySecret("client-secret", []byte("s3cret"), encoded); !ok || !current {
			t.Fatalf("VerifySecret = %v, %v; want true, true", ok, current)
		}
	})
	t.Run("a wrong secret fails", func(t *testing.T) {
		if ok, _ := k.VerifySecret("client-secret", []byte("s3creT"), encoded); ok {
			t.Fatal("wrong secret verified")
		}
	})
	t.Run("another purpose fails", func(t *testing.T) {
		if ok, _ := k.VerifySecret("session", []byte("s3cret"), encoded); ok {
			t.Fatal("hash verified under another purpose")
		}
	})
	t.Run("a keyring without the key fails", func(t *testing.T) {
		if ok, _ := mustKeyring(t, mustKey(t)).VerifySecret("client-secret", []byte("s3cret"), encoded); ok {
			t.Fatal("hash verified under an unrelated key")
		}
	})
}

func TestVerifySecretAfterRotation(t *testing.T) {
	oldKey, newKey := mustKey(t), mustKey(t)
	encoded := mustKeyring(t, oldKey).HashSecret("client-secret", []byte("s3cret"))
	rotated := mustKeyring(t, newKey, oldKey)

	ok, current := rotated.VerifySecret("client-secret", []byte("s3cret"), encoded)
	if !ok || current {
		t.Fatalf("VerifySecret = %v, %v; want true, false (caller should rehash)", ok, current)
	}
	rehashed := rotated.HashSecret("client-secret", []byte("s3cret"))
	if ok, current := rotated.VerifySecret("client-secret", []byte("s3cret"), rehashed); !ok || !current {
		t.Fatalf("after rehash VerifySecret = %v, %v; want true, true", ok, current)
	}
	if ok, _ := rotated.VerifySecret("client-secret", []byte("wrong"), encoded); ok {
		t.Fatal("a wrong secret verified against the previous key's hash")
	}
}

func TestVerifySecretMalformed(t *testing.T) {
	k := mustKeyring(t, goldenKey)
	good := goldenSecretHashed
	mac := good[len("hmac-sha256$887ffc85$"):]
	cases := []struct{ name, encoded string }{
		{"empty", ""},
		{"only the algorithm", "hmac-sha256"},
		{"missing mac", "hmac-sha256$887ffc85"},
		{"empty mac", "hmac-sha256$887ffc85$"},
		{"another algorithm", "hmac-sha512$887ffc85$" + mac},
		{"upper-case algorithm", "HMAC-SHA256$887ffc85$" + mac},
		{"key id not hex", "hmac-sha256$887ffcZZ$" + mac},
		{"key id too short", "hmac-sha256$887ffc$" + mac},
		{"unknown key id", "hmac-sha256$00000000$" + mac},
		{"mac in the standard alphabet padded", "hmac-sha256$887ffc85$" + mac + "="},
		{"mac truncated", "hmac-sha256$887ffc85$" + mac[:42]},
		{"mac with a newline", "hmac-sha256$887ffc85$" + mac[:20] + "\n" + mac[21:]},
		{"mac with non-zero trailing bits", "hmac-sha256$887ffc85$" + mac[:42] + "h"},
		{"an extra field", good + "$x"},
		{"leading whitespace", " " + good},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if ok, current := k.VerifySecret("client-secret", []byte("s3cret"), tc.encoded); ok || current {
				t.Fatalf("VerifySecret(%q) = %v, %v", tc.encoded, ok, current)
			}
		})
	}
	if ok, _ := k.VerifySecret("client-secret", []byte("s3cret"), good); !ok {
		t.Fatal("the well-formed control case does not verify")
	}
}
