package backupcodes_test

import (
	"errors"
	"math/bits"
	"regexp"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/mfa/backupcodes"
)

// crockford is the alphabet the issue asks for, written out independently
// of the package: Crockford's base32 in lower case, without i, l, o, u.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

var displayForm = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

func TestGenerateGivesTenDistinctCodesInDisplayForm(t *testing.T) {
	codes, err := backupcodes.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != backupcodes.Count || backupcodes.Count != 10 {
		t.Fatalf("%d codes, want 10", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !displayForm.MatchString(c) {
			t.Errorf("%q is not xxxxx-xxxxx over the alphabet", c)
		}
		if seen[c] {
			t.Errorf("%q appears twice", c)
		}
		seen[c] = true
	}
}

// SECURITY-RULES: "Backup codes: CSPRNG, ≥ 50 bits each"
func TestEachCodeCarriesFiftyBits(t *testing.T) {
	if len(crockford) != 32 || strings.ContainsAny(crockford, "ilou") {
		t.Fatal("the test's alphabet is wrong")
	}
	codes, err := backupcodes.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		canonical := strings.ReplaceAll(c, "-", "")
		if len(canonical) != 10 {
			t.Fatalf("%q has %d symbols, want 10", c, len(canonical))
		}
		// Decode as a base-32 number: 10 symbols of log2(32) = 5 bits.
		var v uint64
		for _, r := range canonical {
			i := strings.IndexRune(crockford, r)
			if i < 0 {
				t.Fatalf("%q has %q, outside the alphabet", c, r)
			}
			v = v<<5 | uint64(i)
		}
		if bits.Len64(v) > 50 {
			t.Fatalf("%q decodes to %d bits", c, bits.Len64(v))
		}
	}
	if bitsPerCode := 10 * bits.TrailingZeros(32); bitsPerCode != 50 {
		t.Fatalf("%d bits per code", bitsPerCode)
	}
}

// SECURITY-RULES: "Backup codes: CSPRNG, ≥ 50 bits each"
func TestGenerateUsesTheWholeAlphabetEvenly(t *testing.T) {
	// 200 sets × 100 symbols: each of 32 symbols expected 625 times. A
	// biased or truncated generator lands far outside [450, 800].
	counts := map[rune]int{}
	for range 200 {
		codes, err := backupcodes.Generate()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range codes {
			for _, r := range strings.ReplaceAll(c, "-", "") {
				counts[r]++
			}
		}
	}
	for _, r := range crockford {
		if n := counts[r]; n < 450 || n > 800 {
			t.Errorf("symbol %q drawn %d times, expected about 625", r, n)
		}
	}
	if len(counts) != 32 {
		t.Errorf("%d distinct symbols drawn, want 32", len(counts))
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"the display form loses its dash", "abcde-fgh12", "abcdefgh12"},
		{"the code without the dash is already canonical", "abcdefgh12", "abcdefgh12"},
		{"upper case is folded", "ABCDE-FGH12", "abcdefgh12"},
		{"mixed case is folded", "aBcDe-FgH12", "abcdefgh12"},
		{"a space instead of the dash is removed", "abcde fgh12", "abcdefgh12"},
		{"surrounding and inner spaces are removed", "  abc de-fg h12 \n", "abcdefgh12"},
		{"an en dash from a word processor is removed", "abcde\u2013fgh12", "abcdefgh12"},
		{"i and l are read as 1", "iLlI0-00000", "1111000000"},
		{"o is read as 0", "oOoOo-12345", "0000012345"},
		{"u is not a symbol", "abcde-fghu1", ""},
		{"punctuation is not a symbol", "abcde.fgh12", ""},
		{"nine symbols are too few", "abcde-fgh1", ""},
		{"eleven symbols are too many", "abcde-fgh123", ""},
		{"two codes run together are too many", "abcde-fgh12abcde-fgh12", ""},
		{"empty input is malformed", "", ""},
		{"only a dash is malformed", "-", ""},
		{"the Kelvin sign is not k", "\u212abcde-fgh12", ""},
		{"a non-ASCII letter is malformed", "abcdé-fgh12", ""},
		{"very long input is malformed", "abcde-fgh12" + strings.Repeat(" ", 100), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := backupcodes.Normalize(tt.in)
			if tt.want == "" {
				if !errors.Is(err, backupcodes.ErrMalformed) || got != "" {
					t.Fatalf("Normalize(%q) = %q, %v; want ErrMalformed", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNormalizeAcceptsEveryGeneratedCode(t *testing.T) {
	codes, err := backupcodes.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		want := strings.ReplaceAll(c, "-", "")
		for _, typed := range []string{c, want, strings.ToUpper(c), strings.ReplaceAll(c, "-", " ")} {
			if got, err := backupcodes.Normalize(typed); err != nil || got != want {
				t.Errorf("Normalize(%q) = %q, %v; want %q", typed, got, err, want)
			}
		}
	}
}
