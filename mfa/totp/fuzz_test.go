package totp_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/mfa/totp"
)

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "123-456", "12345", "1234567", "١٢٣٤٥٦", "\u00a0123456", "", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := totp.NormalizeCode(s)
		if err != nil {
			return
		}
		if len(got) != totp.Digits {
			t.Fatalf("NormalizeCode(%q) = %q: not %d bytes", s, got, totp.Digits)
		}
		for i := range len(got) {
			if got[i] < '0' || got[i] > '9' {
				t.Fatalf("NormalizeCode(%q) = %q: not ASCII digits", s, got)
			}
		}
		if again, err := totp.NormalizeCode(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, got, again, err)
		}
	})
}

func FuzzParseURI(f *testing.F) {
	const s = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	f.Add(totp.Key{Secret: []byte("12345678901234567890"), Issuer: "Twofold", Account: "alice"}.URI())
	f.Add(totp.Key{Secret: []byte("12345678901234567890"), Issuer: "localhost:8080", Account: "a b"}.URI())
	f.Add("otpauth://totp/T:a?secret=" + s)
	f.Add("otpauth://hotp/T:a?secret=" + s + "&counter=1")
	f.Add("otpauth://totp/%zz")
	f.Add("otpauth:totp")
	f.Add("")
	f.Fuzz(func(t *testing.T, uri string) {
		k, err := totp.ParseURI(uri)
		if err != nil {
			return
		}
		// Whatever parses renders to a URI that parses to the same key,
		// unless the format cannot carry it: a colon in the issuer (left
		// out of the label) and one in the account (then split wrongly).
		again, err := totp.ParseURI(k.URI())
		if err != nil {
			if strings.Contains(k.Issuer, ":") && strings.Contains(k.Account, ":") {
				return
			}
			t.Fatalf("%v renders to %q, which does not parse: %v", k, k.URI(), err)
		}
		if !bytes.Equal(again.Secret, k.Secret) || again.Issuer != k.Issuer || again.Account != k.Account {
			t.Fatalf("round trip changed %v into %v", k, again)
		}
	})
}
