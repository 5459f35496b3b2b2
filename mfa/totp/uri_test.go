package totp_test

import (
	"bytes"
	"encoding/base32"
	"fmt"
	"image/png"
	"log/slog"
	"strings"
	"testing"

	"github.com/boombuler/barcode/qr"
	pqotp "github.com/pquerna/otp"

	"github.com/twofold-idp/twofold/mfa/totp"
)

func base32NoPad(b []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

func TestURIFormat(t *testing.T) {
	k := totp.Key{Secret: []byte("12345678901234567890"), Issuer: "Twofold", Account: "alice"}
	want := "otpauth://totp/Twofold:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Twofold&algorithm=SHA1&digits=6&period=30"
	if got := k.URI(); got != want {
		t.Fatalf("URI =\n %s\nwant\n %s", got, want)
	}
}

func TestURIRoundTrip(t *testing.T) {
	secret := mustSecret(t)
	tests := []struct {
		name, issuer, account string
		wantLabelPrefix       bool
	}{
		{"a plain issuer and username", "Twofold", "alice", true},
		{"an issuer host and an email-like username", "id.example.com", "bob+mfa@example.com", true},
		{"spaces and non-ASCII are escaped", "Acme Corp", "Zoë O'Brien & co", true},
		{"reserved characters are escaped", "a/b?c#d", "e=f&g;h%i", true},
		{"an issuer with a port leaves the label prefix out", "localhost:8080", "carol", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := totp.Key{Secret: secret, Issuer: tt.issuer, Account: tt.account}
			uri := k.URI()
			if strings.ContainsAny(uri, " +") {
				t.Errorf("URI %q has a space or a plus sign", uri)
			}
			label := strings.SplitN(strings.TrimPrefix(uri, "otpauth://totp/"), "?", 2)[0]
			if got := strings.Contains(label, ":"); got != tt.wantLabelPrefix {
				t.Errorf("label %q: issuer prefix present = %v, want %v", label, got, tt.wantLabelPrefix)
			}

			got, err := totp.ParseURI(uri)
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", uri, err)
			}
			if !bytes.Equal(got.Secret, k.Secret) || got.Issuer != k.Issuer || got.Account != k.Account {
				t.Errorf("ParseURI = %v, want %v", got, k)
			}

			// pquerna/otp's parser is what most Go code (and our own
			// enrollment pages' tests) would read the URI with.
			pk, err := pqotp.NewKeyFromURL(uri)
			if err != nil {
				t.Fatalf("otp.NewKeyFromURL: %v", err)
			}
			if pk.Type() != "totp" || pk.Issuer() != k.Issuer || pk.AccountName() != k.Account ||
				pk.Secret() != base32NoPad(secret) || pk.Algorithm() != pqotp.AlgorithmSHA1 ||
				pk.Digits() != pqotp.DigitsSix || pk.Period() != 30 {
				t.Errorf("pquerna/otp reads type %s issuer %q account %q algorithm %s digits %d period %d",
					pk.Type(), pk.Issuer(), pk.AccountName(), pk.Algorithm(), pk.Digits(), pk.Period())
			}
		})
	}
}

func TestParseURIRefuses(t *testing.T) {
	const s = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // 160 bits
	tests := []struct {
		name, uri, wantErr string
	}{
		{"another scheme", "https://totp/T:a?secret=" + s + "&issuer=T", "scheme"},
		{"HOTP", "otpauth://hotp/T:a?secret=" + s + "&issuer=T&counter=0", `type "hotp"`},
		{"SHA256", "otpauth://totp/T:a?secret=" + s + "&issuer=T&algorithm=SHA256", `algorithm "SHA256"`},
		{"8 digits", "otpauth://totp/T:a?secret=" + s + "&issuer=T&digits=8", `digits "8"`},
		{"a 60 s period", "otpauth://totp/T:a?secret=" + s + "&issuer=T&period=60", `period "60"`},
		{"no secret", "otpauth://totp/T:a?issuer=T", "no secret"},
		{"a secret that is not base32", "otpauth://totp/T:a?secret=1!1&issuer=T", "not base32"},
		{"an 80-bit secret", "otpauth://totp/T:a?secret=GEZDGNBVGY3TQOJQ&issuer=T", "secret of 80 bits"},
		{"no account", "otpauth://totp/T:?secret=" + s + "&issuer=T", "no account"},
		{"no issuer anywhere", "otpauth://totp/a?secret=" + s, "no issuer"},
		{"a label issuer that differs from the parameter", "otpauth://totp/T:a?secret=" + s + "&issuer=U", "differs"},
		{"a repeated parameter", "otpauth://totp/T:a?secret=" + s + "&secret=" + s + "&issuer=T", "repeated"},
		{"bad percent-encoding in the query", "otpauth://totp/T:a?secret=" + s + "&issuer=%zz", "percent-encoding"},
		{"bad percent-encoding in the label", "otpauth://totp/T:%zz?secret=" + s + "&issuer=T", "does not parse"},
		{"an opaque URI", "otpauth:totp/T:a?secret=" + s, "otpauth://totp/label"},
		{"a very long URI", "otpauth://totp/T:a?secret=" + s + "&x=" + strings.Repeat("x", 3000), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := totp.ParseURI(tt.uri)
			if err == nil {
				t.Fatalf("ParseURI accepted it: %v", k)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}

func TestParseURIAcceptsWhatAppsEmit(t *testing.T) {
	const s = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	tests := []struct{ name, uri, issuer, account string }{
		{"defaults omitted", "otpauth://totp/T:a?secret=" + s + "&issuer=T", "T", "a"},
		{"issuer only in the label", "otpauth://totp/T:a?secret=" + s, "T", "a"},
		{"a space after the label colon", "otpauth://totp/T:%20a?secret=" + s + "&issuer=T", "T", "a"},
		{"an encoded label colon", "otpauth://totp/T%3Aa?secret=" + s + "&issuer=T", "T", "a"},
		{"a lower-case padded secret", "otpauth://totp/T:a?secret=" + strings.ToLower(s) + "&issuer=T", "T", "a"},
		{"lower-case algorithm", "otpauth://totp/T:a?secret=" + s + "&issuer=T&algorithm=sha1", "T", "a"},
		{"an unknown parameter", "otpauth://totp/T:a?secret=" + s + "&issuer=T&image=https%3A%2F%2Fx", "T", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := totp.ParseURI(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			if k.Issuer != tt.issuer || k.Account != tt.account || string(k.Secret) != "12345678901234567890" {
				t.Errorf("ParseURI = %v", k)
			}
		})
	}
}

// SECURITY-RULES: "TOTP: … never logged"
func TestKeyFormattingLeavesTheSecretOut(t *testing.T) {
	k := totp.Key{Secret: []byte("12345678901234567890"), Issuer: "Twofold", Account: "alice"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("enrolled", "key", k)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("enrolled", "key", k)
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), logged.String()} {
		for _, leak := range []string{"1234567890", "GEZDGNBV", "MTIzNDU2"} {
			if strings.Contains(out, leak) {
				t.Errorf("%q contains the secret", out)
			}
		}
		if !strings.Contains(out, "alice") {
			t.Errorf("%q lost the account", out)
		}
	}
}

func TestQRPNGIsAPNGOfTheRequestedSize(t *testing.T) {
	k := totp.Key{Secret: mustSecret(t), Issuer: "id.example.com", Account: "alice@example.com"}
	for _, size := range []int{200, 256, 333} {
		t.Run(fmt.Sprintf("%d px", size), func(t *testing.T) {
			b, err := k.QRPNG(size)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if got := img.Bounds(); got.Dx() != size || got.Dy() != size {
				t.Fatalf("bounds %v, want %d×%d", got, size, size)
			}
			// The quiet zone: the border pixels are white.
			for i := range size {
				for _, p := range [][2]int{{i, 0}, {0, i}, {i, size - 1}, {size - 1, i}} {
					if r, _, _, _ := img.At(p[0], p[1]).RGBA(); r != 0xffff {
						t.Fatalf("border pixel %v is not white", p)
					}
				}
			}
			// And there is a symbol: a finder pattern's dark corner.
			dark := 0
			for y := range size {
				for x := range size {
					if r, _, _, _ := img.At(x, y).RGBA(); r == 0 {
						dark++
					}
				}
			}
			if dark < size*size/10 {
				t.Fatalf("only %d dark pixels", dark)
			}
		})
	}
	t.Run("the modules are those of the URI's symbol, whole pixels each, inside a quiet zone", func(t *testing.T) {
		const size = 300
		b, err := k.QRPNG(size)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		want, err := qr.Encode(k.URI(), qr.M, qr.Unicode)
		if err != nil {
			t.Fatal(err)
		}
		modules := want.Bounds().Dx()
		dark := func(x, y int) bool { r, _, _, _ := img.At(x, y).RGBA(); return r == 0 }
		// The symbol's dark bounding box: finder patterns make its top-left
		// and bottom-right corners dark-bounded on every side.
		minX, minY, maxX, maxY := size, size, -1, -1
		for y := range size {
			for x := range size {
				if dark(x, y) {
					minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
				}
			}
		}
		span := maxX - minX + 1
		if span != maxY-minY+1 || span%modules != 0 {
			t.Fatalf("symbol spans %d×%d px for %d modules", span, maxY-minY+1, modules)
		}
		scale := span / modules
		if minX < 4*scale || minY < 4*scale || size-1-maxX < 4*scale || size-1-maxY < 4*scale {
			t.Fatalf("quiet zone under 4 modules: symbol at (%d,%d)-(%d,%d), %d px per module", minX, minY, maxX, maxY, scale)
		}
		for y := range modules {
			for x := range modules {
				r, _, _, _ := want.At(x, y).RGBA()
				if got := dark(minX+x*scale+scale/2, minY+y*scale+scale/2); got != (r == 0) {
					t.Fatalf("module (%d,%d): dark = %v, want %v", x, y, got, r == 0)
				}
			}
		}
	})
	t.Run("too small for the symbol is an error", func(t *testing.T) {
		if _, err := k.QRPNG(20); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("too large is an error", func(t *testing.T) {
		if _, err := k.QRPNG(totp.MaxQRSize + 1); err == nil {
			t.Fatal("no error")
		}
	})
}
