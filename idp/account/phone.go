package account

import (
	"context"
	"slices"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/factors"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// The phone number for text messages, on the account page: a number is
// added by proving it (a code sent to it, factors.SMS), and removed. Both,
// like every change of a second factor, need a fresh proof. And which
// second factors prove the user here, now that a verified address or number
// may be one.

// PhoneView is the phone number part of the account page.
type PhoneView struct {
	// Available: an SMS gateway is configured, so numbers can be added.
	Available bool
	// Number is the verified number (E.164), "" when there is none.
	Number string
	// Pending is a number waiting for the code sent to it, "" when none is.
	Pending string
}

// phoneView reads the phone number part of the account page.
func (s *Service) phoneView(ctx context.Context, user *storage.User) (PhoneView, error) {
	sms := factors.Find[*factors.SMS](s.factors)
	if sms == nil {
		return PhoneView{}, nil
	}
	v := PhoneView{Available: sms.Available()}
	if user.PhoneVerifiedAt != nil {
		v.Number = user.Phone
	}
	pending, err := sms.Pending(ctx, user)
	if err != nil {
		return v, err
	}
	if pending != v.Number {
		v.Pending = pending
	}
	return v, nil
}

// smsFactor is the SMS factor, when text messages can be sent.
func (s *Service) smsFactor() (*factors.SMS, error) {
	sms := factors.Find[*factors.SMS](s.factors)
	if sms == nil || !sms.Available() {
		return nil, channels.ErrSMSOff
	}
	return sms, nil
}

// AccountAddPhone sends a code to number; the number becomes the user's,
// verified, once AccountConfirmPhone gets the code back (until then the
// current number, if any, stays). Errors: an *idp.InputError (field
// "phone"), channels.ErrSMSOff, an *idp.ThrottledError when a sending limit
// refuses, channels.ErrSendFailed.
func (s *Service) AccountAddPhone(ctx context.Context, b idp.Browser, number string) (idp.CodeSent, error) {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return idp.CodeSent{}, err
	}
	sms, err := s.smsFactor()
	if err != nil {
		return idp.CodeSent{}, err
	}
	return sms.StartVerification(ctx, user, number, b.IP)
}

// AccountResendPhoneCode sends a new code to the number waiting for one;
// idp.ErrNotFound when none is.
func (s *Service) AccountResendPhoneCode(ctx context.Context, b idp.Browser) (idp.CodeSent, error) {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return idp.CodeSent{}, err
	}
	sms, err := s.smsFactor()
	if err != nil {
		return idp.CodeSent{}, err
	}
	return sms.ResendVerification(ctx, user, b.IP)
}

// AccountConfirmPhone keeps the number waiting for code. A wrong code is
// idp.ErrInvalidCode, counted by the throttle of the one-time-code factors
// (*idp.ThrottledError while it refuses).
func (s *Service) AccountConfirmPhone(ctx context.Context, b idp.Browser, code string) error {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return err
	}
	sms, err := s.smsFactor()
	if err != nil {
		return err
	}
	return s.factors.CheckOTP(ctx, user.ID, policy.SMS, func() error {
		_, err := sms.ConfirmPhone(ctx, user, code)
		return err
	})
}

// AccountRemovePhone forgets the user's number (and one waiting for its
// code). When the number is the user's only second factor that counts and a
// policy requires MFA, it is idp.ErrLastFactor; idp.ErrNotFound when there
// is no number.
func (s *Service) AccountRemovePhone(ctx context.Context, b idp.Browser) error {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return err
	}
	sms := factors.Find[*factors.SMS](s.factors)
	if sms == nil {
		return idp.ErrNotFound
	}
	verified := user.Phone != "" && user.PhoneVerifiedAt != nil
	if verified {
		last, err := s.onlyFactorIsSMS(ctx, user)
		if err != nil {
			return err
		}
		if last {
			return idp.ErrLastFactor
		}
	}
	if err := sms.RemovePhone(ctx, user); err != nil {
		return err
	}
	if verified {
		// A removed factor may be why a device was trusted: trust none.
		return s.store.ForgetRememberedDevices(ctx, user.ID)
	}
	return nil
}

// onlyFactorIsSMS: a policy of the user's groups or the default policy
// requires MFA, and the SMS code is the only second factor the user has
// that those policies count.
func (s *Service) onlyFactorIsSMS(ctx context.Context, user *storage.User) (bool, error) {
	required, err := s.mfaRequired(ctx, user)
	if err != nil || !required {
		return false, err
	}
	pols, err := directory.EffectivePolicies(ctx, s.store, nil, user)
	if err != nil {
		return false, err
	}
	allowed := policy.AllowedMethods(pols)
	if !slices.Contains(allowed, policy.SMS) {
		return false, nil // not a factor here: removing it takes nothing away
	}
	enrolled, err := s.factors.Enrolled(ctx, user.ID)
	if err != nil {
		return false, err
	}
	for _, m := range enrolled.Methods {
		if m != policy.SMS && m != policy.BackupCode && slices.Contains(allowed, m) {
			return false, nil
		}
	}
	return true, nil
}

// secondFactors are the second factors the user has that prove them on the
// account pages: every one, except an opt-in one (email, sms codes) that
// the account client's policies do not list — a code to an address is no
// proof where the administrator did not turn it on, and asking for it would
// leave the user unable to confirm it is them.
func (s *Service) secondFactors(ctx context.Context, user *storage.User) ([]policy.Method, error) {
	enrolled, err := s.factors.Enrolled(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(enrolled.Methods, policy.Method.OptIn) {
		return enrolled.Methods, nil
	}
	client, err := s.store.GetClient(ctx, ClientID)
	if err != nil {
		return nil, err
	}
	pols, err := directory.EffectivePolicies(ctx, s.store, client, user)
	if err != nil {
		return nil, err
	}
	allowed := policy.AllowedMethods(pols)
	return slices.DeleteFunc(slices.Clone(enrolled.Methods), func(m policy.Method) bool {
		return m.OptIn() && !slices.Contains(allowed, m)
	}), nil
}
