package mailtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/twofold-idp/twofold/idp/notify"
)

// From is the sender address Mailbox.Config gives the mailer.
const From = "Twofold <no-reply@twofold.test>"

// Mailbox is an SMTP server on loopback that keeps what it receives. By
// default it offers STARTTLS and requires it, and requires authentication
// with Username and Password, so that a message arriving proves the mailer
// did both.
type Mailbox struct {
	Host     string // 127.0.0.1
	Port     int
	Username string // "" with WithoutAuth
	Password string

	mode    notify.TLSMode
	pool    *x509.CertPool
	refused map[string]bool
	q       *queues[*Message]
	mu      sync.Mutex
	count   int
}

// Option configures a Mailbox.
type Option func(*Mailbox)

// WithTLS sets how the server is reached: notify.TLSStartTLS (the default,
// required before MAIL FROM), notify.TLSImplicit (TLS from the first byte)
// or notify.TLSNone (plain; use with WithoutAuth).
func WithTLS(mode notify.TLSMode) Option { return func(m *Mailbox) { m.mode = mode } }

// WithoutAuth accepts mail without authentication.
func WithoutAuth() Option { return func(m *Mailbox) { m.Username, m.Password = "", "" } }

// RefuseRecipient answers 550 to RCPT TO of addr (no such mailbox).
func RefuseRecipient(addr string) Option {
	return func(m *Mailbox) { m.refused[strings.ToLower(addr)] = true }
}

// NewMailbox starts a mail server for the test and stops it at cleanup.
func NewMailbox(t testing.TB, opts ...Option) *Mailbox {
	t.Helper()
	cert, pool := testCertificate(t)
	m := &Mailbox{
		Host: "127.0.0.1", Username: "twofold", Password: "mailbox-password-" + fmt.Sprint(time.Now().UnixNano()),
		mode: notify.TLSStartTLS, pool: pool, refused: map[string]bool{}, q: newQueues[*Message](),
	}
	for _, o := range opts {
		o(m)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{mb: m, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 10
	srv.ErrorLog = log.New(io.Discard, "", 0)
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch m.mode {
	case notify.TLSStartTLS:
		srv.TLSConfig = tlsConf
	case notify.TLSImplicit:
		ln = tls.NewListener(ln, tlsConf)
	}
	m.Port = ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	// Closing the listener too: a test that ends at once (a skip) may close
	// the server before Serve has registered the listener, and Serve would
	// then accept forever.
	t.Cleanup(func() { srv.Close(); ln.Close(); <-done })
	return m
}

// Config is the mailer configuration that reaches this mailbox.
func (m *Mailbox) Config() notify.SMTPConfig {
	return notify.SMTPConfig{Host: m.Host, Port: m.Port, TLS: m.mode, Username: m.Username, Password: m.Password, From: From}
}

// TLSConfig trusts the mailbox's certificate (notify.WithTLSConfig).
func (m *Mailbox) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: m.pool, ServerName: m.Host, MinVersion: tls.VersionTLS12}
}

// Mailer is a notify.SMTPMailer that delivers here.
func (m *Mailbox) Mailer(t testing.TB, opts ...notify.SMTPOption) *notify.SMTPMailer {
	t.Helper()
	mailer, err := notify.NewSMTPMailer(m.Config(), slog.New(slog.DiscardHandler), append([]notify.SMTPOption{notify.WithTLSConfig(m.TLSConfig())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return mailer
}

// Next takes the oldest message to the address to that no earlier Next took,
// waiting for it to arrive; the test fails if none does in time.
func (m *Mailbox) Next(t testing.TB, to string) *Message {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	msg, err := m.Wait(ctx, to)
	if err != nil {
		t.Fatalf("no mail to %s: %v (received: %d in all)", to, err, m.Count())
	}
	return msg
}

// Wait is Next for any goroutine: it returns ctx's error instead of failing.
func (m *Mailbox) Wait(ctx context.Context, to string) (*Message, error) {
	return m.q.wait(ctx, to)
}

// Received is every message delivered to to so far, taken by Next or not. A
// send returns after the server accepted the message, so right after it
// Received already holds it: a test can check that nothing was sent.
func (m *Mailbox) Received(to string) []*Message { return m.q.received(to) }

// Count is how many messages the mailbox accepted, to anyone.
func (m *Mailbox) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count
}

// Message is one delivered mail, parsed.
type Message struct {
	From    string   // the envelope sender (MAIL FROM)
	To      []string // the envelope recipients (RCPT TO)
	Header  mail.Header
	Subject string // decoded
	Text    string // the text/plain part, decoded
	HTML    string // the text/html part, decoded
	// Links are the http(s) links of the HTML part (its href attributes),
	// then those of the text part not already listed, in order.
	Links []string
	// Codes are the runs of 6 to 8 digits that stand alone in the text part
	// (outside links), in order, without repeats.
	Codes []string
	Raw   []byte
}

// Code is the message's one code; the test fails unless there is exactly one.
func (msg *Message) Code(t testing.TB) string {
	t.Helper()
	if len(msg.Codes) != 1 {
		t.Fatalf("mail %q has codes %v, want exactly one:\n%s", msg.Subject, msg.Codes, msg.Text)
	}
	return msg.Codes[0]
}

// Link is the first link that starts with prefix; the test fails if none does.
func (msg *Message) Link(t testing.TB, prefix string) string {
	t.Helper()
	for _, l := range msg.Links {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("mail %q has no link starting with %q; links: %v", msg.Subject, prefix, msg.Links)
	return ""
}

var (
	hrefRE = regexp.MustCompile(`href="([^"]*)"`)
	urlRE  = regexp.MustCompile(`https?://[^\s<>"]+`)
	codeRE = regexp.MustCompile(`\b([0-9]{6,8})\b`)
)

// parseMessage reads a delivered message: headers, the text and HTML parts
// (multipart or not; quoted-printable or base64), links and codes.
func parseMessage(raw []byte) (*Message, error) {
	r, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	msg := &Message{Header: r.Header, Raw: raw}
	dec := new(mime.WordDecoder)
	if msg.Subject, err = dec.DecodeHeader(r.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	if err := msg.readPart(r.Header, r.Body); err != nil {
		return nil, err
	}
	for _, m := range hrefRE.FindAllStringSubmatch(msg.HTML, -1) {
		msg.addLink(html.UnescapeString(m[1]))
	}
	for _, l := range urlRE.FindAllString(msg.Text, -1) {
		msg.addLink(strings.TrimRight(l, ".,;:)"))
	}
	msg.Codes = codesOf(msg.Text)
	return msg, nil
}

// codesOf finds the runs of 6 to 8 digits standing alone in text, outside
// links, without repeats.
func codesOf(text string) []string {
	var codes []string
	for _, line := range strings.Split(urlRE.ReplaceAllString(text, " "), "\n") {
		for _, m := range codeRE.FindAllStringSubmatch(line, -1) {
			if !slices.Contains(codes, m[1]) {
				codes = append(codes, m[1])
			}
		}
	}
	return codes
}

func (msg *Message) addLink(l string) {
	if (strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")) && !slices.Contains(msg.Links, l) {
		msg.Links = append(msg.Links, l)
	}
}

// header is a mail.Header or a part's textproto.MIMEHeader.
type header interface{ Get(string) string }

func (msg *Message) readPart(h header, body io.Reader) error {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart() // decodes quoted-printable itself
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := msg.readPart(p.Header, p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, &lineJoiner{r: body})
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch mediaType {
	case "text/plain":
		msg.Text = strings.ReplaceAll(string(b), "\r\n", "\n")
	case "text/html":
		msg.HTML = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	return nil
}

// lineJoiner drops the line breaks of a base64 body.
type lineJoiner struct{ r io.Reader }

func (l *lineJoiner) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}

// session is one SMTP connection's state.
type session struct {
	mb     *Mailbox
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string {
	if s.mb.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.mb.Username || password != s.mb.Password {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if _, isTLS := s.conn.TLSConnectionState(); !isTLS && s.mb.mode != notify.TLSNone {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	}
	if s.mb.Username != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.mb.refused[strings.ToLower(to)] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := parseMessage(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Unreadable message: " + err.Error()}
	}
	msg.From, msg.To = s.from, slices.Clone(s.to)
	s.mb.mu.Lock()
	s.mb.count++
	s.mb.mu.Unlock()
	for _, to := range s.to {
		s.mb.q.deliver(to, msg)
	}
	return nil
}

func (s *session) Reset() { s.from, s.to = "", nil }

func (s *session) Logout() error { return nil }
