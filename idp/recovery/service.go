package recovery

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/throttle"
	"github.com/twofold-idp/twofold/storage"
)

// Store is what recovery keeps in the database.
type Store interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
	UsersByVerifiedEmail(ctx context.Context, email string) ([]storage.User, error)
	CreateOneTimeCode(ctx context.Context, c *storage.OneTimeCode, keepOthers bool) error
	LiveOneTimeCode(ctx context.Context, userID, purpose string) (*storage.OneTimeCode, error)
	OneTimeCodeByHash(ctx context.Context, purpose, hash string) (*storage.OneTimeCode, error)
	UseOneTimeCode(ctx context.Context, id string) (bool, error)
	FailOneTimeCode(ctx context.Context, id string, maxAttempts int) (bool, error)
	RetireOneTimeCodes(ctx context.Context, userID string, purposes ...string) error
	SetPasswordHash(ctx context.Context, id, hash string) error
	EndUserSessions(ctx context.Context, userID string) (int64, error)
	RevokeUserTokens(ctx context.Context, userID string) error
	ForgetRememberedDevices(ctx context.Context, userID string) error
	StartRecovery(ctx context.Context, r *storage.Recovery) (*storage.Recovery, bool, error)
	OpenRecovery(ctx context.Context, userID string) (*storage.Recovery, error)
	RecoveryByCancelHash(ctx context.Context, cancelHash string) (*storage.Recovery, error)
	CancelRecovery(ctx context.Context, cancelHash string) (*storage.Recovery, error)
	CompleteRecovery(ctx context.Context, id string) (bool, error)
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

var _ Store = (*storage.Store)(nil)

// Passwords checks and hashes a new password under the password rules
// (*directory.Passwords).
type Passwords interface {
	NewPasswordHash(ctx context.Context, userID, next string) (string, error)
}

// Reenroller removes every second factor of a user, ends their sessions,
// revokes their tokens and makes their next sign-in enroll a new factor:
// the administrator's forced re-enrollment (*directory.Directory), which a
// completed recovery reuses.
type Reenroller interface {
	ForceReenrollment(ctx context.Context, actor idp.Actor, id, reason string) error
}

// Sender sends mail and text messages within the sending limits
// (*channels.Service).
type Sender interface {
	SendEmail(ctx context.Context, m channels.Message) error
	SendSMS(ctx context.Context, m channels.Message) error
	SMSEnabled() bool
}

var _ Sender = (*channels.Service)(nil)

// Lifetimes and limits.
const (
	// DefaultWait is how long a lost-factor recovery waits when the
	// configuration says nothing (recovery_wait).
	DefaultWait = 24 * time.Hour
	// ResetLinkTTL is how long a forgotten-password link works.
	ResetLinkTTL = 30 * time.Minute
	// CodeTTL is how long an emailed recovery code works.
	CodeTTL = 15 * time.Minute
	// CodeDigits is the length of a recovery code: 8 digits, 26.6 bits,
	// with at most MaxCodeAttempts guesses before it is retired.
	CodeDigits = 8
	// MaxCodeAttempts wrong guesses retire a code.
	MaxCodeAttempts = 5
)

// Limits, counted before anything is looked up so that they answer alike
// for every name (SECURITY-RULES on enumeration):
//   - forgotten-password requests per client address (an IPv6 /64): 10,
//     then one more every 6 minutes; per name asked for: 3, then one more
//     every 10 minutes (idp/channels limits the mails themselves too);
//   - recovery codes typed per user: 5, then one more every 15 minutes; a
//     right code forgets them (NIST SP 800-63B §5.2.2).
var (
	resetPerAddress = throttle.Rule{Burst: 10, Every: 6 * time.Minute}
	resetPerName    = throttle.Rule{Burst: 3, Every: 10 * time.Minute}
	codeRule        = throttle.Rule{Burst: 5, Every: 15 * time.Minute, ForgetOnSuccess: true}
)

// Errors the pages tell apart. Their text is safe to show.
var (
	// ErrLinkInvalid: a reset or cancel link that is unknown (tampered),
	// expired or already used. Pages answer 401 and change nothing.
	ErrLinkInvalid = errors.New("this link is not valid: it may have expired or been used already")
	// ErrNoVerifiedEmail: the account has no verified email address, so no
	// self-service recovery.
	ErrNoVerifiedEmail = errors.New("the account has no verified email address")
	// ErrRecoveryPending: a recovery is already waiting.
	ErrRecoveryPending = errors.New("a recovery of this account is already waiting")
	// ErrRecoveryNotReady: the recovery's waiting period is not over.
	ErrRecoveryNotReady = errors.New("the recovery is not ready yet")
	// ErrNoRecovery: there is no open recovery to complete (never started,
	// cancelled, or completed meanwhile).
	ErrNoRecovery = errors.New("there is no recovery of this account to complete")
)

// Config is what a Service is built from.
type Config struct {
	// Issuer is the public base URL the links in mails start with.
	Issuer string
	// Wait is how long a recovery waits (0: DefaultWait).
	Wait time.Duration
	// Key keys the HMAC under which codes and link tokens are stored (at
	// least 32 bytes; a sub-key of the master key).
	Key []byte
	// ReportLink makes the "This wasn't me" link of a security notification
	// for user; nil: the account page, where every session can be ended.
	ReportLink func(ctx context.Context, user *storage.User) (string, error)
}

// Service runs forgotten-password resets and lost-factor recoveries. It is
// safe for concurrent use.
type Service struct {
	cfg       Config
	store     Store
	passwords Passwords
	reenroll  Reenroller
	send      Sender
	limiter   *throttle.Limiter
	audit     idp.Auditor
	log       *slog.Logger
	now       func() time.Time
	bg        sync.WaitGroup // forgotten-password mails being sent
}

// New wires a Service. now may be nil (time.Now).
func New(cfg Config, store Store, passwords Passwords, reenroll Reenroller, send Sender, limiter *throttle.Limiter, logger *slog.Logger, now func() time.Time) (*Service, error) {
	if len(cfg.Key) < 32 {
		return nil, fmt.Errorf("recovery: the code key must be at least 32 bytes, got %d", len(cfg.Key))
	}
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultWait
	}
	if now == nil {
		now = time.Now
	}
	cfg.Key = append([]byte(nil), cfg.Key...)
	return &Service{
		cfg: cfg, store: store, passwords: passwords, reenroll: reenroll, send: send, limiter: limiter,
		audit: idp.Auditor{Store: store, Log: logger}, log: logger, now: now,
	}, nil
}

// Wait is how long a recovery waits before it may be completed.
func (s *Service) Wait() time.Duration { return s.cfg.Wait }

// WaitSends waits until the forgotten-password mails being sent in the
// background are sent (or have failed): for a server shutting down, and
// for tests that check no mail went out.
func (s *Service) WaitSends() { s.bg.Wait() }

// hash is the keyed hash under which a code or link token of purpose is
// stored: HMAC-SHA256, hex. The purpose is bound in, so a value made for
// one purpose hashes differently for another.
func (s *Service) hash(purpose, value string) string {
	m := hmac.New(sha256.New, s.cfg.Key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// newCode is a code of CodeDigits digits, uniform, from crypto/rand.
func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail (Go 1.24+)
	}
	return fmt.Sprintf("%0*d", CodeDigits, n.Int64())
}

// normalizeCode drops the spaces and dashes people type into codes; it
// reports false for anything but CodeDigits digits.
func normalizeCode(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if len(s) != CodeDigits {
		return "", false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return s, true
}

// validToken accepts what idp.RandomToken(32) makes: 43 base64url
// characters. Anything else is not looked up.
func validToken(t string) bool {
	if len(t) != 43 {
		return false
	}
	for _, r := range t {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// addressKey counts an IPv6 client by its /64, as the other per-address
// limits do.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// verified reports whether u reads mail at its address.
func verified(u *storage.User) bool { return u.EmailVerifiedAt != nil && u.Email != "" }

// MaskEmail shows enough of an address for its owner to recognise it:
// "a••••@example.com".
func MaskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "•••"
	}
	r := []rune(local)
	return string(r[0]) + strings.Repeat("•", min(max(len(r)-1, 3), 8)) + "@" + domain
}

// tell sends a security notification of kind to every channel the user
// has: the verified address, and the verified phone when SMS is on. A send
// that fails is logged; the event it tells of stands.
func (s *Service) tell(ctx context.Context, u *storage.User, kind notify.Kind, d notify.Data) {
	d.Username = u.Username
	if d.ReportLink == "" && kind != notify.RecoveryStarted {
		d.ReportLink = s.reportLink(ctx, u)
	}
	if verified(u) {
		if err := s.send.SendEmail(ctx, channels.Message{Kind: kind, To: u.Email, Data: d}); err != nil {
			s.log.WarnContext(ctx, "security notification not sent", "kind", kind, "channel", "mail", "user_id", u.ID, "err", err)
		}
	}
	if u.Phone != "" && u.PhoneVerifiedAt != nil && s.send.SMSEnabled() && kind.HasSMS() {
		if err := s.send.SendSMS(ctx, channels.Message{Kind: kind, To: u.Phone, Data: d}); err != nil {
			s.log.WarnContext(ctx, "security notification not sent", "kind", kind, "channel", "sms", "user_id", u.ID, "err", err)
		}
	}
}

// reportLink is the "This wasn't me" link for u.
func (s *Service) reportLink(ctx context.Context, u *storage.User) string {
	if s.cfg.ReportLink != nil {
		l, err := s.cfg.ReportLink(ctx, u)
		if err == nil && l != "" {
			return l
		}
		s.log.WarnContext(ctx, "no report link for a notification; the account page stands in", "user_id", u.ID, "err", err)
	}
	return s.cfg.Issuer + "/account"
}

// actor is the user acting from browser b, for the audit trail.
func actor(userID string, b idp.Browser) idp.Actor {
	return idp.Actor{ID: userID, IP: b.IP, RequestID: b.RequestID, UserAgent: b.UserAgent}
}

// notFound maps a store miss to err.
func notFound(err, as error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return as
	}
	return err
}
