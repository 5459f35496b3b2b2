package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode is how an SMTP connection is protected.
type TLSMode string

const (
	// TLSNone sends in the clear: only for a relay on the same host or a
	// private network (a Mailpit container). Authentication is refused.
	TLSNone TLSMode = "none"
	// TLSStartTLS upgrades a plain connection with STARTTLS (RFC 3207) and
	// refuses to send if the server does not offer it: the default.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (RFC 8314 §3.3, "SMTPS").
	TLSImplicit TLSMode = "tls"
)

// TLSModes lists the modes as the configuration spells them.
var TLSModes = []TLSMode{TLSNone, TLSStartTLS, TLSImplicit}

// DefaultPort is the submission port of a mode when SMTPConfig.Port is 0.
func (m TLSMode) DefaultPort() int {
	switch m {
	case TLSImplicit:
		return 465
	case TLSNone:
		return 25
	default:
		return 587
	}
}

// SMTPConfig is the configuration's smtp block.
type SMTPConfig struct {
	Host string
	// Port 0 means the mode's usual port (TLSMode.DefaultPort).
	Port int
	// TLS "" means TLSStartTLS.
	TLS TLSMode
	// Username and Password authenticate (SASL PLAIN, LOGIN or SCRAM, as the
	// server offers); both empty: no authentication.
	Username, Password string
	// From is the sender, with or without a display name:
	// "Twofold <no-reply@example.com>".
	From string
}

// Validate reports every problem as a *FieldError naming the key ("port").
// The password never appears in a message.
func (c SMTPConfig) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, fieldErrorf(field, format, args...)) }
	host := strings.TrimSpace(c.Host)
	switch {
	case host == "":
		bad("host", "must be set (the SMTP server's name or address)")
	case strings.ContainsAny(host, " /:@") && !isIPv6(host):
		bad("host", "%q must be a host name or address, without a port or scheme (use port for the port)", truncate(host, 60))
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("port", "%d is not a port (1-65535, or leave it out for the mode's usual port)", c.Port)
	}
	mode := c.mode()
	valid := false
	for _, m := range TLSModes {
		valid = valid || m == mode
	}
	if !valid {
		bad("tls", "%q is not one of none, starttls, tls", truncate(string(c.TLS), 30))
	}
	switch {
	case c.Username != "" && c.Password == "":
		bad("password", "must be set when username is")
	case c.Username == "" && c.Password != "":
		bad("username", "must be set when password is")
	case c.Username != "" && mode == TLSNone && !isLoopbackHost(host):
		bad("tls", "none would send the SMTP password unencrypted; use starttls or tls (authentication without TLS is allowed only to a loopback host)")
	}
	if c.From == "" {
		bad("from", "must be set, e.g. Twofold <no-reply@example.com>")
	} else if _, err := parseFrom(c.From); err != nil {
		bad("from", "%q is not a mail address like Twofold <no-reply@example.com>", truncate(c.From, 80))
	}
	return errors.Join(errs...)
}

func (c SMTPConfig) mode() TLSMode {
	if c.TLS == "" {
		return TLSStartTLS
	}
	return TLSMode(strings.ToLower(string(c.TLS)))
}

func (c SMTPConfig) port() int {
	if c.Port == 0 {
		return c.mode().DefaultPort()
	}
	return c.Port
}

func parseFrom(s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	if _, domain, ok := strings.Cut(a.Address, "@"); !ok || domain == "" {
		return nil, errors.New("no domain")
	}
	return a, nil
}

func isIPv6(host string) bool {
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.Is6()
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// SMTPMailer sends mail through one SMTP server, one connection per message:
// Twofold sends a few messages a minute, not a stream, and a fresh
// connection never finds a stale one. It is safe for concurrent use.
type SMTPMailer struct {
	cfg     SMTPConfig
	from    *mail.Address
	tls     *tls.Config
	timeout time.Duration
	helo    string
	log     *slog.Logger
	now     func() time.Time
}

var _ Mailer = (*SMTPMailer)(nil)

// SMTPOption tunes an SMTPMailer.
type SMTPOption func(*SMTPMailer)

// WithTLSConfig replaces the TLS settings used for STARTTLS and implicit TLS
// (tests pass one trusting their own certificate authority). Its ServerName,
// when empty, is the configured host; TLS 1.2 is the minimum either way.
func WithTLSConfig(c *tls.Config) SMTPOption {
	return func(m *SMTPMailer) { m.tls = c.Clone() }
}

// WithTimeout bounds each step of the conversation (connect, every command
// and the message data); default 10 s. The caller's context bounds the whole.
func WithTimeout(d time.Duration) SMTPOption {
	return func(m *SMTPMailer) { m.timeout = d }
}

// WithHELO sets the name Twofold gives itself in EHLO; default "localhost"
// (the machine's own name would tell the world how the host is called).
func WithHELO(name string) SMTPOption {
	return func(m *SMTPMailer) { m.helo = name }
}

// WithClock sets the clock of the Date header (default time.Now).
func WithClock(now func() time.Time) SMTPOption {
	return func(m *SMTPMailer) { m.now = now }
}

// NewSMTPMailer validates cfg and returns a mailer for it; it connects only
// when it sends.
func NewSMTPMailer(cfg SMTPConfig, logger *slog.Logger, opts ...SMTPOption) (*SMTPMailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	cfg.Host = strings.Trim(strings.TrimSpace(cfg.Host), "[]")
	from, _ := parseFrom(cfg.From)
	m := &SMTPMailer{cfg: cfg, from: from, timeout: 10 * time.Second, helo: "localhost", log: logger, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	if m.tls == nil {
		m.tls = &tls.Config{}
	}
	if m.tls.ServerName == "" {
		m.tls.ServerName = cfg.Host
	}
	m.tls.MinVersion = max(m.tls.MinVersion, tls.VersionTLS12)
	return m, nil
}

// SendMail sends m. Cancelling ctx aborts the conversation at once (the
// connection is closed), whatever step it is at.
func (s *SMTPMailer) SendMail(ctx context.Context, m Mail) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("smtp: recipient is not a mail address: %w", err)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(&mail.Address{Address: to.Address})
	msg.Subject(m.Subject)
	msg.SetDateWithValue(s.now())
	msg.SetMessageIDWithValue(messageID(s.from.Address))
	// RFC 3834 §5: automatic mail; well-behaved responders do not answer it.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}

	conns := &connTracker{}
	defer conns.stop()
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.port()),
		gomail.WithTimeout(s.timeout),
		gomail.WithHELO(s.helo),
		gomail.WithTLSConfig(s.tls),
		gomail.WithDialContextFunc(s.dialer(ctx, conns)),
	}
	switch s.cfg.mode() {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		// The dialer speaks TLS itself; the client must not try STARTTLS.
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.Username != "" {
		// The first mechanism the server offers, strongest first. PLAIN and
		// LOGIN refuse to send the password over a connection that is not
		// TLS (except to localhost); Validate already refuses that setup.
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(
			gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	client, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("smtp: send via %s: %w (%w)", s.addr(), ctx.Err(), err)
		}
		return fmt.Errorf("smtp: send via %s: %w", s.addr(), err)
	}
	return nil
}

func (s *SMTPMailer) addr() string { return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.port())) }

// dialer connects (speaking TLS at once in implicit mode) and ties the
// connection to ctx: go-mail's own context ends with the dial, and its
// per-command deadlines alone would let a cancelled request wait on a slow
// server.
func (s *SMTPMailer) dialer(ctx context.Context, conns *connTracker) gomail.DialContextFunc {
	return func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var conn net.Conn
		var err error
		if s.cfg.mode() == TLSImplicit {
			conn, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(dialCtx, network, addr)
		} else {
			conn, err = d.DialContext(dialCtx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		conns.add(context.AfterFunc(ctx, func() { conn.Close() }))
		return conn, nil
	}
}

// connTracker stops the context hooks of a send's connections when it ends.
type connTracker struct {
	mu    sync.Mutex
	stops []func() bool
}

func (c *connTracker) add(stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stops = append(c.stops, stop)
}

func (c *connTracker) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, stop := range c.stops {
		stop()
	}
}

// messageID is a unique Message-ID (RFC 5322 §3.6.4) in the sender's domain,
// so that it names neither this machine nor the library.
func messageID(from string) string {
	_, domain, _ := strings.Cut(from, "@")
	var b [16]byte
	rand.Read(b[:]) // never fails (Go 1.24+)
	return hex.EncodeToString(b[:]) + "@" + domain
}
