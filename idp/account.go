package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// accountStore is what self-service needs beyond the login flow.
type accountStore interface {
	GetSession(ctx context.Context, id string) (*storage.Session, error)
	ListUserSessions(ctx context.Context, userID string) ([]storage.Session, error)
	RenameTOTP(ctx context.Context, userID, id, name string) error
	DeleteTOTP(ctx context.Context, userID, id string) error
	RenameWebAuthnCredential(ctx context.Context, userID, id, name string) error
	DeleteWebAuthnCredential(ctx context.Context, userID, id string) error
	DeleteBackupCodes(ctx context.Context, userID string) error
	SetPasswordHash(ctx context.Context, id, hash string) error
	UpsertClient(ctx context.Context, c *storage.Client) error
}

// AccountClientID is the built-in first-party client the account pages
// sign in through, so that they obey the same policies as any application.
const AccountClientID = "twofold-account"

var (
	// ErrNotSignedIn: the browser has no live session; sign in first.
	ErrNotSignedIn = errors.New("idp: not signed in")
	// ErrReauthRequired: a sensitive change needs a fresh proof of the
	// strongest factor the user has (within 5 minutes).
	ErrReauthRequired = errors.New("idp: confirm it is you first")
	// ErrLastFactor: removing it would leave a user whom a policy requires
	// to use MFA without any second factor.
	ErrLastFactor = errors.New("idp: a policy requires a second factor; add another before removing this one")
)

// FactorView is one second factor as the account page lists it.
type FactorView struct {
	ID         string
	Name       string
	Passkey    bool // WebAuthn: a discoverable credential (signs in without a password)
	Blocked    bool // WebAuthn: possibly cloned, refused
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// SessionView is one of the user's live sessions.
type SessionView struct {
	ID         string
	Current    bool
	CreatedAt  time.Time
	LastSeenAt time.Time
	IP         string
	UserAgent  string
}

// DeviceView is a remembered device.
type DeviceView struct {
	ID         string
	Label      string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt *time.Time
}

// AccountView is everything the account page shows.
type AccountView struct {
	User            User
	TOTP            []FactorView
	WebAuthn        []FactorView
	BackupCodesLeft int
	Sessions        []SessionView
	Devices         []DeviceView // remembered devices
	// Fresh: sensitive changes are allowed until FreshUntil.
	Fresh      bool
	FreshUntil time.Time
	// MFARequired: a policy that applies to the user requires MFA.
	MFARequired bool
}

// accountSession loads the browser's session and user.
func (p *Provider) accountSession(ctx context.Context, b Browser) (*storage.Session, *storage.User, error) {
	sess, user, err := p.sessionUser(ctx, b.SessionCookie)
	if err != nil {
		return nil, nil, err
	}
	if sess == nil {
		return nil, nil, ErrNotSignedIn
	}
	return sess, user, nil
}

// freshUntil says until when the session counts as a fresh proof: the
// latest factor within freshProof, and a second factor if the user has one.
func (p *Provider) freshUntil(ctx context.Context, sess *storage.Session, user *storage.User) (time.Time, error) {
	counts, err := p.store.CountSecondFactors(ctx, user.ID)
	if err != nil {
		return time.Time{}, err
	}
	hasSecond := len(enrolledMethods(counts)) > 0
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
	return latest.Add(freshProof), nil
}

// sensitive loads the session for a change that needs a fresh proof.
func (p *Provider) sensitive(ctx context.Context, b Browser) (*storage.Session, *storage.User, error) {
	sess, user, err := p.accountSession(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	until, err := p.freshUntil(ctx, sess, user)
	if err != nil {
		return nil, nil, err
	}
	if !p.now().Before(until) {
		return nil, nil, ErrReauthRequired
	}
	return sess, user, nil
}

// mfaRequired: a policy of the user's groups or the default policy always
// requires MFA (application policies apply when signing in to them).
func (p *Provider) mfaRequired(ctx context.Context, user *storage.User) (bool, error) {
	pols, err := effectivePolicies(ctx, p.store, nil, user)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(pols, func(n policy.Named) bool {
		return n.Policy.RequireMFA == policy.Always || n.Policy.MinLevel >= policy.LevelMFA
	}), nil
}

// Account describes the signed-in user's factors and sessions.
func (p *Provider) Account(ctx context.Context, b Browser) (AccountView, error) {
	sess, user, err := p.accountSession(ctx, b)
	if err != nil {
		return AccountView{}, err
	}
	v := AccountView{User: userFromStorage(user)}
	totps, err := p.store.ListTOTP(ctx, user.ID, true)
	if err != nil {
		return v, err
	}
	for _, a := range totps {
		v.TOTP = append(v.TOTP, FactorView{ID: a.ID, Name: a.Name, CreatedAt: a.CreatedAt, LastUsedAt: a.LastUsedAt})
	}
	creds, err := p.store.ListWebAuthnCredentials(ctx, user.ID)
	if err != nil {
		return v, err
	}
	for _, c := range creds {
		v.WebAuthn = append(v.WebAuthn, FactorView{ID: c.ID, Name: c.Name, Passkey: c.Discoverable, Blocked: c.PossiblyCloned, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt})
	}
	left, err := p.store.CountUnusedBackupCodes(ctx, user.ID)
	if err != nil {
		return v, err
	}
	v.BackupCodesLeft = int(left)
	sessions, err := p.store.ListUserSessions(ctx, user.ID)
	if err != nil {
		return v, err
	}
	for _, s := range sessions {
		v.Sessions = append(v.Sessions, SessionView{ID: s.ID, Current: s.ID == sess.ID, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, IP: s.IP, UserAgent: s.UserAgent})
	}
	devices, err := p.store.ListRememberedDevices(ctx, user.ID)
	if err != nil {
		return v, err
	}
	for _, d := range devices {
		v.Devices = append(v.Devices, DeviceView{ID: d.ID, Label: d.Label, CreatedAt: d.CreatedAt, ExpiresAt: d.ExpiresAt, LastUsedAt: d.LastUsedAt})
	}
	if v.FreshUntil, err = p.freshUntil(ctx, sess, user); err != nil {
		return v, err
	}
	v.Fresh = p.now().Before(v.FreshUntil)
	if v.MFARequired, err = p.mfaRequired(ctx, user); err != nil {
		return v, err
	}
	return v, nil
}

// AccountSignInURL is where the account pages send a browser to sign in
// (reauth=false) or to prove itself again before a sensitive change: the
// password again, and the second factor when the user has one.
func (p *Provider) AccountSignInURL(ctx context.Context, b Browser, reauth bool) (string, error) {
	challenge := sha256.Sum256([]byte(randomToken(32))) // never redeemed: the session cookie is what the pages use
	q := url.Values{
		"client_id": {AccountClientID}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {p.cfg.Issuer + "/account/callback"}, "state": {randomToken(16)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
	}
	if reauth {
		q.Set("prompt", "login")
		if _, user, err := p.accountSession(ctx, b); err == nil {
			counts, err := p.store.CountSecondFactors(ctx, user.ID)
			if err != nil {
				return "", err
			}
			if len(enrolledMethods(counts)) > 0 {
				q.Set("claims", `{"id_token":{"acr":{"essential":true,"value":"`+policy.ACRMFA+`"}}}`)
			}
			q.Set("login_hint", user.Username)
		}
	}
	return "/authorize?" + q.Encode(), nil
}

// EnsureAccountClient registers the built-in account client.
func (p *Provider) EnsureAccountClient(ctx context.Context) error {
	return p.store.UpsertClient(ctx, &storage.Client{
		ID: AccountClientID, Name: "Your Twofold account", RedirectURIs: []string{p.cfg.Issuer + "/account/callback"},
		GrantTypes: []string{GrantAuthorizationCode}, SkipConsent: true,
	})
}

// AccountStartTOTP adds an unconfirmed authenticator app.
func (p *Provider) AccountStartTOTP(ctx context.Context, b Browser, name string) (TOTPEnrollment, error) {
	_, user, err := p.sensitive(ctx, b)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	a, err := p.newTOTP(ctx, user, factorName(name, "Authenticator app"))
	if err != nil {
		return TOTPEnrollment{}, err
	}
	return p.totpKey(user, a)
}

// AccountTOTP shows an unconfirmed authenticator again.
func (p *Provider) AccountTOTP(ctx context.Context, b Browser, id string) (TOTPEnrollment, error) {
	_, user, err := p.sensitive(ctx, b)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	a, err := p.store.GetTOTP(ctx, user.ID, id)
	if err != nil || a.ConfirmedAt != nil {
		return TOTPEnrollment{}, ErrNotFound
	}
	return p.totpKey(user, a)
}

// AccountConfirmTOTP activates it with its first code.
func (p *Provider) AccountConfirmTOTP(ctx context.Context, b Browser, id, code string) error {
	_, user, err := p.sensitive(ctx, b)
	if err != nil {
		return err
	}
	return p.confirmTOTP(ctx, user, id, code)
}

// AccountBeginWebAuthnRegistration starts adding a passkey or security key.
func (p *Provider) AccountBeginWebAuthnRegistration(ctx context.Context, b Browser) ([]byte, error) {
	if p.wa == nil {
		return nil, ErrWebAuthn
	}
	_, user, err := p.sensitive(ctx, b)
	if err != nil {
		return nil, err
	}
	return p.beginRegistration(ctx, user)
}

// AccountFinishWebAuthnRegistration stores the new credential.
func (p *Provider) AccountFinishWebAuthnRegistration(ctx context.Context, b Browser, body []byte) error {
	if p.wa == nil {
		return ErrWebAuthn
	}
	_, user, err := p.sensitive(ctx, b)
	if err != nil {
		return err
	}
	_, err = p.finishRegistration(ctx, user, body)
	return err
}

// Factor kinds as the account pages name them.
const (
	FactorKindTOTP     = "totp"
	FactorKindWebAuthn = "webauthn"
)

// AccountRemoveFactor deletes a second factor, refusing to remove the
// last one when a policy requires MFA.
func (p *Provider) AccountRemoveFactor(ctx context.Context, b Browser, kind, id string) error {
	_, user, err := p.sensitive(ctx, b)
	if err != nil {
		return err
	}
	required, err := p.mfaRequired(ctx, user)
	if err != nil {
		return err
	}
	counts, err := p.store.CountSecondFactors(ctx, user.ID)
	if err != nil {
		return err
	}
	if required && counts.TOTP+counts.WebAuthn <= 1 {
		return ErrLastFactor
	}
	switch kind {
	case FactorKindTOTP:
		err = p.store.DeleteTOTP(ctx, user.ID, id)
	case FactorKindWebAuthn:
		err = p.store.DeleteWebAuthnCredential(ctx, user.ID, id)
	default:
		return ErrNotFound
	}
	if err != nil {
		return notFound(err)
	}
	if counts.TOTP+counts.WebAuthn <= 1 {
		// No factor left: backup codes alone are not a second factor.
		if err := p.store.DeleteBackupCodes(ctx, user.ID); err != nil {
			return err
		}
	}
	// A removed factor may be why a device was trusted: trust none.
	if err := p.store.ForgetRememberedDevices(ctx, user.ID); err != nil {
		return err
	}
	p.audit(ctx, user.ID, kind+".removed", user.ID, map[string]any{"id": id})
	return nil
}

// AccountRenameFactor renames a second factor (not sensitive).
func (p *Provider) AccountRenameFactor(ctx context.Context, b Browser, kind, id, name string) error {
	_, user, err := p.accountSession(ctx, b)
	if err != nil {
		return err
	}
	name = factorName(name, "")
	if name == "" {
		return inputError("name", "is required")
	}
	switch kind {
	case FactorKindTOTP:
		err = p.store.RenameTOTP(ctx, user.ID, id, name)
	case FactorKindWebAuthn:
		err = p.store.RenameWebAuthnCredential(ctx, user.ID, id, name)
	default:
		return ErrNotFound
	}
	return notFound(err)
}

// AccountRegenerateBackupCodes replaces the backup codes; the old set
// stops working. The new codes are shown once.
func (p *Provider) AccountRegenerateBackupCodes(ctx context.Context, b Browser) ([]string, error) {
	_, user, err := p.sensitive(ctx, b)
	if err != nil {
		return nil, err
	}
	counts, err := p.store.CountSecondFactors(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	if counts.TOTP+counts.WebAuthn == 0 {
		return nil, inputError("backup_codes", "add an authenticator app or a passkey first")
	}
	return p.issueBackupCodes(ctx, user.ID)
}

// AccountChangePassword checks the current password and sets a new one;
// every other session of the user ends.
func (p *Provider) AccountChangePassword(ctx context.Context, b Browser, current, next string) error {
	sess, user, err := p.sensitive(ctx, b)
	if err != nil {
		return err
	}
	if _, err := p.dir.Authenticate(ctx, user.Username, current); err != nil {
		if errors.Is(err, ErrInvalidCredentials) {
			return inputError("current_password", "is not right")
		}
		return err
	}
	if err := ValidatePassword(next, user.Username); err != nil {
		return err
	}
	h, err := p.dir.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	if err := p.store.SetPasswordHash(ctx, user.ID, h); err != nil {
		return err
	}
	if err := p.store.ForgetRememberedDevices(ctx, user.ID); err != nil {
		return err
	}
	sessions, err := p.store.ListUserSessions(ctx, user.ID)
	if err != nil {
		return err
	}
	for i := range sessions {
		if sessions[i].ID != sess.ID {
			if err := p.terminate(ctx, &sessions[i], "password_changed"); err != nil {
				return err
			}
		}
	}
	p.audit(ctx, user.ID, "password.changed", user.ID, nil)
	return nil
}

// AccountEndSession ends one of the user's own sessions.
func (p *Provider) AccountEndSession(ctx context.Context, b Browser, sessionID string) (*SessionCookie, error) {
	sess, user, err := p.accountSession(ctx, b)
	if err != nil {
		return nil, err
	}
	target, err := p.store.GetSession(ctx, sessionID)
	if err != nil || target.UserID != user.ID {
		return nil, ErrNotFound
	}
	if err := p.terminate(ctx, target, "account"); err != nil {
		return nil, err
	}
	if target.ID == sess.ID {
		return &SessionCookie{}, nil // the current one: clear the cookie
	}
	return nil, nil
}

// factorName trims a user-given name to at most 64 characters.
func factorName(name, fallback string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return fallback
	}
	for utf8.RuneCountInString(name) > 64 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// AccountForgetDevice stops trusting one of the user's remembered devices.
func (p *Provider) AccountForgetDevice(ctx context.Context, b Browser, id string) error {
	_, user, err := p.accountSession(ctx, b)
	if err != nil {
		return err
	}
	if err := p.store.ForgetRememberedDevice(ctx, user.ID, id); err != nil {
		return notFound(err)
	}
	p.audit(ctx, user.ID, "device.forgotten", user.ID, map[string]any{"device": id})
	return nil
}
