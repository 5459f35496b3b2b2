package main

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest/mailtest"
	"github.com/twofold-idp/twofold/cmd/twofold/config"
	"github.com/twofold-idp/twofold/idp/notify"
)

func TestServeChoosesTheChannelsTheConfigurationAsksFor(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	mail, err := notify.RenderMail(notify.SignInCode, "alice@example.com", notify.Data{Site: "localhost", Code: "123456", ExpiresIn: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sms, err := notify.RenderSMS(notify.SignInCode, "+15551234567", notify.Data{Site: "localhost", Code: "123456", ExpiresIn: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A relay reached in the clear, as Mailpit in docker-compose.yml.
	mb := mailtest.NewMailbox(t, mailtest.WithTLS(notify.TLSNone), mailtest.WithoutAuth())
	hook := mailtest.NewSMSReceiver(t)
	configured, err := config.Parse(nil, []string{
		"TWOFOLD_SMTP_HOST=127.0.0.1", "TWOFOLD_SMTP_PORT=" + strconv.Itoa(mb.Port), "TWOFOLD_SMTP_TLS=none",
		"TWOFOLD_SMTP_FROM=" + mailtest.From,
		"TWOFOLD_SMS_WEBHOOK_URL=" + hook.URL, "TWOFOLD_SMS_WEBHOOK_SECRET=" + hook.Secret,
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name           string
		cfg            *config.Config
		demo           bool
		console        []string // what the console shows
		delivered      int      // mails the relay has received by the end of the case
		smsOff         bool
		smsCallsByThen int // webhook calls by the end of the case
	}{
		{name: "no smtp: mail on the console, no SMS", cfg: config.Default(),
			console: []string{"MAIL (no SMTP configured)", "To:      alice@example.com", "123456"}, smsOff: true},
		{name: "no smtp in the demo: mail and SMS on the console", cfg: config.Default(), demo: true,
			console: []string{"MAIL (no SMTP configured)", "SMS (no SMS webhook configured)"}},
		{name: "smtp and a webhook: real delivery, nothing printed", cfg: configured,
			delivered: 1, smsCallsByThen: 1},
		{name: "smtp and a webhook in the demo: real delivery and a copy on the console", cfg: configured, demo: true,
			console: []string{"MAIL (copy printed by --demo)", "SMS (copy printed by --demo)"}, delivered: 2, smsCallsByThen: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var console strings.Builder
			mailer, sender, err := outboundChannels(tc.cfg, &console, tc.demo, log)
			if err != nil {
				t.Fatal(err)
			}
			if err := mailer.SendMail(ctx, mail); err != nil {
				t.Fatal(err)
			}
			if tc.smsOff != (sender == nil) {
				t.Fatalf("SMS sender %v", sender)
			}
			if sender != nil {
				if err := sender.SendSMS(ctx, sms); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range tc.console {
				if !strings.Contains(console.String(), want) {
					t.Errorf("console lacks %q:\n%s", want, console.String())
				}
			}
			if len(tc.console) == 0 && console.Len() != 0 {
				t.Errorf("console:\n%s", console.String())
			}
			if got := len(mb.Received("alice@example.com")); got != tc.delivered {
				t.Errorf("%d mails delivered, want %d", got, tc.delivered)
			}
			if got := len(hook.Calls()); got != tc.smsCallsByThen {
				t.Errorf("%d webhook calls, want %d", got, tc.smsCallsByThen)
			}
		})
	}
}

func TestTheREADMEMailAndSMSConfigurationIsValid(t *testing.T) {
	cfg, err := config.Parse([]byte(readmeYAML(t, "## Mail and SMS")), nil)
	if err != nil {
		t.Fatal(err)
	}
	smtp, ok := cfg.SMTPConfig()
	if !ok || smtp.TLS != notify.TLSStartTLS || smtp.Username == "" {
		t.Fatalf("smtp = %+v", smtp)
	}
	if _, ok := cfg.SMSWebhookConfig(); !ok {
		t.Fatal("no sms_webhook")
	}
}
