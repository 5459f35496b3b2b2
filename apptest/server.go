package apptest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twofold-idp/twofold/cmd/twofold/wire"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/keys"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/password"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/mfa/backupcodes"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
	"github.com/twofold-idp/twofold/ui/demo"
)

// The demo client, when Options.Demo is set.
const (
	DemoClientID     = "twofold-demo"
	DemoClientSecret = "demo-secret-0123456789abcdef"
)

// Clock is the settable clock shared by every part of a test server.
type Clock = storagetest.Clock

// NewClock starts at the wall clock (go-webauthn and the demo's token checks
// compare against it), to the second.
func NewClock() *Clock { return storagetest.NewClock(time.Now().UTC().Truncate(time.Second)) }

// Server is a complete Twofold on loopback.
type Server struct {
	URL   string // the issuer: http://localhost:PORT
	Store *storage.Store
	App   *wire.App
	Dir   *directory.Directory
	Keys  *keys.Manager
	Clock *Clock
	Ring  *secrets.Keyring
	// Mailbox and SMS are Options.Mailbox and Options.SMS: where the
	// server's mail and text messages arrive (nil when not given).
	Mailbox *Mailbox
	SMS     *SMSReceiver
}

// Options tune a test server.
type Options struct {
	AccessTokenAlg string
	CORSOrigins    []string
	// Demo mounts the demo relying party at /demo/ with its client
	// (DemoClientID) registered, as "twofold serve --demo" does.
	Demo   bool
	Static directory.Static
	Clock  *Clock // nil: a new one
	// Ring seals keys and signs CSRF tokens; nil: a new one. A second
	// server on the same database (a replica) needs the first one's.
	Ring *secrets.Keyring
	// TrustedProxies: peers whose X-Forwarded-For is believed (see
	// Browser.From), as behind a load balancer.
	TrustedProxies []netip.Prefix
	// WrapHasher, when set, wraps the password hasher: a test can count
	// or hold the password checks.
	WrapHasher func(directory.PasswordHasher) directory.PasswordHasher
	// Mailbox, when set, is the server's SMTP server: the server sends over
	// STARTTLS with authentication, trusting the mailbox's test certificate.
	// nil: mail is printed to the test's log (go test -v shows it).
	Mailbox *Mailbox
	// SMS, when set, is the server's SMS gateway (the signed webhook, retried
	// after 1 ms instead of the production backoff); nil: SMS is off.
	SMS *SMSReceiver
	// WrapMailer, when set, wraps the server's mailer: a test can hold mail
	// back to see what waits for it.
	WrapMailer func(notify.Mailer) notify.Mailer
}

// fastParams keep argon2id cheap in end-to-end tests.
var fastParams = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// New starts a server on newStore's database and stops it at cleanup.
func New(t testing.TB, newStore storagetest.Factory, o Options) *Server {
	t.Helper()
	clock := o.Clock
	if clock == nil {
		clock = NewClock()
	}
	store := newStore(t, storage.WithNow(clock.Now))
	ring := o.Ring
	if ring == nil {
		key, err := secrets.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if ring, err = secrets.NewKeyring(key); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("TWOFOLD_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var hasher directory.PasswordHasher = password.New(fastParams, 4)
	if o.WrapHasher != nil {
		hasher = o.WrapHasher(hasher)
	}
	dir := directory.New(store, hasher, ring, logger, clock.Now)
	if err := dir.ApplyStatic(context.Background(), o.Static); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	// WebAuthn needs a host name, not an IP; localhost is a secure context.
	issuer := "http://localhost:" + port
	var mailer notify.Mailer = notify.NewConsoleMailer(testLog{t}, notify.NoSMTPNote)
	if o.Mailbox != nil {
		mailer = o.Mailbox.Mailer(t, notify.WithClock(clock.Now))
	}
	if o.WrapMailer != nil {
		mailer = o.WrapMailer(mailer)
	}
	var sms notify.SMSSender
	if o.SMS != nil {
		sms = o.SMS.Sender(t)
	}
	app, err := wire.Build(context.Background(), wire.Options{
		Issuer: issuer, Store: store, Ring: ring, Logger: logger, Registry: prometheus.NewRegistry(), Now: clock.Now,
		Directory: dir, BackupCodeParams: backupcodes.Params{Memory: 64, Iterations: 1, Parallelism: 1},
		AccessTokenAlg: o.AccessTokenAlg, CORSAllowedOrigins: o.CORSOrigins, TrustedProxies: o.TrustedProxies,
		Mailer: mailer, SMS: sms,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Forgotten-password mails are sent in the background: the database
	// stays until they are.
	t.Cleanup(app.Recovery.WaitSends)
	srv := app.Server
	if o.Demo {
		base := issuer + "/demo"
		err := dir.ApplyStatic(context.Background(), directory.Static{Source: directory.ManagedByDemo, Clients: []directory.ClientSpec{{
			ID: DemoClientID, Name: "Acme Notes (demo)", Secret: DemoClientSecret,
			RedirectURIs: []string{demo.RedirectURI(base)}, PostLogoutRedirectURIs: []string{demo.PostLogoutRedirectURI(base)},
			GrantTypes: []string{directory.GrantAuthorizationCode}, SkipConsent: true,
		}}})
		if err != nil {
			t.Fatal(err)
		}
		h, err := demo.New(demo.Options{Issuer: issuer, ClientID: DemoClientID, ClientSecret: DemoClientSecret, BaseURL: base, CookieKey: ring.SubKey("demo-cookies"), Logger: logger, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		srv.Router().Mount("/demo", h)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return &Server{URL: issuer, Store: store, App: app, Dir: dir, Keys: app.Keys, Clock: clock, Ring: ring, Mailbox: o.Mailbox, SMS: o.SMS}
}
