package config

import (
	"strconv"
	"strings"
	"testing"
)

func TestFileErrorsNameTheLineAndKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string // each must appear in the error
	}{
		{"an unknown top-level key is named with its line and a suggestion",
			"issuer: https://id.example.com\nlisten: :8080\npolcies: []\n",
			[]string{`line 3: unknown key "polcies" (did you mean "policies"?)`}},
		{"an unknown nested key is named with its path",
			"clients:\n  - id: app\n    secrte: x\n",
			[]string{`line 3: clients[0]: unknown key "secrte" (did you mean "secret"?)`}},
		{"every unknown key is reported, not just the first",
			"foo: 1\nbar: 2\n",
			[]string{`line 1: unknown key "foo"`, `line 2: unknown key "bar"`}},
		{"a string where a list belongs names the key",
			"policies: strict\n",
			[]string{"line 1: policies: expected a list, got a string"}},
		{"a list where a string belongs names the key",
			"clients:\n  - id: [a, b]\n",
			[]string{"line 2: clients[0].id: expected a string, got a list"}},
		{"a bad boolean names the key and value",
			"clients:\n  - id: app\n    skip_consent: sometimes\n",
			[]string{`line 3: clients[0].skip_consent: expected true or false, got "sometimes"`}},
		{"a malformed duration names its path",
			"policies:\n  - name: p\n    mfa_max_age: 12x\n",
			[]string{`line 3: policies[0].mfa_max_age: "12x" is not a duration (use e.g. 90s, 12h, 30d)`}},
		{"a negative duration is refused",
			"shutdown_timeout: -1s\n",
			[]string{`line 1: shutdown_timeout: "-1s" is negative`}},
		{"a duration given as a list is refused",
			"policies: [{name: p, remember_device: [1]}]\n",
			[]string{"line 1: policies[0].remember_device: expected a duration (use e.g. 90s, 12h, 30d), got a list"}},
		{"a list is not a configuration",
			"- issuer: x\n",
			[]string{"line 1: the configuration must be a mapping of keys"}},
		{"a bare string is not a configuration",
			"hello\n",
			[]string{"line 1: the configuration must be a mapping of keys", "got a string"}},
		{"a duplicate key is refused",
			"issuer: https://a.example.com\nissuer: https://b.example.com\n",
			[]string{`line 2: duplicate key "issuer" (first at line 1)`}},
		{"a second document is refused",
			"issuer: https://a.example.com\n---\nlisten: :1\n",
			[]string{"line 2: only one YAML document is allowed"}},
		{"a syntax error keeps its line",
			"issuer: https://a.example.com\n  listen: :1\n",
			[]string{"line 2: "}},
		{"a key that is a mapping is refused",
			"? {a: 1}\n: x\n",
			[]string{"line 1: keys must be plain names, got a mapping"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), nil)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "config.Config") || strings.Contains(err.Error(), "!!") {
				t.Errorf("error %q leaks yaml.v3 internals", err)
			}
		})
	}
}

func TestABillionLaughsDocumentIsRefusedQuickly(t *testing.T) {
	// A "billion laughs" document: each level doubles the previous one.
	var b strings.Builder
	// The anchors sit inside a list of users' groups, so only the alias limits stop the expansion.
	b.WriteString("users:\n  - username: a\n    password: x\n    groups: &a0 [x, x]\n")
	for i := 1; i < 40; i++ {
		b.WriteString("  - {username: u" + strconv.Itoa(i) + ", password: x, groups: &a" + strconv.Itoa(i) +
			" [*a" + strconv.Itoa(i-1) + ", *a" + strconv.Itoa(i-1) + "]}\n")
	}
	if _, err := Parse([]byte(b.String()), nil); err == nil {
		t.Fatal("Parse succeeded on a billion-laughs document")
	}
}
