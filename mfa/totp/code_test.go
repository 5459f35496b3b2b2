package totp

import (
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// rfcSecret is the SHA-1 seed of RFC 4226 Appendix D and RFC 6238 Appendix B.
var rfcSecret = []byte("12345678901234567890")

// hotpDigits computes a HOTP value of 6 or 8 digits the way Code does, for
// the 8-digit vectors.
func hotpDigits(t *testing.T, secret []byte, counter uint64, digits otp.Digits) string {
	t.Helper()
	opts := hotpOpts
	opts.Digits = digits
	c, err := hotp.GenerateCodeCustom(b32.EncodeToString(secret), counter, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRFC6238AppendixBSHA1Vectors(t *testing.T) {
	// RFC 6238 Appendix B, mode SHA1: Unix time, step T (hex) and 8-digit TOTP.
	vectors := []struct {
		unix int64
		step int64
		totp string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	}
	for _, v := range vectors {
		now := time.Unix(v.unix, 0).UTC()
		t.Run(now.Format(time.RFC3339), func(t *testing.T) {
			if got := Step(now); got != v.step {
				t.Fatalf("Step = %#x, want %#x", got, v.step)
			}
			if got := hotpDigits(t, rfcSecret, uint64(v.step), otp.DigitsEight); got != v.totp {
				t.Errorf("8-digit TOTP = %s, want %s", got, v.totp)
			}
			// A 6-digit code is the 8-digit one mod 10^6 (RFC 4226 §5.3).
			if got, want := Code(rfcSecret, v.step), v.totp[2:]; got != want {
				t.Errorf("Code = %s, want %s", got, want)
			}
			if step, err := Verify(rfcSecret, v.totp[2:], now, -1); err != nil || step != v.step {
				t.Errorf("Verify = %d, %v; want %d, nil", step, err, v.step)
			}
		})
	}
}

func TestRFC4226AppendixDHOTPVectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, w := range want {
		if got := Code(rfcSecret, int64(counter)); got != w {
			t.Errorf("HOTP(count=%d) = %s, want %s", counter, got, w)
		}
	}
}

func TestStepFloorsTowardsMinusInfinity(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want int64
	}{
		{"the epoch is step 0", time.Unix(0, 0), 0},
		{"29.999 s after the epoch is still step 0", time.Unix(29, 999_999_999), 0},
		{"30 s after the epoch is step 1", time.Unix(30, 0), 1},
		{"a nanosecond before the epoch is step -1", time.Unix(0, -1), -1},
		{"30 s before the epoch is step -1", time.Unix(-30, 0), -1},
		{"31 s before the epoch is step -2", time.Unix(-31, 0), -2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Step(tt.t); got != tt.want {
				t.Errorf("Step = %d, want %d", got, tt.want)
			}
		})
	}
}
