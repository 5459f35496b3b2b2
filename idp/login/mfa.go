package login

import (
	"context"
	"slices"
	"strings"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/factors"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/idp/session"
	"github.com/twofold-idp/twofold/storage"
)

// MFA is the second-factor part of a login: challenges, passkey sign-in
// and enrollment during sign-in. It shares the Flow's state machine.
type MFA struct {
	*Flow
}

// NewMFA serves the second-factor pages of flow's logins.
func NewMFA(flow *Flow) *MFA { return &MFA{Flow: flow} }

// pending is a login past its first factor, as the second-factor steps
// see it.
type pending struct {
	ar     *storage.AuthRequest
	sess   *storage.Session
	user   *storage.User
	client *storage.Client
}

// loadPending loads the login of request id in browser b; it needs a live
// session (the first factor).
func (m *MFA) loadPending(ctx context.Context, id string, b idp.Browser) (*pending, error) {
	ar, err := m.loadAuthRequest(ctx, id, b)
	if err != nil {
		return nil, err
	}
	sess, user, err := m.sessions.LoadFor(ctx, b.SessionCookie, id)
	if err != nil {
		return nil, err
	}
	if sess == nil {
		return nil, idp.ErrAuthRequestNotFound
	}
	client, err := m.store.GetClient(ctx, ar.ClientID)
	if err != nil {
		return nil, err
	}
	return &pending{ar: ar, sess: sess, user: user, client: client}, nil
}

// asked loads the pending login and checks that the flow asks for method
// now: a factor the policies do not allow, or one posted to a step that
// asks for something else (the first factor again, enrollment), proves
// nothing (SECURITY-RULES: "A step-up completes only the authorization
// request and browser session it belongs to").
func (m *MFA) asked(ctx context.Context, id string, b idp.Browser, method string) (*pending, factors.Factor, policy.Decision, error) {
	l, err := m.loadPending(ctx, id, b)
	if err != nil {
		return nil, nil, policy.Decision{}, err
	}
	f, ok := m.factors.Get(policy.Method(method))
	if !ok {
		return nil, nil, policy.Decision{}, idp.ErrAuthRequestNotFound
	}
	d, err := m.decide(ctx, l.ar, l.client, l.user, l.sess, b)
	if err != nil {
		return nil, nil, policy.Decision{}, err
	}
	if methods, _ := m.challenge(d.Decision, d.enrolled, l.sess); !slices.Contains(methods, f.Method()) {
		return nil, nil, policy.Decision{}, idp.ErrAuthRequestNotFound
	}
	return l, f, d.Decision, nil
}

// challengeOf is the challenge of login l under decision d in browser b.
func challengeOf(l *pending, d policy.Decision, b idp.Browser) factors.Challenge {
	return factors.Challenge{RequireUV: d.RequireUV, RequireDeviceBound: d.RequireDeviceBound, For: l.ar.ID, ClientIP: b.IP}
}

// BeginFactor starts the challenge of method (WebAuthn: the options for
// navigator.credentials.get).
func (m *MFA) BeginFactor(ctx context.Context, id string, b idp.Browser, method string) ([]byte, error) {
	l, f, d, err := m.asked(ctx, id, b, method)
	if err != nil {
		return nil, err
	}
	return f.Begin(ctx, l.user, challengeOf(l, d, b))
}

// SendCode sends the one-time code of method (email, sms) for request id,
// when its challenge page is first shown (resend false: nothing is sent if
// the code sent for this sign-in is still good) and when the person asks
// for a new one (resend). Errors: idp.ErrAuthRequestNotFound when the
// sign-in does not ask for method now, an *idp.ThrottledError when a
// sending limit refuses, channels.ErrSendFailed when the message could not
// be handed over.
func (m *MFA) SendCode(ctx context.Context, id string, b idp.Browser, method string, resend bool) (idp.CodeSent, error) {
	l, f, d, err := m.asked(ctx, id, b, method)
	if err != nil {
		return idp.CodeSent{}, err
	}
	s, ok := f.(factors.Sender)
	if !ok {
		return idp.CodeSent{}, idp.ErrAuthRequestNotFound
	}
	return s.Send(ctx, l.user, challengeOf(l, d, b), resend)
}

// SubmitFactor checks a second factor of method for request id (a code,
// or the WebAuthn script's JSON) and moves the login on. With remember,
// the person asked to remember this browser: when the policies allow it,
// Step.Device is the cookie to set.
func (m *MFA) SubmitFactor(ctx context.Context, id string, b idp.Browser, method string, input []byte, remember bool) (idp.Step, error) {
	l, _, d, err := m.asked(ctx, id, b, method)
	if err != nil {
		return idp.Step{}, err
	}
	proof, err := m.factors.Verify(ctx, l.user, policy.Method(method), challengeOf(l, d, b), input)
	if err != nil {
		return idp.Step{}, err
	}
	step, err := m.afterFactor(ctx, l, b, proof, remember)
	if policy.Method(method) == policy.BackupCode {
		m.backupCodeNotice(ctx, l.user, b) // the code is used, whatever happens next
	}
	return step, err
}

// afterFactor records a proven factor with a new session cookie, remembers
// the device when asked and allowed, and moves the login on.
func (m *MFA) afterFactor(ctx context.Context, l *pending, b idp.Browser, proof storage.SessionFactor, remember bool) (idp.Step, error) {
	cookie, err := m.sessions.AddFactor(ctx, l.sess, b.SessionCookie, proof)
	if err != nil {
		return idp.Step{}, err
	}
	var device *idp.SessionCookie
	if remember {
		if device, err = m.rememberDevice(ctx, l, b); err != nil {
			return idp.Step{}, err
		}
	}
	b.SessionCookie = cookie.Value
	step, err := m.next(ctx, l.ar, b, true)
	step.Session, step.Device = cookie, device
	return step, err
}

// rememberDevice lets this browser skip the second factor for as long as
// the policies allow (nil when they allow none).
func (m *MFA) rememberDevice(ctx context.Context, l *pending, b idp.Browser) (*idp.SessionCookie, error) {
	pols, err := directory.EffectivePolicies(ctx, m.store, l.client, l.user)
	if err != nil {
		return nil, err
	}
	remember := policy.RememberFor(pols)
	if remember <= 0 {
		return nil, nil
	}
	value := idp.RandomToken(32)
	dev := &storage.RememberedDevice{
		ID: idp.RandomToken(16), UserID: l.user.ID, TokenHash: idp.HashSecret(value), Label: deviceLabel(b.UserAgent),
		ExpiresAt: m.now().Add(remember),
	}
	if err := m.store.CreateRememberedDevice(ctx, dev); err != nil {
		return nil, err
	}
	m.audit.Record(ctx, idp.UserActor(l.user.ID), "device.remembered", l.user.ID, map[string]any{"device": dev.ID, "until": dev.ExpiresAt})
	return &idp.SessionCookie{Value: value, Expires: dev.ExpiresAt}, nil
}

// deviceLabel names a device by its browser, shortly.
func deviceLabel(ua string) string {
	for _, b := range []string{"Edg/", "Firefox/", "Chrome/", "Safari/"} {
		if strings.Contains(ua, b) {
			name := strings.TrimSuffix(b, "/")
			if name == "Edg" {
				name = "Edge"
			}
			return name
		}
	}
	return idp.DisplayName(ua, "A browser")
}

// BeginPasskey starts a passkey sign-in (no username: the authenticator
// says whose passkey it is).
func (m *MFA) BeginPasskey(ctx context.Context, id string, b idp.Browser) ([]byte, error) {
	if _, err := m.loadAuthRequest(ctx, id, b); err != nil {
		return nil, err
	}
	return factors.Find[*factors.WebAuthn](m.factors).BeginPasskey(ctx)
}

// FinishPasskey verifies a passkey sign-in: with user verification it is
// two factors by itself (amr hwk, user, mfa; level phr).
func (m *MFA) FinishPasskey(ctx context.Context, id string, b idp.Browser, body []byte) (idp.Step, error) {
	ar, err := m.loadAuthRequest(ctx, id, b)
	if err != nil {
		return idp.Step{}, err
	}
	owner, proof, err := factors.Find[*factors.WebAuthn](m.factors).FinishPasskey(ctx, body)
	if err != nil {
		return idp.Step{}, err
	}
	cookie, err := m.sessions.Start(ctx, owner.ID, ar.ID, b, proof)
	if err != nil {
		return idp.Step{}, err
	}
	m.audit.Record(ctx, idp.UserActor(owner.ID), "login.passkey", owner.ID, map[string]any{"ip": b.IP, "client_id": ar.ClientID})
	b.SessionCookie = cookie.Value
	step, err := m.next(ctx, ar, b, true)
	step.Session = cookie
	return step, err
}

// enrollment admits enrolling method during a login only when the policy
// asks for enrollment with it, and — if the user already has a second
// factor — only after a fresh proof of it, so a stolen password cannot
// plant an attacker's authenticator.
func (m *MFA) enrollment(ctx context.Context, id string, b idp.Browser, method policy.Method) (*pending, error) {
	l, err := m.loadPending(ctx, id, b)
	if err != nil {
		return nil, err
	}
	d, err := m.decide(ctx, l.ar, l.client, l.user, l.sess, b)
	if err != nil {
		return nil, err
	}
	if d.Need != policy.NeedEnrollment || !slices.Contains(d.Methods, method) {
		return nil, idp.ErrAuthRequestNotFound
	}
	if len(proofMethods(d.Decision, d.enrolled)) > 0 && !session.FreshSecondFactor(l.sess, m.now(), session.FreshProof) {
		return nil, idp.ErrAuthRequestNotFound
	}
	return l, nil
}

// StartTOTPEnrollment creates an authenticator for the user to scan.
func (m *MFA) StartTOTPEnrollment(ctx context.Context, id string, b idp.Browser) (idp.TOTPEnrollment, error) {
	l, err := m.enrollment(ctx, id, b, policy.TOTP)
	if err != nil {
		return idp.TOTPEnrollment{}, err
	}
	return factors.Find[*factors.TOTP](m.factors).StartEnrollment(ctx, l.user, "Authenticator app")
}

// TOTPEnrollment shows an unconfirmed authenticator again.
func (m *MFA) TOTPEnrollment(ctx context.Context, id string, b idp.Browser, enrollmentID string) (idp.TOTPEnrollment, error) {
	l, err := m.enrollment(ctx, id, b, policy.TOTP)
	if err != nil {
		return idp.TOTPEnrollment{}, err
	}
	e, err := factors.Find[*factors.TOTP](m.factors).Enrollment(ctx, l.user, enrollmentID)
	if err != nil {
		return idp.TOTPEnrollment{}, idp.ErrAuthRequestNotFound
	}
	return e, nil
}

// ConfirmTOTPEnrollment activates the authenticator with its first code,
// which also proves it as this login's second factor.
func (m *MFA) ConfirmTOTPEnrollment(ctx context.Context, id string, b idp.Browser, enrollmentID, code string) (idp.Step, error) {
	l, err := m.enrollment(ctx, id, b, policy.TOTP)
	if err != nil {
		return idp.Step{}, err
	}
	var proof storage.SessionFactor
	err = m.factors.CheckOTP(ctx, l.user.ID, policy.TOTP, func() error {
		var err error
		proof, err = factors.Find[*factors.TOTP](m.factors).ConfirmEnrollment(ctx, l.user, enrollmentID, code)
		return err
	})
	if err != nil {
		return idp.Step{}, err
	}
	m.enrolledNotice(ctx, l.user, policy.TOTP, b)
	return m.afterFactor(ctx, l, b, proof, false)
}

// BeginWebAuthnRegistration starts registering a passkey or security key.
func (m *MFA) BeginWebAuthnRegistration(ctx context.Context, id string, b idp.Browser) ([]byte, error) {
	l, err := m.enrollment(ctx, id, b, policy.WebAuthn)
	if err != nil {
		return nil, err
	}
	return factors.Find[*factors.WebAuthn](m.factors).BeginRegistration(ctx, l.user)
}

// FinishWebAuthnRegistration stores the new credential; registering it
// proves it as this login's second factor.
func (m *MFA) FinishWebAuthnRegistration(ctx context.Context, id string, b idp.Browser, body []byte) (idp.Step, error) {
	l, err := m.enrollment(ctx, id, b, policy.WebAuthn)
	if err != nil {
		return idp.Step{}, err
	}
	proof, err := factors.Find[*factors.WebAuthn](m.factors).FinishRegistration(ctx, l.user, body)
	if err != nil {
		return idp.Step{}, err
	}
	m.enrolledNotice(ctx, l.user, policy.WebAuthn, b)
	return m.afterFactor(ctx, l, b, proof, false)
}
