package notices_test

import (
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp/notices"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// What lifts the "this wasn't me" block: a session that proves, since the
// report, every kind of factor the user has.
func TestAFullSignInProvesEveryKindOfFactorSinceTheReport(t *testing.T) {
	at := time.Date(2026, 5, 5, 12, 0, 0, 0, time.UTC)
	withPassword := &storage.User{PasswordHash: "$argon2id$…"}
	passkeyOnly := &storage.User{}
	pwd := func(d time.Duration) storage.SessionFactor {
		return storage.SessionFactor{Method: policy.FactorPassword, At: at.Add(d)}
	}
	otp := func(d time.Duration) storage.SessionFactor {
		return storage.SessionFactor{Method: string(policy.TOTP), At: at.Add(d)}
	}
	for _, tc := range []struct {
		name      string
		user      *storage.User
		factors   []storage.SessionFactor
		hasSecond bool
		want      bool
	}{
		{"password and a second factor after the report", withPassword, []storage.SessionFactor{pwd(time.Minute), otp(2 * time.Minute)}, true, true},
		{"the password alone, when the user has a second factor", withPassword, []storage.SessionFactor{pwd(time.Minute)}, true, false},
		{"the second factor alone, when the user has a password", withPassword, []storage.SessionFactor{otp(time.Minute)}, true, false},
		{"a password proven before the report", withPassword, []storage.SessionFactor{pwd(-time.Minute), otp(time.Minute)}, true, false},
		{"the password, when it is the user's only factor", withPassword, []storage.SessionFactor{pwd(time.Minute)}, false, true},
		{"a passkey, for a user without a password", passkeyOnly, []storage.SessionFactor{{Method: policy.FactorPasskey, At: at.Add(time.Minute)}}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess := &storage.Session{Factors: tc.factors}
			if got := notices.FullSignIn(tc.user, sess, tc.hasSecond, at); got != tc.want {
				t.Fatalf("FullSignIn = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAFactorIsNamedInWords(t *testing.T) {
	for _, tc := range []struct{ method, name, want string }{
		{"totp", "Phone", "An authenticator app “Phone”"},
		{"webauthn", "", "A passkey or security key"},
		{"email", "", "A sign-in method"},
	} {
		if got := notices.FactorDescription(tc.method, tc.name); got != tc.want {
			t.Errorf("FactorDescription(%q, %q) = %q, want %q", tc.method, tc.name, got, tc.want)
		}
	}
}
