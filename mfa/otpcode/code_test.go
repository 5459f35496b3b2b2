package otpcode_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/mfa/otpcode"
)

func TestGeneratedCodesHaveTheirLengthAndUseEveryDigitInEveryPlace(t *testing.T) {
	for digits := otpcode.MinDigits; digits <= otpcode.MaxDigits; digits++ {
		seen := make([][10]bool, digits)
		distinct := map[string]bool{}
		for range 2000 {
			c, err := otpcode.Generate(digits)
			if err != nil {
				t.Fatal(err)
			}
			if len(c) != digits || strings.Trim(c, "0123456789") != "" {
				t.Fatalf("Generate(%d) = %q", digits, c)
			}
			for i, r := range c {
				seen[i][r-'0'] = true
			}
			distinct[c] = true
		}
		for i, place := range seen {
			for d, ok := range place {
				if !ok { // probability 10 × 0.9^2000: never
					t.Errorf("%d digits: digit %d never appeared at place %d", digits, d, i)
				}
			}
		}
		if len(distinct) < 1900 {
			t.Errorf("%d digits: only %d distinct codes in 2000", digits, len(distinct))
		}
	}
}

func TestGenerateRefusesLengthsOutsideTheRange(t *testing.T) {
	for _, n := range []int{0, 4, 5, 9, 12} {
		if c, err := otpcode.Generate(n); err == nil {
			t.Errorf("Generate(%d) = %q", n, c)
		}
	}
}

func TestNormalizeReadsCodesAsPeopleTypeThem(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"123456", "123456"},
		{" 123 456 ", "123456"},
		{"123-456", "123456"},
		{"12.34.56", "123456"},
		{"123\u00a0456", "123456"},
		{"012345", "012345"},
	} {
		got, err := otpcode.Normalize(tc.in, 6)
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "12345", "1234567", "12345a", "１２３４５６", "123456\x00", "+123456", strings.Repeat(" ", 70) + "123456"} {
		if got, err := otpcode.Normalize(in, 6); !errors.Is(err, otpcode.ErrMalformed) {
			t.Errorf("Normalize(%q) = %q, %v; want ErrMalformed", in, got, err)
		}
	}
}

func TestAHashMatchesOnlyItsCodeInItsContextUnderItsKey(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	h, err := otpcode.NewHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	hash := h.Hash("123456", "sign_in_email", "user-1", "code-1")
	if strings.Contains(hash, "123456") || len(hash) != 43 {
		t.Fatalf("hash %q", hash)
	}
	if !h.Verify("123456", hash, "sign_in_email", "user-1", "code-1") {
		t.Fatal("the code does not match its own hash")
	}
	other, _ := otpcode.NewHasher([]byte(strings.Repeat("K", 32)))
	for name, ok := range map[string]bool{
		"another code":               h.Verify("123457", hash, "sign_in_email", "user-1", "code-1"),
		"another purpose":            h.Verify("123456", hash, "sign_in_sms", "user-1", "code-1"),
		"another user":               h.Verify("123456", hash, "sign_in_email", "user-2", "code-1"),
		"parts run together":         h.Verify("123456", hash, "sign_in_emailuser-1", "code-1"),
		"another key":                other.Verify("123456", hash, "sign_in_email", "user-1", "code-1"),
		"a hash that is not base64":  h.Verify("123456", "not base64!", "sign_in_email", "user-1", "code-1"),
		"an empty hash":              h.Verify("123456", "", "sign_in_email", "user-1", "code-1"),
		"the context without a code": h.Verify("", hash, "sign_in_email", "user-1", "code-1", "123456"),
	} {
		if ok {
			t.Errorf("%s matched", name)
		}
	}
	if _, err := otpcode.NewHasher(key[:31]); err == nil {
		t.Fatal("a 31-byte key was taken")
	}
}
