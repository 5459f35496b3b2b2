package policy

import (
	"fmt"
	"strconv"
	"time"
)

// The enrollment grace: a policy may let users who must enroll a second
// factor put it off for a while (enrollment_grace, a duration) and/or for a
// number of sign-ins (enrollment_grace_sign_ins). The grace starts at the
// first sign-in that skips enrollment and is counted per user; while it
// lasts, the enrollment page offers "Not now". It never applies to a level
// the request demands (an essential acr), to a phishing-resistant level, or
// when any applicable policy that requires enrollment grants none: the
// strictest policy wins, with the shortest period and the fewest sign-ins.

// Bounds of the grace settings: a grace is a transition, not a way of life.
const (
	MaxEnrollmentGrace        = 365 * 24 * time.Hour
	MaxEnrollmentGraceSignIns = 1000
)

// validateGrace checks the grace fields of p.
func validateGrace(p Policy, bad func(field, format string, args ...any)) {
	switch {
	case p.EnrollmentGrace < 0:
		bad("enrollment_grace", "must not be negative")
	case p.EnrollmentGrace > MaxEnrollmentGrace:
		bad("enrollment_grace", "must be at most 365 days")
	}
	switch {
	case p.EnrollmentGraceSignIns < 0:
		bad("enrollment_grace_sign_ins", "must not be negative")
	case p.EnrollmentGraceSignIns > MaxEnrollmentGraceSignIns:
		bad("enrollment_grace_sign_ins", "must be at most %d", MaxEnrollmentGraceSignIns)
	}
	if !p.hasGrace() {
		return
	}
	field := "enrollment_grace"
	if p.EnrollmentGrace == 0 {
		field = "enrollment_grace_sign_ins"
	}
	switch {
	case p.Enrollment == EnrollOptional:
		bad(field, "has no effect with enrollment optional: users without a second factor already sign in without one")
	case p.MinLevel >= LevelPhishingResistant:
		bad(field, "has no effect with min_level phr or phrh: a phishing-resistant level is never put off")
	}
}

// hasGrace reports whether the policy grants any enrollment grace.
func (p Policy) hasGrace() bool { return p.EnrollmentGrace > 0 || p.EnrollmentGraceSignIns > 0 }

// GraceState is where a user stands in the enrollment grace: what Decide
// reads of it. The caller loads it (storage.User.GraceStartedAt and
// GraceSignIns, the session's skip).
type GraceState struct {
	// StartedAt is the first sign-in that put enrollment off; nil: the
	// grace has not started.
	StartedAt *time.Time
	// SignIns is how many sign-ins put enrollment off so far.
	SignIns int
	// Skipped: this session already put enrollment off ("Not now"), as one
	// of the counted sign-ins; it goes on without enrolling while the
	// grace's period lasts.
	Skipped bool
}

// Grace is the enrollment grace a sign-in may use: the strictest of the
// applicable policies and what is left of it.
type Grace struct {
	Period  time.Duration // the shortest enrollment_grace (0: no time limit)
	SignIns int           // the fewest enrollment_grace_sign_ins (0: no count limit)
	Until   time.Time     // when the grace ends (zero without Period)
	Left    int           // sign-ins it still allows, this one included (0 without SignIns)
}

// Admits reports whether the grace admits the sign-in counted as the n-th
// of a grace that started at startedAt (storage's CountGraceSignIn answers
// both): the check after counting, which concurrent sign-ins each pass, so
// that no more than SignIns of them get through.
func (g Grace) Admits(startedAt time.Time, n int, now time.Time) bool {
	if g.Period > 0 && !now.Before(startedAt.Add(g.Period)) {
		return false
	}
	return g.SignIns == 0 || n <= g.SignIns
}

// Words says what is left in a person's words: "6 more sign-ins or until
// Saturday, 12 December 2026", "until …", "3 more sign-ins".
func (g Grace) Words() string {
	var s string
	if g.SignIns > 0 {
		s = plural(g.Left, "more sign-in", "more sign-ins")
	}
	if g.Period > 0 {
		until := "until " + g.Until.UTC().Format("Monday, 2 January 2006")
		if s == "" {
			return until
		}
		s += " or " + until
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// enrollmentGrace is the grace a sign-in that needs enrollment may use
// (false: none). target is the level to reach; essential what an essential
// acr demands.
func enrollmentGrace(in Input, target, essential Level) (Grace, string, bool) {
	if target >= LevelPhishingResistant {
		return Grace{}, "none: a phishing-resistant level is never put off", false
	}
	if essential >= target {
		return Grace{}, "none: the application demands the level (essential acr)", false
	}
	var g Grace
	for _, n := range in.Policies {
		p := n.Policy.WithDefaults()
		want := p.MinLevel
		if p.RequireMFA == Always {
			want = max(want, LevelMFA)
		}
		if want <= LevelPassword || p.Enrollment != EnrollRequired {
			continue // this policy does not make the user enroll
		}
		if !p.hasGrace() {
			return Grace{}, fmt.Sprintf("none: policy %s (%s) requires enrollment without a grace", p.Name, n.Source), false
		}
		if p.EnrollmentGrace > 0 && (g.Period == 0 || p.EnrollmentGrace < g.Period) {
			g.Period = p.EnrollmentGrace
		}
		if p.EnrollmentGraceSignIns > 0 && (g.SignIns == 0 || p.EnrollmentGraceSignIns < g.SignIns) {
			g.SignIns = p.EnrollmentGraceSignIns
		}
	}
	if g.Period == 0 && g.SignIns == 0 {
		return Grace{}, "none: no policy that requires enrollment grants one", false
	}
	st := in.Grace
	start := in.Now
	if st.StartedAt != nil {
		start = *st.StartedAt
	}
	if g.Period > 0 {
		g.Until = start.Add(g.Period)
		if !in.Now.Before(g.Until) {
			return g, "over: it ended on " + g.Until.UTC().Format("2 January 2006 at 15:04 UTC"), false
		}
	}
	if g.SignIns > 0 && !st.Skipped {
		g.Left = g.SignIns - st.SignIns
		if g.Left <= 0 {
			return g, "over: its " + plural(g.SignIns, "sign-in was", "sign-ins were") + " used", false
		}
	}
	return g, "", true
}

// grace notes what the enrollment grace did to a sign-in that needs
// enrollment: g is the grace, why why there is none (ok false).
func (x *explainer) grace(g Grace, why string, ok, used bool) {
	if x == nil {
		return
	}
	r := Rule{Source: SourcePolicies, Field: "enrollment_grace"}
	switch {
	case used:
		r.Value, r.Effect = g.limitWords(), "the user put enrollment off in this session (Not now): the sign-in completes without a second factor"
	case ok:
		r.Value, r.Effect = g.limitWords(), "the user may put enrollment off (Not now): "+g.Words()+" left"
	default:
		r.Value, r.Effect = g.limitWords(), why
	}
	x.add(r)
}

// limitWords is the grace's limits as an admin writes them: "7d, 5 sign-ins".
func (g Grace) limitWords() string {
	var s string
	if g.Period > 0 {
		s = durationWords(g.Period)
	}
	if g.SignIns > 0 {
		if s != "" {
			s += " and "
		}
		s += plural(g.SignIns, "sign-in", "sign-ins")
	}
	if s == "" {
		return "none"
	}
	return s
}
