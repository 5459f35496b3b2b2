package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func grace(d time.Duration, n int) func(*Policy) {
	return func(p *Policy) { p.EnrollmentGrace, p.EnrollmentGraceSignIns = d, n }
}

func started(ago time.Duration, n int) GraceState {
	at := t0.Add(-ago)
	return GraceState{StartedAt: &at, SignIns: n}
}

// The enrollment grace, as the admin guide says it.
func TestEnrollmentGraceReadsLikeTheAdminGuide(t *testing.T) {
	week := 7 * 24 * time.Hour
	for _, c := range []struct {
		name    string
		in      Input
		need    Need
		grace   bool // Decision.Grace is set
		used    bool // Decision.GraceUsed
		until   time.Time
		left    int
		reasonI string // in Reason or, without a grace, in the grace rule's effect
	}{
		{name: "a policy with a 7-day grace lets a user without a factor put enrollment off until a week from now",
			in: Input{Policies: []Named{pol("s", Always, grace(week, 0))}}, need: NeedEnrollment, grace: true, until: t0.Add(week)},
		{name: "a grace by sign-ins counts what is left",
			in: Input{Policies: []Named{pol("s", Always, grace(0, 5))}, Grace: started(time.Hour, 4)}, need: NeedEnrollment, grace: true, left: 1},
		{name: "the grace's period runs from the first sign-in that put enrollment off",
			in: Input{Policies: []Named{pol("s", Always, grace(week, 5))}, Grace: started(24*time.Hour, 2)}, need: NeedEnrollment, grace: true, until: t0.Add(6 * 24 * time.Hour), left: 3},
		{name: "after its period the user must enroll",
			in: Input{Policies: []Named{pol("s", Always, grace(week, 0))}, Grace: started(week, 1)}, need: NeedEnrollment, reasonI: "over"},
		{name: "after its sign-ins the user must enroll",
			in: Input{Policies: []Named{pol("s", Always, grace(week, 5))}, Grace: started(time.Hour, 5)}, need: NeedEnrollment, reasonI: "5 sign-ins were used"},
		{name: "a session that put enrollment off goes on without a second factor",
			in: Input{Policies: []Named{pol("s", Always, grace(week, 5))}, Grace: GraceState{StartedAt: started(time.Hour, 5).StartedAt, SignIns: 5, Skipped: true}}, need: NeedNothing, grace: true, used: true, until: t0.Add(week - time.Hour)},
		{name: "a session that put enrollment off must enroll once the period is over",
			in: Input{Policies: []Named{pol("s", Always, grace(week, 0))}, Grace: GraceState{StartedAt: started(week+time.Minute, 1).StartedAt, SignIns: 1, Skipped: true}}, need: NeedEnrollment, reasonI: "over"},
		{name: "an essential acr is never put off",
			in: Input{Policies: []Named{pol("s", Always, grace(week, 5))}, Request: Request{EssentialACR: []string{ACRMFA}}}, need: NeedEnrollment, reasonI: "essential acr"},
		{name: "an essential acr is never put off, even by a session that did",
			in: Input{Policies: []Named{pol("s", Always, grace(week, 5))}, Request: Request{EssentialACR: []string{ACRMFA}}, Grace: GraceState{StartedAt: &t0, SignIns: 1, Skipped: true}}, need: NeedEnrollment, reasonI: "essential acr"},
		{name: "a phishing-resistant level is never put off",
			in: Input{Policies: []Named{pol("s", Always, grace(week, 5)), pol("p", OnRequest, minLevel(LevelPhishingResistant), optional)}}, need: NeedEnrollment, reasonI: "phishing-resistant"},
		{name: "one policy requiring enrollment without a grace leaves none",
			in: Input{Policies: []Named{pol("a", Always, grace(week, 5)), pol("b", Always)}}, need: NeedEnrollment, reasonI: "policy b (test) requires enrollment without a grace"},
		{name: "a forced re-enrollment (no grace) leaves none",
			in: Input{Policies: []Named{pol("a", Always, grace(week, 5)), {Policy: Policy{Name: "re-enrollment", RequireMFA: Always, Enrollment: EnrollRequired}, Source: "forced"}}}, need: NeedEnrollment, reasonI: "re-enrollment"},
		{name: "the strictest grace wins: the shortest period and the fewest sign-ins",
			in: Input{Policies: []Named{pol("a", Always, grace(week, 3)), pol("b", Always, grace(2*24*time.Hour, 0)), pol("c", Always, grace(30*24*time.Hour, 10))}}, need: NeedEnrollment, grace: true, until: t0.Add(2 * 24 * time.Hour), left: 3},
		{name: "a policy that requires nothing by itself does not take the grace away",
			in: Input{Policies: []Named{pol("r", OnRequest), pol("s", Always, grace(week, 0))}}, need: NeedEnrollment, grace: true, until: t0.Add(week)},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.in.Now = t0
			if c.in.Session == nil {
				c.in.Session = pwdSession(0)
			}
			c.in.Methods = Methods{Enrollable: []Method{WebAuthn, TOTP}, PhishingResistant: []Method{WebAuthn}}
			d := Decide(c.in)
			if d.Need != c.need || (d.Grace != nil) != c.grace || d.GraceUsed != c.used {
				t.Fatalf("need %s grace %+v used %v; want %s grace %v used %v (%s)", d.Need, d.Grace, d.GraceUsed, c.need, c.grace, c.used, d.Reason)
			}
			if c.grace && (!d.Grace.Until.Equal(c.until) || d.Grace.Left != c.left) {
				t.Fatalf("grace %+v, want until %v and %d left", d.Grace, c.until, c.left)
			}
			if c.used && (d.Level != LevelPassword || d.ACR != ACRPassword || !strings.Contains(d.Reason, "put off")) {
				t.Fatalf("a skipped enrollment: level %s acr %s reason %q", d.Level, d.ACR, d.Reason)
			}
			x := Explain(c.in)
			var rule *Rule
			for i := range x.Rules {
				if x.Rules[i].Field == "enrollment_grace" && x.Rules[i].Source == SourcePolicies {
					rule = &x.Rules[i]
				}
			}
			if rule == nil {
				t.Fatalf("no enrollment_grace rule: %v", x.Lines())
			}
			if c.reasonI != "" && !strings.Contains(rule.Effect, c.reasonI) {
				t.Fatalf("grace rule %q does not say %q", rule.Effect, c.reasonI)
			}
			if x.Decision.Summary() != d.Summary() {
				t.Fatal("Explain decided otherwise")
			}
		})
	}
}

func TestAGraceIsNotMentionedWhereNoEnrollmentIsNeeded(t *testing.T) {
	in := Input{Policies: []Named{pol("s", Always, grace(time.Hour, 0))}, Session: pwdSession(0), Enrolled: []Method{TOTP}, Now: t0,
		Methods: Methods{Enrollable: []Method{TOTP}}}
	d := Decide(in)
	if d.Need != NeedSecondFactor || d.Grace != nil {
		t.Fatalf("a user with a factor: %s grace %+v", d.Need, d.Grace)
	}
	for _, r := range Explain(in).Rules {
		if r.Source == SourcePolicies && r.Field == "enrollment_grace" {
			t.Fatalf("a grace rule without enrollment: %v", r)
		}
	}
}

// Admits is the check after counting a sign-in, which every concurrent
// sign-in passes: only the ones within the limits get through.
func TestGraceAdmitsOnlySignInsWithinItsLimits(t *testing.T) {
	g := Grace{Period: time.Hour, SignIns: 3}
	for _, c := range []struct {
		started time.Time
		n       int
		want    bool
	}{
		{t0, 1, true}, {t0, 3, true}, {t0, 4, false},
		{t0.Add(-59 * time.Minute), 1, true}, {t0.Add(-time.Hour), 1, false},
	} {
		if got := g.Admits(c.started, c.n, t0); got != c.want {
			t.Errorf("started %v, sign-in %d: %v, want %v", t0.Sub(c.started), c.n, got, c.want)
		}
	}
	if !(Grace{Period: time.Hour}).Admits(t0, 1000, t0) || !(Grace{SignIns: 2}).Admits(t0.Add(-1000*time.Hour), 2, t0) {
		t.Fatal("a limit that is not set limited")
	}
}

func TestGraceWordsSayWhatIsLeft(t *testing.T) {
	until := time.Date(2026, 12, 12, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		g    Grace
		want string
	}{
		{Grace{SignIns: 7, Left: 6, Period: time.Hour, Until: until}, "6 more sign-ins or until Saturday, 12 December 2026"},
		{Grace{SignIns: 7, Left: 1}, "1 more sign-in"},
		{Grace{Period: time.Hour, Until: until}, "until Saturday, 12 December 2026"},
	} {
		if got := c.g.Words(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.g, got, c.want)
		}
	}
}

func TestValidateGrace(t *testing.T) {
	base := Policy{Name: "p", RequireMFA: Always, Enrollment: EnrollRequired}
	for _, c := range []struct {
		name  string
		mod   func(*Policy)
		field string // "" valid
	}{
		{"a week and five sign-ins", grace(7*24*time.Hour, 5), ""},
		{"a negative period", grace(-time.Second, 0), "enrollment_grace"},
		{"more than a year", grace(366*24*time.Hour, 0), "enrollment_grace"},
		{"negative sign-ins", grace(0, -1), "enrollment_grace_sign_ins"},
		{"too many sign-ins", grace(0, 1001), "enrollment_grace_sign_ins"},
		{"with optional enrollment", func(p *Policy) { grace(time.Hour, 0)(p); p.Enrollment = EnrollOptional }, "enrollment_grace"},
		{"with min_level phr", func(p *Policy) { grace(0, 3)(p); p.MinLevel = LevelPhishingResistant }, "enrollment_grace_sign_ins"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := base
			c.mod(&p)
			err := p.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("got %v, want a problem with %s", err, c.field)
			}
		})
	}
}

func TestTheGraceFieldsReadBackFromTheCompactExplanation(t *testing.T) {
	in := Input{Policies: []Named{pol("s", Always, grace(7*24*time.Hour, 5))}, Session: pwdSession(0), Now: t0,
		Methods: Methods{Enrollable: []Method{TOTP}}}
	rules, outcome := ParseCompact(Explain(in).Compact())
	var fields []string
	for _, r := range rules {
		if strings.HasPrefix(r.Field, "enrollment_grace") {
			fields = append(fields, r.Source+" "+r.Field+"="+r.Value)
		}
	}
	want := "policy s (test) enrollment_grace=7d|policy s (test) enrollment_grace_sign_ins=5|all policies enrollment_grace=7d and 5 sign-ins"
	if strings.Join(fields, "|") != want || !strings.Contains(outcome, "put it off (5 more sign-ins or until") {
		t.Fatalf("read back %q, outcome %q", fields, outcome)
	}
}
