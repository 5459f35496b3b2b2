package totp_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	pqotp "github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/twofold-idp/twofold/mfa/totp"
)

// t0 is an arbitrary instant in the middle of a time step.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func mustSecret(t testing.TB) []byte {
	t.Helper()
	s, err := totp.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// SECURITY-RULES: "TOTP: 160-bit CSPRNG secret"
func TestGenerateSecretIs160RandomBits(t *testing.T) {
	a, b := mustSecret(t), mustSecret(t)
	if len(a) != totp.SecretBytes || totp.SecretBytes*8 != 160 {
		t.Fatalf("secret of %d bytes, want 20", len(a))
	}
	if bytes.Equal(a, b) {
		t.Fatal("two secrets are equal")
	}
}

func TestCodeAgreesWithPquernaOTP(t *testing.T) {
	secret := mustSecret(t)
	for i := range 50 {
		now := t0.Add(time.Duration(i) * 17 * time.Second)
		want, err := pqtotp.GenerateCodeCustom(base32NoPad(secret), now, pqtotp.ValidateOpts{
			Period: 30, Digits: pqotp.DigitsSix, Algorithm: pqotp.AlgorithmSHA1,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := totp.Code(secret, totp.Step(now)); got != want {
			t.Fatalf("at %v: Code = %s, pquerna/otp = %s", now, got, want)
		}
	}
}

// SECURITY-RULES: "TOTP: … accept the current step and one step of drift"
func TestVerifyAcceptsOneStepOfDriftEitherSide(t *testing.T) {
	secret := mustSecret(t)
	cur := totp.Step(t0)
	tests := []struct {
		name    string
		offset  int64
		wantErr error
	}{
		{"the current step's code is accepted", 0, nil},
		{"the previous step's code is accepted", -1, nil},
		{"the next step's code is accepted", +1, nil},
		{"a code two steps old is refused", -2, totp.ErrInvalidCode},
		{"a code two steps ahead is refused", +2, totp.ErrInvalidCode},
		{"a code ten steps old is refused", -10, totp.ErrInvalidCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := totp.Code(secret, cur+tt.offset)
			step, err := totp.Verify(secret, code, t0, -1)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && step != cur+tt.offset {
				t.Errorf("step = %d, want %d", step, cur+tt.offset)
			}
			if tt.wantErr != nil && step != -1 {
				t.Errorf("step = %d on failure, want -1", step)
			}
		})
	}
}

// SECURITY-RULES: "TOTP: … a code of a step at or before the last accepted one is refused, also across sessions and
// replicas"
func TestVerifyRefusesReplays(t *testing.T) {
	secret := mustSecret(t)
	cur := totp.Step(t0)

	step, err := totp.Verify(secret, totp.Code(secret, cur), t0, -1)
	if err != nil || step != cur {
		t.Fatalf("first use: %d, %v", step, err)
	}
	last := step

	t.Run("the same code again in the same step is a replay", func(t *testing.T) {
		if _, err := totp.Verify(secret, totp.Code(secret, cur), t0, last); !errors.Is(err, totp.ErrReplayedCode) {
			t.Fatalf("err = %v, want ErrReplayedCode", err)
		}
	})
	t.Run("the same code in the next step (still within drift) is a replay", func(t *testing.T) {
		if _, err := totp.Verify(secret, totp.Code(secret, cur), t0.Add(totp.Period), last); !errors.Is(err, totp.ErrReplayedCode) {
			t.Fatalf("err = %v, want ErrReplayedCode", err)
		}
	})
	t.Run("an older, never used code within drift is refused", func(t *testing.T) {
		if _, err := totp.Verify(secret, totp.Code(secret, cur-1), t0, last); !errors.Is(err, totp.ErrReplayedCode) {
			t.Fatalf("err = %v, want ErrReplayedCode", err)
		}
	})
	t.Run("the next step's code is accepted after the current one", func(t *testing.T) {
		step, err := totp.Verify(secret, totp.Code(secret, cur+1), t0, last)
		if err != nil || step != cur+1 {
			t.Fatalf("Verify = %d, %v; want %d, nil", step, err, cur+1)
		}
	})
	t.Run("a last step in the future refuses everything up to it", func(t *testing.T) {
		if _, err := totp.Verify(secret, totp.Code(secret, cur+1), t0, cur+1); !errors.Is(err, totp.ErrReplayedCode) {
			t.Fatalf("err = %v, want ErrReplayedCode", err)
		}
	})
	t.Run("a wrong code is invalid, not replayed", func(t *testing.T) {
		wrong := totp.Code(secret, cur+100)
		if _, err := totp.Verify(secret, wrong, t0, last); !errors.Is(err, totp.ErrInvalidCode) {
			t.Fatalf("err = %v, want ErrInvalidCode", err)
		}
	})
}

func TestVerifyRefusesWhatIsNotACodeForThisSecret(t *testing.T) {
	secret := mustSecret(t)
	code := totp.Code(secret, totp.Step(t0))
	t.Run("another secret's code is invalid", func(t *testing.T) {
		if _, err := totp.Verify(mustSecret(t), code, t0, -1); !errors.Is(err, totp.ErrInvalidCode) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("an empty secret verifies nothing", func(t *testing.T) {
		empty := totp.Code(nil, totp.Step(t0))
		if _, err := totp.Verify(nil, empty, t0, -1); !errors.Is(err, totp.ErrInvalidCode) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a malformed code is reported as such", func(t *testing.T) {
		if _, err := totp.Verify(secret, code+"0", t0, -1); !errors.Is(err, totp.ErrMalformedCode) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a code typed with a space verifies", func(t *testing.T) {
		if _, err := totp.Verify(secret, code[:3]+" "+code[3:], t0, -1); err != nil {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("near the epoch the steps before it are skipped", func(t *testing.T) {
		epoch := time.Unix(10, 0)
		if step, err := totp.Verify(secret, totp.Code(secret, 0), epoch, -1); err != nil || step != 0 {
			t.Fatalf("Verify = %d, %v", step, err)
		}
	})
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"six digits pass unchanged", "123456", "123456"},
		{"a space between the groups is removed", "123 456", "123456"},
		{"a dash between the groups is removed", "123-456", "123456"},
		{"surrounding white space is removed", " \t123456\n", "123456"},
		{"a no-break space from a copied code is removed", "123\u00a0456", "123456"},
		{"an en dash is removed", "123\u2013456", "123456"},
		{"leading zeros are kept", "000 042", "000042"},
		{"five digits are malformed", "12345", ""},
		{"seven digits are malformed", "1234567", ""},
		{"an eight-digit code is malformed", "12345678", ""},
		{"a letter is malformed", "12345a", ""},
		{"a plus sign is malformed", "+23456", ""},
		{"Arabic-Indic digits are malformed", "١٢٣٤٥٦", ""},
		{"full-width digits are malformed", "１２３４５６", ""},
		{"empty input is malformed", "", ""},
		{"only separators are malformed", " - - ", ""},
		{"very long padding is malformed", "123456" + string(bytes.Repeat([]byte(" "), 100)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := totp.NormalizeCode(tt.in)
			if tt.want == "" {
				if !errors.Is(err, totp.ErrMalformedCode) || got != "" {
					t.Fatalf("NormalizeCode(%q) = %q, %v; want ErrMalformedCode", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeCode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	secret := mustSecret(b)
	now := t0
	code := totp.Code(secret, totp.Step(now)) // every candidate is computed whichever matches
	for b.Loop() {
		if _, err := totp.Verify(secret, code, now, -1); err != nil {
			b.Fatal(err)
		}
	}
}
