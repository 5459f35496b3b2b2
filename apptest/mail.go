package apptest

import (
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/apptest/mailtest"
)

// The outbound channels' test doubles, from package mailtest (see there):
// real servers in process, not fakes.
type (
	// Mailbox is an in-process SMTP server (STARTTLS with a test
	// certificate, authentication required). Pass it as Options.Mailbox,
	// then Mailbox.Next(t, "alice@example.com") waits for the next message
	// to that address and returns it parsed: Subject, Text, HTML, Links,
	// Codes (and Code(t), Link(t, prefix)).
	Mailbox = mailtest.Mailbox
	// Mail is one message a Mailbox received.
	Mail = mailtest.Message
	// SMSReceiver is an SMS gateway's webhook that verifies every call's
	// signature. Pass it as Options.SMS, then SMS.Next(t, "+15551234567")
	// waits for the next text message to that number.
	SMSReceiver = mailtest.SMSReceiver
	// SMS is one text message an SMSReceiver accepted.
	SMS = mailtest.SMSMessage
)

// NewMailbox starts an SMTP server for the test (stopped at cleanup).
func NewMailbox(t testing.TB, opts ...mailtest.Option) *Mailbox {
	t.Helper()
	return mailtest.NewMailbox(t, opts...)
}

// NewSMSReceiver starts an SMS webhook receiver for the test.
func NewSMSReceiver(t testing.TB) *SMSReceiver {
	t.Helper()
	return mailtest.NewSMSReceiver(t)
}

// testLog writes to the test's log, a message at a time: the console
// mailer of a server without a Mailbox.
type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
