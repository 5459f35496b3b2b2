package account

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/emailverify"
	"github.com/twofold-idp/twofold/idp/factors"
	"github.com/twofold-idp/twofold/idp/notices"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/idp/session"
	"github.com/twofold-idp/twofold/storage"
)

// Store is what self-service needs beyond sessions and factors.
type Store interface {
	directory.PolicyStore
	GetSession(ctx context.Context, id string) (*storage.Session, error)
	ListUserSessions(ctx context.Context, userID string) ([]storage.Session, error)
	ListRememberedDevices(ctx context.Context, userID string) ([]storage.RememberedDevice, error)
	ForgetRememberedDevice(ctx context.Context, userID, id string) error
	ForgetRememberedDevices(ctx context.Context, userID string) error
	RevokeUserTokens(ctx context.Context, userID string) error
	UpsertClient(ctx context.Context, c *storage.Client) error
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
	ResetThrottle(ctx context.Context, key string) error
	GetUser(ctx context.Context, id string) (*storage.User, error)
	EmailStore
}

var _ Store = (*storage.Store)(nil)

// Decider runs the step-up policy as the login flow does (*login.Flow).
type Decider interface {
	Decide(ctx context.Context, client *storage.Client, user *storage.User, sess *storage.Session, deviceCookie string, r policy.Request) (policy.Decision, factors.Enrollment, error)
}

// Passwords changes a user's password.
type Passwords interface {
	ChangePassword(ctx context.Context, userID, current, next string) error
}

// ClientID is the built-in first-party client the account pages sign in
// through, so that they obey the same policies as any application.
const ClientID = "twofold-account"

// View is everything the account page shows.
type View struct {
	User            directory.User
	Factors         []idp.FactorView // most phishing-resistant method first
	BackupCodesLeft int
	Sessions        []idp.SessionView
	Devices         []idp.DeviceView // remembered devices
	// Fresh: sensitive changes are allowed until FreshUntil.
	Fresh      bool
	FreshUntil time.Time
	// MFARequired: a policy that applies to the user requires MFA.
	MFARequired bool

	// EmailVerified: the user proved they read mail at their address.
	EmailVerified bool
	// ChangesBlocked: "this wasn't me" was reported; sensitive changes are
	// refused (idp.ErrChangesBlocked) until a sign-in proves every factor.
	ChangesBlocked bool
	// Phone is the number for text messages (phone.go).
	Phone PhoneView
}

// Service is the account pages' backend.
type Service struct {
	issuer    string
	store     Store
	passwords Passwords
	decider   Decider
	sessions  *session.Service
	factors   *factors.Registry
	audit     idp.Auditor
	now       func() time.Time
	out       Outbound
}

// New wires the account service. now may be nil (time.Now).
func New(issuer string, store Store, passwords Passwords, decider Decider, sessions *session.Service, reg *factors.Registry, logger *slog.Logger, now func() time.Time, opts ...Option) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{issuer: issuer, store: store, passwords: passwords, decider: decider, sessions: sessions, factors: reg, audit: idp.Auditor{Store: store, Log: logger}, now: now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// signedIn loads the browser's session and user. The session must be
// complete and meet the user's full effective level at the account client
// (its own policy included): a session that met a laxer application's
// policy signs in again through the account client, which steps it up.
func (s *Service) signedIn(ctx context.Context, b idp.Browser) (*storage.Session, *storage.User, error) {
	sess, user, err := s.sessions.Load(ctx, b.SessionCookie)
	if err != nil {
		return nil, nil, err
	}
	if sess == nil {
		return nil, nil, idp.ErrNotSignedIn
	}
	ok, err := s.meetsPolicy(ctx, sess, user, b)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, idp.ErrNotSignedIn
	}
	return sess, user, nil
}

// meetsPolicy runs the step-up policy of the account client for sess.
func (s *Service) meetsPolicy(ctx context.Context, sess *storage.Session, user *storage.User, b idp.Browser) (bool, error) {
	client, err := s.store.GetClient(ctx, ClientID)
	if err != nil {
		return false, err
	}
	d, _, err := s.decider.Decide(ctx, client, user, sess, b.DeviceCookie, policy.Request{})
	return d.Need == policy.NeedNothing, err
}

// freshUntil says until when the session counts as a fresh proof: the
// latest factor within session.FreshProof, and a second factor if the user
// has one.
func (s *Service) freshUntil(ctx context.Context, sess *storage.Session, user *storage.User) (time.Time, error) {
	second, err := s.secondFactors(ctx, user)
	if err != nil {
		return time.Time{}, err
	}
	hasSecond := len(second) > 0
	var latest time.Time
	for _, f := range sess.Factors {
		if hasSecond && f.Method == policy.FactorPassword {
			continue // a password alone does not prove a user who has a second factor
		}
		if f.At.After(latest) {
			latest = f.At
		}
	}
	if latest.IsZero() {
		return time.Time{}, nil
	}
	return latest.Add(session.FreshProof), nil
}

// sensitive loads the session for a change that needs a fresh proof.
func (s *Service) sensitive(ctx context.Context, b idp.Browser) (*storage.Session, *storage.User, error) {
	sess, user, err := s.signedIn(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	if err := blocked(user); err != nil {
		return nil, nil, err
	}
	until, err := s.freshUntil(ctx, sess, user)
	if err != nil {
		return nil, nil, err
	}
	if !s.now().Before(until) {
		return nil, nil, idp.ErrReauthRequired
	}
	return sess, user, nil
}

// mfaRequired: a policy of the user's groups or the default policy always
// requires MFA (application policies apply when signing in to them).
func (s *Service) mfaRequired(ctx context.Context, user *storage.User) (bool, error) {
	pols, err := directory.EffectivePolicies(ctx, s.store, nil, user)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(pols, func(n policy.Named) bool {
		return n.Policy.RequireMFA == policy.Always || n.Policy.MinLevel >= policy.LevelMFA
	}), nil
}

// Account describes the signed-in user's factors and sessions.
func (s *Service) Account(ctx context.Context, b idp.Browser) (View, error) {
	sess, user, err := s.signedIn(ctx, b)
	if err != nil {
		return View{}, err
	}
	v := View{User: directory.UserFromStorage(user)}
	for _, f := range s.factors.Managed() {
		list, err := f.List(ctx, user.ID)
		if err != nil {
			return v, err
		}
		v.Factors = append(v.Factors, list...)
	}
	enrolled, err := s.factors.Enrolled(ctx, user.ID)
	if err != nil {
		return v, err
	}
	v.BackupCodesLeft = int(enrolled.Counts.BackupCodes)
	sessions, err := s.store.ListUserSessions(ctx, user.ID)
	if err != nil {
		return v, err
	}
	for _, x := range sessions {
		v.Sessions = append(v.Sessions, idp.SessionView{ID: x.ID, Current: x.ID == sess.ID, CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt, IP: x.IP, UserAgent: x.UserAgent})
	}
	devices, err := s.store.ListRememberedDevices(ctx, user.ID)
	if err != nil {
		return v, err
	}
	for _, d := range devices {
		v.Devices = append(v.Devices, idp.DeviceView{ID: d.ID, Label: d.Label, CreatedAt: d.CreatedAt, ExpiresAt: d.ExpiresAt, LastUsedAt: d.LastUsedAt})
	}
	if v.FreshUntil, err = s.freshUntil(ctx, sess, user); err != nil {
		return v, err
	}
	v.Fresh = s.now().Before(v.FreshUntil)
	if v.MFARequired, err = s.mfaRequired(ctx, user); err != nil {
		return v, err
	}
	v.EmailVerified, v.ChangesBlocked = emailverify.Verified(user), user.ChangesBlockedAt != nil
	if v.Phone, err = s.phoneView(ctx, user); err != nil {
		return v, err
	}
	return v, nil
}

// AccountSignInURL is where the account pages send a browser to sign in
// (reauth=false) or to prove itself again before a sensitive change: the
// password again, and the second factor when the user has one.
func (s *Service) AccountSignInURL(ctx context.Context, b idp.Browser, reauth bool) (string, error) {
	challenge := sha256.Sum256([]byte(idp.RandomToken(32))) // never redeemed: the session cookie is what the pages use
	q := url.Values{
		"client_id": {ClientID}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {s.issuer + "/account/callback"}, "state": {idp.RandomToken(16)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
	}
	if reauth {
		q.Set("prompt", "login")
		if _, user, err := s.sessions.Load(ctx, b.SessionCookie); err == nil && user != nil {
			second, err := s.secondFactors(ctx, user)
			if err != nil {
				return "", err
			}
			if len(second) > 0 {
				q.Set("claims", `{"id_token":{"acr":{"essential":true,"value":"`+policy.ACRMFA+`"}}}`)
			}
			q.Set("login_hint", user.Username)
		}
	}
	return "/authorize?" + q.Encode(), nil
}

// AccountStartTOTP adds an unconfirmed authenticator app.
func (s *Service) AccountStartTOTP(ctx context.Context, b idp.Browser, name string) (idp.TOTPEnrollment, error) {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return idp.TOTPEnrollment{}, err
	}
	return factors.Find[*factors.TOTP](s.factors).StartEnrollment(ctx, user, name)
}

// AccountTOTP shows an unconfirmed authenticator again.
func (s *Service) AccountTOTP(ctx context.Context, b idp.Browser, id string) (idp.TOTPEnrollment, error) {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return idp.TOTPEnrollment{}, err
	}
	return factors.Find[*factors.TOTP](s.factors).Enrollment(ctx, user, id)
}

// AccountConfirmTOTP activates it with its first code.
func (s *Service) AccountConfirmTOTP(ctx context.Context, b idp.Browser, id, code string) error {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return err
	}
	err = s.factors.CheckOTP(ctx, user.ID, policy.TOTP, func() error {
		_, err := factors.Find[*factors.TOTP](s.factors).ConfirmEnrollment(ctx, user, id, code)
		return err
	})
	if err == nil {
		s.notify(ctx, user, b, notices.Notice{Kind: notify.FactorAdded, Factor: s.factorName(ctx, user.ID, string(policy.TOTP), id)})
	}
	return err
}

// AccountBeginWebAuthnRegistration starts adding a passkey or security key.
func (s *Service) AccountBeginWebAuthnRegistration(ctx context.Context, b idp.Browser) ([]byte, error) {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return nil, err
	}
	return factors.Find[*factors.WebAuthn](s.factors).BeginRegistration(ctx, user)
}

// AccountFinishWebAuthnRegistration stores the new credential.
func (s *Service) AccountFinishWebAuthnRegistration(ctx context.Context, b idp.Browser, body []byte) error {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return err
	}
	if _, err = factors.Find[*factors.WebAuthn](s.factors).FinishRegistration(ctx, user, body); err != nil {
		return err
	}
	s.notify(ctx, user, b, notices.Notice{Kind: notify.FactorAdded, Factor: notices.FactorDescription(string(policy.WebAuthn), "")})
	return nil
}

// managed finds the managed factor of method.
func (s *Service) managed(method string) (factors.Managed, error) {
	f, ok := s.factors.Get(policy.Method(method))
	if !ok {
		return nil, idp.ErrNotFound
	}
	m, ok := f.(factors.Managed)
	if !ok {
		return nil, idp.ErrNotFound
	}
	return m, nil
}

// AccountRemoveFactor deletes a second factor, refusing to remove the
// last one when a policy requires MFA.
func (s *Service) AccountRemoveFactor(ctx context.Context, b idp.Browser, method, id string) error {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return err
	}
	f, err := s.managed(method)
	if err != nil {
		return err
	}
	required, err := s.mfaRequired(ctx, user)
	if err != nil {
		return err
	}
	enrolled, err := s.factors.Enrolled(ctx, user.ID)
	if err != nil {
		return err
	}
	if required && enrolled.Managed <= 1 {
		return idp.ErrLastFactor
	}
	desc := s.factorName(ctx, user.ID, method, id)
	if err := f.Remove(ctx, user.ID, id); err != nil {
		return notFound(err)
	}
	if enrolled.Managed <= 1 {
		// No factor left: backup codes alone are not a second factor.
		if err := factors.Find[*factors.BackupCodes](s.factors).Delete(ctx, user.ID); err != nil {
			return err
		}
	}
	// A removed factor may be why a device was trusted: trust none.
	if err := s.store.ForgetRememberedDevices(ctx, user.ID); err != nil {
		return err
	}
	s.audit.Record(ctx, idp.UserActor(user.ID), method+".removed", user.ID, map[string]any{"id": id})
	s.notify(ctx, user, b, notices.Notice{Kind: notify.FactorRemoved, Factor: desc})
	return nil
}

// AccountRenameFactor renames a second factor (not sensitive).
func (s *Service) AccountRenameFactor(ctx context.Context, b idp.Browser, method, id, name string) error {
	_, user, err := s.signedIn(ctx, b)
	if err != nil {
		return err
	}
	f, err := s.managed(method)
	if err != nil {
		return err
	}
	name = idp.DisplayName(name, "")
	if name == "" {
		return idp.InputErrorf("name", "is required")
	}
	return notFound(f.Rename(ctx, user.ID, id, name))
}

// AccountRegenerateBackupCodes replaces the backup codes; the old set
// stops working. The new codes are shown once.
func (s *Service) AccountRegenerateBackupCodes(ctx context.Context, b idp.Browser) ([]string, error) {
	_, user, err := s.sensitive(ctx, b)
	if err != nil {
		return nil, err
	}
	enrolled, err := s.factors.Enrolled(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	if enrolled.Managed == 0 {
		return nil, idp.InputErrorf("backup_codes", "add an authenticator app or a passkey first")
	}
	codes, err := factors.Find[*factors.BackupCodes](s.factors).Issue(ctx, user.ID)
	if err == nil {
		s.notify(ctx, user, b, notices.Notice{Kind: notify.BackupCodesRegenerated})
	}
	return codes, err
}

// AccountChangePassword checks the current password and sets a new one;
// every other session of the user ends, and every token issued to the
// user's applications stops working.
func (s *Service) AccountChangePassword(ctx context.Context, b idp.Browser, current, next string) error {
	sess, user, err := s.sensitive(ctx, b)
	if err != nil {
		return err
	}
	if err := s.passwords.ChangePassword(ctx, user.ID, current, next); err != nil {
		return err
	}
	if err := s.store.ForgetRememberedDevices(ctx, user.ID); err != nil {
		return err
	}
	sessions, err := s.store.ListUserSessions(ctx, user.ID)
	if err != nil {
		return err
	}
	for i := range sessions {
		if sessions[i].ID != sess.ID {
			if err := s.sessions.Terminate(ctx, &sessions[i], "password_changed"); err != nil {
				return err
			}
		}
	}
	if err := s.store.RevokeUserTokens(ctx, user.ID); err != nil {
		return err
	}
	s.audit.Record(ctx, idp.UserActor(user.ID), "password.changed", user.ID, nil)
	s.notify(ctx, user, b, notices.Notice{Kind: notify.PasswordChanged})
	return nil
}

// AccountEndSession ends one of the user's own sessions.
func (s *Service) AccountEndSession(ctx context.Context, b idp.Browser, sessionID string) (*idp.SessionCookie, error) {
	sess, user, err := s.signedIn(ctx, b)
	if err != nil {
		return nil, err
	}
	target, err := s.store.GetSession(ctx, sessionID)
	if err != nil || target.UserID != user.ID {
		return nil, idp.ErrNotFound
	}
	if err := s.sessions.Terminate(ctx, target, "account"); err != nil {
		return nil, err
	}
	if target.ID == sess.ID {
		return &idp.SessionCookie{}, nil // the current one: clear the cookie
	}
	return nil, nil
}

// AccountEndAllSessions ends every session of the user, this one too, and
// revokes every token issued to the user: "sign out everywhere".
func (s *Service) AccountEndAllSessions(ctx context.Context, b idp.Browser) (*idp.SessionCookie, error) {
	_, user, err := s.signedIn(ctx, b)
	if err != nil {
		return nil, err
	}
	sessions, err := s.store.ListUserSessions(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	for i := range sessions {
		if err := s.sessions.Terminate(ctx, &sessions[i], "everywhere"); err != nil {
			return nil, err
		}
	}
	if err := s.store.RevokeUserTokens(ctx, user.ID); err != nil {
		return nil, err
	}
	s.audit.Record(ctx, idp.UserActor(user.ID), "sessions.ended_all", user.ID, map[string]any{"sessions": len(sessions)})
	return &idp.SessionCookie{}, nil
}

// AccountForgetDevice stops trusting one of the user's remembered devices.
func (s *Service) AccountForgetDevice(ctx context.Context, b idp.Browser, id string) error {
	_, user, err := s.signedIn(ctx, b)
	if err != nil {
		return err
	}
	if err := s.store.ForgetRememberedDevice(ctx, user.ID, id); err != nil {
		return notFound(err)
	}
	s.audit.Record(ctx, idp.UserActor(user.ID), "device.forgotten", user.ID, map[string]any{"device": id})
	return nil
}

// factorName describes the user's factor of method with id for a
// notification: its kind and name.
func (s *Service) factorName(ctx context.Context, userID, method, id string) string {
	name := ""
	if f, err := s.managed(method); err == nil {
		if list, err := f.List(ctx, userID); err == nil {
			for _, v := range list {
				if v.ID == id {
					name = v.Name
				}
			}
		}
	}
	return notices.FactorDescription(method, name)
}

func notFound(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return idp.ErrNotFound
	}
	return err
}
