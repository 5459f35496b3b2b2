package account

import (
	"context"
	"errors"
	"strings"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/emailverify"
	"github.com/twofold-idp/twofold/idp/notices"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/storage"
)

// Self-service and administration through mail (issue 11): verifying and
// changing the email address, the security notifications of every
// sensitive change, the "this wasn't me" block on those changes, and
// telling a user whose second factors an administrator reset.

// Notifier sends security notifications (*notices.Service).
type Notifier interface {
	Notify(ctx context.Context, user *storage.User, n notices.Notice) bool
	NotifyUser(ctx context.Context, userID string, n notices.Notice) bool
}

// EmailVerifier sends and checks email verification codes
// (*emailverify.Service).
type EmailVerifier interface {
	Send(ctx context.Context, user *storage.User, clientIP string) error
	CheckCode(ctx context.Context, user *storage.User, code string) error
}

// Resets removes a user's second factors at an administrator's request
// (*directory.Directory).
type Resets interface {
	ResetMFAByID(ctx context.Context, actor idp.Actor, id, reason string) error
	ForceReenrollment(ctx context.Context, actor idp.Actor, id, reason string) error
}

// Outbound is what self-service sends mail through. Without it (nil
// fields) nothing is sent and the email section cannot verify.
type Outbound struct {
	Notices Notifier
	Emails  EmailVerifier
	Resets  Resets
}

// Option tunes a Service.
type Option func(*Service)

// WithOutbound lets self-service send mail.
func WithOutbound(o Outbound) Option { return func(s *Service) { s.out = o } }

// EmailStore changes a user's address.
type EmailStore interface {
	ChangeEmail(ctx context.Context, userID, email string) error
}

var _ EmailStore = (*storage.Store)(nil)

// notify tells user of n when the service sends mail.
func (s *Service) notify(ctx context.Context, user *storage.User, b idp.Browser, n notices.Notice) {
	if s.out.Notices == nil {
		return
	}
	if n.IP == "" {
		n.IP = b.IP
	}
	s.out.Notices.Notify(ctx, user, n)
}

// blocked refuses a sensitive change while "this wasn't me" blocks them.
func blocked(user *storage.User) error {
	if user.ChangesBlockedAt != nil {
		return idp.ErrChangesBlocked
	}
	return nil
}

// AccountSendVerificationEmail mails a code and a link that verify the
// user's current address (not a sensitive change: it proves, it changes
// nothing). Errors: idp.ErrNoEmail, an *idp.InputError (already
// verified), *idp.ThrottledError, channels.ErrSendFailed.
func (s *Service) AccountSendVerificationEmail(ctx context.Context, b idp.Browser) error {
	_, user, err := s.signedIn(ctx, b)
	if err != nil {
		return err
	}
	if s.out.Emails == nil {
		return errors.New("account: no email verifier")
	}
	return s.out.Emails.Send(ctx, user, b.IP)
}

// AccountVerifyEmail verifies the user's address with the code they typed.
// Errors: idp.ErrInvalidCode (wrong), idp.ErrCodeExpired (none live: send
// a new one), an *idp.InputError (not a code at all).
func (s *Service) AccountVerifyEmail(ctx context.Context, b idp.Browser, code string) error {
	_, user, err := s.signedIn(ctx, b)
	if err != nil {
		return err
	}
	if s.out.Emails == nil {
		return errors.New("account: no email verifier")
	}
	return s.out.Emails.CheckCode(ctx, user, code)
}

// AccountChangeEmail sets a new address, unverified (a sensitive change:
// a fresh proof, and refused while blocked). The old address, when it was
// verified, is told (notify.EmailChanged); a verification code goes to the
// new one, whose send failing does not undo the change (the page offers to
// send again). *idp.InputError (field email) for an address that is not
// one, or is the current one.
func (s *Service) AccountChangeEmail(ctx context.Context, b idp.Browser, email string) error {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return err
	}
	email = strings.TrimSpace(email)
	if err := directory.ValidateEmail(email); err != nil {
		return err
	}
	if strings.EqualFold(email, user.Email) {
		return idp.InputErrorf("email", "is already your address")
	}
	old := *user
	if err := s.store.ChangeEmail(ctx, user.ID, email); err != nil {
		return notFound(err)
	}
	s.audit.Record(ctx, idp.Actor{ID: user.ID, IP: b.IP, RequestID: b.RequestID}, "email.changed", user.ID,
		map[string]any{"was_verified": emailverify.Verified(&old)})
	if emailverify.Verified(&old) {
		s.notify(ctx, &old, b, notices.Notice{Kind: notify.EmailChanged, To: old.Email})
	}
	if s.out.Emails != nil {
		changed, err := s.store.GetUser(ctx, user.ID)
		if err == nil {
			err = s.out.Emails.Send(ctx, changed, b.IP)
		}
		if err != nil {
			s.audit.Record(ctx, idp.UserActor(user.ID), "email.verification_not_sent", user.ID, map[string]any{"reason": sendFailure(err)})
		}
	}
	return nil
}

// sendFailure says in a word why a send did not happen, for the audit.
func sendFailure(err error) string {
	var throttled *idp.ThrottledError
	if errors.As(err, &throttled) {
		return "sending limit reached"
	}
	return "send failed"
}

// ResetUserMFA is directory.ResetMFAByID and then a notification to the
// user (notify.MFAReset); it reports whether they were told (false: no
// verified address, or the mail failed — the administrator must tell them).
func (s *Service) ResetUserMFA(ctx context.Context, actor idp.Actor, userID, reason string) (bool, error) {
	if s.out.Resets == nil {
		return false, errors.New("account: no MFA reset")
	}
	if err := s.out.Resets.ResetMFAByID(ctx, actor, userID, reason); err != nil {
		return false, err
	}
	return s.tellReset(ctx, userID), nil
}

// ForceUserReenrollment is directory.ForceReenrollment and then a
// notification to the user, as ResetUserMFA.
func (s *Service) ForceUserReenrollment(ctx context.Context, actor idp.Actor, userID, reason string) (bool, error) {
	if s.out.Resets == nil {
		return false, errors.New("account: no MFA reset")
	}
	if err := s.out.Resets.ForceReenrollment(ctx, actor, userID, reason); err != nil {
		return false, err
	}
	return s.tellReset(ctx, userID), nil
}

func (s *Service) tellReset(ctx context.Context, userID string) bool {
	if s.out.Notices == nil {
		return false
	}
	return s.out.Notices.NotifyUser(ctx, userID, notices.Notice{Kind: notify.MFAReset})
}
