package policy

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func pol(name string, req Requirement, mods ...func(*Policy)) Named {
	p := Policy{Name: name, RequireMFA: req}
	for _, m := range mods {
		m(&p)
	}
	return Named{Policy: p, Source: "test"}
}

func methods(ms ...Method) func(*Policy)     { return func(p *Policy) { p.Methods = ms } }
func maxAge(d time.Duration) func(*Policy)   { return func(p *Policy) { p.MFAMaxAge = d } }
func optional(p *Policy)                     { p.Enrollment = EnrollOptional }
func remember(d time.Duration) func(*Policy) { return func(p *Policy) { p.RememberDevice = d } }
func minLevel(l Level) func(*Policy)         { return func(p *Policy) { p.MinLevel = l } }
func pwdSession(ago time.Duration) *Session {
	return &Session{AuthTime: t0.Add(-ago), Factors: []Factor{{Method: FactorPassword, At: t0.Add(-ago)}}}
}
func with(s *Session, m string, ago time.Duration, uv bool) *Session {
	s.Factors = append(s.Factors, Factor{Method: m, At: t0.Add(-ago), UserVerified: uv})
	return s
}
func dur(d time.Duration) *time.Duration { return &d }

// decideCase is one sentence of the admin guide: a situation and what
// Decide answers.
type decideCase struct {
	name     string
	in       Input
	need     Need
	level    Level // Level when need is NeedNothing, else Target
	methods  []Method
	uv       bool
	reasonIn string
}

func adminGuide() []decideCase {
	strict := pol("strict", Always)
	relaxed := pol("relaxed", OnRequest)
	return []decideCase{
		{"nobody signed in must sign in first", Input{Policies: []Named{relaxed}}, NeedFirstFactor, LevelNone, nil, false, "nobody"},
		{"prompt=login asks for the first factor again", Input{Policies: []Named{relaxed}, Session: pwdSession(time.Minute), Request: Request{PromptLogin: true}}, NeedFirstFactor, LevelNone, nil, false, "prompt=login"},
		{"max_age older than the sign-in asks for the first factor again", Input{Session: pwdSession(time.Hour), Request: Request{MaxAge: dur(10 * time.Minute)}}, NeedFirstFactor, LevelNone, nil, false, "max_age"},
		{"max_age the sign-in satisfies asks nothing", Input{Session: pwdSession(time.Minute), Request: Request{MaxAge: dur(10 * time.Minute)}}, NeedNothing, LevelPassword, nil, false, ""},
		{"a relaxed policy issues the password level", Input{Policies: []Named{relaxed}, Session: pwdSession(0), Enrolled: []Method{TOTP}}, NeedNothing, LevelPassword, nil, false, ""},
		{"no policy at all issues the password level", Input{Session: pwdSession(0)}, NeedNothing, LevelPassword, nil, false, ""},
		{"a strict policy asks for a second factor the user has", Input{Policies: []Named{strict}, Session: pwdSession(0), Enrolled: []Method{TOTP, BackupCode}}, NeedSecondFactor, LevelMFA, []Method{TOTP, BackupCode}, false, "policy strict"},
		{"the methods offered are listed most phishing-resistant first", Input{Policies: []Named{strict}, Session: pwdSession(0), Enrolled: []Method{BackupCode, TOTP, WebAuthn}}, NeedSecondFactor, LevelMFA, []Method{WebAuthn, TOTP, BackupCode}, false, ""},
		{"a strict policy with a fresh second factor asks nothing", Input{Policies: []Named{strict}, Session: with(pwdSession(time.Hour), "totp", time.Hour, false), Enrolled: []Method{TOTP}}, NeedNothing, LevelMFA, nil, false, ""},
		{"a second factor older than mfa_max_age is asked again", Input{Policies: []Named{pol("s", Always, maxAge(12*time.Hour))}, Session: with(pwdSession(13*time.Hour), "totp", 13*time.Hour, false), Enrolled: []Method{TOTP}}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, ""},
		{"a second factor within mfa_max_age still counts", Input{Policies: []Named{pol("s", Always, maxAge(12*time.Hour))}, Session: with(pwdSession(11*time.Hour), "totp", 11*time.Hour, false), Enrolled: []Method{TOTP}}, NeedNothing, LevelMFA, nil, false, ""},
		{"the strictest mfa_max_age of all policies applies", Input{Policies: []Named{pol("a", Always, maxAge(12*time.Hour)), pol("b", OnRequest, maxAge(time.Hour))}, Session: with(pwdSession(2*time.Hour), "totp", 2*time.Hour, false), Enrolled: []Method{TOTP}}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, ""},
		{"a strict policy and no factor means enrollment (required is the default)", Input{Policies: []Named{strict}, Session: pwdSession(0)}, NeedEnrollment, LevelMFA, []Method{WebAuthn, TOTP}, false, ""},
		{"a strict policy with optional enrollment lets a user without a factor through", Input{Policies: []Named{pol("s", Always, optional)}, Session: pwdSession(0)}, NeedNothing, LevelPassword, nil, false, "optional"},
		{"a strict policy limited to webauthn ignores an enrolled TOTP", Input{Policies: []Named{pol("s", Always, methods(WebAuthn))}, Session: pwdSession(0), Enrolled: []Method{TOTP}}, NeedEnrollment, LevelMFA, []Method{WebAuthn}, false, ""},
		{"backup codes alone are never offered for enrollment", Input{Policies: []Named{pol("s", Always, methods(BackupCode, TOTP))}, Session: pwdSession(0)}, NeedEnrollment, LevelMFA, []Method{TOTP}, false, ""},
		{"conflicting method lists leave only what every policy allows", Input{Policies: []Named{pol("a", Always, methods(TOTP, WebAuthn)), pol("b", OnRequest, methods(WebAuthn, BackupCode))}, Session: pwdSession(0), Enrolled: []Method{TOTP, WebAuthn}}, NeedSecondFactor, LevelMFA, []Method{WebAuthn}, false, ""},
		{"policies whose methods exclude each other make MFA impossible", Input{Policies: []Named{pol("a", Always, methods(TOTP)), pol("b", OnRequest, methods(WebAuthn))}, Session: pwdSession(0), Enrolled: []Method{TOTP}}, NeedImpossible, LevelMFA, nil, false, "no allowed method"},
		{"a group policy beats a relaxed client", Input{Policies: []Named{relaxed, {Policy: strict.Policy, Source: "group staff"}}, Session: pwdSession(0), Enrolled: []Method{TOTP}}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, "group staff"},
		{"acr_values mfa steps a relaxed session up", Input{Policies: []Named{relaxed}, Session: pwdSession(0), Enrolled: []Method{TOTP}, Request: Request{ACRValues: []string{ACRMFA}}}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, "acr_values"},
		{"the PAPE multi-factor URI means mfa", Input{Policies: []Named{relaxed}, Session: pwdSession(0), Enrolled: []Method{TOTP}, Request: Request{ACRValues: []string{ACRPAPEMultiFactor}}}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, ""},
		{"acr_values mfa without any factor returns the level reached", Input{Policies: []Named{relaxed}, Session: pwdSession(0), Request: Request{ACRValues: []string{ACRMFA}}}, NeedNothing, LevelPassword, nil, false, ""},
		{"acr_values aims at the first listed level the user can reach", Input{Policies: []Named{relaxed}, Session: pwdSession(0), Enrolled: []Method{TOTP}, Request: Request{ACRValues: []string{ACRPhishingResistant, ACRMFA}}}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, ""},
		{"acr_values phr with a security key asks for it with user verification", Input{Policies: []Named{relaxed}, Session: pwdSession(0), Enrolled: []Method{TOTP, WebAuthn}, Request: Request{ACRValues: []string{ACRPhishingResistant, ACRMFA}}}, NeedSecondFactor, LevelPhishingResistant, []Method{WebAuthn}, true, ""},
		{"acr_values already met asks nothing", Input{Policies: []Named{relaxed}, Session: with(pwdSession(0), "totp", 0, false), Request: Request{ACRValues: []string{ACRMFA}}}, NeedNothing, LevelMFA, nil, false, ""},
		{"a policy that never requires MFA ignores acr_values", Input{Policies: []Named{pol("n", Never)}, Session: pwdSession(0), Enrolled: []Method{TOTP}, Request: Request{ACRValues: []string{ACRMFA}}}, NeedNothing, LevelPassword, nil, false, ""},
		{"an essential phr for a TOTP-only user means passkey enrollment", Input{Policies: []Named{relaxed}, Session: pwdSession(0), Enrolled: []Method{TOTP}, Request: Request{EssentialACR: []string{ACRPhishingResistant}}}, NeedEnrollment, LevelPhishingResistant, []Method{WebAuthn}, true, "essential"},
		{"an essential phr under a TOTP-only policy is impossible", Input{Policies: []Named{pol("t", OnRequest, methods(TOTP))}, Session: pwdSession(0), Enrolled: []Method{TOTP}, Request: Request{EssentialACR: []string{ACRPhishingResistant}}}, NeedImpossible, LevelPhishingResistant, nil, true, ""},
		{"an essential acr is met by any one of its values", Input{Session: with(pwdSession(0), "totp", 0, false), Request: Request{EssentialACR: []string{ACRPhishingResistant, ACRMFA}}}, NeedNothing, LevelMFA, nil, false, ""},
		{"an essential mfa is never downgraded", Input{Policies: []Named{pol("o", OnRequest, optional)}, Session: pwdSession(0), Request: Request{EssentialACR: []string{ACRMFA}}}, NeedEnrollment, LevelMFA, []Method{WebAuthn, TOTP}, false, ""},
		{"a passkey sign-in is phishing-resistant by itself", Input{Policies: []Named{strict}, Session: &Session{AuthTime: t0, Factors: []Factor{{Method: FactorPasskey, At: t0, UserVerified: true}}}}, NeedNothing, LevelPhishingResistant, nil, false, ""},
		{"a security key without user verification is mfa, not phr", Input{Session: with(pwdSession(0), "webauthn", 0, false), Request: Request{ACRValues: []string{ACRPhishingResistant}}, Enrolled: []Method{WebAuthn}}, NeedSecondFactor, LevelPhishingResistant, []Method{WebAuthn}, true, ""},
		{"a minimum level of phr demands a passkey", Input{Policies: []Named{pol("finance", OnRequest, minLevel(LevelPhishingResistant))}, Session: with(pwdSession(0), "totp", 0, false), Enrolled: []Method{TOTP, WebAuthn}}, NeedSecondFactor, LevelPhishingResistant, []Method{WebAuthn}, true, "policy finance"},
		{"a remembered device skips TOTP for policy MFA", Input{Policies: []Named{pol("s", Always, remember(30*24*time.Hour))}, Session: pwdSession(0), Enrolled: []Method{TOTP}, RememberedAt: &t0}, NeedNothing, LevelMFA, nil, false, "remembered"},
		{"a remembered device counts only where every policy allows remembering", Input{Policies: []Named{pol("s", Always, remember(30*24*time.Hour)), strict}, Session: pwdSession(0), Enrolled: []Method{TOTP}, RememberedAt: &t0}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, ""},
		{"a remembered device never satisfies phr", Input{Policies: []Named{pol("f", OnRequest, minLevel(LevelPhishingResistant))}, Session: pwdSession(0), Enrolled: []Method{WebAuthn}, RememberedAt: &t0}, NeedSecondFactor, LevelPhishingResistant, []Method{WebAuthn}, true, ""},
		{"a remembered device never satisfies an explicit acr_values demand", Input{Policies: []Named{relaxed}, Session: pwdSession(0), Enrolled: []Method{TOTP}, RememberedAt: &t0, Request: Request{ACRValues: []string{ACRMFA}}}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, ""},
		// SECURITY-RULES: "An essential acr that cannot be met is a failed authentication (error, no code)"
		{"an essential acr of values Twofold does not know cannot be met", Input{Session: with(pwdSession(0), "totp", 0, false), Enrolled: []Method{TOTP}, Request: Request{EssentialACR: []string{"urn:other:gold"}}}, NeedImpossible, LevelNone, nil, false, "does not know"},
		{"an essential phrh with only a synced passkey means a device-bound one is enrolled", Input{Session: with(pwdSession(0), "webauthn", 0, true), Enrolled: []Method{WebAuthn}, Request: Request{EssentialACR: []string{ACRPhishingResistantHardware}}}, NeedEnrollment, LevelPhishingResistantHardware, []Method{WebAuthn}, true, ""},
		{"a device-bound credential with user verification reaches phrh", Input{Session: &Session{AuthTime: t0, Factors: []Factor{{Method: FactorPasskey, At: t0, UserVerified: true, DeviceBound: true}}}, Request: Request{EssentialACR: []string{ACRPhishingResistantHardware}}}, NeedNothing, LevelPhishingResistantHardware, nil, false, ""},
		{"acr_values phr without a passkey asks for the closest factor the user has (TOTP, mfa)", Input{Policies: []Named{relaxed}, Session: pwdSession(0), Enrolled: []Method{TOTP}, Request: Request{ACRValues: []string{ACRPhishingResistant}}}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, "acr_values"},
		{"the EAP phr and our urn mean the same level", Input{Policies: []Named{relaxed}, Session: pwdSession(0), Enrolled: []Method{WebAuthn}, Request: Request{ACRValues: []string{ACRTwofoldPhishingResistant}}}, NeedSecondFactor, LevelPhishingResistant, []Method{WebAuthn}, true, ""},
		// Issue 9 item 2: methods is an allow-list that is enforced.
		{"a TOTP does not meet a webauthn-only policy", Input{Policies: []Named{pol("w", Always, methods(WebAuthn))}, Session: with(pwdSession(0), "totp", 0, false), Enrolled: []Method{TOTP, WebAuthn}}, NeedSecondFactor, LevelMFA, []Method{WebAuthn}, false, ""},
		{"a backup code does not count under a policy that excludes backup codes", Input{Policies: []Named{pol("t", Always, methods(TOTP))}, Session: with(pwdSession(0), "backup_code", 0, false), Enrolled: []Method{TOTP, BackupCode}}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, ""},
		{"a passkey sign-in under a TOTP-only policy is one factor", Input{Policies: []Named{pol("t", Always, methods(TOTP))}, Session: &Session{AuthTime: t0, Factors: []Factor{{Method: FactorPasskey, At: t0, UserVerified: true}}}, Enrolled: []Method{TOTP, WebAuthn}}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, ""},
		// SECURITY-RULES: "prompt=login and max_age older than the session force active re-authentication"
		{"max_age counts from the first factor, not from a later second factor", Input{Session: with(pwdSession(2*time.Hour), "totp", 0, false), Enrolled: []Method{TOTP}, Request: Request{MaxAge: dur(time.Hour)}}, NeedFirstFactor, LevelNone, nil, false, "max_age"},
		// Issue 11: email and SMS codes are opt-in second factors, never phishing-resistant.
		{"an email code is offered where the policy lists email", Input{Policies: []Named{pol("m", Always, methods(Email, BackupCode))}, Session: pwdSession(0), Enrolled: []Method{TOTP, Email}}, NeedSecondFactor, LevelMFA, []Method{Email}, false, ""},
		{"email and sms are offered after an authenticator app, before backup codes", Input{Policies: []Named{pol("m", Always, methods(BackupCode, SMS, Email, TOTP))}, Session: pwdSession(0), Enrolled: []Method{BackupCode, SMS, Email, TOTP}}, NeedSecondFactor, LevelMFA, []Method{TOTP, Email, SMS, BackupCode}, false, ""},
		{"a policy that lists no methods does not allow a verified email", Input{Policies: []Named{strict}, Session: pwdSession(0), Enrolled: []Method{Email}}, NeedEnrollment, LevelMFA, []Method{WebAuthn, TOTP}, false, ""},
		{"email must be listed by every applicable policy", Input{Policies: []Named{pol("m", Always, methods(Email, TOTP)), relaxed}, Session: pwdSession(0), Enrolled: []Method{Email}}, NeedEnrollment, LevelMFA, []Method{TOTP}, false, ""},
		{"with no policy an email code does not count toward acr_values mfa", Input{Session: with(pwdSession(0), "email", 0, false), Enrolled: []Method{Email}, Request: Request{ACRValues: []string{ACRMFA}}}, NeedNothing, LevelPassword, nil, false, ""},
		{"an email code after the password is mfa", Input{Policies: []Named{pol("m", Always, methods(Email))}, Session: with(pwdSession(0), "email", 0, false), Enrolled: []Method{Email}}, NeedNothing, LevelMFA, nil, false, ""},
		{"an sms code after the password is mfa", Input{Policies: []Named{pol("m", Always, methods(SMS))}, Session: with(pwdSession(0), "sms", 0, false), Enrolled: []Method{SMS}}, NeedNothing, LevelMFA, nil, false, ""},
		{"an email code never reaches phr: a passkey is enrolled", Input{Policies: []Named{pol("m", OnRequest, methods(Email, WebAuthn))}, Session: with(pwdSession(0), "email", 0, false), Enrolled: []Method{Email}, Request: Request{EssentialACR: []string{ACRPhishingResistant}}}, NeedEnrollment, LevelPhishingResistant, []Method{WebAuthn}, true, ""},
		{"a phr minimum offers the passkey, not the sms code", Input{Policies: []Named{pol("f", OnRequest, minLevel(LevelPhishingResistant), methods(WebAuthn, SMS))}, Session: with(pwdSession(0), "sms", 0, false), Enrolled: []Method{SMS, WebAuthn}}, NeedSecondFactor, LevelPhishingResistant, []Method{WebAuthn}, true, ""},
		{"a phr minimum under an email-only policy is impossible", Input{Policies: []Named{pol("f", OnRequest, minLevel(LevelPhishingResistant)), pol("m", OnRequest, methods(Email))}, Session: pwdSession(0), Enrolled: []Method{Email}}, NeedImpossible, LevelPhishingResistant, nil, true, ""},
		{"acr_values phr for a user with only an email code asks for it and returns mfa", Input{Policies: []Named{pol("m", OnRequest, methods(Email, WebAuthn))}, Session: pwdSession(0), Enrolled: []Method{Email}, Request: Request{ACRValues: []string{ACRPhishingResistant}}}, NeedSecondFactor, LevelMFA, []Method{Email}, false, ""},
		// Issue 9 item 7: a remembered device honours the policy that asks.
		{"a device remembered longer ago than the shortest remember_device does not count", Input{Policies: []Named{pol("s", Always, remember(time.Minute))}, Session: pwdSession(0), Enrolled: []Method{TOTP}, RememberedAt: ptr(t0.Add(-48 * time.Hour))}, NeedSecondFactor, LevelMFA, []Method{TOTP}, false, ""},
	}
}

func TestDecideReadsLikeTheAdminGuide(t *testing.T) {
	for _, tc := range adminGuide() {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now, in.Methods = t0, twofoldMethods
			d := Decide(in)
			got := d.Target
			if d.Need == NeedNothing {
				got = d.Level
			}
			if d.Need != tc.need || got != tc.level || d.RequireUV != tc.uv || !equalMethods(d.Methods, tc.methods) {
				t.Fatalf("Decide = need %s, level %s, target %s, methods %v, uv %v (%s); want need %s, level %s, methods %v, uv %v",
					d.Need, d.Level, d.Target, d.Methods, d.RequireUV, d.Reason, tc.need, tc.level, tc.methods, tc.uv)
			}
			if tc.reasonIn != "" && !strings.Contains(d.Reason, tc.reasonIn) {
				t.Fatalf("reason %q does not mention %q", d.Reason, tc.reasonIn)
			}
		})
	}
}

func equalMethods(a, b []Method) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseACR(t *testing.T) {
	for s, want := range map[string]Level{ACRPassword: LevelPassword, ACRMFA: LevelMFA, ACRPAPEMultiFactor: LevelMFA, ACRPhishingResistant: LevelPhishingResistant, ACRTwofoldPhishingResistant: LevelPhishingResistant, ACRPhishingResistantHardware: LevelPhishingResistantHardware} {
		if l, ok := ParseACR(s); !ok || l != want {
			t.Errorf("ParseACR(%q) = %v, %v", s, l, ok)
		}
		if s != ACRPAPEMultiFactor && s != ACRTwofoldPhishingResistant {
			if l, _ := ParseACR(s); l.ACR() != s {
				t.Errorf("%v.ACR() = %q, want %q", l, l.ACR(), s)
			}
		}
	}
	if _, ok := ParseACR("urn:other"); ok {
		t.Error("an unknown acr parsed")
	}
}

func ptr(t time.Time) *time.Time { return &t }

// twofoldMethods are the facts the factor registry gives Decide.
var twofoldMethods = Methods{Enrollable: []Method{WebAuthn, TOTP}, PhishingResistant: []Method{WebAuthn}}

func TestTheACRClaimIsTheValueAskedForWhenMet(t *testing.T) {
	mfaSession := with(pwdSession(0), "totp", 0, false)
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"no request: the level's canonical value", Input{Session: mfaSession}, ACRMFA},
		{"the PAPE URI asked for and met is returned as written", Input{Session: mfaSession, Request: Request{ACRValues: []string{ACRPAPEMultiFactor}}}, ACRPAPEMultiFactor},
		{"the first value met, in the application's order", Input{Session: mfaSession, Request: Request{ACRValues: []string{ACRPhishingResistant, ACRMFA}}}, ACRMFA},
		{"an essential value met is returned as written", Input{Session: mfaSession, Request: Request{EssentialACR: []string{ACRPAPEMultiFactor}}}, ACRPAPEMultiFactor},
		{"a voluntary value not met is never claimed", Input{Session: pwdSession(0), Request: Request{ACRValues: []string{ACRMFA}}}, ACRPassword},
		{"a passkey sign-in is phr", Input{Session: &Session{AuthTime: t0, Factors: []Factor{{Method: FactorPasskey, At: t0, UserVerified: true}}}}, ACRPhishingResistant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now, tc.in.Methods = t0, twofoldMethods
			d := Decide(tc.in)
			if d.Need != NeedNothing || d.ACR != tc.want {
				t.Fatalf("Decide = need %s, acr %q; want nothing, %q", d.Need, d.ACR, tc.want)
			}
		})
	}
}

func TestARememberedDeviceIsReportedWhenItStoodIn(t *testing.T) {
	in := Input{Policies: []Named{pol("s", Always, remember(30*24*time.Hour))}, Session: pwdSession(0), Enrolled: []Method{TOTP}, RememberedAt: ptr(t0.Add(-24 * time.Hour)), Now: t0, Methods: twofoldMethods}
	if d := Decide(in); d.Need != NeedNothing || !d.DeviceUsed || d.Level != LevelMFA {
		t.Fatalf("Decide = need %s, device used %v, level %s", d.Need, d.DeviceUsed, d.Level)
	}
}
