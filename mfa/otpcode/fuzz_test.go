package otpcode_test

import (
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/mfa/otpcode"
)

// FuzzNormalize: whatever is typed, Normalize either refuses it or returns
// exactly the requested number of ASCII digits, and is idempotent.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"123456", " 123-456 ", "12.34.56.78", "", "１２３４５６", "12345a", "\u00a0123456"} {
		f.Add(s, 6)
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, s string, digits int) {
		if digits < otpcode.MinDigits || digits > otpcode.MaxDigits {
			return
		}
		got, err := otpcode.Normalize(s, digits)
		if err != nil {
			return
		}
		if len(got) != digits || strings.Trim(got, "0123456789") != "" {
			t.Fatalf("Normalize(%q, %d) = %q", s, digits, got)
		}
		if again, err := otpcode.Normalize(got, digits); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q, %v", got, again, err)
		}
	})
}
