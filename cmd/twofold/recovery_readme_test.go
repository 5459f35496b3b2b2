package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/cmd/twofold/config"
)

// The README's section on the ways back in shows recovery_wait and a policy's enrollment grace: together they are
// a valid configuration that says what the text says.
func TestTheREADMEWaysBackInConfigurationIsValid(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const heading = "## Ways back in: forgotten passwords, lost second factors, the enrollment grace"
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var yaml strings.Builder
	for rest := section; ; {
		_, after, ok := strings.Cut(rest, "```yaml\n")
		if !ok {
			break
		}
		block, next, _ := strings.Cut(after, "```\n")
		yaml.WriteString(block)
		rest = next
	}
	cfg, err := config.Parse([]byte(yaml.String()), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml.String())
	}
	if cfg.RecoveryWait != config.Duration(24*time.Hour) || len(cfg.Policies) != 1 ||
		cfg.Policies[0].EnrollmentGrace != config.Duration(7*24*time.Hour) || cfg.Policies[0].EnrollmentGraceSignIns != 5 {
		t.Fatalf("parsed %+v", cfg)
	}
}
