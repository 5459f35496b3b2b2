package factors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/mfa/otpcode"
	"github.com/twofold-idp/twofold/storage"
)

// The codes Twofold sends (the email and SMS factors, the phone number
// check): NIST SP 800-63B §5.1.3.1 — at least 6 digits from a CSPRNG, valid
// for at most 10 minutes, used once.
const (
	SentCodeDigits = 6
	SentCodeTTL    = 10 * time.Minute
	// SentCodeAttempts wrong guesses at one code retire it: a new code must
	// be sent. The per-user throttle of the one-time-code factors (otpRule)
	// bounds guesses across codes.
	SentCodeAttempts = 5
)

// SentCodeStore keeps the codes sent to users.
type SentCodeStore interface {
	CreateOneTimeCode(ctx context.Context, c *storage.OneTimeCode, keepOthers bool) error
	LiveOneTimeCode(ctx context.Context, userID, purpose string) (*storage.OneTimeCode, error)
	UseOneTimeCode(ctx context.Context, id string) (bool, error)
	FailOneTimeCode(ctx context.Context, id string, maxAttempts int) (bool, error)
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

var _ SentCodeStore = (*storage.Store)(nil)

// Channels sends messages to people within the sending limits
// (*channels.Service).
type Channels interface {
	SendEmail(ctx context.Context, m channels.Message) error
	SendSMS(ctx context.Context, m channels.Message) error
	SMSEnabled() bool
}

var _ Channels = (*channels.Service)(nil)

// ErrNoDestination: the user has no verified address or number to send a
// code to (the flow offers the factor only to users who have one).
var ErrNoDestination = errors.New("factors: no verified address or number to send a code to")

// sentCodes issues and checks the codes of one purpose sent over one
// channel. Only a keyed hash of each code is stored, bound to the code's
// record, user, purpose, destination and sign-in.
type sentCodes struct {
	store   SentCodeStore
	hasher  *otpcode.Hasher
	purpose string
	kind    notify.Kind
	deliver func(ctx context.Context, m channels.Message) error
	audit   idp.Auditor
	now     func() time.Time
}

func newSentCodes(store SentCodeStore, hasher *otpcode.Hasher, purpose string, kind notify.Kind, deliver func(context.Context, channels.Message) error, logger *slog.Logger, now func() time.Time) *sentCodes {
	return &sentCodes{store: store, hasher: hasher, purpose: purpose, kind: kind, deliver: deliver, audit: idp.Auditor{Store: store, Log: logger}, now: now}
}

// hash is the stored form of code in row's context.
func (s *sentCodes) hash(code string, row *storage.OneTimeCode) string {
	return s.hasher.Hash(code, row.Purpose, row.UserID, row.ID, row.Target, row.SentFor)
}

// live is the user's code that is neither used nor expired, if it was sent
// to target for the sign-in sentFor (nil otherwise).
func (s *sentCodes) live(ctx context.Context, userID, target, sentFor string) (*storage.OneTimeCode, error) {
	row, err := s.store.LiveOneTimeCode(ctx, userID, s.purpose)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if row.Target != target || row.SentFor != sentFor {
		return nil, nil
	}
	return row, nil
}

// send sends a new code to target for the sign-in sentFor (none: "") and
// stores its hash, which retires the code sent before. The code is sent
// first: a send a limit refuses, or that fails, leaves the earlier code
// working. It reports whether a code was sent: with resend false, none is
// when a live code was already sent to target for sentFor.
func (s *sentCodes) send(ctx context.Context, user *storage.User, target, sentFor, clientIP string, resend bool) (bool, error) {
	if !resend {
		row, err := s.live(ctx, user.ID, target, sentFor)
		if err != nil || row != nil {
			return false, err
		}
	}
	code, err := otpcode.Generate(SentCodeDigits)
	if err != nil {
		return false, err
	}
	row := &storage.OneTimeCode{
		ID: idp.RandomToken(16), UserID: user.ID, Purpose: s.purpose, Target: target, SentFor: sentFor,
		ExpiresAt: s.now().Add(SentCodeTTL),
	}
	row.CodeHash = s.hash(code, row)
	err = s.deliver(ctx, channels.Message{
		Kind: s.kind, To: target, ClientIP: clientIP,
		Data: notify.Data{Username: user.Username, Code: code, ExpiresIn: SentCodeTTL},
	})
	if err != nil {
		return false, err
	}
	if err := s.store.CreateOneTimeCode(ctx, row, false); err != nil {
		return false, fmt.Errorf("store the code just sent: %w", err)
	}
	return true, nil
}

// check accepts input if it is the live code for sentFor and match admits
// where it was sent, once: of concurrent checks of one code exactly one
// succeeds (storage.UseOneTimeCode). A wrong guess counts against the code,
// which SentCodeAttempts of them retire. Every refusal is
// idp.ErrInvalidCode; it returns the code's record.
func (s *sentCodes) check(ctx context.Context, userID, sentFor string, input []byte, match func(target string) bool) (*storage.OneTimeCode, error) {
	code, err := otpcode.Normalize(string(input), SentCodeDigits)
	if err != nil {
		return nil, idp.ErrInvalidCode
	}
	row, err := s.store.LiveOneTimeCode(ctx, userID, s.purpose)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, idp.ErrInvalidCode // none sent, expired, used or retired
	}
	if err != nil {
		return nil, err
	}
	if row.SentFor != sentFor || !match(row.Target) {
		// Sent for another sign-in, or to an address the user no longer has.
		return nil, idp.ErrInvalidCode
	}
	if !s.hasher.Verify(code, row.CodeHash, row.Purpose, row.UserID, row.ID, row.Target, row.SentFor) {
		if _, err := s.store.FailOneTimeCode(ctx, row.ID, SentCodeAttempts); err != nil {
			return nil, err
		}
		return nil, idp.ErrInvalidCode
	}
	used, err := s.store.UseOneTimeCode(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	if !used {
		return nil, idp.ErrInvalidCode // used a moment ago, or just expired
	}
	return row, nil
}

// maskEmail shows enough of an address for its owner to recognise it:
// "a•••@example.com".
func maskEmail(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return "your email address"
	}
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + "•••@" + domain
}

// maskPhone names a number by its last digits: "the number ending in 4567".
func maskPhone(e164 string) string {
	if len(e164) < 6 {
		return "your phone number"
	}
	return "the number ending in " + e164[len(e164)-4:]
}
