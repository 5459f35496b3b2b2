package notify_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/idp/notify"
)

func TestTheConsolePrintsEachMessageBetweenBanners(t *testing.T) {
	var out bytes.Buffer
	m := signInCode(t, "alice@example.com")
	if err := notify.NewConsoleMailer(&out, notify.NoSMTPNote).SendMail(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	s := smsCode(t)
	if err := notify.NewConsoleSMS(&out, notify.NoSMSNote).SendSMS(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"  ======== MAIL (no SMTP configured) ========\n  To:      alice@example.com\n  Subject: " + m.Subject + "\n",
		"\n      493817\n",
		"  ======== END MAIL ========\n",
		"  ======== SMS (no SMS webhook configured) ========\n  To:      +15551234567\n",
		"  ======== END SMS ========\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("console output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "<html") {
		t.Error("the console printed the HTML body")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := notify.NewConsoleMailer(&out, "").SendMail(ctx, m); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled send: %v", err)
	}
}

type failingMailer struct{}

func (failingMailer) SendMail(context.Context, notify.Mail) error { return errors.New("down") }

func TestATeeCopiesOnlyWhatThePrimarySent(t *testing.T) {
	var out bytes.Buffer
	m := signInCode(t, "alice@example.com")
	if err := notify.TeeMailer(failingMailer{}, notify.NewConsoleMailer(&out, notify.DemoCopyNote)).SendMail(context.Background(), m); err == nil || out.Len() != 0 {
		t.Fatalf("err %v, console %q", err, out.String())
	}
	if err := notify.TeeMailer(notify.NewConsoleMailer(&out, notify.NoSMTPNote), notify.NewConsoleMailer(&out, notify.DemoCopyNote)).SendMail(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "END MAIL") != 2 || !strings.Contains(out.String(), "MAIL (copy printed by --demo)") {
		t.Fatalf("console:\n%s", out.String())
	}
}
