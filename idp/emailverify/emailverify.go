package emailverify

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
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/storage"
)

// KeyPurpose names the sub-key of the master key (secrets.Keyring.SubKey)
// that hashes codes and links.
const KeyPurpose = "email-verification"

// PurposeLink is the purpose of a verification link's token; its code is
// stored under storage.PurposeVerifyEmail. Two purposes, because a mail
// carries both and a one-time code row holds one hash: each replaces the
// previous one of its kind, and using either retires both.
const PurposeLink = "verify_email_link"

const (
	// TTL is how long a code and its link work (NIST SP 800-63B §5.1.3.2
	// asks out-of-band secrets to be short-lived; 10 minutes, as the
	// issue's codes).
	TTL = 10 * time.Minute
	// MaxAttempts wrong guesses retire a code: a new one must be sent.
	MaxAttempts = 5
	// CodeDigits is the length of a code.
	CodeDigits = 8
)

// Store is what verifying addresses keeps.
type Store interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	CreateOneTimeCode(ctx context.Context, c *storage.OneTimeCode, keepOthers bool) error
	LiveOneTimeCode(ctx context.Context, userID, purpose string) (*storage.OneTimeCode, error)
	OneTimeCodeByHash(ctx context.Context, purpose, hash string) (*storage.OneTimeCode, error)
	UseOneTimeCode(ctx context.Context, id string) (bool, error)
	FailOneTimeCode(ctx context.Context, id string, maxAttempts int) (bool, error)
	RetireOneTimeCodes(ctx context.Context, userID string, purposes ...string) error
	SetEmailVerified(ctx context.Context, userID, email string) (bool, error)
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

var _ Store = (*storage.Store)(nil)

// Sender sends mail within the sending limits (*channels.Service).
type Sender interface {
	SendEmail(ctx context.Context, m channels.Message) error
}

// Service sends and checks verification codes and links.
type Service struct {
	issuer string
	store  Store
	sender Sender
	key    []byte
	audit  idp.Auditor
	now    func() time.Time
}

// New wires the service. key is a 32-byte sub-key of the master key for
// the hashes of codes and links. now may be nil (time.Now).
func New(issuer string, store Store, sender Sender, key []byte, logger *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{issuer: issuer, store: store, sender: sender, key: key, audit: idp.Auditor{Store: store, Log: logger}, now: now}
}

// Verified reports whether u's current address is verified: storage
// clears EmailVerifiedAt whenever the address changes.
func Verified(u *storage.User) bool { return u.Email != "" && u.EmailVerifiedAt != nil }

// LinkPath is the page a verification link opens (GET: a confirmation;
// POST: verify), with the token in the query as "token".
const LinkPath = "/verify-email"

// hash is the keyed hash of a code (bound to its user) or of a link's
// token (userID ""): a stolen database alone cannot be searched for codes.
func (s *Service) hash(purpose, userID, secret string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose + "\x00" + userID + "\x00" + secret))
	return hex.EncodeToString(m.Sum(nil))
}

// newCode draws CodeDigits digits from crypto/rand.
func newCode() string {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(CodeDigits), nil)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		panic(err) // crypto/rand never fails (Go 1.24+)
	}
	return fmt.Sprintf("%0*d", CodeDigits, n)
}

// Send mails the user a new code and link for their current address,
// replacing any sent before. The mail goes out first and the hashes are
// stored after: a send the limits refuse (*idp.ThrottledError) or that
// fails (channels.ErrSendFailed) leaves the code sent before working.
// idp.ErrNoEmail when the account has no address; an *idp.InputError
// (field email) when it is already verified.
func (s *Service) Send(ctx context.Context, user *storage.User, clientIP string) error {
	if user.Email == "" {
		return idp.ErrNoEmail
	}
	if Verified(user) {
		return idp.InputErrorf("email", "is already verified")
	}
	code, token := newCode(), idp.RandomToken(32)
	err := s.sender.SendEmail(ctx, channels.Message{
		Kind: notify.EmailVerification, To: user.Email, ClientIP: clientIP,
		Data: notify.Data{Username: user.Username, Code: code, Link: s.issuer + LinkPath + "?token=" + url.QueryEscape(token), ExpiresIn: TTL},
	})
	if err != nil {
		return err
	}
	now := s.now()
	for _, c := range []*storage.OneTimeCode{
		{ID: idp.RandomToken(16), UserID: user.ID, Purpose: storage.PurposeVerifyEmail, Target: user.Email, CodeHash: s.hash(storage.PurposeVerifyEmail, user.ID, code), ExpiresAt: now.Add(TTL)},
		{ID: idp.RandomToken(16), UserID: user.ID, Purpose: PurposeLink, Target: user.Email, CodeHash: s.hash(PurposeLink, "", token), ExpiresAt: now.Add(TTL)},
	} {
		if err := s.store.CreateOneTimeCode(ctx, c, false); err != nil {
			return err
		}
	}
	s.audit.Record(ctx, idp.Actor{ID: user.ID, IP: clientIP}, "email.verification_sent", user.ID, nil)
	return nil
}

// NormalizeCode reads a typed code: spaces and dashes dropped. Anything but
// CodeDigits digits is an *idp.InputError (field code), counted as no
// guess.
func NormalizeCode(typed string) (string, error) {
	c := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\u00a0' {
			return -1
		}
		return r
	}, typed)
	if utf8.RuneCountInString(c) != CodeDigits || strings.ContainsFunc(c, func(r rune) bool { return r < '0' || r > '9' }) {
		return "", idp.InputErrorf("code", "must be the %d digits from the message", CodeDigits)
	}
	return c, nil
}

// CheckCode verifies the user's address with a code they typed.
// idp.ErrInvalidCode for a wrong code (counted; the MaxAttempts-th retires
// it); idp.ErrCodeExpired when no code is live for the current address
// (expired, used, replaced, retired, or lost a race to a concurrent
// submission of the same code: of those exactly one verifies).
func (s *Service) CheckCode(ctx context.Context, user *storage.User, typed string) error {
	code, err := NormalizeCode(typed)
	if err != nil {
		return err
	}
	actor := idp.UserActor(user.ID)
	row, err := s.store.LiveOneTimeCode(ctx, user.ID, storage.PurposeVerifyEmail)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && row.Target != user.Email) {
		s.audit.Record(ctx, actor, "email.verification_failed", user.ID, map[string]any{"reason": "no live code"})
		return idp.ErrCodeExpired
	}
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(s.hash(storage.PurposeVerifyEmail, user.ID, code)), []byte(row.CodeHash)) {
		live, err := s.store.FailOneTimeCode(ctx, row.ID, MaxAttempts)
		if err != nil {
			return err
		}
		s.audit.Record(ctx, actor, "email.verification_failed", user.ID, map[string]any{"reason": "wrong code", "retired": !live})
		if !live {
			return idp.ErrCodeExpired
		}
		return idp.ErrInvalidCode
	}
	return s.use(ctx, row, "code")
}

// use consumes row (once: of concurrent callers one wins) and verifies the
// address it was sent to, if it is still the user's.
func (s *Service) use(ctx context.Context, row *storage.OneTimeCode, via string) error {
	won, err := s.store.UseOneTimeCode(ctx, row.ID)
	if err != nil {
		return err
	}
	if !won {
		return idp.ErrCodeExpired
	}
	ok, err := s.store.SetEmailVerified(ctx, row.UserID, row.Target)
	if err != nil {
		return err
	}
	if err := s.store.RetireOneTimeCodes(ctx, row.UserID, storage.PurposeVerifyEmail, PurposeLink); err != nil {
		return err
	}
	if !ok { // the address changed since the code was sent
		return idp.ErrCodeExpired
	}
	s.audit.Record(ctx, idp.UserActor(row.UserID), "email.verified", row.UserID, map[string]any{"via": via})
	return nil
}

// linkRow finds the live link of token for an address that is still its
// user's.
func (s *Service) linkRow(ctx context.Context, token string) (*storage.OneTimeCode, *storage.User, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, idp.ErrLinkInvalid
	}
	row, err := s.store.OneTimeCodeByHash(ctx, PurposeLink, s.hash(PurposeLink, "", token))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, idp.ErrLinkInvalid
	}
	if err != nil {
		return nil, nil, err
	}
	user, err := s.store.GetUser(ctx, row.UserID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (user.Disabled || user.Email != row.Target)) {
		return nil, nil, idp.ErrLinkInvalid
	}
	if err != nil {
		return nil, nil, err
	}
	return row, user, nil
}

// LinkAddress is the address a live link would verify, partly hidden
// (MaskEmail), for its confirmation page; idp.ErrLinkInvalid otherwise.
// It changes nothing: mail scanners open links.
func (s *Service) LinkAddress(ctx context.Context, token string) (string, error) {
	row, _, err := s.linkRow(ctx, token)
	if err != nil {
		return "", err
	}
	return MaskEmail(row.Target), nil
}

// CheckLink verifies the address with the link's token, once.
// idp.ErrLinkInvalid for a token that is unknown, expired or used.
func (s *Service) CheckLink(ctx context.Context, token string) error {
	row, _, err := s.linkRow(ctx, token)
	if err != nil {
		return err
	}
	if err := s.use(ctx, row, "link"); errors.Is(err, idp.ErrCodeExpired) {
		return idp.ErrLinkInvalid
	} else if err != nil {
		return err
	}
	return nil
}

// MaskEmail hides most of an address's local part ("alice@example.com" →
// "a•••e@example.com"): enough for its owner to recognise it.
func MaskEmail(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok {
		return "•••"
	}
	r := []rune(local)
	switch {
	case len(r) <= 2:
		return string(r[:1]) + "•••@" + domain
	default:
		return string(r[0]) + "•••" + string(r[len(r)-1]) + "@" + domain
	}
}
