package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEnvironmentOverrides(t *testing.T) {
	file := []byte("issuer: https://file.example.com\nlog_level: warn\n")
	for _, tc := range []struct {
		name  string
		env   []string
		check func(*Config) bool
	}{
		{"TWOFOLD_ISSUER replaces the file's issuer", []string{"TWOFOLD_ISSUER=https://env.example.com/"},
			func(c *Config) bool { return c.Issuer == "https://env.example.com" }},
		{"TWOFOLD_LISTEN sets listen", []string{"TWOFOLD_LISTEN=:0"},
			func(c *Config) bool { return c.Listen == ":0" }},
		{"TWOFOLD_DATABASE_URL sets database", []string{"TWOFOLD_DATABASE_URL=postgres://db/twofold"},
			func(c *Config) bool { return c.Database == "postgres://db/twofold" }},
		{"TWOFOLD_DATABASE is accepted too", []string{"TWOFOLD_DATABASE=sqlite::memory:"},
			func(c *Config) bool { return c.Database == "sqlite::memory:" }},
		{"TWOFOLD_DATABASE_URL wins over TWOFOLD_DATABASE, with a warning",
			[]string{"TWOFOLD_DATABASE=sqlite:a.db", "TWOFOLD_DATABASE_URL=sqlite:b.db"},
			func(c *Config) bool {
				return c.Database == "sqlite:b.db" && len(c.Warnings) == 1 &&
					strings.Contains(c.Warnings[0], "TWOFOLD_DATABASE is ignored because TWOFOLD_DATABASE_URL is set")
			}},
		{"TWOFOLD_SECRET_KEY and TWOFOLD_LOG_FORMAT set their keys",
			[]string{"TWOFOLD_SECRET_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "TWOFOLD_LOG_FORMAT=text"},
			func(c *Config) bool { return len(c.SecretKey) == 43 && c.LogFormat == "text" }},
		{"TWOFOLD_SECRET_KEY_FILE sets secret_key_file", []string{"TWOFOLD_SECRET_KEY_FILE=/run/secrets/key"},
			func(c *Config) bool { return c.SecretKeyFile == "/run/secrets/key" }},
		{"TWOFOLD_LOG_LEVEL replaces the file's level", []string{"TWOFOLD_LOG_LEVEL=debug"},
			func(c *Config) bool { return c.LogLevel == "debug" }},
		{"TWOFOLD_SHUTDOWN_TIMEOUT takes a duration", []string{"TWOFOLD_SHUTDOWN_TIMEOUT=1m"},
			func(c *Config) bool { return c.ShutdownTimeout == Duration(time.Minute) }},
		{"an empty value counts as unset", []string{"TWOFOLD_ISSUER=", "TWOFOLD_LOG_LEVEL="},
			func(c *Config) bool { return c.Issuer == "https://file.example.com" && c.LogLevel == "warn" }},
		{"TWOFOLD_POLICIES takes a YAML list and TWOFOLD_DEFAULT_POLICY names one",
			[]string{"TWOFOLD_POLICIES=[{name: strict, require_mfa: always, remember_device: 30d}]", "TWOFOLD_DEFAULT_POLICY=strict"},
			func(c *Config) bool {
				return c.DefaultPolicy == "strict" && len(c.Policies) == 1 &&
					c.Policies[0].RememberDevice == Duration(30*24*time.Hour) && len(c.Policies[0].Methods) == 3
			}},
		{"a policy in TWOFOLD_POLICIES may require a verified email",
			[]string{"TWOFOLD_POLICIES=[{name: verified, require_verified_email: true}]"},
			func(c *Config) bool {
				p, err := c.Policies[0].toPolicy()
				return err == nil && c.Policies[0].RequireVerifiedEmail && p.RequireVerifiedEmail
			}},
		{"TWOFOLD_RECOVERY_WAIT sets recovery_wait and a policy takes an enrollment grace",
			[]string{"TWOFOLD_RECOVERY_WAIT=48h", "TWOFOLD_POLICIES=[{name: strict, require_mfa: always, enrollment_grace: 7d, enrollment_grace_sign_ins: 5}]"},
			func(c *Config) bool {
				return c.RecoveryWait == Duration(48*time.Hour) && c.Policies[0].EnrollmentGrace == Duration(7*24*time.Hour) &&
					c.Policies[0].EnrollmentGraceSignIns == 5
			}},
		{"TWOFOLD_CLIENTS takes a JSON list",
			[]string{`TWOFOLD_CLIENTS=[{"id": "app", "secret": "a-long-enough-secret", "redirect_uris": ["https://app.example.com/cb"], "skip_consent": true}]`},
			func(c *Config) bool {
				return len(c.Clients) == 1 && c.Clients[0].SkipConsent && c.Clients[0].Name == "app" &&
					c.Clients[0].RedirectURIs[0] == "https://app.example.com/cb"
			}},
		{"TWOFOLD_GROUPS and TWOFOLD_USERS take lists",
			[]string{`TWOFOLD_GROUPS=[{"name": "ops"}]`, "TWOFOLD_USERS=- {username: bob, password: a long pass phrase, groups: [ops], admin: true}"},
			func(c *Config) bool { return c.Groups[0].Name == "ops" && c.Users[0].Admin }},
		{"TWOFOLD_SMTP_* set the smtp block",
			[]string{"TWOFOLD_SMTP_HOST=mailpit", "TWOFOLD_SMTP_PORT=1025", "TWOFOLD_SMTP_TLS=none", "TWOFOLD_SMTP_FROM=Twofold <no-reply@localhost>"},
			func(c *Config) bool {
				return c.SMTP == SMTP{Host: "mailpit", Port: 1025, TLS: "none", From: "Twofold <no-reply@localhost>"}
			}},
		{"TWOFOLD_SMTP_USERNAME and _PASSWORD authenticate",
			[]string{"TWOFOLD_SMTP_HOST=smtp.example.com", "TWOFOLD_SMTP_FROM=a@example.com", "TWOFOLD_SMTP_USERNAME=u", "TWOFOLD_SMTP_PASSWORD=p"},
			func(c *Config) bool {
				return c.SMTP.Username == "u" && c.SMTP.Password == "p" && c.SMTP.TLS == "starttls"
			}},
		{"TWOFOLD_SMS_WEBHOOK_URL and _SECRET set the webhook",
			[]string{"TWOFOLD_SMS_WEBHOOK_URL=https://sms.example/send", "TWOFOLD_SMS_WEBHOOK_SECRET=0123456789abcdef"},
			func(c *Config) bool {
				return c.SMSWebhook == SMSWebhook{URL: "https://sms.example/send", Secret: "0123456789abcdef"}
			}},
		{"TWOFOLD_TEST_ variables are ignored silently", []string{"TWOFOLD_TEST_DATABASE_URL=postgres://x/y"},
			func(c *Config) bool { return len(c.Warnings) == 0 }},
		{"variables without the prefix are ignored", []string{"ISSUER=x", "PATH=/bin", "NOEQUALS"},
			func(c *Config) bool { return len(c.Warnings) == 0 && c.Issuer == "https://file.example.com" }},
		{"an unknown TWOFOLD_ variable is a warning with a suggestion", []string{"TWOFOLD_ISUER=https://x.example.com"},
			func(c *Config) bool {
				return c.Issuer == "https://file.example.com" && slices.Equal(c.Warnings, []string{
					`unknown environment variable TWOFOLD_ISUER is ignored (did you mean "TWOFOLD_ISSUER"?)`})
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(file, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected result: %+v", c)
			}
		})
	}
}

func TestBadEnvironmentValuesNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"a malformed duration", []string{"TWOFOLD_SHUTDOWN_TIMEOUT=soon"},
			[]string{`TWOFOLD_SHUTDOWN_TIMEOUT: "soon" is not a duration (use e.g. 90s, 12h, 30d)`}},
		{"a list that is not a list", []string{`TWOFOLD_CLIENTS={"id": "app"}`},
			[]string{"TWOFOLD_CLIENTS: line 1: clients: expected a list, got a mapping"}},
		{"an unknown key inside a list", []string{`TWOFOLD_CLIENTS=[{"id": "app", "redirect_uri": "x"}]`},
			[]string{`TWOFOLD_CLIENTS: line 1: clients[0]: unknown key "redirect_uri" (did you mean "redirect_uris"?)`}},
		{"a bad bool inside a list", []string{`TWOFOLD_USERS=[{"username": "a", "admin": "maybe"}]`},
			[]string{`TWOFOLD_USERS: line 1: users[0].admin: expected true or false, got "maybe"`}},
		{"malformed JSON", []string{`TWOFOLD_GROUPS=[{"name": "x"`},
			[]string{"TWOFOLD_GROUPS: "}},
		{"every bad variable is reported", []string{"TWOFOLD_SHUTDOWN_TIMEOUT=-1s", "TWOFOLD_POLICIES=x"},
			[]string{"TWOFOLD_SHUTDOWN_TIMEOUT: \"-1s\" is negative", "TWOFOLD_POLICIES: line 1: policies: expected a list"}},
		{"a value from the environment is still validated", []string{"TWOFOLD_LOG_LEVEL=loud"},
			[]string{`log_level: "loud" is not one of`}},
		{"a port that is not a number", []string{"TWOFOLD_SMTP_HOST=mailpit", "TWOFOLD_SMTP_PORT=smtp"},
			[]string{`TWOFOLD_SMTP_PORT: "smtp" is not a whole number`}},
		{"an smtp block from the environment is validated", []string{"TWOFOLD_SMTP_HOST=mailpit", "TWOFOLD_SMTP_TLS=ssl"},
			[]string{`smtp.tls: "ssl" is not one of none, starttls, tls`, "smtp.from: must be set"}},
		{"a webhook secret alone", []string{"TWOFOLD_SMS_WEBHOOK_SECRET=0123456789abcdef"},
			[]string{"sms_webhook.url: must be set when sms_webhook.secret is"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(nil, tc.env)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// envProbe stands in for keys Config does not have yet (a bool, a number, a nested section), to show that
// environment variables follow from the yaml tags alone.
type envProbe struct {
	Flag    bool     `yaml:"flag"`
	Workers int      `yaml:"workers"`
	Ratio   float64  `yaml:"ratio"`
	Every   Duration `yaml:"every"`
	SMTP    struct {
		Host string `yaml:"host"`
		TLS  bool   `yaml:"tls"`
	} `yaml:"smtp"`
	Tags     []string `yaml:"tags"`
	Internal string   `yaml:"-"`
}

func TestEnvironmentVariablesFollowFromYAMLTags(t *testing.T) {
	t.Run("each kind of key parses", func(t *testing.T) {
		var p envProbe
		warnings, err := applyEnvTo(reflect.ValueOf(&p).Elem(), []string{
			"TWOFOLD_FLAG=true", "TWOFOLD_WORKERS=4", "TWOFOLD_RATIO=0.5", "TWOFOLD_EVERY=2d",
			"TWOFOLD_SMTP_HOST=mail.example.com", "TWOFOLD_SMTP_TLS=1", "TWOFOLD_TAGS=[a, b]", "TWOFOLD_INTERNAL=x",
		})
		if err != nil {
			t.Fatal(err)
		}
		if !p.Flag || p.Workers != 4 || p.Ratio != 0.5 || p.Every != Duration(48*time.Hour) ||
			p.SMTP.Host != "mail.example.com" || !p.SMTP.TLS || !slices.Equal(p.Tags, []string{"a", "b"}) {
			t.Errorf("applyEnvTo = %+v", p)
		}
		if p.Internal != "" || len(warnings) != 1 || !strings.Contains(warnings[0], "TWOFOLD_INTERNAL") {
			t.Errorf("a yaml:\"-\" field was set or not warned about: %+v, %q", p, warnings)
		}
	})
	t.Run("a bad bool names the variable", func(t *testing.T) {
		var p envProbe
		_, err := applyEnvTo(reflect.ValueOf(&p).Elem(), []string{"TWOFOLD_FLAG=maybe", "TWOFOLD_SMTP_TLS=yes please"})
		for _, want := range []string{`TWOFOLD_FLAG: "maybe" is not a boolean`, `TWOFOLD_SMTP_TLS: "yes please" is not a boolean`} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not contain %q", err, want)
			}
		}
	})
	t.Run("a bad number names the variable", func(t *testing.T) {
		var p envProbe
		_, err := applyEnvTo(reflect.ValueOf(&p).Elem(), []string{"TWOFOLD_WORKERS=four"})
		if err == nil || !strings.Contains(err.Error(), `TWOFOLD_WORKERS: "four" is not a whole number`) {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("Config's documented variables all exist", func(t *testing.T) {
		names := EnvNames()
		for _, want := range []string{"TWOFOLD_ISSUER", "TWOFOLD_LISTEN", "TWOFOLD_DATABASE_URL", "TWOFOLD_DATABASE",
			"TWOFOLD_SECRET_KEY", "TWOFOLD_SECRET_KEY_FILE", "TWOFOLD_LOG_LEVEL", "TWOFOLD_LOG_FORMAT",
			"TWOFOLD_SHUTDOWN_TIMEOUT", "TWOFOLD_POLICIES", "TWOFOLD_DEFAULT_POLICY", "TWOFOLD_GROUPS",
			"TWOFOLD_CLIENTS", "TWOFOLD_USERS", "TWOFOLD_SMTP_HOST", "TWOFOLD_SMTP_PORT", "TWOFOLD_SMTP_TLS",
			"TWOFOLD_SMTP_USERNAME", "TWOFOLD_SMTP_PASSWORD", "TWOFOLD_SMTP_FROM", "TWOFOLD_SMS_WEBHOOK_URL",
			"TWOFOLD_SMS_WEBHOOK_SECRET", "TWOFOLD_RECOVERY_WAIT"} {
			if !slices.Contains(names, want) {
				t.Errorf("EnvNames() lacks %s", want)
			}
		}
		if slices.Contains(names, "TWOFOLD_WARNINGS") {
			t.Error("Warnings is not configuration but has a variable")
		}
	})
}

func TestWarningsAccompanyAFailure(t *testing.T) {
	_, err := Parse([]byte("issuer: http://id.example.com\n"), []string{"TWOFOLD_ISUER=https://id.example.com"})
	for _, want := range []string{"issuer: http is only allowed for localhost", "warning: unknown environment variable TWOFOLD_ISUER"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}
