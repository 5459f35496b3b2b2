package backupcodes_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/mfa/backupcodes"
)

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"abcde-fgh12", "ABCDEFGH12", "iloio-ILOIO", "abcde-fghu1", "\u212abcde-fgh12", " - ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := backupcodes.Normalize(s)
		if err != nil {
			if !errors.Is(err, backupcodes.ErrMalformed) || got != "" {
				t.Fatalf("Normalize(%q) = %q, %v", s, got, err)
			}
			return
		}
		if len(got) != 10 || strings.Trim(got, crockford) != "" {
			t.Fatalf("Normalize(%q) = %q: not 10 symbols of the alphabet", s, got)
		}
		if again, err := backupcodes.Normalize(got); err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", s, got, got, again, err)
		}
	})
}
