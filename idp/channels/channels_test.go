package channels_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest/mailtest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/throttle"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// world is a Service over a real database, a real mail server and a real
// webhook receiver, with a settable clock.
type world struct {
	svc   *channels.Service
	mb    *mailtest.Mailbox
	sms   *mailtest.SMSReceiver
	clock *storagetest.Clock
	store *storage.Store
}

func eachDatabase(t *testing.T, fn func(t *testing.T, w world)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			clock := storagetest.NewClock(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
			s := newStore(t, storage.WithNow(clock.Now))
			log := slog.New(slog.DiscardHandler)
			w := world{mb: mailtest.NewMailbox(t), sms: mailtest.NewSMSReceiver(t), clock: clock, store: s}
			w.svc = channels.New("https://id.example.com", w.mb.Mailer(t), w.sms.Sender(t), throttle.New(s, log, clock.Now), log)
			fn(t, w)
		})
	}
}

func code(to, ip string) channels.Message {
	return channels.Message{Kind: notify.SignInCode, To: to, ClientIP: ip, Data: notify.Data{Code: "123456", ExpiresIn: 10 * time.Minute}}
}

func notice(to string) channels.Message {
	return channels.Message{Kind: notify.PasswordChanged, To: to, Data: notify.Data{
		When: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC), ReportLink: "https://id.example.com/report?t=1",
	}}
}

func throttled(t *testing.T, err error) time.Duration {
	t.Helper()
	var te *idp.ThrottledError
	if !errors.As(err, &te) {
		t.Fatalf("got %v, want a ThrottledError", err)
	}
	return te.RetryAfter
}

func TestAMailIsRenderedForTheSiteAndDelivered(t *testing.T) {
	eachDatabase(t, func(t *testing.T, w world) {
		if err := w.svc.SendEmail(context.Background(), code("Alice@Example.com", "192.0.2.1")); err != nil {
			t.Fatal(err)
		}
		m := w.mb.Next(t, "alice@example.com")
		if m.Subject != "Your id.example.com sign-in code" || m.Code(t) != "123456" {
			t.Fatalf("mail %q codes %v", m.Subject, m.Codes)
		}
		if err := w.svc.SendSMS(context.Background(), code("+1 (555) 123-4567", "192.0.2.1")); err != nil {
			t.Fatal(err)
		}
		s := w.sms.Next(t, "+15551234567")
		if s.Code(t) != "123456" || !strings.HasSuffix(s.Text, "@id.example.com #123456") {
			t.Fatalf("sms %q", s.Text)
		}
	})
}

func TestSendsToOneRecipientAreLimitedAndCountedExactlyUnderConcurrency(t *testing.T) {
	eachDatabase(t, func(t *testing.T, w world) {
		const tries = 12
		for _, ch := range []struct {
			name string
			send func(context.Context, channels.Message) error
			to   string
			got  func() int
		}{
			{"mail", w.svc.SendEmail, "alice@example.com", func() int { return len(w.mb.Received("alice@example.com")) }},
			{"sms", w.svc.SendSMS, "+15551234567", func() int { return len(w.sms.Received("+15551234567")) }},
		} {
			t.Run(ch.name, func(t *testing.T) {
				var wg sync.WaitGroup
				errs := make([]error, tries)
				for i := range tries {
					wg.Add(1)
					go func() {
						defer wg.Done()
						// From different addresses: only the per-recipient limit is in play.
						errs[i] = ch.send(context.Background(), code(ch.to, fmt.Sprintf("192.0.2.%d", i+1)))
					}()
				}
				wg.Wait()
				sent := 0
				for _, err := range errs {
					if err == nil {
						sent++
					} else {
						throttled(t, err)
					}
				}
				if sent != channels.RequestedPerRecipient.Burst || ch.got() != sent {
					t.Fatalf("%d sends succeeded and %d arrived, want %d", sent, ch.got(), channels.RequestedPerRecipient.Burst)
				}
				// One more send comes back per period.
				wait := throttled(t, ch.send(context.Background(), code(ch.to, "198.51.100.1")))
				if wait <= 0 || wait > channels.RequestedPerRecipient.Every {
					t.Fatalf("RetryAfter %s", wait)
				}
				w.clock.Advance(channels.RequestedPerRecipient.Every)
				if err := ch.send(context.Background(), code(ch.to, "198.51.100.1")); err != nil {
					t.Fatal(err)
				}
				throttled(t, ch.send(context.Background(), code(ch.to, "198.51.100.1")))
			})
		}
	})
}

func TestSendsFromOneAddressAreLimitedAndCountedExactlyUnderConcurrency(t *testing.T) {
	eachDatabase(t, func(t *testing.T, w world) {
		for _, ch := range []struct {
			name  string
			send  func(context.Context, channels.Message) error
			to    func(i int) string
			rule  throttle.Rule
			count func() int
		}{
			{"mail", w.svc.SendEmail, func(i int) string { return fmt.Sprintf("user%d@example.com", i) }, channels.MailPerAddress, w.mb.Count},
			{"sms", w.svc.SendSMS, func(i int) string { return fmt.Sprintf("+1555000%04d", i) }, channels.SMSPerAddress, func() int { return len(w.sms.Calls()) }},
		} {
			t.Run(ch.name, func(t *testing.T) {
				tries := ch.rule.Burst + 6
				var wg sync.WaitGroup
				errs := make([]error, tries)
				for i := range tries {
					wg.Add(1)
					go func() {
						defer wg.Done()
						// Every IPv6 address of one /64 is one client.
						errs[i] = ch.send(context.Background(), code(ch.to(i), fmt.Sprintf("2001:db8:1:2::%x", i+1)))
					}()
				}
				wg.Wait()
				sent := 0
				for _, err := range errs {
					if err == nil {
						sent++
					} else {
						throttled(t, err)
					}
				}
				if sent != ch.rule.Burst || ch.count() != sent {
					t.Fatalf("%d sends succeeded, %d delivered, want %d", sent, ch.count(), ch.rule.Burst)
				}
				// Another client is not affected, nor are the refused
				// recipients: a refusal by the address gave their count back.
				if err := ch.send(context.Background(), code(ch.to(0), "2001:db8:1:3::1")); err != nil {
					t.Fatalf("from another /64: %v", err)
				}
			})
		}
	})
}

func TestNotificationsHaveTheirOwnLimitAndNeedNoAddress(t *testing.T) {
	eachDatabase(t, func(t *testing.T, w world) {
		ctx := context.Background()
		for range channels.RequestedPerRecipient.Burst {
			if err := w.svc.SendEmail(ctx, code("bob@example.com", "192.0.2.9")); err != nil {
				t.Fatal(err)
			}
		}
		throttled(t, w.svc.SendEmail(ctx, code("bob@example.com", "192.0.2.9")))
		// Asking for codes does not silence a warning.
		for range channels.NoticesPerRecipient.Burst {
			if err := w.svc.SendEmail(ctx, notice("bob@example.com")); err != nil {
				t.Fatal(err)
			}
		}
		throttled(t, w.svc.SendEmail(ctx, notice("bob@example.com")))
		m := w.mb.Received("bob@example.com")
		if len(m) != channels.RequestedPerRecipient.Burst+channels.NoticesPerRecipient.Burst {
			t.Fatalf("%d delivered", len(m))
		}
		if l := m[len(m)-1].Link(t, "https://id.example.com/report"); l != "https://id.example.com/report?t=1" {
			t.Fatalf("report link %q", l)
		}
	})
}

func TestAFailedSendIsAClearErrorAndStaysCounted(t *testing.T) {
	eachDatabase(t, func(t *testing.T, w world) {
		ctx := context.Background()
		// The mail server refuses the recipient.
		mb := mailtest.NewMailbox(t, mailtest.RefuseRecipient("gone@example.com"))
		log := slog.New(slog.DiscardHandler)
		svc := channels.New("https://id.example.com", mb.Mailer(t), w.sms.Sender(t), throttle.New(w.store, log, w.clock.Now), log)
		err := svc.SendEmail(ctx, code("gone@example.com", "192.0.2.1"))
		if !errors.Is(err, channels.ErrSendFailed) || !strings.Contains(err.Error(), "550") {
			t.Fatalf("got %v", err)
		}
		if channels.ErrSendFailed.Error() != "we could not send the message; please try again in a few minutes" {
			t.Fatalf("the message pages show: %q", channels.ErrSendFailed)
		}
		for range channels.RequestedPerRecipient.Burst - 1 {
			svc.SendEmail(ctx, code("gone@example.com", "192.0.2.1"))
		}
		throttled(t, svc.SendEmail(ctx, code("gone@example.com", "192.0.2.1")))

		// The gateway refuses the message.
		w.sms.Respond(400)
		err = w.svc.SendSMS(ctx, code("+15551234567", "192.0.2.1"))
		var we *notify.WebhookError
		if !errors.Is(err, channels.ErrSendFailed) || !errors.As(err, &we) || we.Status != 400 {
			t.Fatalf("got %v", err)
		}
	})
}

func TestWhatCannotBeSentIsRefusedBeforeAnythingCounts(t *testing.T) {
	eachDatabase(t, func(t *testing.T, w world) {
		ctx := context.Background()
		var ie *idp.InputError
		for _, to := range []string{"", "alice", "Alice <alice@example.com>", "a@example.com, b@example.com", "a@example.com\r\nBcc: x@example.com"} {
			if err := w.svc.SendEmail(ctx, code(to, "192.0.2.1")); !errors.As(err, &ie) || ie.Field != "email" {
				t.Errorf("SendEmail to %q: %v", to, err)
			}
		}
		for _, to := range []string{"", "555 123 4567", "+1555"} {
			if err := w.svc.SendSMS(ctx, code(to, "192.0.2.1")); !errors.As(err, &ie) || ie.Field != "phone" {
				t.Errorf("SendSMS to %q: %v", to, err)
			}
		}
		bad := code("alice@example.com", "192.0.2.1")
		bad.Data.Code = ""
		if err := w.svc.SendEmail(ctx, bad); err == nil || !strings.Contains(err.Error(), "needs Code") {
			t.Fatalf("no code: %v", err)
		}
		if err := w.svc.SendEmail(ctx, code("alice@example.com", "")); err == nil || !strings.Contains(err.Error(), "needs the client's address") {
			t.Fatalf("no client address: %v", err)
		}
		verify := channels.Message{Kind: notify.EmailVerification, To: "+15551234567", ClientIP: "192.0.2.1",
			Data: notify.Data{Code: "123456", Link: "https://id.example.com/verify?t=1", ExpiresIn: time.Hour}}
		if err := w.svc.SendSMS(ctx, verify); err == nil || !strings.Contains(err.Error(), "no SMS template") {
			t.Fatalf("a mail-only kind by SMS: %v", err)
		}
		// None of those counted: the full burst is still there.
		for range channels.RequestedPerRecipient.Burst {
			if err := w.svc.SendEmail(ctx, code("alice@example.com", "192.0.2.1")); err != nil {
				t.Fatal(err)
			}
		}
		if w.mb.Count() != channels.RequestedPerRecipient.Burst || len(w.sms.Calls()) != 0 {
			t.Fatalf("%d mails, %d SMS calls", w.mb.Count(), len(w.sms.Calls()))
		}
	})
}

func TestWithoutAGatewaySMSIsOff(t *testing.T) {
	s := storagetest.NewSQLite(t)
	log := slog.New(slog.DiscardHandler)
	svc := channels.New("http://localhost:8080", notify.NewConsoleMailer(&strings.Builder{}, notify.NoSMTPNote), nil, throttle.New(s, log, nil), log)
	if svc.SMSEnabled() {
		t.Fatal("SMS enabled without a gateway")
	}
	if err := svc.SendSMS(context.Background(), code("+15551234567", "192.0.2.1")); !errors.Is(err, channels.ErrSMSOff) {
		t.Fatalf("got %v", err)
	}
}
