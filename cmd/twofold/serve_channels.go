package main

import (
	"io"
	"log/slog"

	"github.com/twofold-idp/twofold/cmd/twofold/config"
	"github.com/twofold-idp/twofold/idp/notify"
)

// outboundChannels builds the mailer and the SMS sender the configuration
// asks for. Without smtp, mail is printed to console with a banner; without
// sms_webhook, SMS is off (nil). The demo shows every flow on the console: it
// prints a copy of each message a real channel sent, and with no SMS
// webhook it prints text messages instead of turning SMS off.
func outboundChannels(cfg *config.Config, console io.Writer, demo bool, log *slog.Logger) (notify.Mailer, notify.SMSSender, error) {
	var mailer notify.Mailer
	if sc, ok := cfg.SMTPConfig(); ok {
		m, err := notify.NewSMTPMailer(sc, log)
		if err != nil {
			return nil, nil, err
		}
		mailer = m
		if demo {
			mailer = notify.TeeMailer(m, notify.NewConsoleMailer(console, notify.DemoCopyNote))
		}
		log.Info("mail is sent through SMTP", "host", sc.Host, "port", sc.Port, "tls", string(sc.TLS))
	} else {
		mailer = notify.NewConsoleMailer(console, notify.NoSMTPNote)
		if !demo {
			log.Warn("no smtp configured: mail is printed to the console (set smtp.host for real mail)")
		}
	}

	var sms notify.SMSSender
	if wc, ok := cfg.SMSWebhookConfig(); ok {
		w, err := notify.NewWebhook(wc, log)
		if err != nil {
			return nil, nil, err
		}
		sms = w
		if demo {
			sms = notify.TeeSMS(w, notify.NewConsoleSMS(console, notify.DemoCopyNote))
		}
		log.Info("text messages are sent through the SMS webhook")
	} else if demo {
		sms = notify.NewConsoleSMS(console, notify.NoSMSNote)
	}
	return mailer, sms, nil
}
