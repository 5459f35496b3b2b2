package login

import (
	"slices"
	"testing"
)

func TestEssentialACR(t *testing.T) {
	tests := []struct {
		name, raw string
		want      []string
	}{
		{"no claims parameter", "", nil},
		{"an essential acr with values", `{"id_token":{"acr":{"essential":true,"values":["urn:twofold:acr:phr","urn:twofold:acr:mfa"]}}}`, []string{"urn:twofold:acr:phr", "urn:twofold:acr:mfa"}},
		{"an essential acr with one value", `{"id_token":{"acr":{"essential":true,"value":"urn:twofold:acr:mfa"}}}`, []string{"urn:twofold:acr:mfa"}},
		{"a voluntary acr is not essential", `{"id_token":{"acr":{"values":["urn:twofold:acr:mfa"]}}}`, nil},
		{"an acr asked of userinfo only", `{"userinfo":{"acr":{"essential":true,"value":"urn:twofold:acr:mfa"}}}`, nil},
		{"a null acr", `{"id_token":{"acr":null}}`, nil},
		{"malformed JSON", `{"id_token":`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := essentialACR(tc.raw); !slices.Equal(got, tc.want) {
				t.Fatalf("essentialACR = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzEssentialACR(f *testing.F) {
	f.Add(`{"id_token":{"acr":{"essential":true,"values":["x"]}}}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, raw string) { essentialACR(raw) })
}

func TestVoluntaryACR(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      []string
	}{
		{"a voluntary acr", `{"id_token":{"acr":{"values":["phr"]}}}`, []string{"phr"}},
		{"an essential acr is not voluntary", `{"id_token":{"acr":{"essential":true,"value":"phr"}}}`, nil},
		{"no acr", `{"id_token":{}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := voluntaryACR(tc.raw); !slices.Equal(got, tc.want) {
				t.Fatalf("voluntaryACR = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckClaimsTakesOnlyAJSONObject(t *testing.T) {
	for raw, ok := range map[string]bool{"": true, `{}`: true, `{"id_token":{}}`: true, `[]`: false, `"x"`: false, `{`: false} {
		if got := CheckClaims(raw) == nil; got != ok {
			t.Errorf("CheckClaims(%q) ok = %v, want %v", raw, got, ok)
		}
	}
}
