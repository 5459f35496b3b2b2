package policy

import (
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
		{"an unknown method is refused", func(p *Policy) { p.Methods = []Method{"sms"} }, "methods[0]"},
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
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}
