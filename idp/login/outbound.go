package login

import (
	"context"
	"errors"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/emailverify"
	"github.com/twofold-idp/twofold/idp/factors"
	"github.com/twofold-idp/twofold/idp/notices"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// What a sign-in tells people and checks through mail (issue 11): the
// verified email a policy may require before the code is issued, a
// notification of a sign-in from a new device and of a backup code used or
// a factor enrolled during a sign-in, and lifting the "this wasn't me"
// block at a sign-in that proves every kind of factor.

// Notifier sends security notifications (*notices.Service).
type Notifier interface {
	Notify(ctx context.Context, user *storage.User, n notices.Notice) bool
}

// EmailVerifier sends and checks email verification codes
// (*emailverify.Service).
type EmailVerifier interface {
	Send(ctx context.Context, user *storage.User, clientIP string) error
	CheckCode(ctx context.Context, user *storage.User, code string) error
}

// Outbound is what the flow sends mail through; a nil field turns its part
// off (the policy simulator's flow has neither).
type Outbound struct {
	Notices Notifier
	Emails  EmailVerifier
}

// WithOutbound lets the flow send mail.
func WithOutbound(o Outbound) Option { return func(f *Flow) { f.out = o } }

// KnownDeviceTTL is how long a browser stays one of a user's known devices
// after they last signed in from it (and how long its cookie lasts): the
// longest lifetime browsers grant a cookie (RFC 6265bis §5.5: 400 days).
const KnownDeviceTTL = 400 * 24 * time.Hour

// emailGate is the verify-email step when a policy of the sign-in requires
// a verified address the user has not: the page (interactive), or
// interaction_required (prompt=none). A user without an address cannot
// meet it: unmet_authentication_requirements, never a dead-end page.
func (f *Flow) emailGate(ctx context.Context, ar *storage.AuthRequest, user *storage.User, pols []policy.Named, step idp.Step, interactive bool) (idp.Step, bool, error) {
	if !policy.RequiresVerifiedEmail(pols) || emailverify.Verified(user) {
		return step, false, nil
	}
	if user.Email == "" || f.out.Emails == nil {
		f.audit.Record(ctx, idp.UserActor(user.ID), "login.email_unverifiable", user.ID, map[string]any{"client_id": ar.ClientID})
		s, err := unmet(ar, f.issuer, interactive)
		return s, true, err
	}
	if !interactive {
		return idp.Step{}, true, oidc.ErrInteractionRequired().WithDescription("The user must verify their email address.")
	}
	step.Kind, step.Email = idp.StepVerifyEmail, emailverify.MaskEmail(user.Email)
	return step, true, nil
}

// signedIn runs when the policy of a sign-in is met: it lifts the "this
// wasn't me" block once the session proves every kind of factor the user
// has, and — for a sign-in just completed (not a silent SSO) — tells the
// user of a sign-in from a new device.
func (f *Flow) signedIn(ctx context.Context, user *storage.User, sess *storage.Session, enrolled factors.Enrollment, b idp.Browser, completed bool) {
	if user.ChangesBlockedAt != nil && notices.FullSignIn(user, sess, len(enrolled.Methods) > 0, *user.ChangesBlockedAt) {
		if err := f.store.SetChangesBlocked(ctx, user.ID, nil); err != nil {
			f.log.ErrorContext(ctx, "lift the changes block", "err", err)
		} else {
			user.ChangesBlockedAt = nil
			f.audit.Record(ctx, idp.UserActor(user.ID), "account.unblocked", user.ID, map[string]any{"session_id": sess.ID})
		}
	}
	if completed {
		f.seeDevice(ctx, user, b)
	}
}

// seeDevice records the browser as one of the user's known devices and
// notifies the user when it is new to them — unless it is the first the
// user is known to sign in from (a first sign-in, or the first since
// Twofold began to remember browsers): there is nothing to tell it apart
// from.
func (f *Flow) seeDevice(ctx context.Context, user *storage.User, b idp.Browser) {
	if f.out.Notices == nil || b.KnownDeviceCookie == "" {
		return
	}
	isNew, hadOthers, err := f.store.SeeKnownDevice(ctx, user.ID, idp.HashSecret(b.KnownDeviceCookie), f.now().Add(KnownDeviceTTL))
	if err != nil {
		f.log.ErrorContext(ctx, "record a known device", "err", err)
		return
	}
	if isNew && hadOthers {
		f.out.Notices.Notify(ctx, user, notices.Notice{Kind: notify.NewDeviceSignIn, IP: b.IP, Device: deviceLabel(b.UserAgent)})
	}
}

// notify sends a security notification about user if the flow sends mail.
func (f *Flow) notify(ctx context.Context, user *storage.User, n notices.Notice) {
	if f.out.Notices != nil {
		f.out.Notices.Notify(ctx, user, n)
	}
}

// emailStep loads the pending sign-in of request id at its verify-email
// step — its factors proven, a policy asking for a verified address;
// idp.ErrAuthRequestNotFound when it is at another (a password alone does
// not get codes sent while a second factor is still asked).
func (m *MFA) emailStep(ctx context.Context, id string, b idp.Browser) (*pending, error) {
	l, err := m.loadPending(ctx, id, b)
	if err != nil {
		return nil, err
	}
	d, err := m.decide(ctx, l.ar, l.client, l.user, l.sess, b)
	if err != nil {
		return nil, err
	}
	if m.out.Emails == nil || m.ask(d.Decision, d.enrolled, l.sess).kind != askNothing ||
		!policy.RequiresVerifiedEmail(d.in.Policies) || l.user.Email == "" {
		return nil, idp.ErrAuthRequestNotFound
	}
	return l, nil
}

// SendEmailCode mails a verification code for the address of the user
// signing in with request id, at its verify-email step. Errors:
// *idp.ThrottledError, channels.ErrSendFailed (the page says so and stays
// usable); an address verified meanwhile sends nothing.
func (m *MFA) SendEmailCode(ctx context.Context, id string, b idp.Browser) error {
	l, err := m.emailStep(ctx, id, b)
	if err != nil {
		return err
	}
	err = m.out.Emails.Send(ctx, l.user, b.IP)
	var input *idp.InputError
	if errors.As(err, &input) { // verified meanwhile: the page moves on
		return nil
	}
	return err
}

// SubmitEmailCode checks the verification code typed at the verify-email
// step of request id and moves the sign-in on. Errors: idp.ErrInvalidCode
// (wrong), idp.ErrCodeExpired (none live: send a new one), an
// *idp.InputError (not a code at all).
func (m *MFA) SubmitEmailCode(ctx context.Context, id string, b idp.Browser, code string) (idp.Step, error) {
	l, err := m.emailStep(ctx, id, b)
	if err != nil {
		return idp.Step{}, err
	}
	if !emailverify.Verified(l.user) {
		if err := m.out.Emails.CheckCode(ctx, l.user, code); err != nil {
			return idp.Step{}, err
		}
	}
	return m.next(ctx, l.ar, b, true)
}

// enrolledNotice tells the user of a factor enrolled during a sign-in.
func (m *MFA) enrolledNotice(ctx context.Context, user *storage.User, method policy.Method, b idp.Browser) {
	m.notify(ctx, user, notices.Notice{Kind: notify.FactorAdded, IP: b.IP, Factor: notices.FactorDescription(string(method), "")})
}

// backupCodeNotice tells the user that a backup code was used, with how
// many are left.
func (m *MFA) backupCodeNotice(ctx context.Context, user *storage.User, b idp.Browser) {
	if m.out.Notices == nil {
		return
	}
	left, err := factors.Find[*factors.BackupCodes](m.factors).Left(ctx, user.ID)
	if err != nil {
		m.log.ErrorContext(ctx, "count backup codes", "err", err)
		return
	}
	m.notify(ctx, user, notices.Notice{Kind: notify.BackupCodeUsed, IP: b.IP, Remaining: left})
}
