package op

import (
	"strings"
	"testing"
)

func TestNormalizeUserCode(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		ok             bool
	}{
		{"the grouped code as shown", "BCDF-GHJK", "BCDFGHJK", true},
		{"lower case, spaces and no dash", " bcdf ghjk ", "BCDFGHJK", true},
		{"a vowel is never in a code", "BCDF-GHJA", "", false},
		{"a digit is never in a code", "BCDF-GHJ1", "", false},
		{"too short", "BCDF-GHJ", "", false},
		{"too long", "BCDF-GHJKL", "", false},
		{"empty", "", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NormalizeUserCode(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("NormalizeUserCode(%q) = %q, %v", tt.in, got, ok)
			}
		})
	}
}

func TestNewUserCodesUseTheAlphabetAndNormaliseToThemselves(t *testing.T) {
	for range 1000 {
		c := newUserCode()
		if got, ok := NormalizeUserCode(groupUserCode(c)); !ok || got != c {
			t.Fatalf("code %q normalises to %q, %v", c, got, ok)
		}
	}
}

// FuzzNormalizeUserCode: whatever is typed at /device, a code it accepts is
// exactly eight letters of the alphabet.
func FuzzNormalizeUserCode(f *testing.F) {
	f.Add("BCDF-GHJK")
	f.Add(" bcdf ghjk ")
	f.Add("ÄBCD-FGHJ")
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := NormalizeUserCode(in)
		if !ok {
			return
		}
		if len(got) != userCodeLength || strings.Trim(got, userCodeAlphabet) != "" {
			t.Fatalf("NormalizeUserCode(%q) accepted %q", in, got)
		}
	})
}
