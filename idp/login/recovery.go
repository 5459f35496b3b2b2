package login

import (
	"context"
	"slices"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/idp/recovery"
	"github.com/twofold-idp/twofold/storage"
)

// Recoveries is the lost-factor recovery (*recovery.Service) as sign-ins
// use it: the pages of a sign-in at its second-factor step start one, and
// complete it after its waiting period.
type Recoveries interface {
	Status(ctx context.Context, user *storage.User) (recovery.Status, error)
	Open(ctx context.Context, userID string) (*storage.Recovery, error)
	SendCode(ctx context.Context, b idp.Browser, user *storage.User) error
	Start(ctx context.Context, b idp.Browser, user *storage.User, code string) (*storage.Recovery, error)
	Complete(ctx context.Context, b idp.Browser, user *storage.User, code string) error
}

var _ Recoveries = (*recovery.Service)(nil)

// WithRecovery lets users who cannot use their second factor recover it
// themselves during a sign-in ("I can't use my authenticator"); without it
// the page offers a backup code only.
func WithRecovery(r Recoveries) Option { return func(f *Flow) { f.recovery = r } }

// recoveryStatus is the user's open recovery as the challenge page shows
// it (nil: none, or recovery is off).
func (f *Flow) recoveryStatus(ctx context.Context, userID string) (*idp.RecoveryStatus, error) {
	if f.recovery == nil {
		return nil, nil
	}
	r, err := f.recovery.Open(ctx, userID)
	if err != nil || r == nil {
		return nil, err
	}
	return &idp.RecoveryStatus{ReadyAt: r.ReadyAt, Ready: !f.now().Before(r.ReadyAt)}, nil
}

// atChallenge loads the sign-in of request id and checks that it is at a
// second-factor challenge: the only step the lost-factor pages belong to
// (SECURITY-RULES: "A step-up completes only the authorization request and
// browser session it belongs to"). It returns the methods asked.
func (m *MFA) atChallenge(ctx context.Context, id string, b idp.Browser) (*pending, []policy.Method, error) {
	l, err := m.loadPending(ctx, id, b)
	if err != nil {
		return nil, nil, err
	}
	d, err := m.decide(ctx, l.ar, l.client, l.user, l.sess, b)
	if err != nil {
		return nil, nil, err
	}
	a := m.ask(d.Decision, d.enrolled, l.sess)
	if a.kind != askSecondFactor {
		return nil, nil, idp.ErrAuthRequestNotFound
	}
	return l, a.methods, nil
}

// LostFactor says what the "I can't use my authenticator" page of the
// sign-in of request id offers: a backup code when the sign-in accepts
// one, else recovery by email (when on and the user has a verified
// address), and where the user's recovery stands.
func (m *MFA) LostFactor(ctx context.Context, id string, b idp.Browser) (idp.LostFactor, error) {
	l, methods, err := m.atChallenge(ctx, id, b)
	if err != nil {
		return idp.LostFactor{}, err
	}
	lf := idp.LostFactor{BackupCode: slices.Contains(methods, policy.BackupCode)}
	if m.recovery == nil {
		return lf, nil
	}
	st, err := m.recovery.Status(ctx, l.user)
	if err != nil {
		return lf, err
	}
	lf.Email, lf.CodeSent, lf.Wait = st.Email, st.CodeSent, st.Wait
	if st.Open != nil {
		lf.Recovery = &idp.RecoveryStatus{ReadyAt: st.Open.ReadyAt, Ready: st.Ready}
	}
	return lf, nil
}

// SendRecoveryCode mails the user of the sign-in of request id a code for
// the next step of their recovery (recovery.Service.SendCode).
func (m *MFA) SendRecoveryCode(ctx context.Context, id string, b idp.Browser) error {
	l, _, err := m.atChallenge(ctx, id, b)
	if err != nil {
		return err
	}
	if m.recovery == nil {
		return idp.ErrAuthRequestNotFound
	}
	return m.recovery.SendCode(ctx, b, l.user)
}

// StartRecovery starts a recovery for the user of the sign-in of request
// id, who proved their password, with the emailed code
// (recovery.Service.Start). The sign-in stays where it is: the recovery
// completes in a sign-in after the waiting period.
func (m *MFA) StartRecovery(ctx context.Context, id string, b idp.Browser, code string) error {
	l, _, err := m.atChallenge(ctx, id, b)
	if err != nil {
		return err
	}
	if m.recovery == nil {
		return idp.ErrAuthRequestNotFound
	}
	_, err = m.recovery.Start(ctx, b, l.user, code)
	return err
}

// CompleteRecovery completes the user's ready recovery with the emailed
// code (recovery.Service.Complete): their old second factors are removed
// and every session ends, this one too. The sign-in goes on in a new
// session that holds only the first factor proven before, and enrolls a
// new second factor (then shows new backup codes): the level is never
// lowered, since nothing but the password is counted.
func (m *MFA) CompleteRecovery(ctx context.Context, id string, b idp.Browser, code string) (idp.Step, error) {
	l, _, err := m.atChallenge(ctx, id, b)
	if err != nil {
		return idp.Step{}, err
	}
	if m.recovery == nil {
		return idp.Step{}, idp.ErrAuthRequestNotFound
	}
	if err := m.recovery.Complete(ctx, b, l.user, code); err != nil {
		return idp.Step{}, err
	}
	first := storage.SessionFactor{Method: policy.FactorPassword, At: l.sess.AuthTime, AMR: []string{"pwd"}}
	for _, f := range l.sess.Factors {
		if f.Method == policy.FactorPassword {
			first = f
		}
	}
	cookie, err := m.sessions.Start(ctx, l.user.ID, l.ar.ID, b, first)
	if err != nil {
		return idp.Step{}, err
	}
	b.SessionCookie = cookie.Value
	step, err := m.next(ctx, l.ar, b, true)
	step.Session = cookie
	return step, err
}
