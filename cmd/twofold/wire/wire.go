// Package wire builds a whole Twofold from its parts: the services of idp/*
// over one store, and the hosted pages in front of them. `twofold serve`
// and the whole-app test harness (apptest) both build through Build, so
// tests cannot drift from production wiring.
package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/account"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/emailverify"
	"github.com/twofold-idp/twofold/idp/factors"
	"github.com/twofold-idp/twofold/idp/idempotency"
	"github.com/twofold-idp/twofold/idp/keys"
	"github.com/twofold-idp/twofold/idp/login"
	"github.com/twofold-idp/twofold/idp/notices"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/op"
	"github.com/twofold-idp/twofold/idp/op/tokens"
	"github.com/twofold-idp/twofold/idp/password"
	"github.com/twofold-idp/twofold/idp/recovery"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/idp/session"
	"github.com/twofold-idp/twofold/idp/throttle"
	"github.com/twofold-idp/twofold/mfa/backupcodes"
	"github.com/twofold-idp/twofold/mfa/otpcode"
	"github.com/twofold-idp/twofold/mfa/webauthn"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/ui"
	"github.com/twofold-idp/twofold/ui/admin"
	"github.com/twofold-idp/twofold/ui/adminapi"
)

// Options are everything a server is built from.
type Options struct {
	Issuer string
	Store  *storage.Store
	Ring   *secrets.Keyring
	Logger *slog.Logger
	// Registry receives the HTTP metrics (nil: a fresh one).
	Registry *prometheus.Registry
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Directory, when set, is used instead of a new one (commands that
	// already opened one).
	Directory *directory.Directory
	// PasswordParams and BackupCodeParams are the argon2id costs (zero:
	// the OWASP defaults; tests pass cheap ones).
	PasswordParams   password.Params
	BackupCodeParams backupcodes.Params

	SessionIdleTimeout   time.Duration
	SessionLifetime      time.Duration
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	AccessTokenAlg       string
	CORSAllowedOrigins   []string
	TrustedProxies       []netip.Prefix
	// MaxPendingSignIns bounds unfinished sign-ins per client address (0: op's default).
	MaxPendingSignIns int
	AssetsDir         string
	// AdminGroup names the administrators' group when Directory is nil.
	AdminGroup string
	// Mailer sends mail (required): a notify.SMTPMailer, or a
	// notify.ConsoleMailer when no SMTP server is configured.
	Mailer notify.Mailer
	// SMS sends text messages; nil: SMS is off (channels.ErrSMSOff).
	SMS notify.SMSSender
	// RecoveryWait is how long a lost-factor recovery waits (0:
	// recovery.DefaultWait).
	RecoveryWait time.Duration
}

// App is a built server and its services.
type App struct {
	Directory *directory.Directory
	Keys      *keys.Manager
	Sessions  *session.Service
	Factors   *factors.Registry
	Flow      *login.Flow
	MFA       *login.MFA
	Account   *account.Service
	Channels  *channels.Service    // mail and SMS to people, within the sending limits
	Notices   *notices.Service     // security notifications and "this wasn't me"
	Emails    *emailverify.Service // email verification codes and links
	Recovery  *recovery.Service    // forgotten passwords and lost second factors
	Provider  *op.Provider
	// BackchannelLogouts delivers the logout tokens of ended sessions;
	// `serve` runs it (Run), tests drive it (RunOnce).
	BackchannelLogouts *op.LogoutSender
	Server             *ui.Server
}

// outbound is what sends mail to people about their accounts (issue 11).
type outbound struct {
	notices *notices.Service
	emails  *emailverify.Service
}

// newFlow wires the login flow with its factor registry and sessions; ch
// sends the email and SMS codes. With send, it also builds the services
// that send mail about accounts, whose "this wasn't me" ends sessions
// (without, the flow sends no notice: it only decides, for simulations).
func newFlow(o Options, iu *url.URL, dir *directory.Directory, limiter *throttle.Limiter, ch *channels.Service, send bool, extra ...login.Option) (*factors.Registry, *session.Service, *login.Flow, outbound, error) {
	store, ring, log, now := o.Store, o.Ring, o.Logger, o.Now
	codeParams := o.BackupCodeParams
	if codeParams == (backupcodes.Params{}) {
		codeParams = backupcodes.DefaultParams
	}
	// The WebAuthn relying party is the issuer's host; its origin is the
	// issuer's origin (ARCHITECTURE.md: never an IP address).
	wa, err := webauthn.New(webauthn.Config{
		RPID: iu.Hostname(), RPDisplayName: "Twofold", Origins: []string{iu.Scheme + "://" + iu.Host}, Now: now,
	})
	if err != nil {
		log.Warn("WebAuthn is off: the issuer's host cannot be a WebAuthn relying party ID", "host", iu.Hostname(), "err", err)
		wa = nil
	}
	// The codes sent by email and SMS are stored as an HMAC under their own
	// key, never in clear.
	codeHasher, err := otpcode.NewHasher(ring.SubKey("sent-code-mac"))
	if err != nil {
		return nil, nil, nil, outbound{}, err
	}
	reg := factors.NewRegistry(store, limiter, store, log,
		factors.NewWebAuthn(store, wa, log, now),
		factors.NewTOTP(store, ring, o.Issuer, log, now),
		factors.NewEmail(store, ch, codeHasher, log, now),
		factors.NewSMS(store, ch, codeHasher, log, now),
		factors.NewBackupCodes(store, backupcodes.NewHasher(ring.SubKey("backup-code-pepper"), codeParams), log, now),
	)
	sessions := session.New(store, session.Config{IdleTimeout: o.SessionIdleTimeout, Lifetime: o.SessionLifetime}, log, now)
	var out outbound
	opts := extra
	if send {
		out.notices = notices.New(o.Issuer, store, ch, sessions, ring.SubKey(notices.KeyPurpose), log, now)
		out.emails = emailverify.New(o.Issuer, store, ch, ring.SubKey(emailverify.KeyPurpose), log, now)
		opts = append(opts, login.WithOutbound(login.Outbound{Notices: out.notices, Emails: out.emails}))
	}
	return reg, sessions, login.New(o.Issuer, store, dir, sessions, reg, limiter, log, now, opts...), out, nil
}

// Flow builds only the login flow, as Build wires it (the same factor
// registry and lookups), for commands that simulate sign-ins
// (`twofold policy explain`): unlike Build it writes nothing — no signing
// key, no built-in client. o.Directory must be set.
func Flow(o Options) (*login.Flow, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	iu, err := url.Parse(o.Issuer)
	if err != nil || iu.Host == "" {
		return nil, fmt.Errorf("issuer %q is not a URL", o.Issuer)
	}
	if o.Directory == nil {
		return nil, fmt.Errorf("wire.Flow needs a directory")
	}
	// Nothing is sent: o.Mailer may be nil. o.SMS says whether users with a
	// verified number have the SMS factor.
	limiter := throttle.New(o.Store, o.Logger, o.Now)
	_, _, flow, _, err := newFlow(o, iu, o.Directory, limiter, channels.New(o.Issuer, o.Mailer, o.SMS, limiter, o.Logger), false)
	return flow, err
}

// Build wires every service, makes sure the signing keys and the built-in
// account client exist, and builds the hosted pages.
func Build(ctx context.Context, o Options) (*App, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	iu, err := url.Parse(o.Issuer)
	if err != nil || iu.Host == "" {
		return nil, fmt.Errorf("issuer %q is not a URL", o.Issuer)
	}
	if o.Mailer == nil {
		return nil, errors.New("wire: Options.Mailer is required (notify.NewConsoleMailer when no SMTP server is configured)")
	}
	store, ring, log, now := o.Store, o.Ring, o.Logger, o.Now
	a := &App{Directory: o.Directory}
	if a.Directory == nil {
		params := o.PasswordParams
		if params == (password.Params{}) {
			params = password.DefaultParams
		}
		a.Directory = directory.New(store, password.New(params, 0), ring, log, now, directory.WithAdminGroup(o.AdminGroup))
	}
	a.Keys = keys.New(store, ring, log, now, keys.Options{})
	if err := a.Keys.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}

	limiter := throttle.New(store, log, now)
	a.Channels = channels.New(o.Issuer, o.Mailer, o.SMS, limiter, log)
	a.Recovery, err = recovery.New(recovery.Config{Issuer: o.Issuer, Wait: o.RecoveryWait, Key: ring.SubKey("recovery-codes")},
		store, a.Directory, a.Directory, a.Channels, limiter, log, now)
	if err != nil {
		return nil, err
	}
	var out outbound
	if a.Factors, a.Sessions, a.Flow, out, err = newFlow(o, iu, a.Directory, limiter, a.Channels, true, login.WithRecovery(a.Recovery)); err != nil {
		return nil, err
	}
	a.Notices, a.Emails = out.notices, out.emails
	logouts := session.NewLogouts(a.Sessions, ring)
	a.MFA = login.NewMFA(a.Flow)
	a.Account = account.New(o.Issuer, store, a.Directory, a.Flow, a.Sessions, a.Factors, log, now,
		account.WithOutbound(account.Outbound{Notices: a.Notices, Emails: a.Emails, Resets: a.Directory}))
	if err := account.EnsureClients(ctx, a.Account, a.Directory); err != nil {
		return nil, err
	}
	consoleAccess := account.NewConsole(a.Account, a.Directory)
	minter := tokens.New(tokens.Config{
		Issuer: o.Issuer, AccessTokenLifetime: o.AccessTokenLifetime, RefreshTokenLifetime: o.RefreshTokenLifetime,
		AccessTokenAlg: o.AccessTokenAlg,
	}, store, a.Keys, ring, log, now)
	a.Provider, err = op.New(op.Config{Issuer: o.Issuer, CORSAllowedOrigins: o.CORSAllowedOrigins, MaxPendingAuthRequests: o.MaxPendingSignIns},
		store, a.Directory, a.Keys, minter, a.Flow, a.Sessions, logouts, ring, log, now)
	if err != nil {
		return nil, err
	}
	a.BackchannelLogouts = op.NewLogoutSender(op.LogoutSenderConfig{}, store, a.Keys, o.Issuer, log, now)
	a.Server, err = ui.New(ui.Options{
		Issuer: o.Issuer, Logger: log, Registry: o.Registry, Ready: a.Directory.Ready,
		Setup: a.Directory, Flow: a.Flow, Logout: logouts, MFA: a.MFA, Account: a.Account, Provider: a.Provider,
		TrustedProxies: o.TrustedProxies, CSRFKey: ring.SubKey("csrf"), AssetsDir: o.AssetsDir, Now: now,
		AccountEmail: a.Account, EmailStep: a.MFA, EmailLinks: a.Emails, NotMe: a.Notices,
		Recovery: a.Recovery,
	})
	if err != nil {
		return nil, err
	}
	api, err := adminapi.New(adminapi.Options{
		Tokens: a.Provider, Directory: a.Directory, Accounts: a.Account, Keys: a.Keys,
		Idempotency: idempotency.New(store, ring, now), Audit: idp.Auditor{Store: store, Log: log}, Simulator: a.Flow,
		ClientIP: a.Server.ClientIP, RequestID: ui.RequestID, Logger: log, Now: now,
	})
	if err != nil {
		return nil, err
	}
	a.Server.Router().Mount(adminapi.Prefix, api.Handler())
	console, err := admin.New(admin.Options{
		Kit: a.Server.Kit(), Console: consoleAccess, Directory: a.Directory, Accounts: a.Account, Keys: a.Keys,
		Simulator: a.Flow, Key: ring.SubKey("admin-console"),
	})
	if err != nil {
		return nil, err
	}
	a.Server.Router().Mount(admin.Prefix, console.Handler())
	return a, nil
}
