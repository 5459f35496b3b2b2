package session

import (
	"slices"
	"time"

	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// FreshProof is how recent a second factor must be before the account may
// add factors or see new backup codes.
const FreshProof = 5 * time.Minute

// DeviceAMR is the private amr value of a remembered device that stood in
// for the second factor (RFC 8176 names none).
const DeviceAMR = "rdev"

// AMR lists the amr (RFC 8176) of the factors that count under decision d —
// methods the policies allow, second factors within the MFA max age — plus
// mfa only when the session itself proved two factors, and DeviceAMR when a
// remembered device stood in for the second one.
func AMR(s *storage.Session, d policy.Decision, now time.Time) []string {
	var amr []string
	first, second := false, false
	for _, f := range s.Factors {
		pf := policyFactor(f)
		if !policy.Counts(pf, d.Allowed, d.MaxAge, now) {
			continue
		}
		if pf.Method == policy.FactorPassword {
			first = true
		} else {
			second = true
			first = first || pf.Method == policy.FactorPasskey || pf.UserVerified // itself two factors
		}
		for _, v := range f.AMR {
			if !slices.Contains(amr, v) {
				amr = append(amr, v)
			}
		}
	}
	if first && second && !slices.Contains(amr, "mfa") {
		amr = append(amr, "mfa")
	}
	if d.DeviceUsed {
		amr = append(amr, DeviceAMR)
	}
	return amr
}

// FreshSecondFactor reports whether the session proved a second factor
// within d.
func FreshSecondFactor(s *storage.Session, now time.Time, d time.Duration) bool {
	for _, f := range s.Factors {
		if f.Method != policy.FactorPassword && now.Sub(f.At) <= d {
			return true
		}
	}
	return false
}

// PolicyView turns the stored session into what policy.Decide reads.
func PolicyView(s *storage.Session) *policy.Session {
	if s == nil {
		return nil
	}
	ps := &policy.Session{AuthTime: s.AuthTime}
	for _, f := range s.Factors {
		ps.Factors = append(ps.Factors, policyFactor(f))
	}
	return ps
}

func policyFactor(f storage.SessionFactor) policy.Factor {
	return policy.Factor{Method: f.Method, At: f.At, UserVerified: f.UserVerified, DeviceBound: f.DeviceBound}
}
