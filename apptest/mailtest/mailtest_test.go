package mailtest_test

import (
	"context"
	"errors"
	"net/smtp"
	"strconv"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/apptest/mailtest"
)

// send speaks SMTP with the standard library's client, not the mailer under
// test elsewhere: STARTTLS, PLAIN, one message.
func send(t *testing.T, mb *mailtest.Mailbox, to string, msg string) error {
	t.Helper()
	c, err := smtp.Dial(mb.Host + ":" + strconv.Itoa(mb.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(mb.TLSConfig()); err != nil {
		return err
	}
	if err := c.Auth(smtp.PlainAuth("", mb.Username, mb.Password, mb.Host)); err != nil {
		return err
	}
	if err := c.Mail("sender@example.com"); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func TestAMailboxParsesWhatAnyClientSends(t *testing.T) {
	mb := mailtest.NewMailbox(t)
	// A single base64 part, an encoded subject: not how notify writes mail.
	err := send(t, mb, "Bob@Example.com", `From: sender@example.com
To: bob@example.com
Subject: =?utf-8?q?Caf=C3=A9_code?=
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

WW91ciBjb2RlIGlzIDk4NzY1NDMuIFNlZSBodHRwczovL2lkLmV4YW1wbGUuY29tL2E/Yj0xMjM0
NTY3OC4K
`)
	if err != nil {
		t.Fatal(err)
	}
	m := mb.Next(t, "bob@example.com") // recipients match without regard to case
	if m.Subject != "Café code" || m.Text != "Your code is 9876543. See https://id.example.com/a?b=12345678.\n" {
		t.Fatalf("subject %q text %q", m.Subject, m.Text)
	}
	if m.Code(t) != "9876543" || m.Link(t, "https://id.example.com/") != "https://id.example.com/a?b=12345678" {
		t.Fatalf("codes %v links %v", m.Codes, m.Links)
	}
	if m.From != "sender@example.com" || len(m.To) != 1 || len(mb.Received("BOB@example.com")) != 1 || mb.Count() != 1 {
		t.Fatalf("envelope %q %v, received %d", m.From, m.To, mb.Count())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mb.Wait(ctx, "bob@example.com"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with nothing left: %v", err)
	}
}

func TestAMailboxInsistsOnTLSAndAuthentication(t *testing.T) {
	mb := mailtest.NewMailbox(t)
	c, err := smtp.Dial(mb.Host + ":" + strconv.Itoa(mb.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("sender@example.com"); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("MAIL before STARTTLS: %v", err)
	}
	if err := c.StartTLS(mb.TLSConfig()); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@example.com"); err == nil || !strings.Contains(err.Error(), "authenticate") {
		t.Fatalf("MAIL before AUTH: %v", err)
	}
	if err := c.Auth(smtp.PlainAuth("", mb.Username, "wrong", mb.Host)); err == nil {
		t.Fatal("a wrong password was accepted")
	}
}
