package notify_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp/notify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var when = time.Date(2026, 5, 5, 14, 3, 0, 0, time.UTC)

// full has every field set, as a caller of each kind would.
func full() notify.Data {
	return notify.Data{
		Site: "id.example.com", Username: "alice", Code: "493817",
		Link: "https://id.example.com/verify?t=abc&u=1", ExpiresIn: 30 * time.Minute,
		ReportLink: "https://id.example.com/report?t=xyz", CancelLink: "https://id.example.com/recovery/cancel?t=c1",
		When: when, CompletesAt: when.Add(24 * time.Hour), Factor: "Authenticator app", Remaining: 2,
		Device: "Firefox on Linux", IP: "192.0.2.7",
	}
}

func TestEveryKindRendersOnEveryChannelItHas(t *testing.T) {
	if len(notify.Kinds()) != 14 {
		t.Fatalf("kinds = %v", notify.Kinds())
	}
	for _, k := range notify.Kinds() {
		t.Run(string(k), func(t *testing.T) {
			d := full()
			var golden strings.Builder
			if !k.HasMail() && !k.HasSMS() {
				t.Fatal("a kind with no channel")
			}
			if k.HasMail() {
				m, err := notify.RenderMail(k, "alice@example.com", d)
				if err != nil {
					t.Fatal(err)
				}
				if m.To != "alice@example.com" || m.Kind != k || m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") {
					t.Fatalf("mail = %+v", m)
				}
				if !strings.Contains(m.Text, "id.example.com sent this message automatically") || !strings.Contains(m.HTML, "id.example.com sent this message automatically") {
					t.Errorf("no footer:\n%s", m.Text)
				}
				if !strings.HasPrefix(m.HTML, "<!doctype html>") || !strings.Contains(m.HTML, "<title>"+m.Subject+"</title>") {
					t.Errorf("HTML is not a document titled by the subject:\n%s", m.HTML)
				}
				checkCarries(t, k, "text", m.Text, d, false)
				checkCarries(t, k, "HTML", m.HTML, d, true)
				golden.WriteString("Subject: " + m.Subject + "\n\n" + m.Text)
				compareGolden(t, string(k)+".html", m.HTML)
			} else if _, err := notify.RenderMail(k, "alice@example.com", d); err == nil {
				t.Error("RenderMail of an SMS-only kind succeeded")
			}
			if k.HasSMS() {
				s, err := notify.RenderSMS(k, "+15551234567", d)
				if err != nil {
					t.Fatal(err)
				}
				if s.To != "+15551234567" || s.Kind != k || len(s.Text) > 320 {
					t.Fatalf("sms = %+v (%d bytes)", s, len(s.Text))
				}
				checkCarries(t, k, "SMS", s.Text, d, false)
				golden.WriteString("\n==== SMS ====\n" + s.Text + "\n")
			} else if _, err := notify.RenderSMS(k, "+15551234567", d); err == nil {
				t.Error("RenderSMS of a mail-only kind succeeded")
			}
			compareGolden(t, string(k)+".txt", golden.String())
		})
	}
}

// checkCarries checks that a rendering carries what its kind is for: the
// code, the link, "This wasn't me", the cancel link.
func checkCarries(t *testing.T, k notify.Kind, what, body string, d notify.Data, isHTML bool) {
	t.Helper()
	link := func(u string) string {
		if isHTML {
			return strings.ReplaceAll(u, "&", "&amp;")
		}
		return u
	}
	want := map[notify.Kind][]string{
		notify.EmailVerification:      {d.Code, link(d.Link), "30 minutes"},
		notify.SignInCode:             {d.Code, "30 minutes"},
		notify.PhoneVerification:      {d.Code, "30 minutes", "@id.example.com #" + d.Code},
		notify.PasswordReset:          {link(d.Link), "30 minutes"},
		notify.FactorAdded:            {d.Factor, link(d.ReportLink)},
		notify.FactorRemoved:          {d.Factor, link(d.ReportLink)},
		notify.BackupCodeUsed:         {"2", link(d.ReportLink)},
		notify.PasswordChanged:        {link(d.ReportLink)},
		notify.MFAReset:               {"administrator", link(d.ReportLink)},
		notify.NewDeviceSignIn:        {d.Device, link(d.ReportLink)},
		notify.RecoveryStarted:        {"Wednesday, 6 May 2026 at 14:03 UTC", link(d.CancelLink)},
		notify.RecoveryCompleted:      {link(d.ReportLink)},
		notify.EmailChanged:           {"email address", link(d.ReportLink)},
		notify.BackupCodesRegenerated: {"backup codes", link(d.ReportLink)},
	}[k]
	if what != "SMS" && k.IsNotice() && k != notify.RecoveryStarted {
		want = append(want, "Tuesday, 5 May 2026 at 14:03 UTC", "Wasn")
	}
	if what != "SMS" && k.IsNotice() && k != notify.RecoveryStarted && k != notify.MFAReset && k != notify.RecoveryCompleted {
		want = append(want, "from "+d.IP)
	}
	if what == "SMS" && k == notify.SignInCode {
		want = append(want, "@id.example.com #"+d.Code)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s %s does not contain %q:\n%s", k, what, w, body)
		}
	}
	// Nothing but the message's own code or link may appear: no other
	// secret-looking value of Data leaks into a kind that does not use it.
	if !slicesContains(want, d.Code) && !strings.Contains(strings.Join(want, " "), d.Code) && strings.Contains(body, d.Code) {
		t.Errorf("%s %s shows the code, which it is not for", k, what)
	}
	if k != notify.EmailVerification && k != notify.PasswordReset && strings.Contains(body, "verify?t=abc") {
		t.Errorf("%s %s shows Link, which it is not for", k, what)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

func TestUserInputIsEscapedInHTMLAndFlattenedInText(t *testing.T) {
	d := full()
	d.Username = `<script>alert("x")</script>`
	d.Factor = `Key "><img src=x onerror=alert(1)>`
	d.Device = "Evil\r\nSubject: injected\x1b[31m browser\u202e"
	for _, k := range []notify.Kind{notify.FactorAdded, notify.NewDeviceSignIn} {
		m, err := notify.RenderMail(k, "alice@example.com", d)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"<script>", "<img", "\x1b", "\u202e"} {
			if strings.Contains(m.HTML, bad) {
				t.Errorf("%s HTML contains %q:\n%s", k, bad, m.HTML)
			}
		}
		if !strings.Contains(m.HTML, "&lt;script&gt;") {
			t.Errorf("%s HTML does not show the escaped username", k)
		}
		if k == notify.FactorAdded && !strings.Contains(m.HTML, "Key &#34;&gt;&lt;img") {
			t.Errorf("%s HTML does not show the escaped factor name", k)
		}
		if strings.Contains(m.Text, "\nSubject: injected") || strings.ContainsAny(m.Text, "\x1b\r\u202e") {
			t.Errorf("%s text lets input start a line or carry control characters:\n%q", k, m.Text)
		}
	}
	d.Username = strings.Repeat("é", 300)
	m, err := notify.RenderMail(notify.SignInCode, "alice@example.com", d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Text, strings.Repeat("é", 100)) || !strings.Contains(m.Text, strings.Repeat("é", 99)+"…") {
		t.Error("a long username is not cut at 100 characters")
	}
}

func TestAMessageMissingWhatItIsForIsRefused(t *testing.T) {
	for _, k := range notify.Kinds() {
		t.Run(string(k), func(t *testing.T) {
			d := notify.Data{Site: "id.example.com"}
			var err error
			if k.HasMail() {
				_, err = notify.RenderMail(k, "alice@example.com", d)
			} else {
				_, err = notify.RenderSMS(k, "+15551234567", d)
			}
			if err == nil || !strings.Contains(err.Error(), "needs") {
				t.Fatalf("empty data: %v", err)
			}
		})
	}
	if _, err := notify.RenderMail("surprise", "alice@example.com", full()); err == nil {
		t.Error("an unknown kind rendered")
	}
}

func TestLinksAndCodesAreChecked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*notify.Data)
		want   string
	}{
		{"a relative link", func(d *notify.Data) { d.Link = "/verify?t=1" }, "Link must be an absolute http(s) URL"},
		{"a javascript: link", func(d *notify.Data) { d.Link = "javascript:alert(1)" }, "Link must be an absolute http(s) URL"},
		{"a link with user info", func(d *notify.Data) { d.Link = "https://evil@id.example.com/" }, "Link must be an absolute"},
		{"a link with a space", func(d *notify.Data) { d.Link = "https://id.example.com/a b" }, "Link must not contain spaces"},
		{"a code with a newline", func(d *notify.Data) { d.Code = "1234\n56" }, "Code must be 4-12 letters"},
		{"a code that is a sentence", func(d *notify.Data) { d.Code = "call +1 555 0100 now" }, "Code must be 4-12 letters"},
		{"no expiry", func(d *notify.Data) { d.ExpiresIn = 0 }, "needs ExpiresIn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := full()
			tc.mutate(&d)
			_, err := notify.RenderMail(notify.EmailVerification, "alice@example.com", d)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	d := full()
	d.ReportLink = "ftp://id.example.com/x"
	if _, err := notify.RenderSMS(notify.PasswordChanged, "+15551234567", d); err == nil {
		t.Error("an ftp report link rendered")
	}
}

func TestBackupCodeWordingFollowsWhatRemains(t *testing.T) {
	for _, tc := range []struct {
		remaining int
		want, sms string
	}{
		{0, "You have no backup codes left", "none left"},
		{1, "You have only 1 backup code left", "1 left"},
		{7, "You have 7 backup codes left.", "7 left"},
	} {
		d := full()
		d.Remaining = tc.remaining
		m, err := notify.RenderMail(notify.BackupCodeUsed, "a@example.com", d)
		if err != nil {
			t.Fatal(err)
		}
		s, err := notify.RenderSMS(notify.BackupCodeUsed, "+15551234567", d)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(strings.Fields(m.Text), " "), tc.want) || !strings.Contains(m.HTML, tc.want) || !strings.Contains(s.Text, tc.sms) {
			t.Errorf("%d remaining:\n%s\n%s", tc.remaining, m.Text, s.Text)
		}
	}
}

func TestWithoutASiteHostTheSMSHasNoOriginLine(t *testing.T) {
	d := full()
	d.Site = ""
	s, err := notify.RenderSMS(notify.SignInCode, "+15551234567", d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.Text, "@") || !strings.Contains(s.Text, "your Twofold sign-in code") {
		t.Fatalf("sms = %q", s.Text)
	}
}

func TestParsePhoneNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+15551234567":        "+15551234567",
		"+1 (555) 123-4567":   "+15551234567",
		"0044 20 7946 0958":   "+442079460958",
		" +33 6 12 34 56 78 ": "+33612345678",
		"+1.555.123.4567":     "+15551234567",
	} {
		got, err := notify.ParsePhoneNumber(in)
		if err != nil || got != want {
			t.Errorf("ParsePhoneNumber(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "5551234567", "+0123456789", "+1555", "+1234567890123456", "+1555abc4567", "tel:+15551234567", "+1 555 123 4567 ext 9"} {
		if got, err := notify.ParsePhoneNumber(in); !errors.Is(err, notify.ErrNotPhoneNumber) {
			t.Errorf("ParsePhoneNumber(%q) = %q, %v; want ErrNotPhoneNumber", in, got, err)
		}
	}
}

func FuzzParsePhoneNumber(f *testing.F) {
	for _, s := range []string{"+15551234567", "+1 (555) 123-4567", "0044 20", "", "+", "00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := notify.ParsePhoneNumber(s)
		if err != nil {
			return
		}
		if again, err := notify.ParsePhoneNumber(n); err != nil || again != n {
			t.Fatalf("%q normalises to %q, which normalises to %q, %v", s, n, again, err)
		}
		if len(n) > 16 || n[0] != '+' {
			t.Fatalf("%q normalises to %q", s, n)
		}
	})
}
