package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Level is an authentication level, weakest first (ARCHITECTURE.md "Claims").
type Level int

const (
	LevelNone              Level = iota
	LevelPassword                // one factor
	LevelMFA                     // two independent factors
	LevelPhishingResistant       // WebAuthn with user verification (itself two factors)
	// LevelPhishingResistantHardware: WebAuthn with user verification from a
	// device-bound credential (backup-eligible flag clear).
	LevelPhishingResistantHardware
)

// ACR values of the levels: ours for one and two factors, the OpenID EAP
// ACR Values for the phishing-resistant ones, and the aliases requests may
// use (ARCHITECTURE.md "Claims").
const (
	ACRPassword                  = "urn:twofold:acr:pwd"
	ACRMFA                       = "urn:twofold:acr:mfa"
	ACRPhishingResistant         = "phr"
	ACRPhishingResistantHardware = "phrh"
	ACRPAPEMultiFactor           = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
	ACRTwofoldPhishingResistant  = "urn:twofold:acr:phr"
)

// ACRValuesSupported lists every acr value Twofold understands, weakest
// level first, for discovery.
var ACRValuesSupported = []string{ACRPassword, ACRMFA, ACRPAPEMultiFactor, ACRPhishingResistant, ACRTwofoldPhishingResistant, ACRPhishingResistantHardware}

// ACR returns the level's canonical acr value ("" for LevelNone).
func (l Level) ACR() string {
	switch l {
	case LevelPassword:
		return ACRPassword
	case LevelMFA:
		return ACRMFA
	case LevelPhishingResistant:
		return ACRPhishingResistant
	case LevelPhishingResistantHardware:
		return ACRPhishingResistantHardware
	}
	return ""
}

func (l Level) String() string {
	if a := l.ACR(); a != "" {
		return a
	}
	return "none"
}

// ParseACR maps an acr value to its level; unknown values are not levels.
func ParseACR(s string) (Level, bool) {
	switch s {
	case ACRPassword:
		return LevelPassword, true
	case ACRMFA, ACRPAPEMultiFactor:
		return LevelMFA, true
	case ACRPhishingResistant, ACRTwofoldPhishingResistant:
		return LevelPhishingResistant, true
	case ACRPhishingResistantHardware:
		return LevelPhishingResistantHardware, true
	}
	return LevelNone, false
}

// Factor methods as recorded on a session.
const (
	FactorPassword = "pwd"
	FactorPasskey  = "passkey" // discoverable WebAuthn sign-in with user verification
)

// Factor is one factor proven in the SSO session.
type Factor struct {
	Method       string // FactorPassword, FactorPasskey, or a second-factor Method
	At           time.Time
	UserVerified bool // WebAuthn: the authenticator verified the user (PIN, biometric)
	DeviceBound  bool // WebAuthn: the credential cannot leave its authenticator
}

// Session is what the SSO session has proven.
type Session struct {
	AuthTime time.Time
	Factors  []Factor
}

// Request is what the relying party asked for.
type Request struct {
	ACRValues    []string       // voluntary, most preferred first (OIDC Core §3.1.2.1)
	EssentialACR []string       // values of an essential acr claim: one of them must be met (§5.5.1.1)
	MaxAge       *time.Duration // the first factor must be at most this old
	PromptLogin  bool           // prompt=login, and the user has not signed in during this request yet
}

// Named is a policy with where it came from, for the audit trail and
// explanations.
type Named struct {
	Policy Policy
	Source string     // "client app", "group staff", "default": Via in words
	Via    Attachment // where the policy is attached (zero when unknown)
}

// Methods say what the second-factor methods are. The factor registry
// fills them: the policy names methods but knows nothing of them.
type Methods struct {
	Enrollable        []Method // may be enrolled on their own (backup codes come with another factor)
	PhishingResistant []Method // reach phr when the authenticator verifies the user (WebAuthn)
}

// Input is everything Decide looks at. It is pure data: the caller loads it.
type Input struct {
	Methods  Methods
	Policies []Named
	Request  Request
	Session  *Session // nil: nobody is signed in
	Enrolled []Method // the user's confirmed second factors
	// EnrolledDeviceBound: the user has a device-bound WebAuthn credential.
	EnrolledDeviceBound bool
	// RememberedAt: this browser carries the user's remembered-device
	// cookie, set then. It stands in for a second factor only where a policy
	// asks for MFA and only within the shortest remember_device of the
	// policies — never for phr or what the request demands.
	RememberedAt *time.Time
	// Grace is the user's enrollment grace so far (see Grace).
	Grace GraceState
	Now   time.Time
}

// Need is what must still happen.
type Need int

const (
	NeedNothing      Need = iota // issue the code; Decision.Level is the acr
	NeedFirstFactor              // sign in (password or passkey)
	NeedSecondFactor             // prove one of Decision.Methods
	NeedEnrollment               // enroll one of Decision.Methods first
	NeedImpossible               // the requirement cannot be met: unmet_authentication_requirements
)

func (n Need) String() string {
	return [...]string{"nothing", "first factor", "second factor", "enrollment", "impossible"}[n]
}

// Decision is Decide's answer.
type Decision struct {
	Need      Need
	Level     Level    // what the session proves (counting only factors within the MFA max age)
	Target    Level    // what the login must reach
	Methods   []Method // second factors that satisfy Target, most phishing-resistant first
	RequireUV bool     // the second factor must be WebAuthn with user verification
	// RequireDeviceBound: the WebAuthn credential must be device-bound (phrh).
	RequireDeviceBound bool
	// Allowed are the methods every applicable policy allows: only these
	// count toward the level (and the amr).
	Allowed []Method
	// ACR is the acr claim when Need is NeedNothing: the first value the
	// application asked for that the sign-in meets, else the level's own.
	ACR string
	// DeviceUsed: a remembered device stood in for the second factor.
	DeviceUsed bool
	MaxAge     time.Duration
	// RememberFor: how long a remembered device may stand in for the
	// second factor here (0: not allowed) — only for policy-demanded MFA.
	RememberFor time.Duration
	// Grace: Need is NeedEnrollment, and the enrollment grace lets the
	// person put it off for now ("Not now"): what is left of it.
	Grace *Grace
	// GraceUsed: the session put enrollment off within the grace, so Need
	// is NeedNothing at the level reached; Grace says what is left.
	GraceUsed bool
	Reason    string // why, in an admin's words ("policy strict (group staff) requires MFA always")
}

// Decide is the step-up policy: from what was asked and what was proven, it
// says what must still be proven. The strongest requirement wins.
func Decide(in Input) Decision { return decide(in, nil) }

// decide is Decide, telling x (when not nil) every rule that shaped the
// decision as it applies it: Decide and Explain run this one function, so
// an explanation cannot describe a decision other than the one made.
func decide(in Input, x *explainer) Decision {
	d := Decision{MaxAge: mfaMaxAge(in.Policies)}
	var reasons []string

	// What policy demands; only methods every policy allows count. Read
	// before the session so that an explanation lists every policy rule
	// whatever the outcome.
	methods := AllowedMethods(in.Policies)
	target, enrollRequired := LevelPassword, false
	for _, n := range in.Policies {
		p := n.Policy.WithDefaults()
		want := p.MinLevel
		if p.RequireMFA == Always {
			want = max(want, LevelMFA)
		}
		if want > LevelPassword {
			reasons = append(reasons, fmt.Sprintf("policy %s (%s) requires %s", p.Name, n.Source, levelWords(want)))
			if want > target {
				target = want
			}
			enrollRequired = enrollRequired || p.Enrollment == EnrollRequired
		}
		x.policy(n, p, want)
	}
	x.policies(in.Policies, methods, target)
	if in.Session == nil {
		d.Need, d.Reason = NeedFirstFactor, "nobody is signed in"
		x.session(in, methods, d.MaxAge)
		return d
	}
	if in.Request.PromptLogin {
		d.Need, d.Reason = NeedFirstFactor, "the application asked to sign in again (prompt=login)"
		x.add(Rule{Source: SourceRequest, Field: "prompt", Value: "login", Effect: "asks for the first factor again: the sign-in happened before this request"})
		return d
	}
	// max_age bounds the age of the first factor: a later second factor
	// does not make an old sign-in fresh (OIDC Core §3.1.2.1).
	if m := in.Request.MaxAge; m != nil {
		age := in.Now.Sub(FirstFactorAt(in.Session))
		if age > *m {
			d.Need, d.Reason = NeedFirstFactor, fmt.Sprintf("the sign-in is older than the application's max_age (%s)", durationWords(*m))
			x.add(Rule{Source: SourceRequest, Field: "max_age", Value: durationWords(*m), Effect: "asks for the first factor again: it was proven " + durationWords(age) + " ago"})
			return d
		}
		x.add(Rule{Source: SourceRequest, Field: "max_age", Value: durationWords(*m), Effect: "met: the first factor was proven " + durationWords(age) + " ago"})
	}

	d.Allowed = slices.Clone(methods)
	d.Level = sessionLevel(in.Session, methods, d.MaxAge, in.Now)
	x.session(in, methods, d.MaxAge)
	policyTarget := target
	never := slices.ContainsFunc(in.Policies, func(n Named) bool { return n.Policy.RequireMFA == Never })

	enrollable := func(m Method) bool { return slices.Contains(in.Methods.Enrollable, m) }
	phishingResistant := func(m Method) bool { return slices.Contains(in.Methods.PhishingResistant, m) }
	allowedEnrolled := func(m Method) bool { return slices.Contains(in.Enrolled, m) && slices.Contains(methods, m) }
	allowedResistant := func(m Method) bool { return phishingResistant(m) && allowedEnrolled(m) }
	canReach := func(l Level) bool {
		switch l {
		case LevelPhishingResistantHardware:
			return in.EnrolledDeviceBound && slices.ContainsFunc(in.Enrolled, allowedResistant)
		case LevelPhishingResistant:
			return slices.ContainsFunc(in.Enrolled, allowedResistant)
		case LevelMFA:
			return slices.ContainsFunc(in.Enrolled, allowedEnrolled)
		}
		return true
	}

	// What the request demands: an essential acr is never downgraded, and
	// one whose values Twofold does not know cannot be met.
	essential := LevelNone
	for _, v := range in.Request.EssentialACR {
		if l, ok := ParseACR(v); ok && (essential == LevelNone || l < essential) {
			essential = l // any listed value satisfies: the weakest is enough
		}
	}
	if len(in.Request.EssentialACR) > 0 && essential == LevelNone {
		d.Need, d.Target = NeedImpossible, LevelNone
		d.Reason = "the application requires an acr value Twofold does not know (essential acr)"
		x.add(Rule{Source: SourceRequest, Field: "essential_acr", Value: strings.Join(in.Request.EssentialACR, " "),
			Effect: "cannot be met: Twofold knows none of these values (unmet_authentication_requirements)"})
		return d
	}
	if essential > target {
		target = essential
		reasons = append(reasons, "the application requires "+levelWords(essential)+" (essential acr)")
	}
	if len(in.Request.EssentialACR) > 0 {
		x.add(Rule{Source: SourceRequest, Field: "essential_acr", Value: strings.Join(in.Request.EssentialACR, " "),
			Effect: "requires at least " + essential.String() + " (the weakest value listed); never downgraded"})
	}

	// What the request prefers: the first listed level that is reached or
	// reachable; if none is, the closest level the user can reach below
	// the strongest one asked for (voluntary: never claimed unperformed).
	if never && len(in.Request.ACRValues) > 0 {
		x.add(Rule{Source: SourceRequest, Field: "acr_values", Value: strings.Join(in.Request.ACRValues, " "),
			Effect: "ignored: a policy never requires MFA"})
	}
	if !never {
		aim, strongest := LevelNone, LevelNone
		for _, v := range in.Request.ACRValues {
			l, ok := ParseACR(v)
			if !ok {
				continue
			}
			strongest = max(strongest, l)
			if l <= d.Level || canReach(l) {
				aim = l
				break
			}
		}
		for l := strongest; aim == LevelNone && l > LevelPassword; l-- {
			if l <= d.Level || canReach(l) {
				aim = l
			}
		}
		x.acrValues(in.Request.ACRValues, aim, strongest, target)
		if aim > target {
			target = aim
			reasons = append(reasons, "the application asked for "+levelWords(aim)+" (acr_values)")
		}
	}
	d.Target = target
	d.Reason = strings.Join(reasons, "; ")

	if target == LevelMFA && policyTarget == LevelMFA && essential < LevelMFA {
		d.RememberFor = RememberFor(in.Policies)
	}
	level := d.Level
	if d.RememberFor > 0 && in.RememberedAt != nil && in.Now.Sub(*in.RememberedAt) <= d.RememberFor &&
		level == LevelPassword && target == LevelMFA && policyTarget == LevelMFA && essential < LevelMFA {
		level, d.DeviceUsed = LevelMFA, true // a remembered device stands in for policy-demanded MFA only
		d.Reason = join(d.Reason, "this device is remembered")
	}
	x.device(in, d, target, policyTarget, essential)
	if level >= target {
		d.Need, d.Level = NeedNothing, max(level, d.Level)
		d.ACR = acrClaim(in.Request, d.Level)
		if d.Reason == "" {
			d.Reason = "the sign-in satisfies every policy"
		}
		return d
	}

	if target >= LevelPhishingResistant {
		d.RequireUV = true
		d.RequireDeviceBound = target == LevelPhishingResistantHardware
		methods = slices.DeleteFunc(methods, func(m Method) bool { return !phishingResistant(m) })
	}
	usable := slices.DeleteFunc(slices.Clone(methods), func(m Method) bool { return !slices.Contains(in.Enrolled, m) })
	if d.RequireDeviceBound && !in.EnrolledDeviceBound {
		usable = nil // only a device-bound credential can reach phrh
	}
	switch {
	case len(usable) > 0:
		d.Need, d.Methods = NeedSecondFactor, usable
	case len(methods) == 0 || !slices.ContainsFunc(methods, enrollable):
		d.Need = NeedImpossible
		d.Reason = join(d.Reason, "no allowed method can be enrolled")
	case essential >= target || enrollRequired && policyTarget >= target:
		d.Need = NeedEnrollment
		d.Methods = slices.DeleteFunc(methods, func(m Method) bool { return !enrollable(m) })
		g, why, ok := enrollmentGrace(in, target, essential)
		used := ok && in.Grace.Skipped
		x.grace(g, why, ok, used)
		switch {
		case used:
			d.Need, d.Methods, d.Target, d.GraceUsed, d.Grace = NeedNothing, nil, d.Level, true, &g
			d.ACR = acrClaim(in.Request, d.Level)
			d.Reason = join(d.Reason, "enrollment was put off during the enrollment grace")
		case ok:
			d.Grace = &g
		}
	case policyTarget >= target:
		// Policy demands it but lets users without a factor through.
		d.Need, d.Target = NeedNothing, d.Level
		d.ACR = acrClaim(in.Request, d.Level)
		d.Reason = join(d.Reason, "enrollment is optional and the user has no second factor")
	default:
		d.Need, d.Target = NeedNothing, d.Level
		d.ACR = acrClaim(in.Request, d.Level)
	}
	return d
}

// acrClaim is the acr of a sign-in at level: the first value of the
// essential acr claim, else of acr_values, that the level meets — the value
// as the application wrote it — else the level's canonical value.
func acrClaim(r Request, level Level) string {
	values := r.EssentialACR
	if len(values) == 0 {
		values = r.ACRValues
	}
	for _, v := range values {
		if l, ok := ParseACR(v); ok && l <= level {
			return v
		}
	}
	return level.ACR()
}

// FirstFactorAt is when the session last proved a first factor (password
// or passkey): what prompt=login and max_age measure.
func FirstFactorAt(s *Session) time.Time {
	var at time.Time
	for _, f := range s.Factors {
		if isFirst(f) && f.At.After(at) {
			at = f.At
		}
	}
	return at
}

func isFirst(f Factor) bool {
	// A factor whose authenticator verified the user is two factors by itself.
	return f.Method == FactorPassword || f.Method == FactorPasskey || f.UserVerified
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func levelWords(l Level) string {
	switch l {
	case LevelMFA:
		return "MFA"
	case LevelPhishingResistant:
		return "a phishing-resistant factor (passkey or security key)"
	case LevelPhishingResistantHardware:
		return "a phishing-resistant factor bound to its device (a security key or device-bound passkey)"
	}
	return "a password"
}

// RememberFor is the shortest remember-device duration of the policies;
// one policy that does not allow it (0), or no policy at all, turns it off.
func RememberFor(ps []Named) time.Duration {
	var m time.Duration
	for i, n := range ps {
		r := n.Policy.RememberDevice
		if r <= 0 {
			return 0
		}
		if i == 0 || r < m {
			m = r
		}
	}
	return m
}

// mfaMaxAge is the strictest MFA max age of the policies (0: none).
func mfaMaxAge(ps []Named) time.Duration {
	var m time.Duration
	for _, n := range ps {
		if a := n.Policy.MFAMaxAge; a > 0 && (m == 0 || a < m) {
			m = a
		}
	}
	return m
}

// Counts reports whether factor f counts toward the level under the
// allowed methods: a first factor always; a second factor only when its
// method is allowed and it is within maxAge (when set).
func Counts(f Factor, allowed []Method, maxAge time.Duration, now time.Time) bool {
	if f.Method == FactorPassword {
		return true
	}
	m := Method(f.Method)
	if f.Method == FactorPasskey {
		m = WebAuthn
	}
	return slices.Contains(allowed, m) && (maxAge == 0 || now.Sub(f.At) <= maxAge)
}

// sessionLevel counts the factors of s that count under allowed and maxAge.
func sessionLevel(s *Session, allowed []Method, maxAge time.Duration, now time.Time) Level {
	first, second, phr, phrh := false, false, false, false
	for _, f := range s.Factors {
		if isFirst(f) {
			first = true
		}
		if f.Method == FactorPassword || !Counts(f, allowed, maxAge, now) {
			continue
		}
		second = true
		if f.Method == FactorPasskey || f.UserVerified {
			phr = true
			phrh = phrh || f.DeviceBound
		}
	}
	switch {
	case phrh:
		return LevelPhishingResistantHardware
	case phr:
		return LevelPhishingResistant
	case first && second:
		return LevelMFA
	case first:
		return LevelPassword
	}
	return LevelNone
}
