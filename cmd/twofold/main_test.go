package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs the twofold command in-process with the given environment.
type cli struct {
	t       *testing.T
	environ []string
}

// newCLI gives a CLI on a fresh SQLite database in a temp directory.
func newCLI(t *testing.T, extraEnv ...string) *cli {
	dir := t.TempDir()
	env := append([]string{
		"TWOFOLD_DATABASE_URL=sqlite:" + filepath.Join(dir, "twofold.db"),
		"TWOFOLD_LOG_LEVEL=error",
	}, extraEnv...)
	return &cli{t: t, environ: env}
}

func (c *cli) run(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, environ: c.environ}
	code = run(context.Background(), e, args)
	return code, out.String(), errOut.String()
}

func (c *cli) mustRun(stdin string, args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("twofold %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestEveryCommandHasHelp(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"migrate", "up", "--help"}, {"migrate", "status", "--help"},
		{"user", "--help"}, {"user", "add", "--help"}, {"user", "list", "--help"}, {"user", "disable", "--help"},
		{"user", "enable", "--help"}, {"user", "revoke-consent", "--help"}, {"user", "reset-mfa", "--help"}, {"keys", "--help"}, {"audit", "--help"}, {"keys", "rotate", "--help"}, {"client", "--help"}, {"client", "add", "--help"}, {"client", "list", "--help"},
		{"policy", "--help"}, {"policy", "set", "--help"}, {"policy", "list", "--help"}, {"policy", "assign", "--help"}, {"policy", "explain", "--help"}, {"version", "--help"},
	} {
		code, _, stderr := c.run("", args...)
		if code != 0 || !strings.Contains(stderr, "Usage: twofold") {
			t.Errorf("twofold %s: exit %d, help:\n%s", strings.Join(args, " "), code, stderr)
		}
	}
}

func TestUnknownCommandsAndFlagsAreUsageErrors(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{{}, {"frobnicate"}, {"user", "frobnicate"}, {"user", "list", "--bogus"}, {"user", "add"}} {
		if code, _, _ := c.run("", args...); code != 2 {
			t.Errorf("twofold %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
}

func TestVersionPrintsTheVersion(t *testing.T) {
	out := newCLI(t).mustRun("", "version")
	if !strings.HasPrefix(out, "twofold dev (go") {
		t.Fatalf("version = %q", out)
	}
}

func TestUserCommands(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("correct horse battery\n", "user", "add", "--username", "Alice", "--email", "alice@example.com", "--admin", "--password-stdin")
	if !strings.Contains(out, "created user Alice") {
		t.Fatalf("user add: %q", out)
	}
	code, _, stderr := c.run("short\n", "user", "add", "--username", "bob", "--password-stdin")
	if code != 1 || !strings.Contains(stderr, "password: must be at least 8 characters") {
		t.Fatalf("short password: exit %d, %q", code, stderr)
	}
	code, _, stderr = c.run("another long phrase\n", "user", "add", "--username", "ALICE", "--password-stdin")
	if code != 1 || !strings.Contains(stderr, "username: is already taken") {
		t.Fatalf("duplicate: exit %d, %q", code, stderr)
	}
	code, _, stderr = c.run("", "user", "add", "--username", "carol")
	if code != 1 || !strings.Contains(stderr, "--password-stdin") {
		t.Fatalf("no terminal: exit %d, %q", code, stderr)
	}
	c.mustRun("", "user", "disable", "alice")
	var users []struct {
		Username string `json:"username"`
		Admin    bool   `json:"admin"`
		Disabled bool   `json:"disabled"`
	}
	if err := json.Unmarshal([]byte(c.mustRun("", "user", "list", "--json")), &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].Username != "Alice" || !users[0].Admin || !users[0].Disabled {
		t.Fatalf("user list = %+v", users)
	}
	c.mustRun("", "user", "enable", "ALICE")
	if out := c.mustRun("", "user", "list"); !strings.Contains(out, "Alice") || !strings.Contains(out, "active") {
		t.Fatalf("user list table:\n%s", out)
	}
	if code, _, stderr := c.run("", "user", "disable", "nobody"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Fatalf("disable unknown: exit %d, %q", code, stderr)
	}
	out = c.mustRun("", "audit", "--user", "alice")
	for _, want := range []string{"user.created", "user.disabled", "user.enabled", "cli"} {
		if !strings.Contains(out, want) {
			t.Fatalf("audit lacks %q:\n%s", want, out)
		}
	}
	if out := c.mustRun("", "audit", "--action", "user.disabled", "--json"); strings.Count(out, `"action": "user.disabled"`) != 1 {
		t.Fatalf("audit --action --json:\n%s", out)
	}
}

func TestClientCommands(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("", "client", "add", "--id", "app", "--redirect-uri", "https://app.example.com/cb")
	if !strings.Contains(out, "client secret (shown once") {
		t.Fatalf("client add: %q", out)
	}
	c.mustRun("", "client", "add", "--id", "spa", "--public", "--redirect-uri", "http://127.0.0.1:9999/cb")
	code, _, stderr := c.run("", "client", "add", "--id", "bad", "--redirect-uri", "http://app.example.com/cb")
	if code != 1 || !strings.Contains(stderr, "redirect_uris[0]") {
		t.Fatalf("bad redirect: exit %d, %q", code, stderr)
	}
	c.mustRun("", "client", "add", "--id", "fast", "--id-token-alg", "ES256", "--access-token-type", "opaque", "--redirect-uri", "https://app.example.com/cb")
	code, _, stderr = c.run("", "client", "add", "--id", "weak", "--id-token-alg", "HS256", "--redirect-uri", "https://app.example.com/cb")
	if code != 1 || !strings.Contains(stderr, "id_token_signed_response_alg") {
		t.Fatalf("bad --id-token-alg: exit %d, %q", code, stderr)
	}
	out = c.mustRun("", "client", "list")
	if !strings.Contains(out, "app") || !strings.Contains(out, "confidential") || !strings.Contains(out, "public") || strings.Contains(out, "bad") {
		t.Fatalf("client list:\n%s", out)
	}
}

func TestPolicyCommands(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("", "policy", "set", "strict", "--require-mfa", "always", "--methods", "totp,webauthn", "--mfa-max-age", "12h")
	if !strings.Contains(out, "require_mfa=always methods=totp,webauthn mfa_max_age=12h") {
		t.Fatalf("policy set: %q", out)
	}
	// Only the flags given change.
	out = c.mustRun("", "policy", "set", "strict", "--remember-device", "30d")
	if !strings.Contains(out, "require_mfa=always methods=totp,webauthn mfa_max_age=12h remember_device=30d") {
		t.Fatalf("policy patch: %q", out)
	}
	// The enrollment grace: by time, by sign-ins, validated by the domain.
	out = c.mustRun("", "policy", "set", "strict", "--enrollment-grace", "7d", "--enrollment-grace-sign-ins", "5")
	if !strings.Contains(out, "remember_device=30d enrollment=required min_level=- enrollment_grace=7d enrollment_grace_sign_ins=5") {
		t.Fatalf("policy set with a grace: %q", out)
	}
	code, _, stderr := c.run("", "policy", "set", "strict", "--enrollment-grace-sign-ins", "-1")
	if code != 1 || !strings.Contains(stderr, "enrollment_grace_sign_ins: must not be negative") {
		t.Fatalf("a negative grace: exit %d, %q", code, stderr)
	}
	code, _, stderr = c.run("", "policy", "set", "strict", "--require-mfa", "sometimes")
	if code != 1 || !strings.Contains(stderr, "require_mfa") {
		t.Fatalf("bad policy: exit %d, %q", code, stderr)
	}
	code, _, stderr = c.run("", "policy", "set", "strict", "--mfa-max-age", "12x")
	if code != 1 || !strings.Contains(stderr, "--mfa-max-age") {
		t.Fatalf("bad duration: exit %d, %q", code, stderr)
	}
	c.mustRun("", "client", "add", "--id", "app", "--policy", "strict", "--redirect-uri", "https://app.example.com/cb")
	if out := c.mustRun("", "policy", "list"); !strings.Contains(out, "client:app") {
		t.Fatalf("policy list:\n%s", out)
	}
	c.mustRun("", "policy", "set", "finance", "--min-level", "phr", "--methods", "webauthn")
	c.mustRun("", "client", "add", "--id", "books", "--redirect-uri", "https://books.example.com/cb")
	c.mustRun("", "policy", "assign", "finance", "--client", "books")
	c.mustRun("", "policy", "assign", "strict", "--group", "staff")
	c.mustRun("", "policy", "assign", "strict", "--default")
	out = c.mustRun("", "policy", "list")
	for _, want := range []string{"client:books", "group:staff", "default", "phr"} {
		if !strings.Contains(out, want) {
			t.Fatalf("policy list lacks %q:\n%s", want, out)
		}
	}
	if code, _, stderr := c.run("", "policy", "assign", "nope", "--client", "books"); code != 1 || !strings.Contains(stderr, "policy") {
		t.Fatalf("assigning an unknown policy: exit %d %q", code, stderr)
	}
}

func TestMigrateCommands(t *testing.T) {
	c := newCLI(t)
	if out := c.mustRun("", "migrate", "status"); !strings.Contains(out, "pending") {
		t.Fatalf("status before: %q", out)
	}
	if out := c.mustRun("", "migrate", "up"); !strings.HasPrefix(out, "applied ") || strings.HasPrefix(out, "applied 0 ") {
		t.Fatalf("up: %q", out)
	}
	if out := c.mustRun("", "migrate", "status"); strings.Contains(out, "pending") || !strings.Contains(out, "applied") {
		t.Fatalf("status after: %q", out)
	}
	if out := c.mustRun("", "migrate", "up"); !strings.Contains(out, "applied 0 migration") {
		t.Fatalf("second up: %q", out)
	}
}

func TestBadConfigurationFailsAtStartNamingTheKey(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"a typo in a key", "polcies: []\n", `unknown key "polcies"`},
		{"a bad database URL", "database: mysql://x\n", "database"},
		{"a malformed duration", "policies:\n  - name: strict\n    require_mfa: always\n    mfa_max_age: 12x\n", "policies[0].mfa_max_age"},
		{"an http issuer on a public host", "issuer: http://id.example.com\n", "issuer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "twofold.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c := newCLI(t)
			c.environ = []string{"TWOFOLD_LOG_LEVEL=error"} // the file decides the database here
			code, _, stderr := c.run("", "serve", "--config", path)
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q does not mention %q", code, stderr, tc.want)
			}
		})
	}
}

func TestPostgresWithoutAMasterKeyIsRefused(t *testing.T) {
	c := newCLI(t)
	c.environ = []string{"TWOFOLD_DATABASE_URL=postgres://nobody@127.0.0.1:1/none", "TWOFOLD_LOG_LEVEL=error"}
	code, _, stderr := c.run("", "migrate", "up")
	if code != 1 || !strings.Contains(stderr, "TWOFOLD_SECRET_KEY") {
		t.Fatalf("exit %d: %q", code, stderr)
	}
}

func TestPolicyExplain(t *testing.T) {
	c := newCLI(t)
	c.mustRun("", "policy", "set", "strict", "--require-mfa", "always", "--mfa-max-age", "12h")
	c.mustRun("", "policy", "set", "relaxed", "--require-mfa", "on_request")
	c.mustRun("", "policy", "assign", "relaxed", "--default")
	c.mustRun("", "policy", "assign", "strict", "--group", "staff")
	c.mustRun("", "client", "add", "--id", "app", "--name", "Acme Notes", "--redirect-uri", "https://app.example.com/cb")
	c.mustRun("correct horse battery\n", "user", "add", "--username", "alice", "--group", "staff", "--password-stdin")
	c.mustRun("correct horse battery\n", "user", "add", "--username", "erin", "--password-stdin")

	out := c.mustRun("", "policy", "explain", "--user", "alice", "--client", "app")
	for _, want := range []string{
		"Sign-in of alice (groups staff; no second factor) to app (Acme Notes)",
		"strict   via group staff", "relaxed  via default",
		"First, sign in: nobody is signed in",
		"policy strict (group staff): require_mfa=always: requires MFA at every sign-in",
		"Level required:  urn:twofold:acr:mfa",
		"Outcome:         enrollment (webauthn, totp)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("policy explain lacks %q:\n%s", want, out)
		}
	}
	var res struct {
		SignIn  bool   `json:"sign_in"`
		Outcome string `json:"outcome"`
		ACR     string `json:"acr"`
		Rules   []struct {
			Source, Field, Value, Effect string
		} `json:"rules"`
	}
	js := c.mustRun("", "policy", "explain", "--user", "erin", "--client", "app", "--last-factor", "pwd=5m", "--max-age", "3600", "--acr-values", "phr urn:twofold:acr:mfa", "--json")
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, js)
	}
	if res.SignIn || res.Outcome != "none" || res.ACR != "urn:twofold:acr:pwd" || len(res.Rules) == 0 {
		t.Fatalf("--json = %+v", res)
	}
	out = c.mustRun("", "policy", "explain", "--user", "erin", "--client", "app", "--last-factor", "pwd=2h", "--max-age", "60")
	if !strings.Contains(out, "First, sign in: the sign-in is older than the application's max_age (1m)") {
		t.Fatalf("max_age:\n%s", out)
	}
	if out := c.mustRun("", "audit", "--action", "policy.decision"); strings.Contains(out, "policy.decision") {
		t.Fatalf("explain wrote to the audit trail:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--user", "nobody", "--client", "app"}, 1, "--user: no user has the id or username \"nobody\""},
		{[]string{"--user", "alice", "--client", "nope"}, 1, "--client: no enabled client has the id \"nope\""},
		{[]string{"--user", "alice", "--client", "app", "--claims", "[1]"}, 1, "--claims: is not a JSON object"},
		{[]string{"--user", "alice", "--client", "app", "--max-age", "soon"}, 1, "--max-age: \"soon\" is not a number of seconds"},
		{[]string{"--user", "alice", "--client", "app", "--prompt", "always"}, 1, "--prompt: \"always\" is not none, login, consent or select_account"},
		{[]string{"--user", "alice", "--client", "app", "--last-factor", "totp"}, 1, "--last-factor: \"totp\" is not METHOD=AGE"},
		{[]string{"--user", "alice", "--client", "app", "--last-factor", "fax=1h"}, 1, "--last-factor: \"fax\" is not pwd, passkey"},
		{[]string{"--user", "alice", "--client", "app", "--last-factor", "totp=1h"}, 1, "--last-factor: must hold a first factor"},
		{[]string{"--user", "alice", "--client", "app", "--remembered-device", "yesterday"}, 1, "--remembered-device: \"yesterday\" is not a duration"},
		{[]string{"--client", "app"}, 2, "Usage: twofold policy explain"},
		{[]string{"--user", "alice", "--client", "app", "--bogus"}, 2, "flag provided but not defined"},
	} {
		code, _, stderr := c.run("", append([]string{"policy", "explain"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("policy explain %s: exit %d, want %d with %q:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.msg, stderr)
		}
	}
}
