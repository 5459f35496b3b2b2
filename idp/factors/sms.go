package factors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/otpcode"
	"github.com/twofold-idp/twofold/storage"
)

// PhoneStore keeps the user's phone number and the codes sent to it.
type PhoneStore interface {
	SentCodeStore
	SetPhone(ctx context.Context, userID, phone string, verifiedAt *time.Time) error
	RetireOneTimeCodes(ctx context.Context, userID string, purposes ...string) error
}

var _ PhoneStore = (*storage.Store)(nil)

// SMS is the text-message code factor: a one-time code sent to the user's
// verified phone number, amr sms (RFC 8176). A restricted authenticator
// (NIST SP 800-63B §5.1.3.3: SIM swaps, number porting, interception): off
// unless a policy lists it (policy.OptInMethods), never phishing-resistant.
// A user has it when their number is verified and an SMS gateway is
// configured. It also owns that number: adding one (proven by a code sent
// to it) and removing it.
type SMS struct {
	store  PhoneStore
	ch     Channels
	codes  *sentCodes // sign-in codes
	verify *sentCodes // codes that prove a number before it is kept
	audit  idp.Auditor
	now    func() time.Time
}

var _ Sender = (*SMS)(nil)

// NewSMS wires the factor; hasher keys the stored codes.
func NewSMS(store PhoneStore, ch Channels, hasher *otpcode.Hasher, logger *slog.Logger, now func() time.Time) *SMS {
	return &SMS{
		store: store, ch: ch,
		codes:  newSentCodes(store, hasher, storage.PurposeSignInSMS, notify.SignInCode, ch.SendSMS, logger, now),
		verify: newSentCodes(store, hasher, storage.PurposeVerifyPhone, notify.PhoneVerification, ch.SendSMS, logger, now),
		audit:  idp.Auditor{Store: store, Log: logger}, now: now,
	}
}

func (s *SMS) Method() policy.Method { return policy.SMS }

// Enrolled: without a gateway no code can be sent, so nobody has the factor.
func (s *SMS) Enrolled(c storage.FactorCounts) int {
	if !s.ch.SMSEnabled() {
		return 0
	}
	return int(c.PhoneVerified)
}
func (s *SMS) Enrollable() bool                                                { return false }
func (s *SMS) PhishingResistant() bool                                         { return false }
func (s *SMS) OneTimeCode() bool                                               { return true }
func (s *SMS) Begin(context.Context, *storage.User, Challenge) ([]byte, error) { return nil, nil }

// Available reports whether text messages can be sent (sms_webhook).
func (s *SMS) Available() bool { return s.ch.SMSEnabled() }

// number is where the user's codes go: their number, once verified.
func number(user *storage.User) (string, bool) {
	return user.Phone, user.Phone != "" && user.PhoneVerifiedAt != nil
}

// Send texts a code for the sign-in c.For (see Sender).
func (s *SMS) Send(ctx context.Context, user *storage.User, c Challenge, resend bool) (idp.CodeSent, error) {
	to, ok := number(user)
	if !ok {
		return idp.CodeSent{}, ErrNoDestination
	}
	sent, err := s.codes.send(ctx, user, to, c.For, c.ClientIP, resend)
	if err != nil {
		return idp.CodeSent{}, err
	}
	if sent {
		s.audit.Record(ctx, idp.UserActor(user.ID), "mfa.code_sent", user.ID, map[string]any{"method": policy.SMS, "to": maskPhone(to)})
	}
	return idp.CodeSent{To: maskPhone(to), Sent: sent}, nil
}

// Verify accepts the code texted for the sign-in c.For to the number the
// user still has verified, once.
func (s *SMS) Verify(ctx context.Context, user *storage.User, c Challenge, input []byte) (storage.SessionFactor, error) {
	to, ok := number(user)
	if !ok {
		return storage.SessionFactor{}, idp.ErrInvalidCode
	}
	if _, err := s.codes.check(ctx, user.ID, c.For, input, func(target string) bool { return target == to }); err != nil {
		return storage.SessionFactor{}, err
	}
	return proof(policy.SMS, s.now(), "sms"), nil
}

// phoneInputError: the number typed is not an international one; the
// pages show the message by the phone field.
func phoneInputError() error {
	return idp.InputErrorf("phone", "is not a phone number with its country code, like +1 555 123 4567")
}

// StartVerification texts a code to number (as typed, normalised to E.164)
// that proves the user reads messages there. The number is kept only once
// the code comes back (ConfirmPhone): until then the user's current number,
// if any, stays. Errors: an *idp.InputError (field "phone") for a number
// that is not international, channels.ErrSMSOff without a gateway, and
// Sender's errors.
func (s *SMS) StartVerification(ctx context.Context, user *storage.User, typed, clientIP string) (idp.CodeSent, error) {
	if !s.ch.SMSEnabled() {
		return idp.CodeSent{}, channels.ErrSMSOff
	}
	to, err := notify.ParsePhoneNumber(typed)
	if err != nil {
		return idp.CodeSent{}, phoneInputError()
	}
	if _, err := s.verify.send(ctx, user, to, "", clientIP, true); err != nil {
		var ie *idp.InputError
		if errors.As(err, &ie) {
			return idp.CodeSent{}, phoneInputError()
		}
		return idp.CodeSent{}, err
	}
	s.audit.Record(ctx, idp.UserActor(user.ID), "phone.code_sent", user.ID, map[string]any{"to": maskPhone(to)})
	return idp.CodeSent{To: maskPhone(to), Sent: true}, nil
}

// Pending is the number waiting for its code ("" when none is).
func (s *SMS) Pending(ctx context.Context, user *storage.User) (string, error) {
	row, err := s.store.LiveOneTimeCode(ctx, user.ID, storage.PurposeVerifyPhone)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return row.Target, nil
}

// ResendVerification texts a new code to the pending number.
func (s *SMS) ResendVerification(ctx context.Context, user *storage.User, clientIP string) (idp.CodeSent, error) {
	to, err := s.Pending(ctx, user)
	if err != nil {
		return idp.CodeSent{}, err
	}
	if to == "" {
		return idp.CodeSent{}, idp.ErrNotFound
	}
	return s.StartVerification(ctx, user, to, clientIP)
}

// ConfirmPhone keeps the pending number, verified, if code is the one sent
// to it; the sign-in codes sent to the number it replaces stop working.
// idp.ErrInvalidCode otherwise (run it under the registry's CheckOTP).
func (s *SMS) ConfirmPhone(ctx context.Context, user *storage.User, code string) (string, error) {
	row, err := s.verify.check(ctx, user.ID, "", []byte(code), func(string) bool { return true })
	if err != nil {
		return "", err
	}
	at := s.now()
	if err := s.store.SetPhone(ctx, user.ID, row.Target, &at); err != nil {
		return "", err
	}
	if err := s.store.RetireOneTimeCodes(ctx, user.ID, storage.PurposeSignInSMS); err != nil {
		return "", err
	}
	s.audit.Record(ctx, idp.UserActor(user.ID), "phone.verified", user.ID, map[string]any{"phone": maskPhone(row.Target), "replaced": user.Phone != ""})
	return row.Target, nil
}

// RemovePhone forgets the user's number and any code sent to it.
// idp.ErrNotFound when there is no number and none pending.
func (s *SMS) RemovePhone(ctx context.Context, user *storage.User) error {
	pending, err := s.Pending(ctx, user)
	if err != nil {
		return err
	}
	if user.Phone == "" && pending == "" {
		return idp.ErrNotFound
	}
	if err := s.store.RetireOneTimeCodes(ctx, user.ID, storage.PurposeSignInSMS, storage.PurposeVerifyPhone); err != nil {
		return err
	}
	if user.Phone != "" {
		if err := s.store.SetPhone(ctx, user.ID, "", nil); err != nil {
			return err
		}
	}
	s.audit.Record(ctx, idp.UserActor(user.ID), "phone.removed", user.ID, map[string]any{"phone": maskPhone(user.Phone), "pending": pending != ""})
	return nil
}
