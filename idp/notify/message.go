package notify

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Mail is one rendered mail to one recipient.
type Mail struct {
	Kind Kind
	// To is a bare address (alice@example.com).
	To      string
	Subject string
	Text    string // the text/plain body
	HTML    string // the text/html alternative
}

// SMS is one rendered text message to one phone number.
type SMS struct {
	Kind Kind
	// To is an E.164 number (+15551234567); see ParsePhoneNumber.
	To   string
	Text string
}

// Mailer delivers mail: SMTPMailer, or ConsoleMailer when no SMTP server is
// configured. SendMail returns once the message is handed over (an SMTP
// server accepted it) or has failed; it never retries a refused message.
type Mailer interface {
	SendMail(ctx context.Context, m Mail) error
}

// SMSSender delivers text messages: Webhook, or ConsoleSMS in the demo.
type SMSSender interface {
	SendSMS(ctx context.Context, m SMS) error
}

// FieldError is a problem with one setting of a channel (SMTPConfig,
// WebhookConfig) or with one input (a phone number). Field is the key as
// the configuration spells it ("port", "from"); Message says what is wrong
// without echoing secrets.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrNotPhoneNumber: ParsePhoneNumber was given something that is not an
// international number.
var ErrNotPhoneNumber = errors.New("notify: not an international phone number")

var (
	phoneSeparators = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "", "\u00a0", "")
	e164            = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// ParsePhoneNumber normalises a phone number as people write it
// ("+1 (555) 123-4567", "0044 20 7946 0958") to E.164 ("+15551234567"), the
// only form SMS gateways agree on. A number without its country code is
// refused: Twofold cannot guess it.
func ParsePhoneNumber(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		return "", ErrNotPhoneNumber
	}
	n := phoneSeparators.Replace(s)
	if strings.HasPrefix(n, "00") {
		n = "+" + n[2:]
	}
	if !e164.MatchString(n) {
		return "", ErrNotPhoneNumber
	}
	return n, nil
}
