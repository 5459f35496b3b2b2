package demo

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   []challenge
	}{
		{name: "the RFC 9470 challenge of the demo API",
			header: insufficientChallenge,
			want: []challenge{{Scheme: "Bearer", Params: map[string]string{
				"error": "insufficient_user_authentication", "error_description": "A second factor is required",
				"acr_values": acrMFA}}}},
		{name: "RFC 9470 §3's example with max_age",
			header: `Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", max_age="5"`,
			want: []challenge{{Scheme: "Bearer", Params: map[string]string{
				"error": "insufficient_user_authentication", "error_description": "More recent authentication is required",
				"max_age": "5"}}}},
		{name: "unquoted token values and odd spacing",
			header: `Bearer   error = invalid_token ,max_age=0`,
			want:   []challenge{{Scheme: "Bearer", Params: map[string]string{"error": "invalid_token", "max_age": "0"}}}},
		{name: "parameter names are case-insensitive and the first occurrence wins",
			header: `Bearer Error="first", ERROR="second"`,
			want:   []challenge{{Scheme: "Bearer", Params: map[string]string{"error": "first"}}}},
		{name: "quoted-pairs are resolved",
			header: `Bearer realm="a \"quoted\" \\ realm"`,
			want:   []challenge{{Scheme: "Bearer", Params: map[string]string{"realm": `a "quoted" \ realm`}}}},
		{name: "several challenges in one field",
			header: `Basic realm="x", charset="UTF-8", Bearer error="insufficient_user_authentication", acr_values="a b"`,
			want: []challenge{
				{Scheme: "Basic", Params: map[string]string{"realm": "x", "charset": "UTF-8"}},
				{Scheme: "Bearer", Params: map[string]string{"error": "insufficient_user_authentication", "acr_values": "a b"}},
			}},
		{name: "a token68 challenge followed by another",
			header: `Negotiate abc+/def==, Bearer realm="r"`,
			want: []challenge{
				{Scheme: "Negotiate", Token68: "abc+/def==", Params: map[string]string{}},
				{Scheme: "Bearer", Params: map[string]string{"realm": "r"}},
			}},
		{name: "a scheme without parameters",
			header: `Bearer`,
			want:   []challenge{{Scheme: "Bearer", Params: map[string]string{}}}},
		{name: "empty list elements are skipped",
			header: `, ,Bearer realm="r",, `,
			want:   []challenge{{Scheme: "Bearer", Params: map[string]string{"realm": "r"}}}},
		{name: "an unterminated quoted string ends the parameters",
			header: `Bearer realm="r", error="oops`,
			want:   []challenge{{Scheme: "Bearer", Params: map[string]string{"realm": "r"}}}},
		{name: "garbage yields nothing",
			header: `"quoted"`,
			want:   nil},
		{name: "an empty field yields nothing",
			header: ``,
			want:   nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseChallenges(tt.header)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseChallenges(%q)\n got %#v\nwant %#v", tt.header, got, tt.want)
			}
		})
	}
}

func TestBearerChallenge(t *testing.T) {
	tests := []struct {
		name    string
		fields  []string
		want    stepUp
		wantAge int // -1: no max_age
		found   bool
	}{
		{name: "acr_values only", fields: []string{insufficientChallenge}, found: true, wantAge: -1,
			want: stepUp{Error: "insufficient_user_authentication", Description: "A second factor is required",
				ACRValues: acrMFA}},
		{name: "acr_values and max_age", found: true, wantAge: 300,
			fields: []string{`Bearer error="insufficient_user_authentication", acr_values="` + acrPHR + `", max_age=300`},
			want:   stepUp{Error: "insufficient_user_authentication", ACRValues: acrPHR}},
		{name: "a malformed max_age is ignored", found: true, wantAge: -1,
			fields: []string{`Bearer error="insufficient_user_authentication", max_age="-5"`},
			want:   stepUp{Error: "insufficient_user_authentication"}},
		{name: "the Bearer challenge in a second field", found: true, wantAge: -1,
			fields: []string{`Basic realm="x"`, `bearer error="invalid_token"`},
			want:   stepUp{Error: "invalid_token"}},
		{name: "no Bearer challenge", fields: []string{`Basic realm="x"`}, wantAge: -1},
		{name: "no field", wantAge: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, f := range tt.fields {
				h.Add("WWW-Authenticate", f)
			}
			got, found := bearerChallenge(h)
			if found != tt.found {
				t.Fatalf("found = %v, want %v", found, tt.found)
			}
			age := -1
			if got.MaxAge != nil {
				age = *got.MaxAge
			}
			got.MaxAge = nil
			if got != tt.want || age != tt.wantAge {
				t.Errorf("got %+v max_age %d, want %+v max_age %d", got, age, tt.want, tt.wantAge)
			}
		})
	}
}

// FuzzParseChallenges: the header comes from a resource server, i.e. from the network.
func FuzzParseChallenges(f *testing.F) {
	for _, seed := range []string{
		insufficientChallenge,
		`Bearer error="insufficient_user_authentication", max_age=5`,
		`Basic realm="x", Bearer realm="y", error="a\"b"`,
		`Negotiate abc==, Bearer`,
		`Bearer ,,, "`,
		`Bearer realm="unterminated`,
		`a=b=c, =, "x"`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		for _, c := range parseChallenges(header) {
			if c.Scheme == "" || strings.IndexFunc(c.Scheme, func(r rune) bool { return r > 0x7f || !isTchar(byte(r)) }) >= 0 {
				t.Fatalf("scheme %q is not a token", c.Scheme)
			}
			for name := range c.Params {
				if name == "" || name != strings.ToLower(name) {
					t.Fatalf("parameter name %q is empty or not lower-cased", name)
				}
			}
		}
		h := http.Header{"Www-Authenticate": {header}}
		if su, ok := bearerChallenge(h); ok && su.MaxAge != nil && *su.MaxAge < 0 {
			t.Fatalf("negative max_age %d", *su.MaxAge)
		}
	})
}
