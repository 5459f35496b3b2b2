package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// AttachmentKind is how a policy came to apply to a sign-in.
type AttachmentKind string

const (
	AttachedDefault AttachmentKind = "default" // the default policy: every sign-in
	AttachedClient  AttachmentKind = "client"  // attached to the client signed in to
	AttachedGroup   AttachmentKind = "group"   // attached to a group the user is in
)

// Attachment says where an applicable policy is attached.
type Attachment struct {
	Kind AttachmentKind `json:"kind"`
	Name string         `json:"name,omitempty"` // the client id or group name; "" for the default
}

// String is the attachment in an admin's words: "default", "client app",
// "group staff".
func (a Attachment) String() string {
	if a.Name == "" {
		return string(a.Kind)
	}
	return string(a.Kind) + " " + a.Name
}

// Where a Rule comes from besides a policy.
const (
	SourcePolicies = "all policies" // what the applicable policies add up to
	SourceRequest  = "request"      // what the application asked for
	SourceSession  = "session"      // what the SSO session has proven
	SourceDevice   = "device"       // the browser's remembered device
)

// Rule is one thing that shaped a decision: a field of an applicable policy,
// what the policies add up to, a parameter of the request, a factor of the
// session or the remembered device — with what it did to this decision.
type Rule struct {
	// Source: "policy strict (group staff)", or one of the Source constants.
	Source string `json:"source"`
	// Policy and Via name the policy and its attachment (policy rules only).
	Policy string      `json:"policy,omitempty"`
	Via    *Attachment `json:"via,omitempty"`
	// Field is the policy field (require_mfa, min_level, methods,
	// mfa_max_age, remember_device, enrollment, clients), the request
	// parameter (acr_values, essential_acr, max_age, prompt), or what
	// else was looked at (level, factor, session, remembered_device).
	Field string `json:"field"`
	Value string `json:"value"` // as configured, asked or proven
	// Effect is what the rule did to this decision, in an admin's words.
	Effect string `json:"effect"`
}

// String is the rule on one line, for the audit trail.
func (r Rule) String() string {
	return fmt.Sprintf("%s: %s=%s: %s", r.Source, r.Field, r.Value, r.Effect)
}

// Explanation is a decision with every rule that contributed to it.
type Explanation struct {
	Decision Decision
	// Allowed are the second factors every applicable policy allows (the
	// intersection), whatever the outcome.
	Allowed []Method
	Rules   []Rule
}

// Explain is Decide that also says why: it runs the very code Decide runs,
// noting each rule as it is applied.
func Explain(in Input) Explanation {
	x := &explainer{}
	d := decide(in, x)
	return Explanation{Decision: d, Allowed: x.allowed, Rules: x.rules}
}

// Lines are the rules one per line, then the outcome: the compact form the
// audit trail keeps.
func (e Explanation) Lines() []string {
	out := make([]string, 0, len(e.Rules)+1)
	for _, r := range e.Rules {
		out = append(out, r.String())
	}
	return append(out, "outcome: "+e.Decision.Summary())
}

// Compact is the explanation in a few lines for the audit trail: one per
// applicable policy with its fields, one per other rule, then the outcome.
func (e Explanation) Compact() []string {
	var out []string
	var cur string
	var fields []string
	flush := func() {
		if cur != "" {
			out = append(out, cur+": "+strings.Join(fields, " "))
		}
		cur, fields = "", nil
	}
	for _, r := range e.Rules {
		if r.Policy == "" {
			flush()
			out = append(out, r.String())
			continue
		}
		if r.Source != cur {
			flush()
			cur = r.Source
		}
		fields = append(fields, r.Field+"="+strings.ReplaceAll(r.Value, ", ", ","))
	}
	flush()
	return append(out, "outcome: "+e.Decision.Summary())
}

// Summary says what the decision asks of the person, in an admin's words.
func (d Decision) Summary() string {
	switch d.Need {
	case NeedNothing:
		s := "nothing more: the sign-in completes at " + d.ACR
		if d.DeviceUsed {
			s += " (a remembered device stood in for the second factor)"
		}
		if d.GraceUsed {
			s += " (enrollment put off during the enrollment grace)"
		}
		return s
	case NeedFirstFactor:
		return "sign in (password or passkey): " + d.Reason
	case NeedSecondFactor:
		return "a second factor, one of " + joinMethods(d.Methods) + uvWords(d)
	case NeedEnrollment:
		s := "enrollment of a second factor, one of " + joinMethods(d.Methods) + uvWords(d)
		if d.Grace != nil {
			s += "; the enrollment grace lets the user put it off (" + d.Grace.Words() + ")"
		}
		return s
	}
	return "unmet_authentication_requirements: " + d.Reason
}

func uvWords(d Decision) string {
	switch {
	case d.RequireDeviceBound:
		return " (device-bound, with user verification)"
	case d.RequireUV:
		return " (with user verification)"
	}
	return ""
}

func joinMethods(ms []Method) string {
	if len(ms) == 0 {
		return "none"
	}
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// explainer collects the rules of one decision. A nil *explainer (Decide)
// notes nothing and costs nothing.
type explainer struct {
	rules   []Rule
	allowed []Method
}

func (x *explainer) add(r Rule) {
	if x != nil {
		x.rules = append(x.rules, r)
	}
}

// policy notes the fields of one applicable policy; p has its defaults
// filled, want is the level it demands by itself.
func (x *explainer) policy(n Named, p Policy, want Level) {
	if x == nil {
		return
	}
	via := n.Via
	add := func(field, value, effect string) {
		r := Rule{Source: fmt.Sprintf("policy %s (%s)", p.Name, n.Source), Policy: p.Name, Field: field, Value: value, Effect: effect}
		if via.Kind != "" {
			r.Via = &via
		}
		x.add(r)
	}
	req := string(p.RequireMFA)
	if n.Policy.RequireMFA == "" {
		req += " (default)"
	}
	switch p.RequireMFA {
	case Always:
		add("require_mfa", req, "requires MFA at every sign-in")
	case Never:
		add("require_mfa", req, "never asks for a second factor, even when the application asks: acr_values are ignored")
	default:
		add("require_mfa", req, "asks for a second factor only when the application does")
	}
	if p.MinLevel > LevelNone {
		add("min_level", p.MinLevel.String(), "requires at least "+levelWords(p.MinLevel))
	}
	if len(n.Policy.Methods) == 0 {
		add("methods", "all (default)", "every second factor counts but the opt-in ones (email, sms), which only a policy that lists them allows")
	} else {
		add("methods", joinMethods(p.Methods), "only these second factors count; others do not, even if the user has them")
	}
	if p.MFAMaxAge > 0 {
		add("mfa_max_age", durationWords(p.MFAMaxAge), "a second factor counts for "+durationWords(p.MFAMaxAge)+" after it was proven")
	} else {
		add("mfa_max_age", "0", "a second factor counts as long as the session lasts")
	}
	if p.RememberDevice > 0 {
		add("remember_device", durationWords(p.RememberDevice), "a remembered device may stand in for the MFA policies require, for "+durationWords(p.RememberDevice))
	} else {
		add("remember_device", "0", "off: no remembered device stands in for a second factor in this sign-in")
	}
	enroll := string(p.Enrollment)
	if n.Policy.Enrollment == "" {
		enroll += " (default)"
	}
	switch {
	case want <= LevelPassword:
		add("enrollment", enroll, "no effect: this policy does not require a second factor by itself")
	case p.Enrollment == EnrollRequired:
		add("enrollment", enroll, "a user without an allowed second factor enrolls one during sign-in")
	default:
		add("enrollment", enroll, "a user without a second factor may sign in without one")
	}
	if p.EnrollmentGrace > 0 {
		add("enrollment_grace", durationWords(p.EnrollmentGrace), "a user who must enroll may put it off for "+durationWords(p.EnrollmentGrace)+" from the first time")
	}
	if p.EnrollmentGraceSignIns > 0 {
		add("enrollment_grace_sign_ins", strconv.Itoa(p.EnrollmentGraceSignIns), "a user who must enroll may put it off for "+plural(p.EnrollmentGraceSignIns, "sign-in", "sign-ins"))
	}
	if len(p.Clients) > 0 {
		add("clients", strings.Join(p.Clients, ", "), "applies only to sign-ins to these clients (this is one)")
	}
}

// policies notes what the applicable policies add up to.
func (x *explainer) policies(ps []Named, methods []Method, target Level) {
	if x == nil {
		return
	}
	x.allowed = append([]Method{}, methods...)
	if len(ps) == 0 {
		x.add(Rule{Source: SourcePolicies, Field: "policies", Value: "none", Effect: "no policy applies: a password is enough unless the application asks for more"})
	}
	if len(methods) == 0 {
		x.add(Rule{Source: SourcePolicies, Field: "methods", Value: "none", Effect: "no second factor is allowed by every policy: MFA cannot be met"})
	} else {
		x.add(Rule{Source: SourcePolicies, Field: "methods", Value: joinMethods(methods), Effect: "allowed by every applicable policy (the intersection): only these count"})
	}
	x.add(Rule{Source: SourcePolicies, Field: "level", Value: target.String(), Effect: "the strongest level the policies require"})
	if m := mfaMaxAge(ps); m > 0 {
		x.add(Rule{Source: SourcePolicies, Field: "mfa_max_age", Value: durationWords(m), Effect: "the shortest of the policies: an older second factor is asked again"})
	}
	if len(ps) > 0 {
		if r := RememberFor(ps); r > 0 {
			x.add(Rule{Source: SourcePolicies, Field: "remember_device", Value: durationWords(r), Effect: "the shortest of the policies"})
		} else {
			x.add(Rule{Source: SourcePolicies, Field: "remember_device", Value: "0", Effect: "a policy does not allow remembered devices: none stands in here"})
		}
	}
}

// session notes what the session has proven and what of it counts.
func (x *explainer) session(in Input, allowed []Method, maxAge time.Duration) {
	if x == nil {
		return
	}
	if in.Session == nil {
		x.add(Rule{Source: SourceSession, Field: "session", Value: "none", Effect: "nobody is signed in: the first factor is asked"})
		return
	}
	for _, f := range in.Session.Factors {
		v := fmt.Sprintf("%s, %s ago", f.Method, durationWords(in.Now.Sub(f.At)))
		if f.UserVerified && f.Method != FactorPasskey {
			v += ", user verified"
		}
		effect := "counts"
		switch m := Method(f.Method); {
		case Counts(f, allowed, maxAge, in.Now):
		case f.Method == FactorPasskey:
			m = WebAuthn
			fallthrough
		default:
			if !containsMethod(allowed, m) {
				effect = "does not count: " + string(m) + " is not allowed by every policy"
			} else {
				effect = "does not count: older than mfa_max_age " + durationWords(maxAge)
			}
			if isFirst(f) {
				effect += " (it still counts as the first factor)"
			}
		}
		x.add(Rule{Source: SourceSession, Field: "factor", Value: v, Effect: effect})
	}
	l := sessionLevel(in.Session, allowed, maxAge, in.Now)
	x.add(Rule{Source: SourceSession, Field: "level", Value: l.String(), Effect: "what the session proves with the factors that count"})
}

func containsMethod(ms []Method, m Method) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// acrValues notes what the voluntary acr_values did: aim is the level
// aimed at (LevelNone: none), strongest the strongest known value, before
// the level the policies and an essential acr demand.
func (x *explainer) acrValues(values []string, aim, strongest, before Level) {
	if x == nil || len(values) == 0 {
		return
	}
	r := Rule{Source: SourceRequest, Field: "acr_values", Value: strings.Join(values, " ")}
	switch {
	case strongest == LevelNone:
		r.Effect = "ignored: Twofold knows none of these values"
	case aim == LevelNone:
		r.Effect = "the user can reach none of these levels: voluntary, so the level reached is reported"
	case aim < strongest:
		r.Effect = "aims at " + aim.String() + ", the closest level the user can reach (voluntary: never claimed unperformed)"
	default:
		r.Effect = "aims at " + aim.String()
	}
	if aim != LevelNone && aim <= before {
		r.Effect += "; no more than what is already required"
	}
	x.add(r)
}

// device notes what the remembered device did.
func (x *explainer) device(in Input, d Decision, target, policyTarget, essential Level) {
	if x == nil || in.RememberedAt == nil {
		return
	}
	age := in.Now.Sub(*in.RememberedAt)
	r := Rule{Source: SourceDevice, Field: "remembered_device", Value: "remembered " + durationWords(age) + " ago"}
	switch {
	case d.DeviceUsed:
		r.Effect = "stands in for the second factor the policies require (within remember_device " + durationWords(d.RememberFor) + ")"
	case d.Level >= target:
		r.Effect = "not needed: the session meets the level by itself"
	case target != LevelMFA:
		r.Effect = "does not count: it stands in only for MFA, not for " + target.String()
	case essential >= LevelMFA:
		r.Effect = "does not count: the application demands the level (essential acr)"
	case policyTarget < LevelMFA:
		r.Effect = "does not count: only MFA a policy requires may be skipped, and the application asked for it"
	case d.RememberFor == 0:
		r.Effect = "does not count: a policy does not allow remembered devices (remember_device 0)"
	case age > d.RememberFor:
		r.Effect = "does not count: older than remember_device " + durationWords(d.RememberFor)
	default:
		r.Effect = "does not count"
	}
	x.add(r)
}

// durationWords writes d as an admin would: 30d, 12h, 5m, 1h30m, 45s.
func durationWords(d time.Duration) string {
	if d < time.Second {
		return d.String() // 0s, or a clock that went backwards
	}
	var b strings.Builder
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return b.String()
}

// ParseCompact reads back what Compact wrote, for the audit log to show:
// a Rule per field of each applicable policy (with Policy and Via; no
// Effect, which the compact form does not keep), a Rule per other line,
// and the outcome. A line it cannot read becomes a Rule holding only that
// line as its Effect, so nothing an event holds is lost.
func ParseCompact(lines []string) (rules []Rule, outcome string) {
	for _, line := range lines {
		source, rest, ok := strings.Cut(line, ": ")
		switch {
		case !ok:
			rules = append(rules, Rule{Effect: line})
		case source == "outcome":
			outcome = rest
		case strings.HasPrefix(source, "policy "):
			rules = append(rules, compactPolicy(source, rest)...)
		default:
			field, value, ok1 := strings.Cut(rest, "=")
			value, effect, ok2 := strings.Cut(value, ": ")
			if !ok1 || !ok2 {
				rules = append(rules, Rule{Effect: line})
				continue
			}
			rules = append(rules, Rule{Source: source, Field: field, Value: value, Effect: effect})
		}
	}
	return rules, outcome
}

// compactField starts each "field=" of a compact policy line: values may
// hold spaces ("always (default)"), never another "name=".
var compactField = regexp.MustCompile(`(?:^| )([a-z_]+)=`)

// compactPolicy reads "policy NAME (VIA): field=value field=value …".
func compactPolicy(source, fields string) []Rule {
	name, via, _ := strings.Cut(strings.TrimPrefix(source, "policy "), " (")
	via = strings.TrimSuffix(via, ")")
	var att *Attachment
	switch kind, n, _ := strings.Cut(via, " "); AttachmentKind(kind) {
	case AttachedDefault, AttachedClient, AttachedGroup:
		att = &Attachment{Kind: AttachmentKind(kind), Name: n}
	}
	var out []Rule
	idx := compactField.FindAllStringSubmatchIndex(fields, -1)
	for i, m := range idx {
		end := len(fields)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		out = append(out, Rule{Source: source, Policy: name, Via: att, Field: fields[m[2]:m[3]], Value: fields[m[1]:end]})
	}
	if len(out) == 0 {
		out = append(out, Rule{Source: source, Policy: name, Via: att, Effect: fields})
	}
	return out
}
