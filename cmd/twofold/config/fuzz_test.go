package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no configuration file, however broken, panics the parser, and that whatever it
// accepts is valid.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		"",
		"issuer: https://id.example.com\n",
		"policies: [{name: p, mfa_max_age: 30d}]\n",
		"polcies: []\n",
		"- a\n",
		"a: &a [*a]\n",
		"clients: [{id: x, <<: {secret: y}}]\n",
		"{\"users\": [{\"username\": \"a\", \"password\": \"b\"}]}",
		"---\n---\n",
		"\tissuer: x\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, nil)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
	})
}
