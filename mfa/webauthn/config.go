package webauthn

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"
)

// DefaultTimeout is the ceremony timeout when Config.Timeout is zero: the
// 5 minutes at the low end of the range §5.4 and §5.5 recommend when user
// verification may be performed.
const DefaultTimeout = 5 * time.Minute

// maxTimeout bounds Config.Timeout: the top of the §5.4 recommended range.
const maxTimeout = 10 * time.Minute

// Config is the relying party's WebAuthn configuration.
type Config struct {
	// RPID is the relying party identifier (§4 Terminology, "RP ID"): the
	// issuer's host, lower case, without scheme or port. It must be a domain:
	// browsers refuse an IP address (§5.1.3, the effective domain must be a
	// valid domain), so New does too. Development uses "localhost".
	RPID string
	// RPDisplayName is shown by some authenticators, e.g. "Twofold".
	RPDisplayName string
	// Origins is the exact allow-list of origins (scheme://host[:port]) a
	// response's clientDataJSON.origin may name (§7.1 and §7.2, "verify that
	// the value of C.origin is an origin expected by the Relying Party").
	// Each host must be RPID or a subdomain of it, and the scheme https
	// except for localhost (a secure context in browsers).
	Origins []string
	// Timeout is the ceremony timeout, sent to the browser and enforced on
	// the server. Zero means DefaultTimeout; at most 10 minutes.
	Timeout time.Duration
	// Now is the clock; nil means time.Now. go-webauthn also compares the
	// session expiry with time.Now, so an injected clock must not lag the
	// wall clock by more than Timeout.
	Now func() time.Time
}

// Ceremonies runs WebAuthn ceremonies for one relying party. It is safe for
// concurrent use.
type Ceremonies struct {
	lib      *gowebauthn.WebAuthn
	origins  []string // normalised, compared exactly
	rpIDHash [32]byte
	timeout  time.Duration
	now      func() time.Time
}

// New validates cfg and returns the ceremonies for it. An invalid cfg gives an
// error matching ErrInvalidConfig.
func New(cfg Config) (*Ceremonies, error) {
	if err := validateRPID(cfg.RPID); err != nil {
		return nil, fmt.Errorf("%w: RPID %q: %v", ErrInvalidConfig, cfg.RPID, err)
	}
	if strings.TrimSpace(cfg.RPDisplayName) == "" {
		return nil, fmt.Errorf("%w: RPDisplayName is empty", ErrInvalidConfig)
	}
	if len(cfg.Origins) == 0 {
		return nil, fmt.Errorf("%w: no Origins", ErrInvalidConfig)
	}
	origins := make([]string, 0, len(cfg.Origins))
	for _, o := range cfg.Origins {
		n, err := normaliseOrigin(o, cfg.RPID)
		if err != nil {
			return nil, fmt.Errorf("%w: origin %q: %v", ErrInvalidConfig, o, err)
		}
		origins = append(origins, n)
	}
	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < time.Second || timeout > maxTimeout:
		return nil, fmt.Errorf("%w: Timeout %s outside [1s, %s]", ErrInvalidConfig, timeout, maxTimeout)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}

	// go-webauthn only records an expiry in the session when Enforce is on
	// (it is off by default); Begin… then overwrites it from our clock.
	t := gowebauthn.TimeoutConfig{Enforce: true, Timeout: timeout, TimeoutUVD: timeout}
	lib, err := gowebauthn.New(&gowebauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPDisplayName,
		RPOrigins:     origins,
		// §5.4.7: we do not ask for attestation (no MDS, no trust anchors);
		// what an authenticator sends anyway is still verified.
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts:              gowebauthn.TimeoutsConfig{Login: t, Registration: t},
		// Not embeddable in a cross-origin iframe: RPAllowCrossOrigin false.
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return &Ceremonies{
		lib:      lib,
		origins:  origins,
		rpIDHash: sha256Sum(cfg.RPID),
		timeout:  timeout,
		now:      now,
	}, nil
}

// validateRPID refuses what a browser would refuse as an RP ID, and anything
// whose hash could never match the one a browser computes.
func validateRPID(id string) error {
	if id == "" {
		return fmt.Errorf("empty")
	}
	if net.ParseIP(strings.Trim(id, "[]")) != nil {
		return fmt.Errorf("an IP address cannot be an RP ID (§5.1.3): use a host name such as localhost")
	}
	if id != strings.ToLower(id) {
		// Browsers lower-case the host; rpIdHash is over those bytes.
		return fmt.Errorf("must be lower case")
	}
	// Refuses a scheme, port, path, a numeric last label ("127.1") and
	// single-label names other than localhost.
	return protocol.ValidateRPID(id)
}

// normaliseOrigin returns o as a browser serialises an origin (HTML "ASCII
// serialization of an origin"): lower-case scheme and host, no default port,
// nothing else.
func normaliseOrigin(o, rpID string) (string, error) {
	u, err := url.Parse(o)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", fmt.Errorf("scheme must be https (or http for localhost)")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("an origin is scheme://host[:port] only")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("no host")
	}
	// §5.1.3: the RP ID must equal the origin's effective domain or be a
	// registrable domain suffix of it; otherwise browsers refuse the ceremony.
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "", fmt.Errorf("host %q is not %q or a subdomain of it", host, rpID)
	}
	local := host == "localhost" || strings.HasSuffix(host, ".localhost")
	if scheme == "http" && !local {
		return "", fmt.Errorf("http is only a secure context on localhost: use https")
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		return scheme + "://" + net.JoinHostPort(host, port), nil
	}
	return scheme + "://" + host, nil
}
