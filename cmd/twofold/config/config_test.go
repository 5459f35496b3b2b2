package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/twofold-idp/twofold/idp/notify"
)

func readExample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// example returns the ARCHITECTURE.md example, parsed and valid, for tests to break one rule at a time.
func example(t *testing.T) *Config {
	t.Helper()
	c, err := Parse(readExample(t), nil)
	if err != nil {
		t.Fatalf("example does not parse: %v", err)
	}
	return c
}

func TestDefaultsApplyWithoutAFile(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Issuer:          "http://localhost:8080",
		Listen:          "127.0.0.1:8080",
		Database:        "sqlite:twofold.db",
		LogLevel:        "info",
		LogFormat:       "json",
		ShutdownTimeout: Duration(15 * time.Second),

		SessionIdleTimeout:   DefaultSessionIdleTimeout,
		SessionLifetime:      DefaultSessionLifetime,
		AccessTokenLifetime:  DefaultAccessTokenLifetime,
		RefreshTokenLifetime: DefaultRefreshTokenLifetime,
		AccessTokenAlg:       DefaultAccessTokenAlg,
		MaxPendingSignIns:    DefaultMaxPendingSignIns,
		AdminGroup:           DefaultAdminGroup,
		RecoveryWait:         DefaultRecoveryWait,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load(\"\", nil) = %+v, want %+v", c, want)
	}
	if !reflect.DeepEqual(Default(), want) {
		t.Errorf("Default() = %+v, want %+v", Default(), want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	if !c.IsSQLite() {
		t.Error("the default database is not SQLite")
	}
}

func TestTheArchitectureExampleParses(t *testing.T) {
	c := example(t)
	want := &Config{
		Issuer:          "http://localhost:8080",
		Listen:          "127.0.0.1:8080",
		Database:        "sqlite:twofold.db",
		LogLevel:        "info",
		LogFormat:       "json",
		ShutdownTimeout: Duration(15 * time.Second),

		SessionIdleTimeout:   DefaultSessionIdleTimeout,
		SessionLifetime:      DefaultSessionLifetime,
		AccessTokenLifetime:  DefaultAccessTokenLifetime,
		RefreshTokenLifetime: DefaultRefreshTokenLifetime,
		MaxPendingSignIns:    DefaultMaxPendingSignIns,
		AdminGroup:           DefaultAdminGroup,
		AccessTokenAlg:       DefaultAccessTokenAlg,
		RecoveryWait:         DefaultRecoveryWait,
		Policies: []Policy{
			{Name: "strict", RequireMFA: "always", Methods: []string{"totp", "webauthn", "backup_code"},
				MFAMaxAge: Duration(12 * time.Hour), Enrollment: "required"},
			{Name: "relaxed", RequireMFA: "on_request", Methods: []string{"totp", "webauthn", "backup_code"},
				Enrollment: "required"},
		},
		DefaultPolicy: "relaxed",
		Groups:        []Group{{Name: "staff", Policy: "strict"}},
		Clients: []Client{{
			ID: "app", Name: "app", Secret: "s3cret-s3cret-s3cret",
			RedirectURIs:           []string{"http://127.0.0.1:9999/callback"},
			PostLogoutRedirectURIs: []string{"http://127.0.0.1:9999/"},
			GrantTypes:             []string{"authorization_code", "refresh_token"},
			SkipConsent:            true, Policy: "strict",
			AccessTokenType: "jwt", IDTokenSignedResponseAlg: "RS256",
		}},
		Users: []User{{Username: "alice", Email: "alice@example.com", Password: "correct horse battery",
			Groups: []string{"staff"}}},
		SMTP:       SMTP{Host: "127.0.0.1", Port: 1025, TLS: "none", From: "Twofold <no-reply@example.com>"},
		SMSWebhook: SMSWebhook{URL: "https://sms-gateway.example/send", Secret: "a-long-random-signing-key"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse(example) =\n%+v\nwant\n%+v", c, want)
	}
}

func TestAMarshalledConfigParsesBackUnchanged(t *testing.T) {
	c := example(t)
	c.Policies[1].RememberDevice = Duration(30 * 24 * time.Hour)
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "remember_device: 30d") || !strings.Contains(string(out), "mfa_max_age: 12h") {
		t.Errorf("durations are not written readably:\n%s", out)
	}
	back, err := Parse(out, nil)
	if err != nil {
		t.Fatalf("Parse(Marshal(c)): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip changed the config:\n%+v\nwant\n%+v", back, c)
	}
}

func TestLoadReadsAFileAndNamesItInErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "twofold.yaml")
	if err := os.WriteFile(good, readExample(t), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(good, []string{"TWOFOLD_LISTEN=127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:0" || len(c.Clients) != 1 {
		t.Errorf("Load(%s) = listen %q, %d clients", good, c.Listen, len(c.Clients))
	}

	bad := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(bad, []byte("issuer: https://id.example.com\nlisten: :8080\npolcies: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad, nil)
	if want := bad + `:3: unknown key "polcies"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load(bad) error = %v, want it to contain %q", err, want)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml"), nil); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) error = %v, want it to name the file", err)
	}
}

func TestParseNormalises(t *testing.T) {
	for _, tc := range []struct {
		name  string
		yaml  string
		check func(*Config) bool
	}{
		{"a trailing slash is removed from the issuer", "issuer: https://id.example.com/\n",
			func(c *Config) bool { return c.Issuer == "https://id.example.com" }},
		{"an issuer path keeps everything but the trailing slash", "issuer: https://example.com/idp//\n",
			func(c *Config) bool { return c.Issuer == "https://example.com/idp" }},
		{"log level and format ignore case", "log_level: DEBUG\nlog_format: Text\n",
			func(c *Config) bool { return c.LogLevel == "debug" && c.LogFormat == "text" }},
		{"an explicitly empty string means the default", "listen: \"\"\nissuer:\n",
			func(c *Config) bool { return c.Listen == DefaultListen && c.Issuer == DefaultIssuer }},
		{"a client's name defaults to its id", "clients: [{id: cli, grant_types: [client_credentials], secret: a-long-enough-secret}]\n",
			func(c *Config) bool { return c.Clients[0].Name == "cli" }},
		{"a client's grant types default to code and refresh",
			"clients: [{id: cli, redirect_uris: ['https://app.example.com/cb']}]\n",
			func(c *Config) bool {
				return reflect.DeepEqual(c.Clients[0].GrantTypes, []string{"authorization_code", "refresh_token"})
			}},
		{"a policy's defaults are on_request, all methods, enrollment required", "policies: [{name: p}]\n",
			func(c *Config) bool {
				p := c.Policies[0]
				return p.RequireMFA == "on_request" && p.Enrollment == "required" &&
					reflect.DeepEqual(p.Methods, []string{"totp", "webauthn", "backup_code"})
			}},
		{"an empty file gives the defaults", "", func(c *Config) bool { return reflect.DeepEqual(c, Default()) }},
		{"a file of comments gives the defaults", "# nothing here\n",
			func(c *Config) bool { return reflect.DeepEqual(c, Default()) }},
		{"a postgres database is not SQLite", "database: postgres://twofold@db.internal/twofold\n",
			func(c *Config) bool { return !c.IsSQLite() }},
		{"YAML merge keys work", "policies:\n  - &base {name: a, require_mfa: always, mfa_max_age: 1h}\n  - <<: *base\n    name: b\n",
			func(c *Config) bool {
				return c.Policies[1].Name == "b" && c.Policies[1].MFAMaxAge == Duration(time.Hour)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected result: %+v", c)
			}
		})
	}
}

func TestTheChannelBlocksBecomeNotifyConfigurations(t *testing.T) {
	c := example(t)
	smtp, ok := c.SMTPConfig()
	if !ok || smtp != (notify.SMTPConfig{Host: "127.0.0.1", Port: 1025, TLS: notify.TLSNone, From: "Twofold <no-reply@example.com>"}) {
		t.Fatalf("SMTPConfig() = %+v, %v", smtp, ok)
	}
	hook, ok := c.SMSWebhookConfig()
	if !ok || hook != (notify.WebhookConfig{URL: "https://sms-gateway.example/send", Secret: "a-long-random-signing-key"}) {
		t.Fatalf("SMSWebhookConfig() = %+v, %v", hook, ok)
	}

	// Absent blocks: console mail, no SMS.
	c = Default()
	if _, ok := c.SMTPConfig(); ok {
		t.Error("SMTP is configured by default")
	}
	if _, ok := c.SMSWebhookConfig(); ok {
		t.Error("SMS is configured by default")
	}

	// A host alone is STARTTLS on the submission port.
	c, err := Parse([]byte("smtp: {host: smtp.example.com, from: no-reply@example.com}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if smtp, _ := c.SMTPConfig(); smtp.TLS != notify.TLSStartTLS || smtp.Port != 0 {
		t.Errorf("SMTPConfig() = %+v", smtp)
	}
	c, err = Parse([]byte("smtp: {host: smtp.example.com, tls: TLS, from: no-reply@example.com}\n"), nil)
	if err != nil || c.SMTP.TLS != "tls" {
		t.Errorf("tls is not lower-cased: %+v, %v", c, err)
	}
}
