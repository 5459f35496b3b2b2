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

// AMR lists the amr of the factors that count (second factors only within
// maxAge, when set), plus mfa when the level is two factors or more.
func AMR(s *storage.Session, level policy.Level, maxAge time.Duration, now time.Time) []string {
	var amr []string
	for _, f := range s.Factors {
		first := f.Method == policy.FactorPassword || f.Method == policy.FactorPasskey
		if !first && maxAge > 0 && now.Sub(f.At) > maxAge {
			continue
		}
		for _, v := range f.AMR {
			if !slices.Contains(amr, v) {
				amr = append(amr, v)
			}
		}
	}
	if level >= policy.LevelMFA && !slices.Contains(amr, "mfa") {
		amr = append(amr, "mfa")
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
		ps.Factors = append(ps.Factors, policy.Factor{Method: f.Method, At: f.At, UserVerified: f.UserVerified})
	}
	return ps
}
