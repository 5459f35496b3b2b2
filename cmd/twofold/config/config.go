package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/policy"
)

// Config is the whole configuration of a Twofold server. Load or Parse it; Default gives the values used for
// every key the file and environment leave unset.
type Config struct {
	Issuer string `yaml:"issuer"`
	Listen string `yaml:"listen"`
	// DebugListen serves Go's profiler (net/http/pprof) on a loopback address (127.0.0.1:6060, [::1]:6060 or
	// localhost:6060); empty: off. It is never served on the public listener.
	DebugListen     string   `yaml:"debug_listen,omitempty"`
	Database        string   `yaml:"database" env:"TWOFOLD_DATABASE_URL,TWOFOLD_DATABASE"`
	SecretKey       string   `yaml:"secret_key"`
	SecretKeyFile   string   `yaml:"secret_key_file"`
	LogLevel        string   `yaml:"log_level"`
	LogFormat       string   `yaml:"log_format"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// SessionIdleTimeout ends an SSO session not used for this long.
	SessionIdleTimeout Duration `yaml:"session_idle_timeout"`
	// SessionLifetime ends an SSO session this long after sign-in, however active.
	SessionLifetime Duration `yaml:"session_lifetime"`
	// AccessTokenLifetime and RefreshTokenLifetime bound the tokens issued to relying parties.
	AccessTokenLifetime  Duration `yaml:"access_token_lifetime"`
	RefreshTokenLifetime Duration `yaml:"refresh_token_lifetime"`
	// AccessTokenAlg signs JWT access tokens (RFC 9068): ES256 (default, fast), RS256 or EdDSA.
	AccessTokenAlg string `yaml:"access_token_alg"`
	// CORSAllowedOrigins may call discovery, keys, token, userinfo and revoke from browsers.
	CORSAllowedOrigins []string `yaml:"cors_allowed_origins,omitempty"`
	// TrustedProxies are the load balancers in front of Twofold (CIDRs or addresses): from them the client's
	// address is read from X-Forwarded-For, so that per-address throttling sees clients, not the balancer.
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`
	// MaxPendingSignIns bounds the sign-ins one client address (an IPv6 /64) may have started and not finished:
	// raise it for many people behind one NAT address.
	MaxPendingSignIns int `yaml:"max_pending_sign_ins"`
	// AdminGroup: its members may use the admin API (and the console) once they have signed in with two
	// factors; the first-run setup makes its administrator a member.
	AdminGroup string   `yaml:"admin_group"`
	Policies   []Policy `yaml:"policies"`
	// DefaultPolicy names the policy applied to every login; empty (or "none") means no default policy.
	DefaultPolicy string   `yaml:"default_policy"`
	Groups        []Group  `yaml:"groups"`
	Clients       []Client `yaml:"clients"`
	Users         []User   `yaml:"users"`
	// SMTP is the mail server Twofold sends through; without a host, mail is
	// printed to the console (development).
	SMTP SMTP `yaml:"smtp"`
	// SMSWebhook is the SMS gateway's webhook; without a url, SMS is off.
	SMSWebhook SMSWebhook `yaml:"sms_webhook"`
	// RecoveryWait is how long a self-service recovery of a lost second factor waits, with notifications on
	// every channel and a cancel link, before the user may complete it (password + an emailed code).
	RecoveryWait Duration `yaml:"recovery_wait"`
	// Warnings lists non-fatal findings, such as unknown TWOFOLD_* environment variables, for the caller to log.
	Warnings []string `yaml:"-"`
}

// Policy is a named set of second-factor requirements; see ARCHITECTURE.md "Policy".
type Policy struct {
	Name       string   `yaml:"name"`
	RequireMFA string   `yaml:"require_mfa"`
	Methods    []string `yaml:"methods"`
	// MFAMaxAge: an MFA older than this in the SSO session is asked again; 0 = no limit beyond the session.
	MFAMaxAge Duration `yaml:"mfa_max_age"`
	// RememberDevice: how long a device may skip MFA; 0 = off.
	RememberDevice Duration `yaml:"remember_device"`
	// Enrollment: what happens when MFA is required and the user has no factor.
	Enrollment string `yaml:"enrollment"`
	// MinLevel: the weakest level a sign-in under this policy may end at: pwd, mfa or phr (or the acr URI).
	MinLevel string `yaml:"min_level,omitempty"`
	// Clients limits the policy to sign-ins to these clients (empty: all).
	Clients []string `yaml:"clients,omitempty"`
	// RequireVerifiedEmail: a sign-in under this policy completes only once the user's email address is verified.
	RequireVerifiedEmail bool `yaml:"require_verified_email,omitempty"`
	// EnrollmentGrace and EnrollmentGraceSignIns: users who must enroll a second factor may put it off ("Not now")
	// for this long from the first time and/or this many sign-ins; 0 = no limit of that kind, both 0 = no grace.
	EnrollmentGrace        Duration `yaml:"enrollment_grace,omitempty"`
	EnrollmentGraceSignIns int      `yaml:"enrollment_grace_sign_ins,omitempty"`
}

// Group attaches a policy to every user in it.
type Group struct {
	Name   string `yaml:"name"`
	Policy string `yaml:"policy"`
}

// Client is a relying party, applied at every start and then managed by the file.
type Client struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Secret is empty for a public client (PKCE S256 required).
	Secret                 string   `yaml:"secret"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	GrantTypes             []string `yaml:"grant_types"`
	// SkipConsent marks a first-party client: no consent page.
	SkipConsent bool   `yaml:"skip_consent"`
	Policy      string `yaml:"policy"`
	// AccessTokenType is jwt (RFC 9068, the default) or opaque.
	AccessTokenType string `yaml:"access_token_type"`
	// IDTokenSignedResponseAlg is RS256 (default), ES256 or EdDSA.
	IDTokenSignedResponseAlg string `yaml:"id_token_signed_response_alg"`
	// JWKS is the client's public JWK set (JSON) for private_key_jwt client authentication (RFC 7523).
	JWKS string `yaml:"jwks"`
	// DPoPBoundAccessTokens: the client's token requests must carry a DPoP proof (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool `yaml:"dpop_bound_access_tokens"`
	// AllowedScopes are the privileged scopes the client may be granted: twofold:admin (the admin API).
	AllowedScopes []string `yaml:"allowed_scopes,omitempty"`
	// BackchannelLogoutURI receives a logout token (OpenID Connect Back-Channel Logout 1.0) when a
	// session the client got tokens in ends; BackchannelLogoutSessionRequired: it needs the sid.
	BackchannelLogoutURI             string `yaml:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `yaml:"backchannel_logout_session_required,omitempty"`
	// RequirePushedAuthorizationRequests: /authorize accepts only a request_uri from /par (RFC 9126).
	RequirePushedAuthorizationRequests bool `yaml:"require_pushed_authorization_requests,omitempty"`
}

// User is created at start if absent and then managed by the file; an existing user's changed password is never
// overwritten.
type User struct {
	Username     string   `yaml:"username"`
	Email        string   `yaml:"email"`
	Password     string   `yaml:"password"`
	PasswordHash string   `yaml:"password_hash"`
	Groups       []string `yaml:"groups"`
	Admin        bool     `yaml:"admin"`
}

// SMTP is the smtp block (TWOFOLD_SMTP_HOST, TWOFOLD_SMTP_PORT, …). The rules
// are idp/notify's (notify.SMTPConfig.Validate).
type SMTP struct {
	Host string `yaml:"host"`
	// Port 0 (unset) is the usual port of the TLS mode: 587, 465, or 25 for none.
	Port int `yaml:"port"`
	// TLS is none, starttls (the default) or tls (implicit TLS).
	TLS      string `yaml:"tls"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// From is the sender: "Twofold <no-reply@example.com>".
	From string `yaml:"from"`
}

// SMSWebhook is the sms_webhook block (TWOFOLD_SMS_WEBHOOK_URL,
// TWOFOLD_SMS_WEBHOOK_SECRET); see notify.WebhookConfig.
type SMSWebhook struct {
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
}

// SMTPConfig is the smtp block for notify; false when no host is set (mail
// goes to the console).
func (c *Config) SMTPConfig() (notify.SMTPConfig, bool) {
	s := c.SMTP
	return notify.SMTPConfig{
		Host: s.Host, Port: s.Port, TLS: notify.TLSMode(s.TLS), Username: s.Username, Password: s.Password, From: s.From,
	}, s.Host != ""
}

// SMSWebhookConfig is the sms_webhook block for notify; false when no url is
// set (SMS is off).
func (c *Config) SMSWebhookConfig() (notify.WebhookConfig, bool) {
	return notify.WebhookConfig{URL: c.SMSWebhook.URL, Secret: c.SMSWebhook.Secret}, c.SMSWebhook.URL != ""
}

// Values of the enumerated keys, as the domain spells them.
const (
	RequireMFAAlways    = string(policy.Always)
	RequireMFAOnRequest = string(policy.OnRequest)
	RequireMFANever     = string(policy.Never)

	MethodTOTP       = string(policy.TOTP)
	MethodWebAuthn   = string(policy.WebAuthn)
	MethodBackupCode = string(policy.BackupCode)
	MethodEmail      = string(policy.Email) // opt-in: only policies that list it allow it
	MethodSMS        = string(policy.SMS)   // opt-in, and needs sms_webhook

	EnrollmentRequired = string(policy.EnrollRequired)
	EnrollmentOptional = string(policy.EnrollOptional)

	GrantAuthorizationCode = directory.GrantAuthorizationCode
	GrantRefreshToken      = directory.GrantRefreshToken
	GrantClientCredentials = directory.GrantClientCredentials
	GrantDeviceCode        = directory.GrantDeviceCode

	// PolicyNone is the built-in policy that requires nothing; it is always available.
	PolicyNone = policy.NameNone
)

// Defaults for the top-level keys.
const (
	DefaultIssuer          = "http://localhost:8080"
	DefaultListen          = "127.0.0.1:8080"
	DefaultDatabase        = "sqlite:twofold.db"
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "json"
	DefaultShutdownTimeout = Duration(15 * time.Second)

	DefaultSessionIdleTimeout   = Duration(12 * time.Hour)
	DefaultSessionLifetime      = Duration(14 * 24 * time.Hour)
	DefaultAccessTokenLifetime  = Duration(15 * time.Minute)
	DefaultRefreshTokenLifetime = Duration(30 * 24 * time.Hour)
	DefaultAccessTokenAlg       = "ES256"
	// DefaultAdminGroup is admin_group when unset.
	DefaultAdminGroup = directory.DefaultAdminGroup
	// DefaultMaxPendingSignIns is max_pending_sign_ins when unset.
	DefaultMaxPendingSignIns = 100
	// DefaultRecoveryWait is recovery_wait when unset.
	DefaultRecoveryWait = Duration(24 * time.Hour)
)

var (
	// methodValues is what a policy that leaves out methods gets, in the order the file would list them.
	methodValues     = []string{MethodTOTP, MethodWebAuthn, MethodBackupCode}
	logLevelValues   = []string{"debug", "info", "warn", "error"}
	logFormatValues  = []string{"json", "text"}
	signingAlgValues = []string{"RS256", "ES256", "EdDSA"}
)

// TrustedProxyPrefixes parses TrustedProxies (validated by Validate).
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix accepts a CIDR or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Default returns a configuration with every default filled: a development server on localhost with SQLite.
func Default() *Config {
	c := &Config{
		ShutdownTimeout:      DefaultShutdownTimeout,
		SessionIdleTimeout:   DefaultSessionIdleTimeout,
		SessionLifetime:      DefaultSessionLifetime,
		AccessTokenLifetime:  DefaultAccessTokenLifetime,
		RefreshTokenLifetime: DefaultRefreshTokenLifetime,
		RecoveryWait:         DefaultRecoveryWait,
	}
	c.applyDefaults()
	return c
}

// Load reads the YAML file at path ("" means no file), then applies environ (os.Environ form, "K=V"),
// defaults and Validate. Errors about the file name it and the line.
func Load(path string, environ []string) (*Config, error) {
	if path == "" {
		return parse("", nil, environ)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data, environ)
}

// Parse is Load for a file's contents already in memory.
func Parse(data []byte, environ []string) (*Config, error) {
	return parse("", data, environ)
}

func parse(name string, data []byte, environ []string) (*Config, error) {
	c := Default()
	if err := decodeStrict(data, sourceFile(name), "", c); err != nil {
		return nil, err
	}
	warnings, err := applyEnv(c, environ)
	if err != nil {
		return nil, withWarnings(err, warnings)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, withWarnings(err, warnings)
	}
	c.Warnings = warnings
	return c, nil
}

// withWarnings keeps the warnings when there is no Config to carry them: a misspelt variable such as
// TWOFOLD_ISUER is often the very reason a value is wrong.
func withWarnings(err error, warnings []string) error {
	errs := []error{err}
	for _, w := range warnings {
		errs = append(errs, errors.New("warning: "+w))
	}
	return errors.Join(errs...)
}

// IsSQLite reports whether Database selects the embedded SQLite store.
func (c *Config) IsSQLite() bool { return strings.HasPrefix(c.Database, "sqlite:") }

// applyDefaults fills what is empty after the file and environment were read and normalises spelling.
// An empty string counts as unset (docker-compose writes FOO= for "not set"); durations are not touched
// because an explicit 0 means something and Default already set the top-level ones.
func (c *Config) applyDefaults() {
	setIfEmpty(&c.Issuer, DefaultIssuer)
	setIfEmpty(&c.Listen, DefaultListen)
	setIfEmpty(&c.Database, DefaultDatabase)
	setIfEmpty(&c.LogLevel, DefaultLogLevel)
	setIfEmpty(&c.LogFormat, DefaultLogFormat)
	setIfEmpty(&c.AccessTokenAlg, DefaultAccessTokenAlg)
	setIfEmpty(&c.AdminGroup, DefaultAdminGroup)
	if c.MaxPendingSignIns == 0 {
		c.MaxPendingSignIns = DefaultMaxPendingSignIns
	}
	if c.SMTP.Host != "" {
		setIfEmpty(&c.SMTP.TLS, string(notify.TLSStartTLS))
		c.SMTP.TLS = strings.ToLower(c.SMTP.TLS)
	}
	c.LogLevel = strings.ToLower(c.LogLevel)
	c.LogFormat = strings.ToLower(c.LogFormat)
	// OIDC Core §2 and Discovery §4.3: the iss value is compared exactly, so settle on one spelling.
	if u, err := url.Parse(c.Issuer); err == nil && u.Host != "" && u.RawQuery == "" && u.Fragment == "" {
		c.Issuer = strings.TrimRight(c.Issuer, "/")
	}
	for i := range c.Policies {
		p := &c.Policies[i]
		setIfEmpty(&p.RequireMFA, RequireMFAOnRequest)
		setIfEmpty(&p.Enrollment, EnrollmentRequired)
		// nil means "not written"; an explicit empty list is left for Validate to judge.
		if p.Methods == nil {
			p.Methods = append([]string(nil), methodValues...)
		}
	}
	for i := range c.Clients {
		cl := &c.Clients[i]
		setIfEmpty(&cl.Name, cl.ID)
		setIfEmpty(&cl.AccessTokenType, "jwt")
		setIfEmpty(&cl.IDTokenSignedResponseAlg, "RS256")
		if cl.GrantTypes == nil {
			cl.GrantTypes = append([]string(nil), directory.DefaultGrantTypes...)
		}
	}
}

func setIfEmpty(s *string, def string) {
	if *s == "" {
		*s = def
	}
}
