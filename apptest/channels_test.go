package apptest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// The server built by wire sends through the mailbox it was given (over
// STARTTLS with authentication, trusting the test certificate) and the SMS
// webhook receiver, within the sending limits, on both databases.
func TestTheServersChannelsReachTheTestMailboxAndGateway(t *testing.T) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			mb, sms := apptest.NewMailbox(t), apptest.NewSMSReceiver(t)
			s := apptest.New(t, newStore, apptest.Options{Mailbox: mb, SMS: sms})
			ctx := context.Background()
			link := s.URL + "/verify-email?t=abc"
			err := s.App.Channels.SendEmail(ctx, channels.Message{Kind: notify.EmailVerification, To: "alice@example.com", ClientIP: "192.0.2.1",
				Data: notify.Data{Code: "246810", Link: link, ExpiresIn: 30 * time.Minute}})
			if err != nil {
				t.Fatal(err)
			}
			m := mb.Next(t, "alice@example.com")
			if m.Code(t) != "246810" || m.Link(t, s.URL) != link || m.Subject != "Verify your email address for localhost" {
				t.Fatalf("mail %q codes %v links %v", m.Subject, m.Codes, m.Links)
			}
			if date, err := m.Header.Date(); err != nil || !date.Equal(s.Clock.Now()) {
				t.Errorf("Date %v, %v; want the server's clock %v", date, err, s.Clock.Now())
			}

			if !s.App.Channels.SMSEnabled() {
				t.Fatal("SMS is off with a gateway")
			}
			err = s.App.Channels.SendSMS(ctx, channels.Message{Kind: notify.SignInCode, To: "+15551234567", ClientIP: "192.0.2.1",
				Data: notify.Data{Code: "135791", ExpiresIn: 10 * time.Minute}})
			if err != nil {
				t.Fatal(err)
			}
			if got := sms.Next(t, "+15551234567"); got.Code(t) != "135791" {
				t.Fatalf("sms %q", got.Text)
			}
		})
	}
}

func TestWithoutAMailboxMailGoesToTheTestLogAndSMSIsOff(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{})
	err := s.App.Channels.SendEmail(context.Background(), channels.Message{Kind: notify.SignInCode, To: "alice@example.com", ClientIP: "192.0.2.1",
		Data: notify.Data{Code: "123456", ExpiresIn: 10 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if s.App.Channels.SMSEnabled() {
		t.Fatal("SMS is on without a gateway")
	}
	if err := s.App.Channels.SendSMS(context.Background(), channels.Message{Kind: notify.SignInCode, To: "+15551234567", ClientIP: "192.0.2.1",
		Data: notify.Data{Code: "123456", ExpiresIn: 10 * time.Minute}}); !errors.Is(err, channels.ErrSMSOff) {
		t.Fatalf("got %v", err)
	}
}
