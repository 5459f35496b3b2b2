package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/twofold-idp/twofold/idp/policy"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// problems collects validation findings, each prefixed by its key path.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	clientIDRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)
)

const maxShutdownTimeout = Duration(5 * time.Minute)

// Validate reports every problem in c, joined with errors.Join, each naming its key path. Secret values
// (secret_key, client secrets, passwords and hashes, the database password) never appear in the text.
// It does not fill defaults: Load and Parse do that first.
func (c *Config) Validate() error {
	var p problems
	c.validateIssuer(&p)
	if _, err := parsePort(c.Listen); err != nil {
		p.add("listen", "%q must be host:port (e.g. 127.0.0.1:8080, or :0 for any free port): %v", c.Listen, err)
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

	policies := map[string]bool{PolicyNone: true}
	seen := map[string]int{}
	for i, pol := range c.Policies {
		path := fmt.Sprintf("policies[%d]", i)
		if checkName(&p, path+".name", pol.Name, seen, "policies", i) {
			if pol.Name == PolicyNone {
				p.add(path+".name", "%q is the built-in policy that requires nothing; choose another name", pol.Name)
			}
			policies[pol.Name] = true
		}
		pol.validate(&p, path)
	}
	checkPolicyRef(&p, "default_policy", c.DefaultPolicy, policies)

	groups := map[string]bool{}
	seen = map[string]int{}
	for i, g := range c.Groups {
		path := fmt.Sprintf("groups[%d]", i)
		if checkName(&p, path+".name", g.Name, seen, "groups", i) {
			groups[g.Name] = true
		}
		checkPolicyRef(&p, path+".policy", g.Policy, policies)
	}

	seen = map[string]int{}
	for i, cl := range c.Clients {
		cl.validate(&p, fmt.Sprintf("clients[%d]", i), i, seen, policies)
	}

	seen = map[string]int{}
	for i, u := range c.Users {
		u.validate(&p, fmt.Sprintf("users[%d]", i), i, seen, groups)
	}
	return errors.Join(p...)
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

// checkName checks a policy or group name and records it in seen; it reports whether the name is usable.
func checkName(p *problems, path, name string, seen map[string]int, list string, i int) bool {
	switch {
	case name == "":
		p.add(path, "must be set")
		return false
	case !nameRE.MatchString(name):
		p.add(path, "%q must be 1 to 63 of a-z, 0-9, _ and -, starting with a letter or digit", truncate(name, 70))
		return false
	}
	if j, dup := seen[name]; dup {
		p.add(path, "%q is already used by %s[%d]", name, list, j)
		return false
	}
	seen[name] = i
	return true
}

func checkPolicyRef(p *problems, path, name string, policies map[string]bool) {
	if name != "" && !policies[name] {
		p.add(path, "%q is not a policy defined under policies (or the built-in %q)", name, PolicyNone)
	}
}

func (pol Policy) validate(p *problems, path string) {
	checkOneOf(p, path+".require_mfa", pol.RequireMFA, requireMFAValues)
	checkList(p, path+".methods", pol.Methods, methodValues, "method")
	if len(pol.Methods) == 0 && pol.RequireMFA != RequireMFANever {
		p.add(path+".methods", "must list at least one method unless require_mfa is %s", RequireMFANever)
	}
	if pol.MFAMaxAge < 0 {
		p.add(path+".mfa_max_age", "must not be negative")
	}
	if pol.RememberDevice < 0 {
		p.add(path+".remember_device", "must not be negative")
	}
	checkOneOf(p, path+".enrollment", pol.Enrollment, enrollmentValues)
	if _, err := policy.ParseLevel(pol.MinLevel); err != nil {
		p.add(path+".min_level", "%v", err)
	}
}

// checkList reports entries outside allowed and entries listed twice.
func checkList(p *problems, path string, list, allowed []string, what string) {
	first := map[string]int{}
	for i, v := range list {
		ip := fmt.Sprintf("%s[%d]", path, i)
		if !slices.Contains(allowed, v) {
			p.add(ip, "unknown %s %q; use %s", what, truncate(v, 40), strings.Join(allowed, ", "))
			continue
		}
		if j, dup := first[v]; dup {
			p.add(ip, "%q is already listed at %s[%d]", v, path, j)
			continue
		}
		first[v] = i
	}
}

func (cl Client) validate(p *problems, path string, i int, seen map[string]int, policies map[string]bool) {
	switch {
	case cl.ID == "":
		p.add(path+".id", "must be set")
	case !clientIDRE.MatchString(cl.ID):
		p.add(path+".id", "%q must be 1 to 128 of A-Z, a-z, 0-9, '.', '_', '~' and '-'", truncate(cl.ID, 140))
	default:
		if j, dup := seen[cl.ID]; dup {
			p.add(path+".id", "%q is already used by clients[%d]", cl.ID, j)
		} else {
			seen[cl.ID] = i
		}
	}
	if cl.Secret != "" && utf8.RuneCountInString(cl.Secret) < minClientSecretLength {
		p.add(path+".secret", "must be at least %d characters; generate one with `openssl rand -base64 32`", minClientSecretLength)
	}
	checkOneOf(p, path+".access_token_type", cl.AccessTokenType, tokenTypeValues)
	checkOneOf(p, path+".id_token_signed_response_alg", cl.IDTokenSignedResponseAlg, signingAlgValues)
	checkList(p, path+".grant_types", cl.GrantTypes, grantTypeValues, "grant type")
	if len(cl.GrantTypes) == 0 {
		p.add(path+".grant_types", "must list at least one of %s", strings.Join(grantTypeValues, ", "))
	}
	hasCode := slices.Contains(cl.GrantTypes, GrantAuthorizationCode)
	for k, g := range cl.GrantTypes {
		gp := fmt.Sprintf("%s.grant_types[%d]", path, k)
		switch {
		case g == GrantClientCredentials && cl.Secret == "":
			// RFC 6749 §4.4: only a confidential client may use the client credentials grant.
			p.add(gp, "client_credentials requires a secret (a confidential client)")
		case g == GrantRefreshToken && !hasCode:
			p.add(gp, "refresh_token requires authorization_code")
		}
	}
	if hasCode && len(cl.RedirectURIs) == 0 {
		p.add(path+".redirect_uris", "must list at least one URI for authorization_code")
	}
	for k, u := range cl.RedirectURIs {
		checkRedirectURI(p, fmt.Sprintf("%s.redirect_uris[%d]", path, k), u)
	}
	for k, u := range cl.PostLogoutRedirectURIs {
		checkRedirectURI(p, fmt.Sprintf("%s.post_logout_redirect_uris[%d]", path, k), u)
	}
	checkPolicyRef(p, path+".policy", cl.Policy, policies)
}

// forbiddenSchemes could run code or read local files if an authorization server redirected to them.
var forbiddenSchemes = []string{"javascript", "data", "vbscript", "file", "blob", "about"}

// checkRedirectURI applies RFC 6749 §3.1.2 (absolute, no fragment) and RFC 8252 (native apps: loopback
// http §7.3, private-use schemes §7.1; anything else must be https per OAuth 2.0 Security BCP §4.1).
func checkRedirectURI(p *problems, path, raw string) {
	shown := truncate(raw, 100)
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		p.add(path, "%q is not a valid URL", shown)
		return
	}
	if !u.IsAbs() {
		p.add(path, "%q must be an absolute URL", shown)
		return
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		p.add(path, "%q must not have a fragment (#...)", shown)
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "https":
		if u.Host == "" || u.Hostname() == "" {
			p.add(path, "%q has no host", shown)
		}
	case scheme == "http":
		if !isLocalhost(u.Hostname()) {
			p.add(path, "%q: http is only allowed for loopback hosts (localhost, 127.0.0.1, [::1]); use https", shown)
		}
	case slices.Contains(forbiddenSchemes, scheme):
		p.add(path, "%q: the %s scheme is not allowed", shown, scheme)
	}
	if u.User != nil {
		p.add(path, "%q must not contain a user name or password", shown)
	}
}

func (u User) validate(p *problems, path string, i int, seen map[string]int, groups map[string]bool) {
	switch {
	case u.Username == "":
		p.add(path+".username", "must be set")
	case !utf8.ValidString(u.Username) || utf8.RuneCountInString(u.Username) > 64:
		p.add(path+".username", "must be 1 to 64 characters of valid UTF-8")
	case strings.ContainsFunc(u.Username, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		p.add(path+".username", "%q must not contain spaces or control characters", u.Username)
	default:
		// Usernames are unique case-insensitively so "Alice" and "alice" cannot be two accounts.
		key := strings.ToLower(u.Username)
		if j, dup := seen[key]; dup {
			p.add(path+".username", "%q is already used by users[%d] (usernames ignore case)", u.Username, j)
		} else {
			seen[key] = i
		}
	}
	if u.Email != "" && !validEmail(u.Email) {
		p.add(path+".email", "%q is not an email address like alice@example.com", truncate(u.Email, 100))
	}
	switch {
	case u.Password != "" && u.PasswordHash != "":
		p.add(path+".password", "set either password or password_hash, not both")
	case u.Password == "" && u.PasswordHash == "":
		p.add(path+".password", "must be set (or password_hash)")
	case u.PasswordHash != "" && !strings.HasPrefix(u.PasswordHash, "$argon2id$"):
		p.add(path+".password_hash", "must be an argon2id PHC string starting with $argon2id$")
	}
	for k, g := range u.Groups {
		if !groups[g] {
			p.add(fmt.Sprintf("%s.groups[%d]", path, k), "%q is not a group defined under groups", truncate(g, 70))
		}
	}
}

func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

// minClientSecretLength mirrors idp.MinClientSecretLength (issue 3: shorter
// configured secrets are refused).
const minClientSecretLength = 16
