package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// readmeConfig is the README's example configuration, with its database left to the environment.
const readmeConfig = `policies:
  - name: strict
    require_mfa: always
    methods: [totp, webauthn, backup_code]
    mfa_max_age: 12h
  - name: relaxed
    require_mfa: on_request
default_policy: relaxed
groups:
  - name: staff
    policy: strict
clients:
  - id: app
    secret: a-long-random-client-secret
    redirect_uris: [http://127.0.0.1:9999/callback]
    post_logout_redirect_uris: [http://127.0.0.1:9999/]
    skip_consent: true
    policy: strict
users:
  - username: alice
    email: alice@example.com
    password: correct horse battery
    groups: [staff]
`

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "twofold.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// applyFile does what serve does at start with the file at path, without serving.
func (c *cli) applyFile(path string) error {
	c.t.Helper()
	var stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &stderr, stderr: &stderr, environ: c.environ}
	a, err := openApp(context.Background(), e, path, true)
	if err != nil {
		return err
	}
	defer a.Close()
	return applyConfig(context.Background(), a)
}

func TestObjectsFromTheFileAreReadOnlyForTheCLI(t *testing.T) {
	c := newCLI(t)
	path := writeConfig(t, readmeConfig)
	if err := c.applyFile(path); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"policy", "set", "strict", "--require-mfa", "never"}, `policy "strict" is managed by the configuration file (policies[0]); change it there`},
		{[]string{"policy", "assign", "relaxed", "--client", "app"}, `client "app" is managed by the configuration file (clients[0]); change it there`},
		{[]string{"policy", "assign", "none", "--group", "staff"}, `group "staff" is managed by the configuration file (groups[0]); change it there`},
		{[]string{"policy", "assign", "strict", "--default"}, `the default policy is managed by the configuration file (default_policy); change it there`},
		{[]string{"user", "disable", "alice"}, `user "alice" is managed by the configuration file (users[0]); change it there`},
	} {
		args := append(tc.args, "--config", path)
		if tc.args[0] == "user" { // user commands take their flags first
			args = []string{"user", tc.args[1], "--config", path, tc.args[2]}
		}
		code, _, stderr := c.run("", args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("twofold %s: exit %d, %q\nwant %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
	// Without the file, the CLI still refuses and says where the object is managed.
	if code, _, stderr := c.run("", "policy", "set", "strict", "--require-mfa", "never"); code != 1 ||
		!strings.Contains(stderr, `policy "strict" is managed by the configuration file; change it there`) {
		t.Errorf("without --config: exit %d, %q", code, stderr)
	}
	// The lists say who manages what; what the CLI creates stays the CLI's.
	c.mustRun("", "policy", "set", "extra", "--require-mfa", "always", "--methods", "webauthn")
	c.mustRun("", "policy", "set", "extra", "--remember-device", "30d")
	out := c.mustRun("", "policy", "list")
	for _, want := range []string{"strict", "config file", "extra", "database"} {
		if !strings.Contains(out, want) {
			t.Errorf("policy list lacks %q:\n%s", want, out)
		}
	}
	if out := c.mustRun("", "client", "list"); !strings.Contains(out, "config file") || !strings.Contains(out, "active") {
		t.Errorf("client list:\n%s", out)
	}
	var users []struct {
		Username  string `json:"username"`
		ManagedBy string `json:"managed_by"`
	}
	if err := json.Unmarshal([]byte(c.mustRun("", "user", "list", "--json")), &users); err != nil || len(users) != 1 || users[0].ManagedBy != "config" {
		t.Errorf("user list --json = %+v, %v", users, err)
	}
}

func TestAStartWithANameTakenInTheDatabaseStopsNamingBoth(t *testing.T) {
	c := newCLI(t)
	// A policy changed with `twofold policy set` is managed in the database: the file may not overwrite it.
	c.mustRun("", "policy", "set", "strict", "--require-mfa", "always", "--methods", "webauthn")
	code, _, stderr := c.run("", "serve", "--config", writeConfig(t, readmeConfig))
	want := `configuration: policies[0]: policy "strict" collides with the policy "strict" managed by the database (the CLI, console or API); rename the one in the configuration file or remove the other`
	if code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, %q\nwant %q", code, stderr, want)
	}
	if out := c.mustRun("", "policy", "list"); !strings.Contains(out, "webauthn") || strings.Contains(out, "totp") {
		t.Fatalf("the CLI's policy was overwritten:\n%s", out)
	}
}

func TestARefusedFileChangesNothingInTheDatabase(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	for name, newURL := range storagetest.URLs() {
		t.Run(name, func(t *testing.T) {
			url := newURL(t)
			c := &cli{t: t, environ: []string{"TWOFOLD_DATABASE_URL=" + url, "TWOFOLD_SECRET_KEY=" + key, "TWOFOLD_LOG_LEVEL=error"}}
			c.mustRun("", "client", "add", "--id", "cli-app", "--redirect-uri", "https://cli.example.com/cb")
			if err := c.applyFile(writeConfig(t, readmeConfig)); err != nil {
				t.Fatal(err)
			}
			store, err := storage.Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			before := storagetest.Snapshot(t, store)

			// The next file changes every kind of object and removes some; its last client is bad.
			changed := strings.NewReplacer("mfa_max_age: 12h", "mfa_max_age: 1h", "default_policy: relaxed", "default_policy: none",
				"alice@example.com", "alice@corp.example.com", "    policy: strict\nusers", "    policy: relaxed\nusers").Replace(readmeConfig)
			for _, bad := range []struct{ name, client, want string }{
				{"a client the validators refuse", "  - {id: native, redirect_uris: ['myapp:/cb']}\n", "clients[1].redirect_uris[0]"},
				{"a client whose id the database has", "  - {id: cli-app, redirect_uris: ['com.example.app:/cb']}\n",
					`clients[1]: client "cli-app" collides with the client "cli-app" managed by the database`},
			} {
				yaml := strings.Replace(changed, "users:\n", bad.client+"users:\n", 1)
				code, _, stderr := c.run("", "serve", "--config", writeConfig(t, yaml))
				if code != 1 || !strings.Contains(stderr, bad.want) {
					t.Fatalf("%s: exit %d, %q\nwant %q", bad.name, code, stderr, bad.want)
				}
				if after := storagetest.Snapshot(t, store); after != before {
					t.Fatalf("%s: a refused file changed the database:\nbefore:\n%s\nafter:\n%s", bad.name, before, after)
				}
			}
		})
	}
}

// readmeYAML returns the first yaml block after heading in README.md.
func readmeYAML(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatalf("no yaml block under %q", heading)
	}
	return block
}

func TestTheREADMEConfigurationsApplyAndApplyAgain(t *testing.T) {
	for _, tc := range []struct {
		heading string
		fix     *strings.Replacer // placeholders and what the test environment provides
	}{
		{"## Configure it", strings.NewReplacer("secret_key_file: /etc/twofold/master.key", "")},
		{"## Second factors and step-up", strings.NewReplacer("secret: …", "secret: a-long-random-client-secret",
			"redirect_uris: […]", "redirect_uris: [https://books.example.com/cb]")},
	} {
		t.Run(tc.heading, func(t *testing.T) {
			c := newCLI(t)
			path := writeConfig(t, tc.fix.Replace(readmeYAML(t, tc.heading)))
			for range 2 {
				if err := c.applyFile(path); err != nil {
					t.Fatal(err)
				}
			}
			if out := c.mustRun("", "policy", "list"); !strings.Contains(out, "strict") || !strings.Contains(out, "config file") {
				t.Fatalf("policy list:\n%s", out)
			}
		})
	}
}
