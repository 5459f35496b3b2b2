package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
)

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKeyring(t, mustKey(t))
	for _, plaintext := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("totp-secret"), 100)} {
		sealed, err := k.Seal("totp", plaintext, []byte("user:42"))
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != sealOverhead+len(plaintext) {
			t.Fatalf("sealed length = %d, want %d", len(sealed), sealOverhead+len(plaintext))
		}
		got, err := k.Open("totp", sealed, []byte("user:42"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Fatalf("Open = %q, want %q", got, plaintext)
		}
		if k.NeedsReseal(sealed) {
			t.Fatal("a value sealed under the current key needs a reseal")
		}
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	k := mustKeyring(t, mustKey(t))
	a, _ := k.Seal("p", []byte("same"), nil)
	b, _ := k.Seal("p", []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("sealing the same plaintext twice gave the same bytes")
	}
}

// TestSealFormat decrypts by hand with the layout documented on Seal and the
// independently computed golden sub-key, so the format cannot drift.
func TestSealFormat(t *testing.T) {
	k := mustKeyring(t, goldenKey)
	sealed, err := k.Seal("totp", []byte("hello"), []byte("row-1"))
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != 0x01 {
		t.Fatalf("version byte = %#x, want 0x01", sealed[0])
	}
	if got := hex.EncodeToString(sealed[1:5]); got != goldenKeyID {
		t.Fatalf("embedded key id = %s, want %s", got, goldenKeyID)
	}
	subKey, _ := hex.DecodeString(goldenSubKeyTOTP)
	block, err := aes.NewCipher(subKey)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Skipf("explicit-nonce GCM unavailable (FIPS 140-only mode?): %v", err)
	}
	aad := append(bytes.Clone(sealed[:5]), "row-1"...)
	got, err := gcm.Open(nil, sealed[5:17], sealed[17:], aad)
	if err != nil || string(got) != "hello" {
		t.Fatalf("manual AES-256-GCM open = %q, %v", got, err)
	}
}

// goldenSealed was produced once by Seal(goldenKey, "totp", "hello", "row-1").
// It must open forever: rows in production databases look like this.
const goldenSealed = "AYh//IWz6H1CtNj1YOhVHHsPQMzZDBvxmpxuwLBh0VTXe5/s2/Q="

func TestGoldenSealedValueStillOpens(t *testing.T) {
	sealed, err := base64.StdEncoding.DecodeString(goldenSealed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := mustKeyring(t, goldenKey).Open("totp", sealed, []byte("row-1"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	k := mustKeyring(t, mustKey(t))
	sealed, err := k.Seal("totp", []byte("hunter2-plaintext"), []byte("user:42"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	cases := []struct {
		name    string
		purpose string
		sealed  []byte
		aad     []byte
		want    error
	}{
		{"a different aad (value moved to another row) is ErrDecrypt", "totp", sealed, []byte("user:43"), ErrDecrypt},
		{"a missing aad is ErrDecrypt", "totp", sealed, nil, ErrDecrypt},
		{"a different purpose is ErrDecrypt", "webauthn", sealed, []byte("user:42"), ErrDecrypt},
		{"a flipped nonce bit is ErrDecrypt", "totp", flip(headerSize), []byte("user:42"), ErrDecrypt},
		{"a flipped ciphertext bit is ErrDecrypt", "totp", flip(headerSize + nonceSize), []byte("user:42"), ErrDecrypt},
		{"a flipped tag bit is ErrDecrypt", "totp", flip(len(sealed) - 1), []byte("user:42"), ErrDecrypt},
		{"an unknown version is ErrDecrypt", "totp", flip(0), []byte("user:42"), ErrDecrypt},
		{"a truncated value is ErrDecrypt", "totp", sealed[:sealOverhead-1], []byte("user:42"), ErrDecrypt},
		{"an empty value is ErrDecrypt", "totp", nil, []byte("user:42"), ErrDecrypt},
		{"a changed key id is ErrUnknownKey", "totp", flip(1), []byte("user:42"), ErrUnknownKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := k.Open(tc.purpose, tc.sealed, tc.aad)
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("Open = %q, %v; want %v", got, err, tc.want)
			}
			if bytes.Contains([]byte(err.Error()), []byte("hunter2")) {
				t.Fatalf("error %q contains the plaintext", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey, otherKey := mustKey(t), mustKey(t), mustKey(t)
	before := mustKeyring(t, oldKey)
	sealed, err := before.Seal("totp", []byte("secret"), []byte("row"))
	if err != nil {
		t.Fatal(err)
	}

	after := mustKeyring(t, newKey, oldKey)
	got, err := after.Open("totp", sealed, []byte("row"))
	if err != nil || string(got) != "secret" {
		t.Fatalf("rotated keyring: Open = %q, %v", got, err)
	}
	if !after.NeedsReseal(sealed) {
		t.Fatal("a value sealed under a previous key does not need a reseal")
	}
	resealed, err := after.Seal("totp", got, []byte("row"))
	if err != nil {
		t.Fatal(err)
	}
	if after.NeedsReseal(resealed) {
		t.Fatal("a resealed value still needs a reseal")
	}
	if _, err := before.Open("totp", resealed, []byte("row")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old keyring opening a value sealed under the new key: %v, want ErrUnknownKey", err)
	}

	retired := mustKeyring(t, newKey)
	if _, err := retired.Open("totp", sealed, []byte("row")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("after the old key is dropped: %v, want ErrUnknownKey", err)
	}
	if _, err := mustKeyring(t, otherKey).Open("totp", sealed, []byte("row")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unrelated keyring: %v, want ErrUnknownKey", err)
	}
}

func TestNeedsResealOnMalformedInput(t *testing.T) {
	k := mustKeyring(t, mustKey(t))
	for _, in := range [][]byte{nil, {0x01}, {0x02, 1, 2, 3, 4}, bytes.Repeat([]byte{0x02}, 64)} {
		if k.NeedsReseal(in) {
			t.Fatalf("NeedsReseal(%x) = true, want false for a value no reseal can fix", in)
		}
	}
}

func TestKeyringConcurrentUse(t *testing.T) {
	k := mustKeyring(t, mustKey(t), mustKey(t))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			aad := []byte{byte(i)}
			for range 50 {
				sealed, err := k.Seal("p", aad, aad)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := k.Open("p", sealed, aad); err != nil || !bytes.Equal(got, aad) {
					t.Errorf("Open = %x, %v", got, err)
					return
				}
				if ok, _ := k.VerifySecret("s", aad, k.HashSecret("s", aad)); !ok {
					t.Error("VerifySecret failed")
					return
				}
			}
		})
	}
	wg.Wait()
}
