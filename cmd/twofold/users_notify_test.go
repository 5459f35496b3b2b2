package main

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/apptest/mailtest"
	"github.com/twofold-idp/twofold/cmd/twofold/config"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/storage"
)

// `twofold user reset-mfa` tells the user by mail, through the configured
// SMTP server, when their address is verified — with a working "this
// wasn't me" link — and says to tell them otherwise.
func TestUserResetMFATellsAUserWithAVerifiedAddress(t *testing.T) {
	mb := mailtest.NewMailbox(t, mailtest.WithTLS(notify.TLSNone), mailtest.WithoutAuth())
	c := newCLI(t, "TWOFOLD_SMTP_HOST=127.0.0.1", "TWOFOLD_SMTP_PORT="+strconv.Itoa(mb.Port), "TWOFOLD_SMTP_TLS=none",
		"TWOFOLD_SMTP_FROM="+mailtest.From, "TWOFOLD_ISSUER=http://localhost:8080")
	c.mustRun("correct horse battery\n", "user", "add", "--username", "alice", "--email", "alice@example.com", "--password-stdin")
	if out := c.mustRun("", "user", "reset-mfa", "alice"); !strings.Contains(out, "tell them yourself") {
		t.Fatalf("reset-mfa of an unverified user:\n%s", out)
	}
	if n := mb.Count(); n != 0 {
		t.Fatalf("%d mails to an unverified address", n)
	}

	ctx := context.Background()
	url := strings.TrimPrefix(c.environ[0], "TWOFOLD_DATABASE_URL=")
	st, err := storage.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.GetUserByUsername(ctx, "alice")
	if err == nil {
		_, err = st.SetEmailVerified(ctx, u.ID, "alice@example.com")
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	if out := c.mustRun("", "user", "reset-mfa", "alice"); !strings.Contains(out, "told alice by email") {
		t.Fatalf("reset-mfa of a verified user:\n%s", out)
	}
	m := mb.Next(t, "alice@example.com")
	if !strings.Contains(m.Subject, "administrator reset") {
		t.Fatalf("the mail: %q", m.Subject)
	}
	m.Link(t, "http://localhost:8080/not-me?token=")
	if out := c.mustRun("", "audit", "--user", "alice"); !strings.Contains(out, "notice.sent") || !strings.Contains(out, "notice.skipped") {
		t.Fatalf("the audit trail:\n%s", out)
	}
}

// The README's policy that requires a verified email parses and reaches
// the domain's policy.
func TestTheREADMEVerifiedEmailPolicyParses(t *testing.T) {
	cfg, err := config.Parse([]byte(readmeYAML(t, `### Verified email, security notifications and "this wasn't me"`)), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := cfg.Static()
	if len(st.Policies) != 1 || !st.Policies[0].RequireVerifiedEmail {
		t.Fatalf("policies: %+v", st.Policies)
	}
}
