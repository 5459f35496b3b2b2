package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Requirement says when a second factor is required.
type Requirement string

const (
	Always    Requirement = "always"     // every login proves a second factor
	OnRequest Requirement = "on_request" // only when the relying party asks (acr_values, claims)
	Never     Requirement = "never"      // never asked, even when requested (the level reached is reported)
)

// Method is a second factor a policy may accept.
type Method string

const (
	TOTP       Method = "totp"
	WebAuthn   Method = "webauthn"
	BackupCode Method = "backup_code"
	// Email and SMS are one-time codes sent to the user's verified address
	// or number: restricted authenticators (NIST SP 800-63B §5.1.3.3 for
	// SMS; email is not an out-of-band channel there at all), the weaker
	// choice. They count only where every applicable policy lists them.
	Email Method = "email"
	SMS   Method = "sms"
)

// AllMethods lists the methods a policy allows when it names none — every
// method but the opt-in ones (OptInMethods) — most phishing-resistant first.
var AllMethods = []Method{WebAuthn, TOTP, BackupCode}

// OptInMethods are off unless a policy lists them: email and SMS codes.
var OptInMethods = []Method{Email, SMS}

// KnownMethods lists every method, most phishing-resistant first: the order
// pages offer them in (backup codes last, kept for when nothing else works).
var KnownMethods = []Method{WebAuthn, TOTP, Email, SMS, BackupCode}

// OptIn reports whether m is one of OptInMethods.
func (m Method) OptIn() bool { return slices.Contains(OptInMethods, m) }

// AllowedMethods is what every one of ps allows (each with its defaults),
// in KnownMethods order: only these second factors count. With no policy,
// AllMethods.
func AllowedMethods(ps []Named) []Method {
	if len(ps) == 0 {
		return slices.Clone(AllMethods)
	}
	methods := slices.Clone(KnownMethods)
	for _, n := range ps {
		p := n.Policy.WithDefaults()
		methods = slices.DeleteFunc(methods, func(m Method) bool { return !slices.Contains(p.Methods, m) })
	}
	return methods
}

// Enrollment says what happens when MFA is required and the user has no
// second factor yet.
type Enrollment string

const (
	EnrollRequired Enrollment = "required" // enroll during login, then continue
	EnrollOptional Enrollment = "optional" // let the user through with one factor
)

// Policy is a named set of rules an administrator attaches to clients and
// groups.
type Policy struct {
	Name           string
	RequireMFA     Requirement
	Methods        []Method
	MFAMaxAge      time.Duration // 0: a second factor lasts as long as the session
	RememberDevice time.Duration // 0: off
	Enrollment     Enrollment
	// MinLevel is the weakest level a login under this policy may end at
	// (LevelNone: no minimum beyond RequireMFA).
	MinLevel Level
	// Clients limits the policy to sign-ins to these clients (empty: every
	// client), so that "contractors need a passkey for the finance app" is
	// a group policy limited to the finance client.
	Clients []string
	// EnrollmentGrace and EnrollmentGraceSignIns: a user who must enroll a
	// second factor may put it off ("Not now") for this long after first
	// doing so and/or for this many sign-ins (0: no limit of that kind;
	// both 0: no grace). See Grace.
	EnrollmentGrace        time.Duration
	EnrollmentGraceSignIns int

	// RequireVerifiedEmail: a sign-in under this policy completes only once
	// the user has verified their email address (issue 11): the login flow
	// asks for it after the factors, before the code is issued.
	RequireVerifiedEmail bool
}

// RequiresVerifiedEmail reports whether any of the effective policies asks
// for a verified email address.
func RequiresVerifiedEmail(pols []Named) bool {
	return slices.ContainsFunc(pols, func(n Named) bool { return n.Policy.RequireVerifiedEmail })
}

// AppliesTo reports whether the policy applies to a sign-in to clientID.
func (p Policy) AppliesTo(clientID string) bool {
	return len(p.Clients) == 0 || slices.Contains(p.Clients, clientID)
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// NameNone is the word that means "no policy" wherever a policy is named
// (the configuration file, `twofold policy assign none`), so no policy may
// be called that.
const NameNone = "none"

// ValidName reports whether s can name a policy or a group.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// FieldError is a validation problem with one field of a policy.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate checks every field and returns all problems joined.
func (p Policy) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case p.Name == "":
		bad("name", "must be set")
	case !ValidName(p.Name):
		bad("name", "must be 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit")
	case p.Name == NameNone:
		bad("name", "%q means no policy; choose another name", NameNone)
	}
	switch p.RequireMFA {
	case Always, OnRequest, Never:
	default:
		bad("require_mfa", "%q is not always, on_request or never", p.RequireMFA)
	}
	seen := map[Method]int{}
	for i, m := range p.Methods {
		field := fmt.Sprintf("methods[%d]", i)
		if !slices.Contains(KnownMethods, m) {
			bad(field, "%q is not a method (use totp, webauthn, backup_code, email, sms)", m)
		} else if j, dup := seen[m]; dup {
			bad(field, "%q is already listed at methods[%d]", m, j)
		} else {
			seen[m] = i
		}
	}
	if p.RequireMFA == Always && len(p.Methods) == 1 && p.Methods[0] == BackupCode {
		bad("methods", "backup codes alone cannot satisfy a policy that always requires MFA; add totp or webauthn")
	}
	if p.MFAMaxAge < 0 {
		bad("mfa_max_age", "must not be negative")
	}
	if p.RememberDevice < 0 {
		bad("remember_device", "must not be negative")
	}
	switch p.Enrollment {
	case EnrollRequired, EnrollOptional:
	default:
		bad("enrollment", "%q is not required or optional", p.Enrollment)
	}
	if p.MinLevel < LevelNone || p.MinLevel > LevelPhishingResistantHardware {
		bad("min_level", "must be pwd, mfa, phr or phrh")
	}
	if p.MinLevel >= LevelPhishingResistant && !slices.Contains(p.Methods, WebAuthn) && len(p.Methods) > 0 {
		bad("min_level", "phr and phrh need webauthn among the methods")
	}
	validateGrace(p, bad)
	return errors.Join(errs...)
}

// ParseLevel reads a level as an admin writes it: an acr value or its
// short name (pwd, mfa, phr, phrh); "" is no minimum.
func ParseLevel(s string) (Level, error) {
	switch s {
	case "":
		return LevelNone, nil
	case "pwd":
		return LevelPassword, nil
	case "mfa":
		return LevelMFA, nil
	case "phr":
		return LevelPhishingResistant, nil
	case "phrh":
		return LevelPhishingResistantHardware, nil
	}
	if l, ok := ParseACR(s); ok {
		return l, nil
	}
	return LevelNone, fmt.Errorf("%q is not a level (use pwd, mfa, phr or phrh)", s)
}

// WithDefaults fills the fields an administrator may leave out: on_request,
// every method but the opt-in ones (AllMethods), required enrollment.
func (p Policy) WithDefaults() Policy {
	if p.RequireMFA == "" {
		p.RequireMFA = OnRequest
	}
	if len(p.Methods) == 0 {
		p.Methods = slices.Clone(AllMethods)
	}
	if p.Enrollment == "" {
		p.Enrollment = EnrollRequired
	}
	return p
}
