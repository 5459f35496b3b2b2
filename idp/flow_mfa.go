package idp

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/webauthn"
	"github.com/twofold-idp/twofold/storage"
)

// decide runs the step-up policy for a login: the effective policies, the
// request, the session and what the user has enrolled.
func (p *Provider) decide(ctx context.Context, ar *storage.AuthRequest, client *storage.Client, user *storage.User, sess *storage.Session, b Browser) (policy.Decision, storage.FactorCounts, error) {
	pols, err := effectivePolicies(ctx, p.store, client, user)
	if err != nil {
		return policy.Decision{}, storage.FactorCounts{}, err
	}
	counts, err := p.store.CountSecondFactors(ctx, user.ID)
	if err != nil {
		return policy.Decision{}, storage.FactorCounts{}, err
	}
	remembered := false
	if b.DeviceCookie != "" {
		_, err := p.store.UseRememberedDevice(ctx, user.ID, hashSecret(b.DeviceCookie))
		if err != nil && !isNotFound(err) {
			return policy.Decision{}, counts, err
		}
		remembered = err == nil
	}
	d := policy.Decide(policy.Input{
		Policies: pols, Request: policyRequest(ar, sess), Session: policySession(sess),
		Enrolled: enrolledMethods(counts), RememberedDevice: remembered, Now: p.now(),
	})
	return d, counts, nil
}

func methodNames(ms []policy.Method) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

// sessionAMR lists the amr of the factors that count (second factors only
// within the MFA max age), plus mfa when two kinds were proven.
func sessionAMR(s *storage.Session, d policy.Decision, p *Provider) []string {
	var amr []string
	for _, f := range s.Factors {
		first := f.Method == policy.FactorPassword || f.Method == policy.FactorPasskey
		if !first && d.MaxAge > 0 && p.now().Sub(f.At) > d.MaxAge {
			continue
		}
		for _, v := range f.AMR {
			if !slices.Contains(amr, v) {
				amr = append(amr, v)
			}
		}
	}
	if d.Level >= policy.LevelMFA && !slices.Contains(amr, "mfa") {
		amr = append(amr, "mfa")
	}
	return amr
}

// unmet ends a login the policy cannot satisfy at the relying party, never
// on a dead-end page (ARCHITECTURE.md "Policy").
func unmet(ar *storage.AuthRequest, issuer, reason string, interactive bool) (Step, error) {
	desc := "The required authentication level cannot be met."
	if !interactive {
		e := oidc.ErrInteractionRequired().WithDescription("%s", desc)
		e.ErrorType = "unmet_authentication_requirements"
		return Step{}, e
	}
	_ = reason // in the audit trail, not in the redirect (no raw text to the client)
	return Step{Kind: StepRedirect, AuthRequestID: ar.ID, RedirectURL: errorRedirect(ar, issuer, "unmet_authentication_requirements", desc)}, nil
}

// pendingLogin is a login past its first factor, as the second-factor
// steps see it.
type pendingLogin struct {
	ar     *storage.AuthRequest
	sess   *storage.Session
	user   *storage.User
	client *storage.Client
}

// loadPending loads the login of request id in browser b; it needs a live
// session (the first factor).
func (p *Provider) loadPending(ctx context.Context, id string, b Browser) (*pendingLogin, error) {
	ar, err := p.loadAuthRequest(ctx, id, b)
	if err != nil {
		return nil, err
	}
	sess, user, err := p.sessionUser(ctx, b.SessionCookie)
	if err != nil {
		return nil, err
	}
	if sess == nil {
		return nil, ErrAuthRequestNotFound
	}
	client, err := p.store.GetClient(ctx, ar.ClientID)
	if err != nil {
		return nil, err
	}
	return &pendingLogin{ar: ar, sess: sess, user: user, client: client}, nil
}

// decide runs the policy for a pending login.
func (l *pendingLogin) decide(ctx context.Context, p *Provider, b Browser) (policy.Decision, storage.FactorCounts, error) {
	return p.decide(ctx, l.ar, l.client, l.user, l.sess, b)
}

// SubmitTOTP checks a code from an authenticator app for request id.
func (p *Provider) SubmitTOTP(ctx context.Context, id string, b Browser, code string) (Step, error) {
	return p.submitOTP(ctx, id, b, policy.TOTP, code)
}

// SubmitBackupCode checks (and uses up) a backup code for request id.
func (p *Provider) SubmitBackupCode(ctx context.Context, id string, b Browser, code string) (Step, error) {
	return p.submitOTP(ctx, id, b, policy.BackupCode, code)
}

func (p *Provider) submitOTP(ctx context.Context, id string, b Browser, m policy.Method, code string) (Step, error) {
	l, err := p.loadPending(ctx, id, b)
	if err != nil {
		return Step{}, err
	}
	ar, sess, user := l.ar, l.sess, l.user
	verify, factor := p.verifyTOTP, factorTOTP(p.now())
	if m == policy.BackupCode {
		verify, factor = p.verifyBackupCode, factorBackupCode(p.now())
	}
	if err := p.checkOTP(ctx, user.ID, string(m), func() error { return verify(ctx, user.ID, code) }); err != nil {
		return Step{}, err
	}
	return p.afterFactor(ctx, ar, sess, b, factor)
}

// afterFactor records a proven factor with a new session cookie and moves
// the login on.
func (p *Provider) afterFactor(ctx context.Context, ar *storage.AuthRequest, sess *storage.Session, b Browser, f storage.SessionFactor) (Step, error) {
	cookie, err := p.addFactor(ctx, sess, b.SessionCookie, f)
	if err != nil {
		return Step{}, err
	}
	b.SessionCookie = cookie.Value
	step, err := p.next(ctx, ar, b, true)
	step.Session = cookie
	return step, err
}

// BeginWebAuthn starts a WebAuthn check as the second factor.
func (p *Provider) BeginWebAuthn(ctx context.Context, id string, b Browser) ([]byte, error) {
	if p.wa == nil {
		return nil, ErrWebAuthn
	}
	l, err := p.loadPending(ctx, id, b)
	if err != nil {
		return nil, err
	}
	d, _, err := l.decide(ctx, p, b)
	if err != nil {
		return nil, err
	}
	user := l.user
	wu, err := p.webauthnUser(ctx, user)
	if err != nil {
		return nil, err
	}
	if len(wu.Credentials) == 0 {
		return nil, fmt.Errorf("%w: no security key or passkey is registered", ErrWebAuthn)
	}
	opts, s, err := p.wa.BeginLogin(wu, d.RequireUV)
	if err != nil {
		return nil, err
	}
	return p.beginCeremony(ctx, storage.WebAuthnLogin, &user.ID, opts, s)
}

// FinishWebAuthn verifies the second-factor assertion.
func (p *Provider) FinishWebAuthn(ctx context.Context, id string, b Browser, body []byte) (Step, error) {
	if p.wa == nil {
		return Step{}, ErrWebAuthn
	}
	l, err := p.loadPending(ctx, id, b)
	if err != nil {
		return Step{}, err
	}
	ar, sess, user := l.ar, l.sess, l.user
	f, s, err := p.finishCeremony(ctx, storage.WebAuthnLogin, &user.ID, body)
	if err != nil {
		return Step{}, err
	}
	wu, err := p.webauthnUser(ctx, user)
	if err != nil {
		return Step{}, err
	}
	a, verr := p.wa.FinishLogin(wu, s, f.Credential)
	if err := p.recordAssertion(ctx, user.ID, a, verr); err != nil {
		return Step{}, err
	}
	return p.afterFactor(ctx, ar, sess, b, factorWebAuthn(p.now(), a.UserVerified))
}

// BeginPasskey starts a passkey sign-in (no username: the authenticator
// says whose passkey it is).
func (p *Provider) BeginPasskey(ctx context.Context, id string, b Browser) ([]byte, error) {
	if p.wa == nil {
		return nil, ErrWebAuthn
	}
	if _, err := p.loadAuthRequest(ctx, id, b); err != nil {
		return nil, err
	}
	opts, s, err := p.wa.BeginDiscoverableLogin()
	if err != nil {
		return nil, err
	}
	return p.beginCeremony(ctx, storage.WebAuthnPasskey, nil, opts, s)
}

// FinishPasskey verifies a passkey sign-in: with user verification it is
// two factors by itself (amr hwk, user, mfa; level phr).
func (p *Provider) FinishPasskey(ctx context.Context, id string, b Browser, body []byte) (Step, error) {
	if p.wa == nil {
		return Step{}, ErrWebAuthn
	}
	ar, err := p.loadAuthRequest(ctx, id, b)
	if err != nil {
		return Step{}, err
	}
	f, s, err := p.finishCeremony(ctx, storage.WebAuthnPasskey, nil, body)
	if err != nil {
		return Step{}, err
	}
	var owner *storage.User
	lookup := func(handle []byte) (webauthn.User, error) {
		u, err := p.store.GetUser(ctx, string(handle))
		if err != nil {
			return webauthn.User{}, err
		}
		if u.Disabled {
			return webauthn.User{}, ErrInvalidCredentials
		}
		owner = u
		return p.webauthnUser(ctx, u)
	}
	_, a, verr := p.wa.FinishDiscoverableLogin(s, f.Credential, lookup)
	if owner == nil {
		p.log.InfoContext(ctx, "passkey sign-in refused", "err", verr)
		return Step{}, fmt.Errorf("%w: %s", ErrWebAuthn, webauthnMessage(verr))
	}
	if err := p.recordAssertion(ctx, owner.ID, a, verr); err != nil {
		return Step{}, err
	}
	cookie, err := p.startSession(ctx, owner.ID, b, factorPasskey(p.now()))
	if err != nil {
		return Step{}, err
	}
	p.audit(ctx, owner.ID, "login.passkey", owner.ID, map[string]any{"ip": b.IP, "client_id": ar.ClientID})
	b.SessionCookie = cookie.Value
	step, err := p.next(ctx, ar, b, true)
	step.Session = cookie
	return step, err
}

// enrollmentContext admits enrolling method during a login only when the
// policy asks for enrollment with it, and — if the user already has a
// second factor — only after a fresh proof of it, so a stolen password
// cannot plant an attacker's authenticator.
func (p *Provider) enrollmentContext(ctx context.Context, id string, b Browser, m policy.Method) (*storage.AuthRequest, *storage.Session, *storage.User, error) {
	l, err := p.loadPending(ctx, id, b)
	if err != nil {
		return nil, nil, nil, err
	}
	d, counts, err := l.decide(ctx, p, b)
	if err != nil {
		return nil, nil, nil, err
	}
	if d.Need != policy.NeedEnrollment || !slices.Contains(d.Methods, m) {
		return nil, nil, nil, ErrAuthRequestNotFound
	}
	if len(enrolledMethods(counts)) > 0 && !freshSecondFactor(l.sess, p.now(), freshProof) {
		return nil, nil, nil, ErrAuthRequestNotFound
	}
	return l.ar, l.sess, l.user, nil
}

// StartTOTPEnrollment creates an authenticator for the user to scan.
func (p *Provider) StartTOTPEnrollment(ctx context.Context, id string, b Browser) (TOTPEnrollment, error) {
	_, _, user, err := p.enrollmentContext(ctx, id, b, policy.TOTP)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	a, err := p.newTOTP(ctx, user, "Authenticator app")
	if err != nil {
		return TOTPEnrollment{}, err
	}
	return p.totpKey(user, a)
}

// TOTPEnrollment shows an unconfirmed authenticator again.
func (p *Provider) TOTPEnrollment(ctx context.Context, id string, b Browser, enrollmentID string) (TOTPEnrollment, error) {
	_, _, user, err := p.enrollmentContext(ctx, id, b, policy.TOTP)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	a, err := p.store.GetTOTP(ctx, user.ID, enrollmentID)
	if err != nil || a.ConfirmedAt != nil {
		return TOTPEnrollment{}, ErrAuthRequestNotFound
	}
	return p.totpKey(user, a)
}

// ConfirmTOTPEnrollment activates the authenticator with its first code,
// which also proves it as this login's second factor.
func (p *Provider) ConfirmTOTPEnrollment(ctx context.Context, id string, b Browser, enrollmentID, code string) (Step, error) {
	ar, sess, user, err := p.enrollmentContext(ctx, id, b, policy.TOTP)
	if err != nil {
		return Step{}, err
	}
	if err := p.confirmTOTP(ctx, user, enrollmentID, code); err != nil {
		return Step{}, err
	}
	return p.afterFactor(ctx, ar, sess, b, factorTOTP(p.now()))
}

// BeginWebAuthnRegistration starts registering a passkey or security key.
func (p *Provider) BeginWebAuthnRegistration(ctx context.Context, id string, b Browser) ([]byte, error) {
	if p.wa == nil {
		return nil, ErrWebAuthn
	}
	_, _, user, err := p.enrollmentContext(ctx, id, b, policy.WebAuthn)
	if err != nil {
		return nil, err
	}
	return p.beginRegistration(ctx, user)
}

// FinishWebAuthnRegistration stores the new credential; registering it
// proves it as this login's second factor.
func (p *Provider) FinishWebAuthnRegistration(ctx context.Context, id string, b Browser, body []byte) (Step, error) {
	if p.wa == nil {
		return Step{}, ErrWebAuthn
	}
	ar, sess, user, err := p.enrollmentContext(ctx, id, b, policy.WebAuthn)
	if err != nil {
		return Step{}, err
	}
	c, err := p.finishRegistration(ctx, user, body)
	if err != nil {
		return Step{}, err
	}
	return p.afterFactor(ctx, ar, sess, b, factorWebAuthn(p.now(), c.Flags&webauthn.FlagUserVerified != 0))
}

// RememberDevice lets this browser skip the second factor for as long as
// the policies allow, after a second factor was just proven in this
// sign-in. It returns the cookie to set.
func (p *Provider) RememberDevice(ctx context.Context, id string, b Browser) (*SessionCookie, error) {
	l, err := p.loadPending(ctx, id, b)
	if err != nil {
		return nil, err
	}
	user := l.user
	if !freshSecondFactor(l.sess, p.now(), freshProof) {
		return nil, ErrAuthRequestNotFound
	}
	pols, err := effectivePolicies(ctx, p.store, l.client, user)
	if err != nil {
		return nil, err
	}
	remember := policy.RememberFor(pols)
	if remember <= 0 {
		return nil, ErrAuthRequestNotFound
	}
	value := randomToken(32)
	dev := &storage.RememberedDevice{
		ID: randomToken(16), UserID: user.ID, TokenHash: hashSecret(value), Label: deviceLabel(b.UserAgent),
		ExpiresAt: p.now().Add(remember),
	}
	if err := p.store.CreateRememberedDevice(ctx, dev); err != nil {
		return nil, err
	}
	p.audit(ctx, user.ID, "device.remembered", user.ID, map[string]any{"device": dev.ID, "until": dev.ExpiresAt})
	return &SessionCookie{Value: value, Expires: dev.ExpiresAt}, nil
}

// deviceLabel names a device by its browser, shortly.
func deviceLabel(ua string) string {
	for _, b := range []string{"Edg/", "Firefox/", "Chrome/", "Safari/"} {
		if i := strings.Index(ua, b); i >= 0 {
			name := strings.TrimSuffix(b, "/")
			if name == "Edg" {
				name = "Edge"
			}
			return name
		}
	}
	return factorName(ua, "A browser")
}
