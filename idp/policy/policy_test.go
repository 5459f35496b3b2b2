package policy

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Policy{Name: "strict", RequireMFA: Always, Methods: []Method{TOTP, WebAuthn}, MFAMaxAge: 12 * time.Hour, Enrollment: EnrollRequired}
	tests := []struct {
		name   string
		mutate func(*Policy)
		field  string // "" = valid
	}{
		{"a complete policy is valid", func(*Policy) {}, ""},
		{"an empty method list is valid (defaults fill it)", func(p *Policy) { p.Methods = nil }, ""},
		{"an upper-case name is refused", func(p *Policy) { p.Name = "Strict" }, "name"},
		{"an empty name is refused", func(p *Policy) { p.Name = "" }, "name"},
		{"the word for no policy is not a name", func(p *Policy) { p.Name = NameNone }, "name"},
		{"an unknown requirement is refused", func(p *Policy) { p.RequireMFA = "sometimes" }, "require_mfa"},
		{"an unknown method is refused", func(p *Policy) { p.Methods = []Method{"fax"} }, "methods[0]"},
		{"email and sms codes may be listed", func(p *Policy) { p.Methods = []Method{Email, SMS} }, ""},
		{"a duplicated opt-in method is refused", func(p *Policy) { p.Methods = []Method{SMS, TOTP, SMS} }, "methods[2]"},
		{"a duplicated method is refused", func(p *Policy) { p.Methods = []Method{TOTP, TOTP} }, "methods[1]"},
		{"backup codes alone cannot be the always-required factor", func(p *Policy) { p.Methods = []Method{BackupCode} }, "methods"},
		{"a negative max age is refused", func(p *Policy) { p.MFAMaxAge = -time.Second }, "mfa_max_age"},
		{"a negative remember-device duration is refused", func(p *Policy) { p.RememberDevice = -time.Second }, "remember_device"},
		{"an unknown enrollment mode is refused", func(p *Policy) { p.Enrollment = "maybe" }, "enrollment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			p.Methods = append([]Method(nil), ok.Methods...)
			tc.mutate(&p)
			err := p.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("error %v does not name %s", err, tc.field)
			}
		})
	}
}

func TestWithDefaultsFillsOmittedFields(t *testing.T) {
	p := Policy{Name: "relaxed"}.WithDefaults()
	if p.RequireMFA != OnRequest || len(p.Methods) != 3 || p.Enrollment != EnrollRequired {
		t.Fatalf("defaults = %+v", p)
	}
	// Email and SMS codes are off by default: only a policy that lists them allows them.
	for _, m := range OptInMethods {
		if slices.Contains(p.Methods, m) || slices.Contains(AllMethods, m) || !m.OptIn() {
			t.Fatalf("the default methods %v include the opt-in %s", p.Methods, m)
		}
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestOnlyPoliciesThatAllListAnOptInMethodAllowIt(t *testing.T) {
	codes := pol("codes", Always, methods(TOTP, Email, SMS))
	for _, tc := range []struct {
		name string
		ps   []Named
		want []Method
	}{
		{"no policy allows the defaults", nil, AllMethods},
		{"a policy without methods allows the defaults", []Named{pol("p", OnRequest)}, AllMethods},
		{"a policy listing email and sms allows them, in the order pages offer them", []Named{codes}, []Method{TOTP, Email, SMS}},
		{"beside a policy without methods they are not allowed", []Named{codes, pol("default", OnRequest)}, []Method{TOTP}},
		{"every policy must list them", []Named{codes, pol("mail", OnRequest, methods(Email, WebAuthn))}, []Method{Email}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AllowedMethods(tc.ps); !slices.Equal(got, tc.want) {
				t.Fatalf("AllowedMethods = %v, want %v", got, tc.want)
			}
		})
	}
}
