package notify_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest/mailtest"
	"github.com/twofold-idp/twofold/idp/notify"
)

var discard = slog.New(slog.DiscardHandler)

func signInCode(t *testing.T, to string) notify.Mail {
	t.Helper()
	m, err := notify.RenderMail(notify.SignInCode, to, full())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTheSMTPMailerDeliversInEveryTLSMode(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []mailtest.Option
	}{
		{"STARTTLS, then authentication (the mailbox requires both)", nil},
		{"implicit TLS, then authentication", []mailtest.Option{mailtest.WithTLS(notify.TLSImplicit)}},
		{"plain, without authentication", []mailtest.Option{mailtest.WithTLS(notify.TLSNone), mailtest.WithoutAuth()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mb := mailtest.NewMailbox(t, tc.opts...)
			sent := signInCode(t, "alice@example.com")
			if err := mb.Mailer(t).SendMail(context.Background(), sent); err != nil {
				t.Fatal(err)
			}
			got := mb.Next(t, "alice@example.com")
			if got.Subject != sent.Subject || got.Text != sent.Text || got.HTML != sent.HTML {
				t.Fatalf("delivered %q\n%s\nsent %q\n%s", got.Subject, got.Text, sent.Subject, sent.Text)
			}
			if got.Code(t) != "493817" {
				t.Fatalf("code %v", got.Codes)
			}
			if got.From != "no-reply@twofold.test" || got.Header.Get("From") != `"Twofold" <no-reply@twofold.test>` || got.Header.Get("To") != "<alice@example.com>" {
				t.Errorf("envelope %q, From %q, To %q", got.From, got.Header.Get("From"), got.Header.Get("To"))
			}
			if got.Header.Get("Auto-Submitted") != "auto-generated" || !strings.HasSuffix(got.Header.Get("Message-ID"), "@twofold.test>") || got.Header.Get("Date") == "" {
				t.Errorf("headers %v", got.Header)
			}
			if ua := got.Header.Get("User-Agent") + got.Header.Get("X-Mailer"); ua != "" {
				t.Errorf("the mail names its software: %q", ua)
			}
		})
	}
}

func TestLinksSurviveTheTripThroughSMTP(t *testing.T) {
	mb := mailtest.NewMailbox(t)
	d := full()
	d.Link = "https://id.example.com/verify?t=" + strings.Repeat("abcdefghij", 12) + "&u=%C3%A9"
	m, err := notify.RenderMail(notify.EmailVerification, "alice@example.com", d)
	if err != nil {
		t.Fatal(err)
	}
	if err := mb.Mailer(t).SendMail(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := mb.Next(t, "alice@example.com")
	if link := got.Link(t, "https://id.example.com/verify"); link != d.Link {
		t.Fatalf("link %q, want %q", link, d.Link)
	}
	if len(got.Links) != 1 {
		t.Errorf("links %v", got.Links)
	}
}

func TestTheSMTPMailerFailsClearly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mailbox []mailtest.Option
		config  func(*notify.SMTPConfig)
		opts    func(*mailtest.Mailbox) []notify.SMTPOption
		to      string
		want    string
	}{
		{name: "a refused recipient", mailbox: []mailtest.Option{mailtest.RefuseRecipient("nobody@example.com")},
			to: "nobody@example.com", want: "550"},
		{name: "a wrong password", config: func(c *notify.SMTPConfig) { c.Password = "wrong-password" }, want: "535"},
		{name: "a server without STARTTLS when it is required",
			mailbox: []mailtest.Option{mailtest.WithTLS(notify.TLSNone), mailtest.WithoutAuth()},
			config:  func(c *notify.SMTPConfig) { c.TLS = notify.TLSStartTLS }, want: "does not support STARTTLS"},
		{name: "a certificate nobody vouches for",
			opts: func(*mailtest.Mailbox) []notify.SMTPOption { return nil }, want: "certificate"},
		{name: "a certificate for another name",
			opts: func(mb *mailtest.Mailbox) []notify.SMTPOption {
				c := mb.TLSConfig()
				c.ServerName = "mail.example.com"
				return []notify.SMTPOption{notify.WithTLSConfig(c)}
			}, want: "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mb := mailtest.NewMailbox(t, tc.mailbox...)
			cfg := mb.Config()
			if tc.config != nil {
				tc.config(&cfg)
			}
			opts := []notify.SMTPOption{notify.WithTLSConfig(mb.TLSConfig())}
			if tc.opts != nil {
				opts = tc.opts(mb)
			}
			mailer, err := notify.NewSMTPMailer(cfg, discard, opts...)
			if err != nil {
				t.Fatal(err)
			}
			to := "alice@example.com"
			if tc.to != "" {
				to = tc.to
			}
			err = mailer.SendMail(context.Background(), signInCode(t, to))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "smtp: send via 127.0.0.1:") {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if cfg.Password != "" && strings.Contains(err.Error(), cfg.Password) {
				t.Fatalf("the error shows the password: %v", err)
			}
			if mb.Count() != 0 {
				t.Fatalf("%d messages delivered", mb.Count())
			}
		})
	}
}

// silentServer accepts connections and never says a word, reporting each
// one it accepts.
func silentServer(t *testing.T) (host string, port int, accepted <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			conns <- c
		}
	}()
	return "127.0.0.1", ln.Addr().(*net.TCPAddr).Port, conns
}

func TestCancellingTheContextAbortsASendAtOnce(t *testing.T) {
	host, port, accepted := silentServer(t)
	mailer, err := notify.NewSMTPMailer(notify.SMTPConfig{Host: host, Port: port, TLS: notify.TLSNone, From: mailtest.From}, discard,
		notify.WithTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-accepted; cancel() }() // the greeting never comes
	err = mailer.SendMail(ctx, signInCode(t, "alice@example.com"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}

	if err := mailer.SendMail(ctx, signInCode(t, "alice@example.com")); !errors.Is(err, context.Canceled) {
		t.Fatalf("a send on a cancelled context: %v", err)
	}
}

func TestASilentServerTimesOut(t *testing.T) {
	host, port, _ := silentServer(t)
	mailer, err := notify.NewSMTPMailer(notify.SMTPConfig{Host: host, Port: port, TLS: notify.TLSNone, From: mailtest.From}, discard,
		notify.WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	err = mailer.SendMail(context.Background(), signInCode(t, "alice@example.com"))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout", err)
	}
}

func TestARecipientMustBeAnAddress(t *testing.T) {
	mb := mailtest.NewMailbox(t)
	for _, to := range []string{"", "alice", "alice@example.com\r\nBcc: eve@example.com", "a@example.com, b@example.com"} {
		m := signInCode(t, "x@example.com")
		m.To = to
		if err := mb.Mailer(t).SendMail(context.Background(), m); err == nil {
			t.Errorf("sent to %q", to)
		}
	}
	if mb.Count() != 0 {
		t.Fatalf("%d delivered", mb.Count())
	}
}

func TestSMTPConfigValidation(t *testing.T) {
	good := notify.SMTPConfig{Host: "smtp.example.com", Port: 587, TLS: notify.TLSStartTLS, Username: "u", Password: "p", From: "Twofold <no-reply@example.com>"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*notify.SMTPConfig)
		want   string
	}{
		{"a host is required", func(c *notify.SMTPConfig) { c.Host = "" }, "host: must be set"},
		{"a host has no port", func(c *notify.SMTPConfig) { c.Host = "smtp.example.com:25" }, "host: \"smtp.example.com:25\" must be a host name"},
		{"a host has no scheme", func(c *notify.SMTPConfig) { c.Host = "smtp://smtp.example.com" }, "host:"},
		{"a port fits in 16 bits", func(c *notify.SMTPConfig) { c.Port = 70000 }, "port: 70000 is not a port"},
		{"a port is not negative", func(c *notify.SMTPConfig) { c.Port = -1 }, "port: -1 is not a port"},
		{"the TLS mode is known", func(c *notify.SMTPConfig) { c.TLS = "ssl" }, "tls: \"ssl\" is not one of none, starttls, tls"},
		{"a username needs a password", func(c *notify.SMTPConfig) { c.Password = "" }, "password: must be set when username is"},
		{"a password needs a username", func(c *notify.SMTPConfig) { c.Username = "" }, "username: must be set when password is"},
		{"a password is never sent in the clear", func(c *notify.SMTPConfig) { c.TLS = notify.TLSNone }, "tls: none would send the SMTP password unencrypted"},
		{"a sender is required", func(c *notify.SMTPConfig) { c.From = "" }, "from: must be set"},
		{"a sender is an address", func(c *notify.SMTPConfig) { c.From = "Twofold" }, "from: \"Twofold\" is not a mail address"},
		{"a sender has a domain", func(c *notify.SMTPConfig) { c.From = "Twofold <no-reply@>" }, "from:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			var fe *notify.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%v is not a FieldError", err)
			}
			if strings.Contains(err.Error(), "p\"") {
				t.Fatalf("the password shows: %v", err)
			}
			if _, err := notify.NewSMTPMailer(c, discard); err == nil {
				t.Fatal("NewSMTPMailer accepted it")
			}
		})
	}
	for _, ok := range []notify.SMTPConfig{
		{Host: "127.0.0.1", TLS: notify.TLSNone, Username: "u", Password: "p", From: "a@b.example"}, // auth in the clear to loopback
		{Host: "::1", From: "a@b.example"},
		{Host: "mailpit", Port: 1025, TLS: "NONE", From: "no-reply@localhost"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	if notify.TLSStartTLS.DefaultPort() != 587 || notify.TLSImplicit.DefaultPort() != 465 || notify.TLSNone.DefaultPort() != 25 {
		t.Error("default ports")
	}
}
