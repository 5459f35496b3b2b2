package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// problems collects validation findings, each prefixed by its key path.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

const maxShutdownTimeout = Duration(5 * time.Minute)

// maxPendingSignIns bounds max_pending_sign_ins: each pending sign-in is a stored row.
const maxPendingSignIns = 100000

// Validate reports every problem in c, joined with errors.Join, each naming its key path. Secret values
// (secret_key, client secrets, passwords and hashes, the database password) never appear in the text.
// It does not fill defaults: Load and Parse do that first.
//
// The rules for policies, groups, clients and users are not here: they are the domain's (idp/directory and
// idp/policy), so that the file, the CLI and the API give one answer; Validate runs them and prefixes the key
// path. What stays here is what only the file has: duplicates within it, references between its objects,
// and the server's own settings.
func (c *Config) Validate() error {
	var p problems
	c.validateIssuer(&p)
	if _, err := parsePort(c.Listen); err != nil {
		p.add("listen", "%q must be host:port (e.g. 127.0.0.1:8080, or :0 for any free port): %v", c.Listen, err)
	}
	if c.DebugListen != "" {
		if err := loopbackOnly(c.DebugListen); err != nil {
			p.add("debug_listen", "%q %v", c.DebugListen, err)
		}
	}
	validateDatabase(&p, c.Database)
	if c.SecretKey != "" {
		if _, err := DecodeSecretKey(c.SecretKey); err != nil {
			p.add("secret_key", "%v", err)
		}
		if c.SecretKeyFile != "" {
			p.add("secret_key_file", "cannot be used together with secret_key; set only one")
		}
	}
	checkOneOf(&p, "log_level", c.LogLevel, logLevelValues)
	checkOneOf(&p, "log_format", c.LogFormat, logFormatValues)
	switch {
	case c.ShutdownTimeout <= 0:
		p.add("shutdown_timeout", "must be more than 0")
	case c.ShutdownTimeout > maxShutdownTimeout:
		p.add("shutdown_timeout", "%s is too long; the most is %s", c.ShutdownTimeout, maxShutdownTimeout)
	}

	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"session_idle_timeout", c.SessionIdleTimeout}, {"session_lifetime", c.SessionLifetime},
		{"access_token_lifetime", c.AccessTokenLifetime}, {"refresh_token_lifetime", c.RefreshTokenLifetime},
	} {
		if d.v <= 0 {
			p.add(d.key, "must be more than 0")
		}
	}
	if c.SessionIdleTimeout > c.SessionLifetime {
		p.add("session_idle_timeout", "%s is longer than session_lifetime (%s)", c.SessionIdleTimeout, c.SessionLifetime)
	}
	checkOneOf(&p, "access_token_alg", c.AccessTokenAlg, signingAlgValues)
	if err := directory.ValidateGroup(directory.Group{Name: c.AdminGroup}); err != nil {
		p.add("admin_group", "%s", strings.TrimPrefix(err.Error(), "name: "))
	}
	if c.MaxPendingSignIns < 1 || c.MaxPendingSignIns > maxPendingSignIns {
		p.add("max_pending_sign_ins", "must be between 1 and %d", maxPendingSignIns)
	}
	for i, o := range c.CORSAllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			p.add(fmt.Sprintf("cors_allowed_origins[%d]", i), "%q is not an origin (scheme://host[:port])", o)
		}
	}

	for i, tp := range c.TrustedProxies {
		if _, err := parsePrefix(tp); err != nil {
			p.add(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not an address or a CIDR (e.g. 10.0.0.0/8)", truncate(tp, 60))
		}
	}

	c.validateChannels(&p)
	c.validateRecovery(&p)
	c.validateObjects(&p)
	return errors.Join(p...)
}

// validateChannels checks the smtp and sms_webhook blocks: notify's rules,
// and here only that a block with settings names its server.
func (c *Config) validateChannels(p *problems) {
	if smtp, ok := c.SMTPConfig(); ok {
		p.domain("smtp", smtp.Validate())
	} else if c.SMTP != (SMTP{}) {
		p.add("smtp.host", "must be set when other smtp keys are (or remove the smtp block: mail is then printed to the console)")
	}
	if hook, ok := c.SMSWebhookConfig(); ok {
		p.domain("sms_webhook", hook.Validate())
	} else if c.SMSWebhook != (SMSWebhook{}) {
		p.add("sms_webhook.url", "must be set when sms_webhook.secret is (or remove the block: SMS is then off)")
	}
}

// Bounds of recovery_wait: without a wait, a stolen password and mailbox recover the account at once; beyond a
// month, a person who lost their factor waits too long.
const (
	minRecoveryWait = Duration(time.Minute)
	maxRecoveryWait = Duration(30 * 24 * time.Hour)
)

// validateRecovery checks recovery_wait.
func (c *Config) validateRecovery(p *problems) {
	if c.RecoveryWait < minRecoveryWait || c.RecoveryWait > maxRecoveryWait {
		p.add("recovery_wait", "must be between %s and %s (the default is %s)", minRecoveryWait, maxRecoveryWait, DefaultRecoveryWait)
	}
}

func (c *Config) validateIssuer(p *problems) {
	const path = "issuer"
	if c.Issuer == "" {
		p.add(path, "must be set, e.g. https://id.example.com")
		return
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		p.add(path, "%q must be an absolute URL such as https://id.example.com", c.Issuer)
		return
	}
	// OpenID Connect Discovery §4.3 and Core §2: the issuer is an https URL with no query or fragment.
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		p.add(path, "%q must use https", c.Issuer)
	case u.Scheme == "http" && !isLocalhost(u.Hostname()):
		p.add(path, "http is only allowed for localhost; use https")
	}
	if u.RawQuery != "" || u.ForceQuery {
		p.add(path, "must not have a query (?...)")
	}
	if u.Fragment != "" || strings.Contains(c.Issuer, "#") {
		p.add(path, "must not have a fragment (#...)")
	}
	if u.User != nil {
		p.add(path, "must not contain a user name or password")
	}
	if _, err := parsePort(u.Host + portSuffix(u)); err != nil {
		p.add(path, "%q has an invalid port", c.Issuer)
	}
}

// portSuffix lets parsePort check an issuer's port with the same rules as listen.
func portSuffix(u *url.URL) string {
	if u.Port() == "" {
		return ":0"
	}
	return ""
}

func isLocalhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func parsePort(hostport string) (int, error) {
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return 0, errors.New(ae.Err) // without the address, which the caller shows once
		}
		return 0, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return int(n), nil
}

// loopbackOnly accepts host:port whose host is a loopback address or "localhost": the profiler shows memory
// and stack contents, so it must never be reachable from another machine.
func loopbackOnly(hostport string) error {
	if _, err := parsePort(hostport); err != nil {
		return fmt.Errorf("must be host:port: %v", err)
	}
	host, _, _ := net.SplitHostPort(hostport)
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("must be on a loopback address (127.0.0.1, [::1] or localhost): the profiler must not be reachable from another machine")
}

func validateDatabase(p *problems, db string) {
	const path = "database"
	const want = `use "sqlite:PATH", "sqlite::memory:" or "postgres://USER:PASSWORD@HOST/DB"`
	switch {
	case strings.HasPrefix(db, "sqlite:"):
		if strings.TrimPrefix(db, "sqlite:") == "" {
			p.add(path, "sqlite: needs a file path; %s", want)
		}
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		// The URL carries the database password: describe what is wrong without echoing it.
		u, err := url.Parse(db)
		if err != nil {
			p.add(path, "is not a valid PostgreSQL URL; %s", want)
		} else if u.Host == "" {
			p.add(path, "PostgreSQL URL has no host; %s", want)
		}
	default:
		scheme, _, ok := strings.Cut(db, ":")
		if ok && scheme != "" && len(scheme) <= 20 && !strings.ContainsAny(scheme, "/@ ") {
			p.add(path, "unsupported database %q; %s", scheme, want)
		} else {
			p.add(path, "unsupported database; %s", want)
		}
	}
}

// DecodeSecretKey decodes a master key written as base64 of exactly 32 bytes, in the standard or URL
// alphabet, with or without padding. Errors never contain the key.
func DecodeSecretKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("must be base64 of exactly 32 bytes, got %d bytes (generate one with: openssl rand -base64 32)", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("is not valid base64 (generate one with: openssl rand -base64 32)")
}

func checkOneOf(p *problems, path, v string, allowed []string) bool {
	if slices.Contains(allowed, v) {
		return true
	}
	p.add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return false
}

// validateObjects checks the policies, groups, clients and users: the domain validators for the rules, and
// here what only the file knows — duplicates and references between its objects.
func (c *Config) validateObjects(p *problems) {
	policies := map[string]bool{PolicyNone: true}
	seen := map[string]int{}
	for i, pol := range c.Policies {
		path := fmt.Sprintf("policies[%d]", i)
		if checkUnique(p, path+".name", pol.Name, pol.Name, seen, "policies", i) {
			policies[pol.Name] = true
		}
		// An explicit empty list in YAML is not "every method" (leaving the key out is).
		if pol.Methods != nil && len(pol.Methods) == 0 && pol.RequireMFA != RequireMFANever {
			p.add(path+".methods", "must list at least one method unless require_mfa is %s (leave the key out for every method)", RequireMFANever)
		}
		dp, err := pol.toPolicy()
		if err != nil {
			p.add(path+".min_level", "%v", err)
		}
		p.domain(path, dp.Validate())
	}
	checkPolicyRef(p, "default_policy", c.DefaultPolicy, policies)

	groups := map[string]bool{}
	seen = map[string]int{}
	for i, g := range c.Groups {
		path := fmt.Sprintf("groups[%d]", i)
		if checkUnique(p, path+".name", g.Name, g.Name, seen, "groups", i) {
			groups[g.Name] = true
		}
		p.domain(path, directory.ValidateGroup(g.toGroup()))
		checkPolicyRef(p, path+".policy", g.Policy, policies)
	}

	seen = map[string]int{}
	for i, cl := range c.Clients {
		path := fmt.Sprintf("clients[%d]", i)
		checkUnique(p, path+".id", cl.ID, cl.ID, seen, "clients", i)
		// An explicit empty list in YAML is not "the default grants" (leaving the key out is).
		if cl.GrantTypes != nil && len(cl.GrantTypes) == 0 {
			p.add(path+".grant_types", "must list at least one grant type (leave the key out for %s)", strings.Join(directory.DefaultGrantTypes, " and "))
		}
		p.domain(path, directory.ValidateClientSpec(cl.toSpec()))
		checkPolicyRef(p, path+".policy", cl.Policy, policies)
	}

	seen = map[string]int{}
	for i, u := range c.Users {
		path := fmt.Sprintf("users[%d]", i)
		// Usernames are unique case-insensitively, as in the database.
		checkUnique(p, path+".username", u.Username, storage.NormalizeUsername(u.Username), seen, "users", i)
		p.domain(path, directory.ValidateNewUser(u.toNewUser()))
		for k, g := range u.Groups {
			if !groups[g] {
				p.add(fmt.Sprintf("%s.groups[%d]", path, k), "%q is not a group defined under groups", truncate(g, 70))
			}
		}
	}
}

// domain adds the problems a domain validator found in the object at path, each under its field's key:
// policies[0] and the policy's "methods[1]" give policies[0].methods[1].
func (p *problems) domain(path string, err error) {
	if err == nil {
		return
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			p.domain(path, e)
		}
		return
	}
	var ie *idp.InputError
	var fe *policy.FieldError
	var ne *notify.FieldError
	switch {
	case errors.As(err, &ie):
		p.add(path+"."+ie.Field, "%s", ie.Message)
	case errors.As(err, &fe):
		p.add(path+"."+fe.Field, "%s", fe.Message)
	case errors.As(err, &ne):
		p.add(path+"."+ne.Field, "%s", ne.Message)
	default:
		p.add(path, "%v", err)
	}
}

// checkUnique records key in seen and reports whether it is the first use of it in the list. Empty values
// are left to the domain validators, which say they must be set.
func checkUnique(p *problems, path, shown, key string, seen map[string]int, list string, i int) bool {
	if key == "" {
		return false
	}
	if j, dup := seen[key]; dup {
		p.add(path, "%q is already used by %s[%d]", truncate(shown, 70), list, j)
		return false
	}
	seen[key] = i
	return true
}

func checkPolicyRef(p *problems, path, name string, policies map[string]bool) {
	if name != "" && !policies[name] {
		p.add(path, "%q is not a policy defined under policies (or the built-in %q)", truncate(name, 70), PolicyNone)
	}
}
