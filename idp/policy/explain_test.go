package policy

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Explain runs Decide's own code: on every sentence of the admin guide it
// reaches the very decision Decide reaches.
func TestExplainDecidesExactlyAsDecide(t *testing.T) {
	for _, tc := range adminGuide() {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now, in.Methods = t0, twofoldMethods
			if got, want := Explain(in).Decision, Decide(in); !reflect.DeepEqual(got, want) {
				t.Fatalf("Explain decided %+v\nDecide decided  %+v", got, want)
			}
		})
	}
}

func attached(n Named, kind AttachmentKind, name string) Named {
	n.Via = Attachment{Kind: kind, Name: name}
	n.Source = n.Via.String()
	return n
}

// rule is a line an explanation must hold: the source, the field, and
// words of the effect.
type rule struct{ source, field, value, effectIn string }

func TestExplainSaysWhyLikeTheAdminGuide(t *testing.T) {
	strict := attached(pol("strict", Always), AttachedGroup, "staff")
	relaxed := attached(pol("relaxed", OnRequest), AttachedDefault, "")
	tests := []struct {
		name    string
		in      Input
		want    []rule
		outcome string
	}{
		{"a group policy requires MFA and the user is asked for TOTP",
			Input{Policies: []Named{relaxed, strict}, Session: pwdSession(0), Enrolled: []Method{TOTP}},
			[]rule{
				{"policy strict (group staff)", "require_mfa", "always", "every sign-in"},
				{"policy relaxed (default)", "require_mfa", "on_request", "only when the application does"},
				{"policy strict (group staff)", "enrollment", "required (default)", "enrolls one"},
				{SourcePolicies, "level", ACRMFA, "strongest"},
				{SourceSession, "factor", "pwd, 0s ago", "counts"},
				{SourceSession, "level", ACRPassword, ""},
			},
			"a second factor, one of totp"},
		{"the methods of the policies intersect",
			Input{Policies: []Named{attached(pol("a", Always, methods(TOTP, WebAuthn)), AttachedClient, "app"), attached(pol("b", OnRequest, methods(WebAuthn, BackupCode)), AttachedGroup, "staff")}, Session: pwdSession(0), Enrolled: []Method{TOTP}},
			[]rule{
				{"policy a (client app)", "methods", "totp, webauthn", "only these"},
				{"policy b (group staff)", "methods", "webauthn, backup_code", "only these"},
				{SourcePolicies, "methods", "webauthn", "intersection"},
			},
			"enrollment of a second factor, one of webauthn"},
		{"a TOTP outside the allowed methods does not count",
			Input{Policies: []Named{attached(pol("w", Always, methods(WebAuthn)), AttachedClient, "books")}, Session: with(pwdSession(time.Hour), "totp", time.Hour, false), Enrolled: []Method{TOTP, WebAuthn}},
			[]rule{{SourceSession, "factor", "totp, 1h ago", "totp is not allowed by every policy"}},
			"a second factor, one of webauthn"},
		{"a second factor older than mfa_max_age does not count",
			Input{Policies: []Named{attached(pol("s", Always, maxAge(time.Hour)), AttachedDefault, "")}, Session: with(pwdSession(2*time.Hour), "totp", 2*time.Hour, false), Enrolled: []Method{TOTP}},
			[]rule{
				{"policy s (default)", "mfa_max_age", "1h", "counts for 1h"},
				{SourcePolicies, "mfa_max_age", "1h", "shortest"},
				{SourceSession, "factor", "totp, 2h ago", "older than mfa_max_age 1h"},
			},
			"a second factor, one of totp"},
		{"acr_values phr without a passkey aims at the closest level",
			Input{Policies: []Named{relaxed}, Session: pwdSession(0), Enrolled: []Method{TOTP}, Request: Request{ACRValues: []string{ACRPhishingResistant}}},
			[]rule{{SourceRequest, "acr_values", "phr", "aims at " + ACRMFA + ", the closest level"}},
			"a second factor, one of totp"},
		{"a policy that never requires MFA ignores acr_values",
			Input{Policies: []Named{attached(pol("n", Never), AttachedClient, "kiosk")}, Session: pwdSession(0), Enrolled: []Method{TOTP}, Request: Request{ACRValues: []string{ACRMFA}}},
			[]rule{{SourceRequest, "acr_values", ACRMFA, "ignored: a policy never requires MFA"}},
			"nothing more: the sign-in completes at " + ACRPassword},
		{"an essential acr Twofold does not know is unmet",
			Input{Policies: []Named{relaxed}, Session: pwdSession(0), Request: Request{EssentialACR: []string{"urn:example:gold"}}},
			[]rule{{SourceRequest, "essential_acr", "urn:example:gold", "unmet_authentication_requirements"}},
			"unmet_authentication_requirements"},
		{"an essential mfa is never downgraded",
			Input{Policies: []Named{relaxed}, Session: pwdSession(0), Request: Request{EssentialACR: []string{ACRPhishingResistant, ACRMFA}}},
			[]rule{{SourceRequest, "essential_acr", "phr " + ACRMFA, "at least " + ACRMFA}},
			"enrollment of a second factor, one of webauthn, totp"},
		{"max_age older than the sign-in asks for the password again, and the policies are still listed",
			Input{Policies: []Named{strict}, Session: pwdSession(2 * time.Hour), Request: Request{MaxAge: dur(time.Hour)}},
			[]rule{
				{"policy strict (group staff)", "require_mfa", "always", ""},
				{SourceRequest, "max_age", "1h", "proven 2h ago"},
			},
			"sign in"},
		{"max_age the sign-in meets is said to be met",
			Input{Session: pwdSession(time.Minute), Request: Request{MaxAge: dur(time.Hour)}},
			[]rule{{SourceRequest, "max_age", "1h", "met"}, {SourcePolicies, "policies", "none", "no policy applies"}},
			"nothing more"},
		{"prompt=login asks for the password again",
			Input{Policies: []Named{relaxed}, Session: pwdSession(time.Minute), Request: Request{PromptLogin: true}},
			[]rule{{SourceRequest, "prompt", "login", "first factor again"}},
			"sign in"},
		{"nobody signed in is asked to sign in",
			Input{Policies: []Named{relaxed}},
			[]rule{{SourceSession, "session", "none", "nobody is signed in"}},
			"sign in"},
		{"a remembered device stands in for policy MFA",
			Input{Policies: []Named{attached(pol("s", Always, remember(30*24*time.Hour)), AttachedDefault, "")}, Session: pwdSession(0), Enrolled: []Method{TOTP}, RememberedAt: ptr(t0.Add(-24 * time.Hour))},
			[]rule{
				{"policy s (default)", "remember_device", "30d", "for 30d"},
				{SourceDevice, "remembered_device", "remembered 1d ago", "stands in"},
			},
			"remembered device stood in"},
		{"a remembered device is too old for the shortest remember_device",
			Input{Policies: []Named{attached(pol("s", Always, remember(time.Hour)), AttachedDefault, "")}, Session: pwdSession(0), Enrolled: []Method{TOTP}, RememberedAt: ptr(t0.Add(-24 * time.Hour))},
			[]rule{{SourceDevice, "remembered_device", "remembered 1d ago", "older than remember_device 1h"}},
			"a second factor, one of totp"},
		{"a remembered device never stands in for what the application asks",
			Input{Policies: []Named{attached(pol("s", OnRequest, remember(time.Hour)), AttachedDefault, "")}, Session: pwdSession(0), Enrolled: []Method{TOTP}, RememberedAt: &t0, Request: Request{ACRValues: []string{ACRMFA}}},
			[]rule{{SourceDevice, "remembered_device", "remembered 0s ago", "the application asked for it"}},
			"a second factor, one of totp"},
		{"a remembered device does not count where a policy does not remember",
			Input{Policies: []Named{attached(pol("s", Always, remember(time.Hour)), AttachedDefault, ""), strict}, Session: pwdSession(0), Enrolled: []Method{TOTP}, RememberedAt: &t0},
			[]rule{
				{"policy strict (group staff)", "remember_device", "0", "off"},
				{SourceDevice, "remembered_device", "remembered 0s ago", "remember_device 0"},
			},
			"a second factor, one of totp"},
		{"a minimum level of phr asks for a passkey with user verification",
			Input{Policies: []Named{attached(pol("finance", OnRequest, minLevel(LevelPhishingResistant), methods(WebAuthn)), AttachedClient, "books")}, Session: pwdSession(0), Enrolled: []Method{WebAuthn}},
			[]rule{{"policy finance (client books)", "min_level", "phr", "phishing-resistant"}},
			"a second factor, one of webauthn (with user verification)"},
		{"an email code counts only where every policy lists email, and a policy without methods says so",
			Input{Policies: []Named{attached(pol("codes", Always, methods(Email, TOTP)), AttachedGroup, "field"), relaxed}, Session: with(pwdSession(time.Minute), "email", time.Minute, false), Enrolled: []Method{Email, TOTP}},
			[]rule{
				{"policy codes (group field)", "methods", "email, totp", "only these"},
				{"policy relaxed (default)", "methods", "all (default)", "but the opt-in ones (email, sms)"},
				{SourcePolicies, "methods", "totp", "intersection"},
				{SourceSession, "factor", "email, 1m ago", "email is not allowed by every policy"},
			},
			"a second factor, one of totp"},
		{"an sms code the policies list is asked for like any factor",
			Input{Policies: []Named{attached(pol("codes", Always, methods(SMS)), AttachedDefault, "")}, Session: pwdSession(0), Enrolled: []Method{SMS, TOTP}},
			[]rule{{SourcePolicies, "methods", "sms", "intersection"}},
			"a second factor, one of sms"},
		{"a policy limited to some clients says so",
			Input{Policies: []Named{attached(pol("c", Always, func(p *Policy) { p.Clients = []string{"books"} }), AttachedGroup, "contractors")}, Session: pwdSession(0)},
			[]rule{{"policy c (group contractors)", "clients", "books", "only to sign-ins to these clients"}},
			"enrollment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now, in.Methods = t0, twofoldMethods
			e := Explain(in)
			for _, w := range tc.want {
				if !hasRule(e.Rules, w) {
					t.Errorf("no rule %+v in:\n%s", w, strings.Join(e.Lines(), "\n"))
				}
			}
			if s := e.Decision.Summary(); !strings.Contains(s, tc.outcome) {
				t.Errorf("outcome %q does not say %q", s, tc.outcome)
			}
		})
	}
}

func hasRule(rs []Rule, w rule) bool {
	for _, r := range rs {
		if r.Source == w.source && r.Field == w.field && r.Value == w.value && strings.Contains(r.Effect, w.effectIn) {
			return true
		}
	}
	return false
}

func TestPolicyRulesNameTheirAttachment(t *testing.T) {
	in := Input{Policies: []Named{attached(pol("strict", Always), AttachedGroup, "staff")}, Session: pwdSession(0), Now: t0, Methods: twofoldMethods}
	for _, r := range Explain(in).Rules {
		if r.Policy == "strict" && (r.Via == nil || *r.Via != (Attachment{Kind: AttachedGroup, Name: "staff"})) {
			t.Fatalf("rule %+v does not say it came through group staff", r)
		}
	}
}

func TestDurationWords(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 45 * time.Second: "45s", 5 * time.Minute: "5m", 90 * time.Minute: "1h30m", 30 * 24 * time.Hour: "30d", 12 * time.Hour: "12h"} {
		if got := durationWords(d); got != want {
			t.Errorf("durationWords(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestTheCompactExplanationHasOneLinePerPolicy(t *testing.T) {
	in := Input{Policies: []Named{attached(pol("relaxed", OnRequest), AttachedDefault, ""), attached(pol("strict", Always, methods(TOTP, WebAuthn)), AttachedGroup, "staff")},
		Session: pwdSession(0), Enrolled: []Method{TOTP}, Now: t0, Methods: twofoldMethods}
	lines := Explain(in).Compact()
	want := []string{
		"policy relaxed (default): require_mfa=on_request methods=all (default) mfa_max_age=0 remember_device=0 enrollment=required (default)",
		"policy strict (group staff): require_mfa=always methods=totp,webauthn mfa_max_age=0 remember_device=0 enrollment=required (default)",
	}
	for i, w := range want {
		if lines[i] != w {
			t.Fatalf("line %d = %q, want %q", i, lines[i], w)
		}
	}
	if last := lines[len(lines)-1]; last != "outcome: a second factor, one of totp" {
		t.Fatalf("last line %q", last)
	}
}

// What the audit trail keeps (Compact) reads back into the rules that made
// the decision: every rule of every sentence of the admin guide, the
// policies' without their effect.
func TestParseCompactReadsBackEveryRule(t *testing.T) {
	for _, tc := range adminGuide() {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now, in.Methods = t0, twofoldMethods
			ex := Explain(in)
			got, outcome := ParseCompact(ex.Compact())
			if outcome != ex.Decision.Summary() {
				t.Errorf("outcome %q, want %q", outcome, ex.Decision.Summary())
			}
			// Compact lists a policy's fields together, where it first appears.
			var want []Rule
			done := map[string]bool{}
			for i, r := range ex.Rules {
				if r.Policy == "" {
					want = append(want, r)
					continue
				}
				if done[r.Source] || (i > 0 && ex.Rules[i-1].Source == r.Source) {
					continue
				}
				for _, p := range ex.Rules[i:] {
					if p.Source != r.Source {
						break
					}
					p.Value, p.Effect = strings.ReplaceAll(p.Value, ", ", ","), ""
					want = append(want, p)
				}
				done[r.Source] = true
			}
			// The guide's policies name their source without an attachment.
			for i := range got {
				got[i].Via = nil
			}
			for i := range want {
				want[i].Via = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("read back:\n%+v\nwant:\n%+v\nfrom:\n%s", got, want, strings.Join(ex.Compact(), "\n"))
			}
		})
	}
	staff := attached(pol("strict", Always), AttachedGroup, "staff")
	rules, _ := ParseCompact(Explain(Input{Now: t0, Methods: twofoldMethods, Policies: []Named{staff}, Session: pwdSession(0)}).Compact())
	if r := rules[0]; r.Policy != "strict" || r.Via == nil || *r.Via != staff.Via || r.Field != "require_mfa" || r.Value != "always" {
		t.Fatalf("a group's policy read back: %+v", r)
	}
	if rules, _ := ParseCompact([]string{"something else entirely"}); len(rules) != 1 || rules[0].Effect != "something else entirely" {
		t.Fatalf("an unreadable line: %+v", rules)
	}
}
