package secrets

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func FuzzOpen(f *testing.F) {
	k, err := NewKeyring(goldenKey)
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := k.Seal("totp", []byte("hello"), []byte("row-1"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, []byte("row-1"))
	f.Add([]byte{}, []byte{})
	f.Add(sealed[:sealOverhead], []byte("row-1"))
	f.Add(append([]byte{0x02}, sealed[1:]...), []byte("row-1"))
	f.Fuzz(func(t *testing.T, in, aad []byte) {
		pt, err := k.Open("totp", in, aad)
		switch {
		case err == nil:
			// Only an authentic value opens; re-sealing it must round-trip.
			again, err := k.Seal("totp", pt, aad)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := k.Open("totp", again, aad); err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("reseal round trip: %q, %v", back, err)
			}
		case !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrUnknownKey):
			t.Fatalf("Open returned an unexpected error: %v", err)
		}
		_ = k.NeedsReseal(in)
		_, _ = k.VerifySecret("totp", aad, string(in))
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add(goldenKeyB64)
	f.Add(strings.TrimRight(goldenKeyB64, "="))
	f.Add(" " + goldenKeyB64 + "\n")
	f.Add("-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_8")
	f.Add("")
	f.Add("====")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseKey(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v is not ErrInvalidKey", err)
			}
			if trimmed := strings.TrimSpace(s); len(trimmed) >= 12 && strings.Contains(err.Error(), trimmed) {
				t.Fatalf("error %q contains the input", err)
			}
			return
		}
		if len(key) != KeySize {
			t.Fatalf("ParseKey accepted %d bytes", len(key))
		}
		back, err := ParseKey(EncodeKey(key))
		if err != nil || !bytes.Equal(back, key) {
			t.Fatalf("EncodeKey does not round-trip: %v", err)
		}
	})
}
