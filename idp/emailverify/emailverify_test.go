package emailverify_test

import (
	"errors"
	"testing"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/emailverify"
)

func TestATypedCodeIsReadAsPeopleTypeIt(t *testing.T) {
	for _, tc := range []struct {
		name, typed, want string
	}{
		{"eight digits are the code", "12345678", "12345678"},
		{"spaces and dashes are dropped", " 1234-5678 ", "12345678"},
		{"a non-breaking space too", "1234\u00a05678", "12345678"},
		{"seven digits are not a code", "1234567", ""},
		{"nine digits are not a code", "123456789", ""},
		{"letters are not a code", "1234567a", ""},
		{"other digits (Arabic-Indic) are not a code", "١٢٣٤٥٦٧٨", ""},
		{"empty is not a code", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := emailverify.NormalizeCode(tc.typed)
			var input *idp.InputError
			switch {
			case tc.want == "" && (!errors.As(err, &input) || input.Field != "code"):
				t.Fatalf("NormalizeCode(%q) = %q, %v; want an input error on code", tc.typed, got, err)
			case tc.want != "" && (err != nil || got != tc.want):
				t.Fatalf("NormalizeCode(%q) = %q, %v; want %q", tc.typed, got, err, tc.want)
			}
		})
	}
}

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"12345678", "1234 5678", "", "١٢٣٤٥٦٧٨", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		got, err := emailverify.NormalizeCode(typed)
		if err == nil && (len(got) != emailverify.CodeDigits || got != "" && (got[0] < '0' || got[0] > '9')) {
			t.Fatalf("NormalizeCode(%q) = %q", typed, got)
		}
		if err == nil {
			for _, r := range got {
				if r < '0' || r > '9' {
					t.Fatalf("NormalizeCode(%q) = %q", typed, got)
				}
			}
		}
	})
}

func TestAMaskedAddressShowsEnoughToRecogniseIt(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.com": "a•••e@example.com",
		"al@example.com":    "a•••@example.com",
		"é@example.com":     "é•••@example.com",
		"not an address":    "•••",
	} {
		if got := emailverify.MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}
