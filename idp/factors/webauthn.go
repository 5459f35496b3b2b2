package factors

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/webauthn"
	"github.com/twofold-idp/twofold/storage"
)

// WebAuthnStore is the storage of WebAuthn credentials and ceremonies.
type WebAuthnStore interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	CreateWebAuthnCredential(ctx context.Context, c *storage.WebAuthnCredential) error
	ListWebAuthnCredentials(ctx context.Context, userID string) ([]storage.WebAuthnCredential, error)
	UseWebAuthnCredential(ctx context.Context, id string, newCount uint32) error
	MarkWebAuthnCredentialCloned(ctx context.Context, id string) error
	RenameWebAuthnCredential(ctx context.Context, userID, id, name string) error
	DeleteWebAuthnCredential(ctx context.Context, userID, id string) error
	CreateWebAuthnSession(ctx context.Context, ws *storage.WebAuthnSession) error
	ConsumeWebAuthnSession(ctx context.Context, id, purpose string) (*storage.WebAuthnSession, error)
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

var b64url = base64.RawURLEncoding

// WebAuthn is the security key and passkey factor (WebAuthn Level 3): amr
// hwk, plus user when the authenticator verified the user. A passkey with
// user verification is also a first factor (passkey sign-in).
type WebAuthn struct {
	store WebAuthnStore
	wa    *webauthn.Ceremonies // nil when the issuer's host cannot be a relying party ID
	audit idp.Auditor
	log   *slog.Logger
	now   func() time.Time
}

var _ Managed = (*WebAuthn)(nil)

// NewWebAuthn wires the factor; wa nil turns WebAuthn off (every ceremony
// answers idp.ErrWebAuthn).
func NewWebAuthn(store WebAuthnStore, wa *webauthn.Ceremonies, logger *slog.Logger, now func() time.Time) *WebAuthn {
	return &WebAuthn{store: store, wa: wa, audit: idp.Auditor{Store: store, Log: logger}, log: logger, now: now}
}

func (w *WebAuthn) Method() policy.Method               { return policy.WebAuthn }
func (w *WebAuthn) Enrolled(c storage.FactorCounts) int { return int(c.WebAuthn) }
func (w *WebAuthn) Enrollable() bool                    { return true }
func (w *WebAuthn) PhishingResistant() bool             { return true }
func (w *WebAuthn) OneTimeCode() bool                   { return false }

// Available reports whether WebAuthn works on this issuer.
func (w *WebAuthn) Available() bool { return w.wa != nil }

// flagBackupEligible is the BE bit of the authenticator data flags
// (WebAuthn §6.1): clear, the credential is device-bound.
const flagBackupEligible = 0x08

// proof is a WebAuthn factor proven now.
func (w *WebAuthn) proof(uv, deviceBound bool) storage.SessionFactor {
	f := proof(policy.WebAuthn, w.now(), "hwk")
	f.UserVerified, f.DeviceBound = uv, deviceBound
	if uv {
		f.AMR = append(f.AMR, "user")
	}
	return f
}

// Begin starts an assertion as the second factor.
func (w *WebAuthn) Begin(ctx context.Context, user *storage.User, c Challenge) ([]byte, error) {
	if w.wa == nil {
		return nil, idp.ErrWebAuthn
	}
	wu, err := w.webauthnUser(ctx, user)
	if err != nil {
		return nil, err
	}
	if c.RequireDeviceBound {
		wu.Credentials = slices.DeleteFunc(wu.Credentials, func(c webauthn.Credential) bool { return c.Flags&flagBackupEligible != 0 })
	}
	if len(wu.Credentials) == 0 {
		return nil, fmt.Errorf("%w: no security key or passkey is registered", idp.ErrWebAuthn)
	}
	opts, s, err := w.wa.BeginLogin(wu, c.RequireUV)
	if err != nil {
		return nil, err
	}
	return w.beginCeremony(ctx, storage.WebAuthnLogin, &user.ID, opts, s)
}

// Verify checks the second-factor assertion the script sent.
func (w *WebAuthn) Verify(ctx context.Context, user *storage.User, _ Challenge, body []byte) (storage.SessionFactor, error) {
	if w.wa == nil {
		return storage.SessionFactor{}, idp.ErrWebAuthn
	}
	f, s, err := w.finishCeremony(ctx, storage.WebAuthnLogin, &user.ID, body)
	if err != nil {
		return storage.SessionFactor{}, err
	}
	wu, err := w.webauthnUser(ctx, user)
	if err != nil {
		return storage.SessionFactor{}, err
	}
	a, verr := w.wa.FinishLogin(wu, s, f.Credential)
	if err := w.recordAssertion(ctx, user.ID, a, verr); err != nil {
		return storage.SessionFactor{}, err
	}
	return w.proof(a.UserVerified, !a.BackupEligible), nil
}

// BeginPasskey starts a passkey sign-in (no username: the authenticator
// says whose passkey it is).
func (w *WebAuthn) BeginPasskey(ctx context.Context) ([]byte, error) {
	if w.wa == nil {
		return nil, idp.ErrWebAuthn
	}
	opts, s, err := w.wa.BeginDiscoverableLogin()
	if err != nil {
		return nil, err
	}
	return w.beginCeremony(ctx, storage.WebAuthnPasskey, nil, opts, s)
}

// FinishPasskey verifies a passkey sign-in and returns its owner: with user
// verification it is two factors by itself (amr hwk, user; level phr).
func (w *WebAuthn) FinishPasskey(ctx context.Context, body []byte) (*storage.User, storage.SessionFactor, error) {
	if w.wa == nil {
		return nil, storage.SessionFactor{}, idp.ErrWebAuthn
	}
	f, s, err := w.finishCeremony(ctx, storage.WebAuthnPasskey, nil, body)
	if err != nil {
		return nil, storage.SessionFactor{}, err
	}
	var owner *storage.User
	lookup := func(handle []byte) (webauthn.User, error) {
		u, err := w.store.GetUser(ctx, string(handle))
		if err != nil {
			return webauthn.User{}, err
		}
		if u.Disabled {
			return webauthn.User{}, idp.ErrInvalidCredentials
		}
		owner = u
		return w.webauthnUser(ctx, u)
	}
	_, a, verr := w.wa.FinishDiscoverableLogin(s, f.Credential, lookup)
	if owner == nil {
		w.log.InfoContext(ctx, "passkey sign-in refused", "err", verr)
		return nil, storage.SessionFactor{}, fmt.Errorf("%w: %s", idp.ErrWebAuthn, webauthnMessage(verr))
	}
	if err := w.recordAssertion(ctx, owner.ID, a, verr); err != nil {
		return nil, storage.SessionFactor{}, err
	}
	return owner, storage.SessionFactor{Method: policy.FactorPasskey, At: w.now(), AMR: []string{"hwk", "user"}, UserVerified: true, DeviceBound: !a.BackupEligible}, nil
}

// BeginRegistration starts registering a passkey or security key.
func (w *WebAuthn) BeginRegistration(ctx context.Context, user *storage.User) ([]byte, error) {
	if w.wa == nil {
		return nil, idp.ErrWebAuthn
	}
	wu, err := w.webauthnUser(ctx, user)
	if err != nil {
		return nil, err
	}
	opts, s, err := w.wa.BeginRegistration(wu)
	if err != nil {
		return nil, err
	}
	return w.beginCeremony(ctx, storage.WebAuthnRegister, &user.ID, opts, s)
}

// FinishRegistration verifies and stores the credential the script sent;
// registering it proves it.
func (w *WebAuthn) FinishRegistration(ctx context.Context, user *storage.User, body []byte) (storage.SessionFactor, error) {
	if w.wa == nil {
		return storage.SessionFactor{}, idp.ErrWebAuthn
	}
	f, s, err := w.finishCeremony(ctx, storage.WebAuthnRegister, &user.ID, body)
	if err != nil {
		return storage.SessionFactor{}, err
	}
	wu, err := w.webauthnUser(ctx, user)
	if err != nil {
		return storage.SessionFactor{}, err
	}
	c, err := w.wa.FinishRegistration(wu, s, f.Credential)
	if err != nil {
		w.log.InfoContext(ctx, "WebAuthn registration refused", "user_id", user.ID, "err", err)
		return storage.SessionFactor{}, fmt.Errorf("%w: %s", idp.ErrWebAuthn, webauthnMessage(err))
	}
	if err := w.saveCredential(ctx, user, f.Name, c); err != nil {
		return storage.SessionFactor{}, err
	}
	return w.proof(c.Flags&webauthn.FlagUserVerified != 0, c.Flags&flagBackupEligible == 0), nil
}

// List describes the user's credentials.
func (w *WebAuthn) List(ctx context.Context, userID string) ([]idp.FactorView, error) {
	creds, err := w.store.ListWebAuthnCredentials(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]idp.FactorView, len(creds))
	for i, c := range creds {
		kind := "Security key"
		if c.Discoverable {
			kind = "Passkey"
		}
		out[i] = idp.FactorView{Method: string(policy.WebAuthn), Kind: kind, ID: c.ID, Name: c.Name, Passkey: c.Discoverable, Blocked: c.PossiblyCloned, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt}
	}
	return out, nil
}

func (w *WebAuthn) Rename(ctx context.Context, userID, id, name string) error {
	return w.store.RenameWebAuthnCredential(ctx, userID, id, name)
}

func (w *WebAuthn) Remove(ctx context.Context, userID, id string) error {
	return w.store.DeleteWebAuthnCredential(ctx, userID, id)
}

// webauthnUser loads what a ceremony needs about user: every credential
// not suspected of being cloned.
func (w *WebAuthn) webauthnUser(ctx context.Context, user *storage.User) (webauthn.User, error) {
	rows, err := w.store.ListWebAuthnCredentials(ctx, user.ID)
	if err != nil {
		return webauthn.User{}, err
	}
	u := webauthn.User{ID: []byte(user.ID), Name: user.Username, DisplayName: user.Username}
	for _, r := range rows {
		if r.PossiblyCloned {
			continue
		}
		c, err := credentialFromStorage(r)
		if err != nil {
			w.log.ErrorContext(ctx, "unreadable WebAuthn credential", "credential", r.ID, "err", err)
			continue
		}
		u.Credentials = append(u.Credentials, c)
	}
	return u, nil
}

func credentialFromStorage(r storage.WebAuthnCredential) (webauthn.Credential, error) {
	id, err := b64url.DecodeString(r.ID)
	if err != nil {
		return webauthn.Credential{}, err
	}
	pub, err := base64.StdEncoding.DecodeString(r.PublicKey)
	if err != nil {
		return webauthn.Credential{}, err
	}
	aaguid, _ := hex.DecodeString(r.AAGUID)
	return webauthn.Credential{
		ID: id, PublicKey: pub, AAGUID: aaguid, SignCount: r.SignCount, Transports: r.Transports,
		Flags: r.Flags, Discoverable: r.Discoverable, AttestationType: r.AttestationType,
	}, nil
}

// ceremonyStart is what the page's script receives from a Begin call.
type ceremonyStart struct {
	Session   string          `json:"session"`
	PublicKey json.RawMessage `json:"publicKey"`
}

// ceremonyFinish is what the page's script sends to a Finish call.
type ceremonyFinish struct {
	Session    string          `json:"session"`
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

// beginCeremony stores the ceremony state server-side (single use, expiring)
// and returns the options for the browser with the state's id.
func (w *WebAuthn) beginCeremony(ctx context.Context, purpose string, userID *string, options []byte, s webauthn.Session) ([]byte, error) {
	data, err := s.Marshal()
	if err != nil {
		return nil, err
	}
	ws := &storage.WebAuthnSession{ID: idp.RandomToken(16), UserID: userID, Purpose: purpose, Data: string(data), ExpiresAt: s.Expires}
	if err := w.store.CreateWebAuthnSession(ctx, ws); err != nil {
		return nil, err
	}
	return json.Marshal(ceremonyStart{Session: ws.ID, PublicKey: options})
}

// finishCeremony parses the script's body and consumes the stored state of
// the ceremony it names: a replayed response finds nothing.
func (w *WebAuthn) finishCeremony(ctx context.Context, purpose string, userID *string, body []byte) (ceremonyFinish, webauthn.Session, error) {
	var f ceremonyFinish
	if err := json.Unmarshal(body, &f); err != nil || f.Session == "" || len(f.Credential) == 0 {
		return f, webauthn.Session{}, fmt.Errorf("%w: malformed request", idp.ErrWebAuthn)
	}
	ws, err := w.store.ConsumeWebAuthnSession(ctx, f.Session, purpose)
	if errors.Is(err, storage.ErrNotFound) {
		return f, webauthn.Session{}, fmt.Errorf("%w: the check expired or was already used", idp.ErrWebAuthn)
	}
	if err != nil {
		return f, webauthn.Session{}, err
	}
	if (userID == nil) != (ws.UserID == nil) || (userID != nil && *userID != *ws.UserID) {
		return f, webauthn.Session{}, fmt.Errorf("%w: the check belongs to another account", idp.ErrWebAuthn)
	}
	s, err := webauthn.UnmarshalSession([]byte(ws.Data))
	if err != nil {
		return f, webauthn.Session{}, err
	}
	return f, s, nil
}

// recordAssertion applies a verified assertion's counter; a regression
// means a cloned authenticator: the credential is refused from now on and
// the event audited (WebAuthn §6.1.1).
func (w *WebAuthn) recordAssertion(ctx context.Context, userID string, a webauthn.Assertion, verifyErr error) error {
	credID := b64url.EncodeToString(a.CredentialID)
	if errors.Is(verifyErr, webauthn.ErrCloned) || verifyErr == nil {
		err := verifyErr
		if err == nil {
			err = w.store.UseWebAuthnCredential(ctx, credID, a.SignCount)
			if err != nil && !errors.Is(err, storage.ErrConflict) {
				return err
			}
		}
		if err != nil {
			if merr := w.store.MarkWebAuthnCredentialCloned(ctx, credID); merr != nil {
				w.log.ErrorContext(ctx, "mark credential cloned", "err", merr)
			}
			w.audit.Record(ctx, idp.UserActor(userID), "webauthn.clone_warning", userID, map[string]any{"credential": credID, "sign_count": a.SignCount})
			return fmt.Errorf("%w: this security key may have been copied and is blocked", idp.ErrWebAuthn)
		}
		w.audit.Record(ctx, idp.UserActor(userID), "mfa.used", userID, map[string]any{"method": "webauthn", "credential": credID, "user_verified": a.UserVerified})
		return nil
	}
	w.log.InfoContext(ctx, "WebAuthn assertion refused", "user_id", userID, "err", verifyErr)
	w.audit.Record(ctx, idp.UserActor(userID), "mfa.failed", userID, map[string]any{"method": "webauthn"})
	return fmt.Errorf("%w: %s", idp.ErrWebAuthn, webauthnMessage(verifyErr))
}

// webauthnMessage says what went wrong in words for people; library
// diagnostics stay in the log.
func webauthnMessage(err error) string {
	switch {
	case errors.Is(err, webauthn.ErrUserVerificationRequired):
		return "this sign-in needs your PIN or biometric on the authenticator"
	case errors.Is(err, webauthn.ErrExpired):
		return "the check took too long; try again"
	case errors.Is(err, webauthn.ErrUnknownCredential):
		return "this security key or passkey is not registered to your account"
	case errors.Is(err, webauthn.ErrCredentialExists):
		return "this security key or passkey is already registered"
	}
	return "the security key or passkey check did not succeed; try again"
}

// saveCredential stores a newly registered credential under a name the
// user gave (trimmed, at most 64 characters).
func (w *WebAuthn) saveCredential(ctx context.Context, user *storage.User, name string, c webauthn.Credential) error {
	fallback := "Passkey"
	if !c.Discoverable {
		fallback = "Security key"
	}
	name = idp.DisplayName(name, fallback)
	row := &storage.WebAuthnCredential{
		ID: b64url.EncodeToString(c.ID), UserID: user.ID, Name: name,
		PublicKey: base64.StdEncoding.EncodeToString(c.PublicKey), AAGUID: hex.EncodeToString(c.AAGUID),
		SignCount: c.SignCount, Transports: c.Transports, Flags: c.Flags,
		AttestationType: c.AttestationType, Discoverable: c.Discoverable,
	}
	if err := w.store.CreateWebAuthnCredential(ctx, row); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("%w: this security key or passkey is already registered", idp.ErrWebAuthn)
		}
		return err
	}
	w.audit.Record(ctx, idp.UserActor(user.ID), "webauthn.enrolled", user.ID, map[string]any{"credential": row.ID, "passkey": c.Discoverable})
	return nil
}
