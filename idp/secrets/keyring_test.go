package secrets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

func mustKeyring(t testing.TB, current []byte, previous ...[]byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(current, previous...)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func mustKey(t testing.TB) []byte {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestKeyIDAndSubKeyMatchGoldenValues(t *testing.T) {
	k := mustKeyring(t, goldenKey)
	if got := k.KeyID(); got != goldenKeyID {
		t.Fatalf("KeyID = %s, want %s", got, goldenKeyID)
	}
	if got := hex.EncodeToString(k.SubKey("totp")); got != goldenSubKeyTOTP {
		t.Fatalf("SubKey(totp) = %s, want %s", got, goldenSubKeyTOTP)
	}
	raw := sha256.Sum256(goldenKey)
	if k.KeyID() == hex.EncodeToString(raw[:keyIDSize]) {
		t.Fatal("KeyID is a prefix of the plain SHA-256 of the key")
	}
}

func TestHKDFMatchesRFC5869TestCase3(t *testing.T) {
	// RFC 5869 Appendix A.3: SHA-256, zero-length salt and info.
	ikm := bytes.Repeat([]byte{0x0b}, 22)
	want := "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
	if got := hex.EncodeToString(hkdfSHA256(ikm, nil, "", 42)); got != want {
		t.Fatalf("OKM = %s, want %s", got, want)
	}
}

func TestKeyring(t *testing.T) {
	a, b := mustKey(t), mustKey(t)

	t.Run("the same master key always gives the same id", func(t *testing.T) {
		if mustKeyring(t, a).KeyID() != mustKeyring(t, a, b).KeyID() {
			t.Fatal("KeyID changed between keyrings with the same current key")
		}
		if mustKeyring(t, a).KeyID() == mustKeyring(t, b).KeyID() {
			t.Fatal("two random keys share an id")
		}
	})
	t.Run("different purposes give independent sub-keys", func(t *testing.T) {
		k := mustKeyring(t, a)
		if bytes.Equal(k.SubKey("totp"), k.SubKey("client-secret")) {
			t.Fatal("two purposes share a sub-key")
		}
		if !bytes.Equal(k.SubKey("totp"), k.SubKey("totp")) {
			t.Fatal("SubKey is not deterministic")
		}
		if len(k.SubKey("totp")) != KeySize {
			t.Fatalf("SubKey length = %d", len(k.SubKey("totp")))
		}
	})
	t.Run("no purpose reproduces the public key id", func(t *testing.T) {
		k := mustKeyring(t, goldenKey)
		if hex.EncodeToString(k.SubKey("key-id")[:keyIDSize]) == k.KeyID() {
			t.Fatal(`SubKey("key-id") starts with the key id`)
		}
	})
	t.Run("sub-keys come from the current key only", func(t *testing.T) {
		if !bytes.Equal(mustKeyring(t, a, b).SubKey("x"), mustKeyring(t, a).SubKey("x")) {
			t.Fatal("previous keys influence SubKey")
		}
	})
	t.Run("the caller's key slice is copied", func(t *testing.T) {
		c := bytes.Clone(a)
		k := mustKeyring(t, c)
		want := k.SubKey("x")
		c[0] ^= 0xff
		if !bytes.Equal(k.SubKey("x"), want) {
			t.Fatal("keyring changed when the caller modified its slice")
		}
	})

	invalid := []struct {
		name     string
		current  []byte
		previous [][]byte
	}{
		{"a short current key is refused", a[:31], nil},
		{"a nil current key is refused", nil, nil},
		{"a long previous key is refused", a, [][]byte{append(bytes.Clone(b), 0)}},
		{"the current key repeated as previous is refused", a, [][]byte{bytes.Clone(a)}},
		{"a previous key listed twice is refused", a, [][]byte{b, bytes.Clone(b)}},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewKeyring(tc.current, tc.previous...)
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
			if bytes.Contains([]byte(err.Error()), []byte(hex.EncodeToString(a[:4]))) {
				t.Fatalf("error %q contains key material", err)
			}
		})
	}
}
