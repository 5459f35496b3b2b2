package notices

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/idp/session"
	"github.com/twofold-idp/twofold/storage"
)

// Store is what notifications and reports keep.
type Store interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	CreateOneTimeCode(ctx context.Context, c *storage.OneTimeCode, keepOthers bool) error
	OneTimeCodeByHash(ctx context.Context, purpose, hash string) (*storage.OneTimeCode, error)
	UseOneTimeCode(ctx context.Context, id string) (bool, error)
	ListUserSessions(ctx context.Context, userID string) ([]storage.Session, error)
	RevokeUserTokens(ctx context.Context, userID string) error
	SetChangesBlocked(ctx context.Context, userID string, at *time.Time) error
	ForgetRememberedDevices(ctx context.Context, userID string) error
	ForgetKnownDevices(ctx context.Context, userID string) error
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

var _ Store = (*storage.Store)(nil)

// Sender sends mail and SMS within the sending limits (*channels.Service).
type Sender interface {
	SendEmail(ctx context.Context, m channels.Message) error
	SendSMS(ctx context.Context, m channels.Message) error
	SMSEnabled() bool
}

// KeyPurpose names the sub-key of the master key (secrets.Keyring.SubKey)
// that hashes report links: every process that sends notifications uses it.
const KeyPurpose = "not-me-link"

const (
	// ReportTTL is how long a "this wasn't me" link works: long enough for
	// a notification read days later.
	ReportTTL = 7 * 24 * time.Hour
	// ReportPath is the page a "this wasn't me" link opens (GET: a
	// confirmation; POST: the report), with the token in the query.
	ReportPath = "/not-me"
	// sendTimeout bounds a notification's send: it runs after the change,
	// detached from the request (a person closing the tab does not cancel
	// the mail that tells of what they did).
	sendTimeout = 30 * time.Second
)

// Service sends security notifications and takes "this wasn't me" reports.
type Service struct {
	issuer   string
	store    Store
	sender   Sender
	sessions *session.Service
	key      []byte
	audit    idp.Auditor
	log      *slog.Logger
	now      func() time.Time
}

// New wires the service. key is a 32-byte sub-key of the master key for
// the hashes of report links. now may be nil (time.Now).
func New(issuer string, store Store, sender Sender, sessions *session.Service, key []byte, logger *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{issuer: issuer, store: store, sender: sender, sessions: sessions, key: key,
		audit: idp.Auditor{Store: store, Log: logger}, log: logger, now: now}
}

// Notice is one security notification.
type Notice struct {
	Kind notify.Kind // a kind whose IsNotice is true
	// IP is where the change came from, shown when set.
	IP string
	// Factor describes the factor added or removed (FactorDescription).
	Factor string
	// Remaining is how many backup codes are left (BackupCodeUsed).
	Remaining int
	// Device describes the browser of a new sign-in (NewDeviceSignIn).
	Device string
	// To, when set, is the address to send to instead of the user's
	// verified one: the old address of an EmailChanged, verified until the
	// change. Only ever an address the user had verified.
	To string
}

// system is the actor of the audit events about notifications.
var system = idp.Actor{ID: "system"}

// Notify tells the user about n, each message with its own "this wasn't
// me" link: by mail to their verified address, and by SMS to their verified
// number when they have one and an SMS gateway is configured (issue 11: SMS
// where that is the user's channel). It reports whether any message was
// handed over. It never fails the caller: without a verified address or
// number nothing is sent, and a failed or refused send is logged; each
// outcome is audited (notice.sent, notice.skipped, notice.failed).
func (s *Service) Notify(ctx context.Context, user *storage.User, n Notice) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	to := n.To
	if to == "" && user.Email != "" && user.EmailVerifiedAt != nil {
		to = user.Email
	}
	// The old address of an EmailChanged is told alone.
	phone := n.To == "" && user.Phone != "" && user.PhoneVerifiedAt != nil && s.sender.SMSEnabled()
	if to == "" && !phone {
		s.audit.Record(ctx, system, "notice.skipped", user.ID, map[string]any{"kind": n.Kind, "reason": "no verified email address"})
		return false
	}
	sent := false
	if to != "" {
		sent = s.send(ctx, user, n, "email", to, s.sender.SendEmail)
	}
	if phone {
		sent = s.send(ctx, user, n, "sms", user.Phone, s.sender.SendSMS) || sent
	}
	return sent
}

// send hands one message of n to one channel, with its own report link,
// and audits the outcome.
func (s *Service) send(ctx context.Context, user *storage.User, n Notice, channel, to string, send func(context.Context, channels.Message) error) bool {
	link, err := s.reportLink(ctx, user.ID, to)
	if err == nil {
		err = send(ctx, channels.Message{Kind: n.Kind, To: to, Data: notify.Data{
			Username: user.Username, When: s.now(), IP: n.IP, ReportLink: link,
			Factor: n.Factor, Remaining: n.Remaining, Device: n.Device,
		}})
	}
	if err != nil {
		reason := "send failed"
		var throttled *idp.ThrottledError
		if errors.As(err, &throttled) {
			reason = "sending limit reached"
		}
		s.log.WarnContext(ctx, "security notification not sent", "kind", n.Kind, "channel", channel, "err", err)
		s.audit.Record(ctx, system, "notice.failed", user.ID, map[string]any{"kind": n.Kind, "channel": channel, "reason": reason})
		return false
	}
	s.audit.Record(ctx, system, "notice.sent", user.ID, map[string]any{"kind": n.Kind, "channel": channel})
	return true
}

// NotifyUser is Notify for the user with id (loaded first); false when
// the user is gone.
func (s *Service) NotifyUser(ctx context.Context, userID string, n Notice) bool {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		s.log.WarnContext(ctx, "security notification: no user", "kind", n.Kind, "err", err)
		return false
	}
	return s.Notify(ctx, u, n)
}

// hash is the keyed hash of a report link's token.
func (s *Service) hash(token string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(storage.PurposeNotMe + "\x00" + token))
	return hex.EncodeToString(m.Sum(nil))
}

// reportLink stores a new "this wasn't me" link of the user's (outstanding
// beside the others: each mail has its own) and returns its URL.
func (s *Service) reportLink(ctx context.Context, userID, to string) (string, error) {
	token := idp.RandomToken(32)
	err := s.store.CreateOneTimeCode(ctx, &storage.OneTimeCode{
		ID: idp.RandomToken(16), UserID: userID, Purpose: storage.PurposeNotMe, Target: to,
		CodeHash: s.hash(token), ExpiresAt: s.now().Add(ReportTTL),
	}, true)
	if err != nil {
		return "", err
	}
	return s.issuer + ReportPath + "?token=" + url.QueryEscape(token), nil
}

// reportRow finds the live report link of token.
func (s *Service) reportRow(ctx context.Context, token string) (*storage.OneTimeCode, error) {
	if token == "" || len(token) > 128 {
		return nil, idp.ErrLinkInvalid
	}
	row, err := s.store.OneTimeCodeByHash(ctx, storage.PurposeNotMe, s.hash(token))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, idp.ErrLinkInvalid
	}
	return row, err
}

// CheckReport says whether token is a live "this wasn't me" link, for its
// confirmation page; it changes nothing (mail scanners open links).
func (s *Service) CheckReport(ctx context.Context, token string) error {
	_, err := s.reportRow(ctx, token)
	return err
}

// Report acts on a "this wasn't me" link, once: it blocks changes to the
// user's sign-in methods, password and email until a sign-in proves every
// kind of factor they have (ClearBlock), ends every session of the user,
// revokes every token issued to them, and forgets their remembered and
// known devices. idp.ErrLinkInvalid for a link that is unknown, expired or
// used: then nothing changes.
func (s *Service) Report(ctx context.Context, token string, b idp.Browser) error {
	row, err := s.reportRow(ctx, token)
	if err != nil {
		return err
	}
	won, err := s.store.UseOneTimeCode(ctx, row.ID)
	if err != nil {
		return err
	}
	if !won {
		return idp.ErrLinkInvalid
	}
	userID := row.UserID
	now := s.now()
	// The block first: whatever fails after it, no change slips through.
	if err := s.store.SetChangesBlocked(ctx, userID, &now); err != nil {
		return err
	}
	sessions, err := s.store.ListUserSessions(ctx, userID)
	if err != nil {
		return err
	}
	for i := range sessions {
		if err := s.sessions.Terminate(ctx, &sessions[i], "not_me"); err != nil {
			return err
		}
	}
	if err := s.store.RevokeUserTokens(ctx, userID); err != nil {
		return err
	}
	if err := s.store.ForgetRememberedDevices(ctx, userID); err != nil {
		return err
	}
	if err := s.store.ForgetKnownDevices(ctx, userID); err != nil {
		return err
	}
	s.audit.Record(ctx, idp.Actor{ID: "anonymous", IP: b.IP, RequestID: b.RequestID, UserAgent: b.UserAgent},
		"account.reported_not_me", userID, map[string]any{"sessions_ended": len(sessions)})
	return nil
}

// FullSignIn reports whether the session proves every kind of factor the
// user has, each since at: the password when the user has one, and a
// second factor when they have one (hasSecond). It is what lifts the block
// Report sets.
func FullSignIn(user *storage.User, sess *storage.Session, hasSecond bool, at time.Time) bool {
	var pwd, second bool
	for _, f := range sess.Factors {
		if f.At.Before(at) {
			continue
		}
		if f.Method == policy.FactorPassword {
			pwd = true
		} else {
			second = true
		}
	}
	return (pwd || user.PasswordHash == "") && (second || !hasSecond)
}

// FactorDescription names a factor in a notification ("An authenticator
// app “Phone”").
func FactorDescription(method, name string) string {
	var what string
	switch policy.Method(method) {
	case policy.TOTP:
		what = "An authenticator app"
	case policy.WebAuthn:
		what = "A passkey or security key"
	default:
		what = "A sign-in method"
	}
	if name != "" {
		what += " “" + name + "”"
	}
	return what
}
