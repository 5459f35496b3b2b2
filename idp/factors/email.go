package factors

import (
	"context"
	"log/slog"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/otpcode"
	"github.com/twofold-idp/twofold/storage"
)

// Email is the email code factor: a one-time code mailed to the user's
// verified address, amr mail (Twofold's private value). Email is not an
// out-of-band channel NIST SP 800-63B accepts, so it is the weakest second
// factor: off unless a policy lists it (policy.OptInMethods), never
// phishing-resistant. A user has it when their address is verified.
type Email struct {
	codes *sentCodes
	audit idp.Auditor
	now   func() time.Time
}

var _ Sender = (*Email)(nil)

// NewEmail wires the factor; hasher keys the stored codes.
func NewEmail(store SentCodeStore, ch Channels, hasher *otpcode.Hasher, logger *slog.Logger, now func() time.Time) *Email {
	return &Email{
		codes: newSentCodes(store, hasher, storage.PurposeSignInEmail, notify.SignInCode, ch.SendEmail, logger, now),
		audit: idp.Auditor{Store: store, Log: logger}, now: now,
	}
}

func (e *Email) Method() policy.Method                                           { return policy.Email }
func (e *Email) Enrolled(c storage.FactorCounts) int                             { return int(c.EmailVerified) }
func (e *Email) Enrollable() bool                                                { return false }
func (e *Email) PhishingResistant() bool                                         { return false }
func (e *Email) OneTimeCode() bool                                               { return true }
func (e *Email) Begin(context.Context, *storage.User, Challenge) ([]byte, error) { return nil, nil }

// address is where the user's codes go: their address, once verified.
func (e *Email) address(user *storage.User) (string, bool) {
	return user.Email, user.Email != "" && user.EmailVerifiedAt != nil
}

// Send mails a code for the sign-in c.For (see Sender).
func (e *Email) Send(ctx context.Context, user *storage.User, c Challenge, resend bool) (idp.CodeSent, error) {
	to, ok := e.address(user)
	if !ok {
		return idp.CodeSent{}, ErrNoDestination
	}
	sent, err := e.codes.send(ctx, user, to, c.For, c.ClientIP, resend)
	if err != nil {
		return idp.CodeSent{}, err
	}
	if sent {
		e.audit.Record(ctx, idp.UserActor(user.ID), "mfa.code_sent", user.ID, map[string]any{"method": policy.Email, "to": maskEmail(to)})
	}
	return idp.CodeSent{To: maskEmail(to), Sent: sent}, nil
}

// Verify accepts the code mailed for the sign-in c.For to the address the
// user still has verified, once.
func (e *Email) Verify(ctx context.Context, user *storage.User, c Challenge, input []byte) (storage.SessionFactor, error) {
	to, ok := e.address(user)
	if !ok {
		return storage.SessionFactor{}, idp.ErrInvalidCode
	}
	if _, err := e.codes.check(ctx, user.ID, c.For, input, func(target string) bool { return target == to }); err != nil {
		return storage.SessionFactor{}, err
	}
	return proof(policy.Email, e.now(), "mail"), nil
}
