package config

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var key32 = make([]byte, 32) // all zero: only the length matters here

func TestEachValidationRuleNamesItsKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   string // the key path and what is wrong
	}{
		// issuer
		{"an issuer is required", func(c *Config) { c.Issuer = "" }, "issuer: must be set"},
		{"an issuer must be an absolute URL", func(c *Config) { c.Issuer = "id.example.com" }, "issuer: \"id.example.com\" must be an absolute URL"},
		{"an issuer must use http(s)", func(c *Config) { c.Issuer = "ftp://id.example.com" }, "issuer: \"ftp://id.example.com\" must use https"},
		{"plain http is refused for a public issuer", func(c *Config) { c.Issuer = "http://id.example.com" }, "issuer: http is only allowed for localhost; use https"},
		{"an issuer has no query", func(c *Config) { c.Issuer = "https://id.example.com?tenant=1" }, "issuer: must not have a query"},
		{"an issuer has no fragment", func(c *Config) { c.Issuer = "https://id.example.com#x" }, "issuer: must not have a fragment"},
		{"an issuer has no user info", func(c *Config) { c.Issuer = "https://admin@id.example.com" }, "issuer: must not contain a user name"},
		// listen
		{"listen needs a port", func(c *Config) { c.Listen = "localhost" }, "listen: \"localhost\" must be host:port"},
		{"listen needs a numeric port", func(c *Config) { c.Listen = "127.0.0.1:http" }, "listen: \"127.0.0.1:http\" must be host:port"},
		{"listen's port must fit in 16 bits", func(c *Config) { c.Listen = ":70000" }, "listen: \":70000\" must be host:port"},
		// debug_listen
		{"the profiler is refused on every interface", func(c *Config) { c.DebugListen = ":6060" }, "debug_listen: \":6060\" must be on a loopback address"},
		{"the profiler is refused on a public address", func(c *Config) { c.DebugListen = "192.0.2.1:6060" }, "debug_listen: \"192.0.2.1:6060\" must be on a loopback address"},
		{"the profiler needs a port", func(c *Config) { c.DebugListen = "127.0.0.1" }, "debug_listen: \"127.0.0.1\" must be host:port"},
		// database
		{"an unknown database scheme is refused", func(c *Config) { c.Database = "mysql://u@h/db" }, "database: unsupported database \"mysql\""},
		{"a bare file name is not a database URL", func(c *Config) { c.Database = "twofold.db" }, "database: unsupported database;"},
		{"sqlite needs a path", func(c *Config) { c.Database = "sqlite:" }, "database: sqlite: needs a file path"},
		{"a postgres URL needs a host", func(c *Config) { c.Database = "postgres:///twofold" }, "database: PostgreSQL URL has no host"},
		{"a postgres URL must parse", func(c *Config) { c.Database = "postgresql://h/db%zz" }, "database: is not a valid PostgreSQL URL"},
		// secret key
		{"a secret key must be base64", func(c *Config) { c.SecretKey = "not base64!" }, "secret_key: is not valid base64"},
		{"a secret key must be 32 bytes", func(c *Config) { c.SecretKey = base64.StdEncoding.EncodeToString(key32[:16]) }, "secret_key: must be base64 of exactly 32 bytes, got 16 bytes"},
		{"secret_key and secret_key_file exclude each other", func(c *Config) {
			c.SecretKey = base64.StdEncoding.EncodeToString(key32)
			c.SecretKeyFile = "/etc/twofold/key"
		}, "secret_key_file: cannot be used together with secret_key"},
		// logging and shutdown
		{"the log level must be known", func(c *Config) { c.LogLevel = "verbose" }, "log_level: \"verbose\" is not one of debug, info, warn, error"},
		{"the log format must be known", func(c *Config) { c.LogFormat = "xml" }, "log_format: \"xml\" is not one of json, text"},
		{"the shutdown timeout must be positive", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown_timeout: must be more than 0"},
		{"the shutdown timeout is at most 5m", func(c *Config) { c.ShutdownTimeout = Duration(10 * time.Minute) }, "shutdown_timeout: 10m is too long"},
		{"the pending sign-ins per address are at least 1", func(c *Config) { c.MaxPendingSignIns = -1 }, "max_pending_sign_ins: must be between 1 and 100000"},
		{"the pending sign-ins per address are bounded", func(c *Config) { c.MaxPendingSignIns = 1 << 30 }, "max_pending_sign_ins: must be between 1 and 100000"},
		{"the admin group is a valid group name", func(c *Config) { c.AdminGroup = "Admins!" }, "admin_group: must be 1-63 characters"},
		// policies
		{"a policy needs a name", func(c *Config) { c.Policies[1].Name = "" }, "policies[1].name: must be set"},
		{"a policy name is lower case", func(c *Config) { c.Policies[1].Name = "Relaxed" }, "policies[1].name: must be 1-63 characters of a-z"},
		{"a policy name is at most 63 characters", func(c *Config) { c.Policies[1].Name = strings.Repeat("a", 64) }, "policies[1].name:"},
		{"policy names are unique", func(c *Config) { c.Policies[1].Name = "strict" }, "policies[1].name: \"strict\" is already used by policies[0]"},
		{"the built-in policy name is reserved", func(c *Config) { c.Policies[1].Name = "none" }, "policies[1].name: \"none\" means no policy"},
		{"require_mfa must be known", func(c *Config) { c.Policies[0].RequireMFA = "sometimes" }, "policies[0].require_mfa: \"sometimes\" is not always, on_request or never"},
		{"methods must be known", func(c *Config) { c.Policies[0].Methods = []string{"totp", "fax"} }, "policies[0].methods[1]: \"fax\" is not a method"},
		{"methods are listed once", func(c *Config) { c.Policies[0].Methods = []string{"totp", "webauthn", "totp"} }, "policies[0].methods[2]: \"totp\" is already listed at methods[0]"},
		{"an MFA policy needs a method", func(c *Config) { c.Policies[0].Methods = []string{} }, "policies[0].methods: must list at least one method"},
		{"mfa_max_age is not negative", func(c *Config) { c.Policies[0].MFAMaxAge = -1 }, "policies[0].mfa_max_age: must not be negative"},
		{"remember_device is not negative", func(c *Config) { c.Policies[0].RememberDevice = -1 }, "policies[0].remember_device: must not be negative"},
		{"enrollment must be known", func(c *Config) { c.Policies[0].Enrollment = "forced" }, "policies[0].enrollment: \"forced\" is not required or optional"},
		{"enrollment_grace is not negative", func(c *Config) { c.Policies[0].EnrollmentGrace = -1 }, "policies[0].enrollment_grace: must not be negative"},
		{"enrollment_grace is at most a year", func(c *Config) { c.Policies[0].EnrollmentGrace = Duration(400 * 24 * time.Hour) }, "policies[0].enrollment_grace: must be at most 365 days"},
		{"enrollment_grace_sign_ins is bounded", func(c *Config) { c.Policies[0].EnrollmentGraceSignIns = 5000 }, "policies[0].enrollment_grace_sign_ins: must be at most 1000"},
		{"a grace needs required enrollment", func(c *Config) {
			c.Policies[0].EnrollmentGraceSignIns, c.Policies[0].Enrollment = 3, "optional"
		}, "policies[0].enrollment_grace_sign_ins: has no effect with enrollment optional"},
		// recovery
		{"recovery_wait is at least a minute", func(c *Config) { c.RecoveryWait = Duration(time.Second) }, "recovery_wait: must be between 1m and 30d"},
		{"recovery_wait is at most 30 days", func(c *Config) { c.RecoveryWait = Duration(31 * 24 * time.Hour) }, "recovery_wait: must be between 1m and 30d"},
		{"the default policy must exist", func(c *Config) { c.DefaultPolicy = "lax" }, "default_policy: \"lax\" is not a policy defined under policies"},
		// groups
		{"a group needs a name", func(c *Config) { c.Groups[0].Name = "" }, "groups[0].name: must be set"},
		{"a group name uses the policy charset", func(c *Config) { c.Groups[0].Name = "the staff" }, "groups[0].name: must be 1-63 characters"},
		{"group names are unique", func(c *Config) { c.Groups = append(c.Groups, Group{Name: "staff"}) }, "groups[1].name: \"staff\" is already used by groups[0]"},
		{"a group's policy must exist", func(c *Config) { c.Groups[0].Policy = "lax" }, "groups[0].policy: \"lax\" is not a policy"},
		// clients
		{"a client needs an id", func(c *Config) { c.Clients[0].ID = "" }, "clients[0].id: must be set"},
		{"a client's allowed scopes are known ones", func(c *Config) { c.Clients[0].AllowedScopes = []string{"admin"} }, "clients[0].allowed_scopes[0]: \"admin\" is not a scope Twofold grants"},
		{"a client id has no spaces", func(c *Config) { c.Clients[0].ID = "my app" }, "clients[0].id: must be 1-128 characters of"},
		{"a client id is at most 128 characters", func(c *Config) { c.Clients[0].ID = strings.Repeat("a", 129) }, "clients[0].id:"},
		{"client ids are unique", func(c *Config) { c.Clients = append(c.Clients, c.Clients[0]) }, "clients[1].id: \"app\" is already used by clients[0]"},
		{"grant types must be known", func(c *Config) { c.Clients[0].GrantTypes = []string{"authorization_code", "implicit"} }, "clients[0].grant_types[1]: \"implicit\" is not supported"},
		{"grant types are listed once", func(c *Config) {
			c.Clients[0].GrantTypes = []string{"authorization_code", "authorization_code"}
		}, "clients[0].grant_types[1]: \"authorization_code\" is already listed at grant_types[0]"},
		{"a client needs a grant type", func(c *Config) { c.Clients[0].GrantTypes = []string{} }, "clients[0].grant_types: must list at least one grant type"},
		{"client_credentials needs a secret", func(c *Config) {
			c.Clients[0].Secret = ""
			c.Clients[0].GrantTypes = []string{"authorization_code", "client_credentials"}
		}, "clients[0].grant_types: client_credentials needs a confidential client"},
		{"refresh_token needs authorization_code", func(c *Config) {
			c.Clients[0].GrantTypes = []string{"client_credentials", "refresh_token"}
		}, "clients[0].grant_types: refresh_token needs authorization_code"},
		{"the code flow needs a redirect URI", func(c *Config) { c.Clients[0].RedirectURIs = nil }, "clients[0].redirect_uris: at least one is needed for authorization_code"},
		{"a redirect URI is absolute", func(c *Config) { c.Clients[0].RedirectURIs = []string{"/callback"} }, "clients[0].redirect_uris[0]: \"/callback\" must be an absolute URL"},
		{"a redirect URI parses", func(c *Config) { c.Clients[0].RedirectURIs = []string{"https://a b.example/%zz"} }, "clients[0].redirect_uris[0]: \"https://a b.example/%zz\" must be an absolute URL"},
		{"a redirect URI has no fragment", func(c *Config) { c.Clients[0].RedirectURIs = []string{"https://app.example.com/cb#x"} }, "clients[0].redirect_uris[0]: \"https://app.example.com/cb#x\" must not have a fragment"},
		{"an https redirect URI has a host", func(c *Config) { c.Clients[0].RedirectURIs = []string{"https:///cb"} }, "clients[0].redirect_uris[0]: \"https:///cb\" needs a host"},
		{"plain http redirects only to loopback", func(c *Config) {
			c.Clients[0].RedirectURIs = append(c.Clients[0].RedirectURIs, "http://app.example.com/cb")
		}, "clients[0].redirect_uris[1]: \"http://app.example.com/cb\": http is only allowed for localhost and loopback"},
		{"a javascript: redirect is refused", func(c *Config) { c.Clients[0].RedirectURIs = []string{"javascript:alert(1)"} }, "clients[0].redirect_uris[0]: \"javascript:alert(1)\" must use https, http on loopback, or a reverse-domain app scheme"},
		{"a redirect URI has no user info", func(c *Config) { c.Clients[0].RedirectURIs = []string{"https://u@app.example.com/cb"} }, "clients[0].redirect_uris[0]: \"https://u@app.example.com/cb\" must not contain a user name"},
		{"post-logout URIs follow the same rules", func(c *Config) {
			c.Clients[0].PostLogoutRedirectURIs = []string{"http://app.example.com/"}
		}, "clients[0].post_logout_redirect_uris[0]: \"http://app.example.com/\": http is only allowed for localhost and loopback"},
		{"a client's policy must exist", func(c *Config) { c.Clients[0].Policy = "lax" }, "clients[0].policy: \"lax\" is not a policy"},
		{"a private-use scheme must be a reverse domain (RFC 8252 §7.1)", func(c *Config) { c.Clients[0].RedirectURIs = []string{"myapp:/cb"} },
			"clients[0].redirect_uris[0]: \"myapp:/cb\" must use https, http on loopback, or a reverse-domain app scheme"},
		{"backup codes alone cannot satisfy always-MFA", func(c *Config) { c.Policies[0].Methods = []string{"backup_code"} },
			"policies[0].methods: backup codes alone cannot satisfy a policy that always requires MFA"},
		{"a username has only letters, digits and ._-@+", func(c *Config) { c.Users[0].Username = "alice!" }, "users[0].username: may contain letters, digits"},
		// users
		{"a user needs a username", func(c *Config) { c.Users[0].Username = "" }, "users[0].username: is required"},
		{"a username has no spaces", func(c *Config) { c.Users[0].Username = "alice smith" }, "users[0].username: may contain letters, digits and . _ - @ + only"},
		{"a username has no control characters", func(c *Config) { c.Users[0].Username = "alice\x00" }, "users[0].username: may contain letters, digits and . _ - @ + only"},
		{"a username is at most 64 characters", func(c *Config) { c.Users[0].Username = strings.Repeat("é", 65) }, "users[0].username: must be at most 64 characters"},
		{"usernames are unique ignoring case", func(c *Config) {
			u := c.Users[0]
			u.Username = "ALICE"
			c.Users = append(c.Users, u)
		}, "users[1].username: \"ALICE\" is already used by users[0]"},
		{"an email has an @", func(c *Config) { c.Users[0].Email = "alice" }, "users[0].email: is not an email address"},
		{"an email has one @", func(c *Config) { c.Users[0].Email = "alice@example@com" }, "users[0].email: is not an email address"},
		{"an email has a domain", func(c *Config) { c.Users[0].Email = "alice@" }, "users[0].email: is not an email address"},
		{"an email is a bare address", func(c *Config) { c.Users[0].Email = "Alice <alice@example.com>" }, "users[0].email:"},
		{"a user needs a password", func(c *Config) { c.Users[0].Password = "" }, "users[0].password: must be at least 8 characters"},
		{"password and password_hash exclude each other", func(c *Config) { c.Users[0].PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA" }, "users[0].password: give a password or a password hash, not both"},
		{"a password hash is argon2id", func(c *Config) {
			c.Users[0].Password = ""
			c.Users[0].PasswordHash = "$2y$10$abcdefghijklmnopqrstuv"
		}, "users[0].password_hash: must be an argon2id hash"},
		{"a user's groups must exist", func(c *Config) { c.Users[0].Groups = []string{"staff", "admins"} }, "users[0].groups[1]: \"admins\" is not a group"},
		// smtp
		{"smtp settings need a host", func(c *Config) { c.SMTP.Host = "" }, "smtp.host: must be set when other smtp keys are"},
		{"the smtp host has no port", func(c *Config) { c.SMTP.Host = "mail.example.com:25" }, "smtp.host: \"mail.example.com:25\" must be a host name or address, without a port"},
		{"the smtp port fits in 16 bits", func(c *Config) { c.SMTP.Port = 65536 }, "smtp.port: 65536 is not a port"},
		{"the smtp TLS mode is known", func(c *Config) { c.SMTP.TLS = "ssl" }, "smtp.tls: \"ssl\" is not one of none, starttls, tls"},
		{"an smtp username needs a password", func(c *Config) { c.SMTP.Username = "mailer" }, "smtp.password: must be set when username is"},
		{"an smtp password is never sent in the clear", func(c *Config) {
			c.SMTP.Host, c.SMTP.Username, c.SMTP.Password = "smtp.example.com", "mailer", "pw"
		}, "smtp.tls: none would send the SMTP password unencrypted"},
		{"the sender is an address", func(c *Config) { c.SMTP.From = "no-reply" }, "smtp.from: \"no-reply\" is not a mail address like Twofold <no-reply@example.com>"},
		{"a sender is required", func(c *Config) { c.SMTP.From = "" }, "smtp.from: must be set"},
		// sms_webhook
		{"a webhook secret needs a URL", func(c *Config) { c.SMSWebhook.URL = "" }, "sms_webhook.url: must be set when sms_webhook.secret is"},
		{"the webhook uses https", func(c *Config) { c.SMSWebhook.URL = "http://sms-gateway.example/send" }, "sms_webhook.url: must use https (http is allowed only to a loopback address)"},
		{"the webhook URL is absolute", func(c *Config) { c.SMSWebhook.URL = "sms-gateway.example/send" }, "sms_webhook.url: is not an absolute URL"},
		{"the webhook secret is long enough", func(c *Config) { c.SMSWebhook.Secret = "short" }, "sms_webhook.secret: must be at least 16 characters"},
		{"the webhook needs a secret", func(c *Config) { c.SMSWebhook.Secret = "" }, "sms_webhook.secret: must be at least 16 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := example(t)
			tc.mutate(c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestValidConfigurationsPass(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
	}{
		{"an http issuer on 127.0.0.1", func(c *Config) { c.Issuer = "http://127.0.0.1:8080" }},
		{"an http issuer on [::1]", func(c *Config) { c.Issuer = "http://[::1]:8080" }},
		{"an https issuer with a path", func(c *Config) { c.Issuer = "https://example.com/idp" }},
		{"listening on port 0", func(c *Config) { c.Listen = "127.0.0.1:0" }},
		{"listening on all interfaces", func(c *Config) { c.Listen = ":8080" }},
		{"the profiler on 127.0.0.1", func(c *Config) { c.DebugListen = "127.0.0.1:6060" }},
		{"the profiler on [::1]", func(c *Config) { c.DebugListen = "[::1]:6060" }},
		{"the profiler on localhost", func(c *Config) { c.DebugListen = "localhost:0" }},
		{"an in-memory SQLite database", func(c *Config) { c.Database = "sqlite::memory:" }},
		{"a PostgreSQL database", func(c *Config) { c.Database = "postgres://twofold:pw@db:5432/twofold?sslmode=disable" }},
		{"a postgresql:// database", func(c *Config) { c.Database = "postgresql://db/twofold" }},
		{"a padded standard base64 key", func(c *Config) { c.SecretKey = base64.StdEncoding.EncodeToString(key32) }},
		{"an unpadded standard base64 key", func(c *Config) { c.SecretKey = base64.RawStdEncoding.EncodeToString(key32) }},
		{"a URL-alphabet key", func(c *Config) {
			c.SecretKey = base64.URLEncoding.EncodeToString(append([]byte{0xfb, 0xff}, key32[2:]...))
		}},
		{"an unpadded URL-alphabet key", func(c *Config) {
			c.SecretKey = base64.RawURLEncoding.EncodeToString(append([]byte{0xfb, 0xff}, key32[2:]...))
		}},
		{"a key file alone", func(c *Config) { c.SecretKeyFile = "/etc/twofold/key" }},
		{"the built-in default policy", func(c *Config) { c.DefaultPolicy = "none" }},
		{"no default policy", func(c *Config) { c.DefaultPolicy = "" }},
		{"a client with the built-in policy", func(c *Config) { c.Clients[0].Policy = "none" }},
		{"a policy that never asks for MFA and lists no methods", func(c *Config) {
			c.Policies[1].RequireMFA = "never"
			c.Policies[1].Methods = []string{}
		}},
		{"a native app's private-use scheme", func(c *Config) { c.Clients[0].RedirectURIs = []string{"com.example.app:/callback"} }},
		{"an http redirect to localhost", func(c *Config) { c.Clients[0].RedirectURIs = []string{"http://localhost:3000/cb"} }},
		{"an http redirect to [::1]", func(c *Config) { c.Clients[0].RedirectURIs = []string{"http://[::1]:3000/cb"} }},
		{"an http redirect to any loopback address", func(c *Config) { c.Clients[0].RedirectURIs = []string{"http://127.0.0.2/cb"} }},
		{"a machine client without redirect URIs", func(c *Config) {
			c.Clients[0].GrantTypes = []string{"client_credentials"}
			c.Clients[0].RedirectURIs = nil
		}},
		{"a public client", func(c *Config) { c.Clients[0].Secret = "" }},
		{"a user with a password hash", func(c *Config) {
			c.Users[0].Password = ""
			c.Users[0].PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
		}},
		{"a user without email", func(c *Config) { c.Users[0].Email = "" }},
		{"a non-ASCII username", func(c *Config) { c.Users[0].Username = "zoë" }},
		{"an enrollment grace of a week and five sign-ins", func(c *Config) {
			c.Policies[0].EnrollmentGrace, c.Policies[0].EnrollmentGraceSignIns = Duration(7*24*time.Hour), 5
		}},
		{"a recovery wait of an hour", func(c *Config) { c.RecoveryWait = Duration(time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := example(t)
			tc.mutate(c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := example(t)
	c.LogLevel = "loud"
	c.Users[0].Groups = []string{"nobody"}
	c.Clients[0].RedirectURIs = []string{"http://evil.example/cb"}
	err := c.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 3 {
		t.Fatalf("Validate() = %v, want 3 joined problems", err)
	}
}

func TestSecretsNeverAppearInErrors(t *testing.T) {
	const (
		secretKey  = "TOPSECRETKEY-not-base64!"
		shortKey   = "U0hPUlRTRUNSRVRLRVk=" // base64 of 15 bytes
		clientSec  = "CLIENT-SECRET-VALUE"
		password   = "USER-PASSWORD-VALUE"
		smtpPass   = "SMTP-PASSWORD-VALUE"
		hookSecret = "HOOK-SECRET"
		hash       = "$bcrypt$HASH-VALUE"
		dbPassword = "DB-PASSWORD-VALUE"
	)
	secrets := []string{secretKey, shortKey, clientSec, password, hash, dbPassword, smtpPass, hookSecret}
	check := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("want an error")
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error reveals %q:\n%v", s, err)
			}
		}
	}
	t.Run("in validation errors", func(t *testing.T) {
		c := example(t)
		c.SecretKey = secretKey
		c.SecretKeyFile = "/k"
		c.Database = "postgres://u:" + dbPassword + "@/db"
		c.Clients[0].Secret = clientSec
		c.Clients[0].RedirectURIs = nil
		c.Users[0].Password = password
		c.Users[0].PasswordHash = hash
		c.Users = append(c.Users, User{Username: "bob", PasswordHash: hash})
		c.SMTP.Host, c.SMTP.Username, c.SMTP.Password = "smtp.example.com", "mailer", smtpPass
		c.SMSWebhook.Secret = hookSecret
		check(t, c.Validate())
		c.SecretKey = shortKey
		c.Database = "mysql://u:" + dbPassword + "@h/db"
		check(t, c.Validate())
	})
	t.Run("in decoding errors", func(t *testing.T) {
		_, err := Parse([]byte("secret_key: [\""+secretKey+"\"]\nusers:\n  - password: {x: \""+password+"\"}\n"), nil)
		check(t, err)
	})
	t.Run("in environment errors", func(t *testing.T) {
		_, err := Parse(nil, []string{
			"TWOFOLD_SECRET_KEY=" + secretKey,
			"TWOFOLD_DATABASE_URL=postgres://u:" + dbPassword + "@/db",
			`TWOFOLD_USERS=[{"username": "x", "password": "` + password + `", "pasword": "` + password + `"}]`,
			"TWOFOLD_SMTP_HOST=smtp.example.com", "TWOFOLD_SMTP_FROM=x@example.com", "TWOFOLD_SMTP_USERNAME=u", "TWOFOLD_SMTP_PASSWORD=" + smtpPass,
			"TWOFOLD_SMS_WEBHOOK_URL=https://sms.example/send", "TWOFOLD_SMS_WEBHOOK_SECRET=" + hookSecret,
		})
		check(t, err)
	})
}

func TestTrustedProxies(t *testing.T) {
	c, err := Parse([]byte("trusted_proxies: [10.0.0.0/8, 192.0.2.7, '2001:db8::/32']\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.TrustedProxyPrefixes()
	if len(got) != 3 || got[1].String() != "192.0.2.7/32" {
		t.Fatalf("TrustedProxyPrefixes = %v", got)
	}
	if _, err := Parse([]byte("trusted_proxies: [lb.example.com]\n"), nil); err == nil || !strings.Contains(err.Error(), "trusted_proxies[0]") {
		t.Fatalf("a host name: %v", err)
	}
}

func TestShortClientSecretsAreRefusedWithoutEchoingThem(t *testing.T) {
	_, err := Parse([]byte("clients: [{id: app, secret: s3cret, redirect_uris: [https://app.example.com/cb]}]\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "clients[0].secret") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a short secret: %v", err)
	}
}
