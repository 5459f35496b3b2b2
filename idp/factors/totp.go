package factors

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage"
)

// TOTPStore is the storage of authenticator apps.
type TOTPStore interface {
	CreateTOTP(ctx context.Context, a *storage.TOTPAuthenticator) error
	GetTOTP(ctx context.Context, userID, id string) (*storage.TOTPAuthenticator, error)
	ListTOTP(ctx context.Context, userID string, confirmedOnly bool) ([]storage.TOTPAuthenticator, error)
	ConfirmTOTP(ctx context.Context, userID, id string, step int64) error
	AdvanceTOTPStep(ctx context.Context, userID, id string, step int64) error
	RenameTOTP(ctx context.Context, userID, id, name string) error
	DeleteTOTP(ctx context.Context, userID, id string) error
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

const totpPurpose = "totp-secret"

// TOTP is the authenticator-app factor (RFC 6238), amr otp.
type TOTP struct {
	store  TOTPStore
	ring   *secrets.Keyring
	issuer string // shown in the app: "Twofold (host)"
	audit  idp.Auditor
	log    *slog.Logger
	now    func() time.Time
}

var _ Managed = (*TOTP)(nil)

// NewTOTP wires the factor; issuerURL names the provider in the app.
func NewTOTP(store TOTPStore, ring *secrets.Keyring, issuerURL string, logger *slog.Logger, now func() time.Time) *TOTP {
	issuer := "Twofold"
	if u, err := url.Parse(issuerURL); err == nil && u.Hostname() != "" {
		issuer = "Twofold (" + u.Hostname() + ")"
	}
	return &TOTP{store: store, ring: ring, issuer: issuer, audit: idp.Auditor{Store: store, Log: logger}, log: logger, now: now}
}

func (t *TOTP) Method() policy.Method                                           { return policy.TOTP }
func (t *TOTP) Enrolled(c storage.FactorCounts) int                             { return int(c.TOTP) }
func (t *TOTP) Enrollable() bool                                                { return true }
func (t *TOTP) PhishingResistant() bool                                         { return false }
func (t *TOTP) OneTimeCode() bool                                               { return true }
func (t *TOTP) Begin(context.Context, *storage.User, Challenge) ([]byte, error) { return nil, nil }

func (t *TOTP) proof() storage.SessionFactor { return proof(policy.TOTP, t.now(), "otp") }

// Verify accepts a code of any of the user's confirmed authenticators,
// once: the step is advanced by one conditional statement, so a replay is
// refused across sessions and replicas (RFC 6238 §5.2).
func (t *TOTP) Verify(ctx context.Context, user *storage.User, _ Challenge, input []byte) (storage.SessionFactor, error) {
	auths, err := t.store.ListTOTP(ctx, user.ID, true)
	if err != nil {
		return storage.SessionFactor{}, err
	}
	for i := range auths {
		a := &auths[i]
		secret, err := t.open(a)
		if err != nil {
			t.log.ErrorContext(ctx, "open a TOTP secret", "authenticator", a.ID, "err", err)
			continue
		}
		step, err := totp.Verify(secret, string(input), t.now(), a.LastStep)
		if err != nil {
			continue
		}
		if err := t.store.AdvanceTOTPStep(ctx, user.ID, a.ID, step); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return storage.SessionFactor{}, idp.ErrInvalidCode // the same code, used a moment ago
			}
			return storage.SessionFactor{}, err
		}
		return t.proof(), nil
	}
	return storage.SessionFactor{}, idp.ErrInvalidCode
}

func (t *TOTP) seal(id string, secret []byte) (string, error) {
	b, err := t.ring.Seal(totpPurpose, secret, []byte(id))
	return base64.StdEncoding.EncodeToString(b), err
}

func (t *TOTP) open(a *storage.TOTPAuthenticator) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(a.SecretSealed)
	if err != nil {
		return nil, err
	}
	return t.ring.Open(totpPurpose, b, []byte(a.ID))
}

// StartEnrollment creates an unconfirmed authenticator with a fresh secret.
func (t *TOTP) StartEnrollment(ctx context.Context, user *storage.User, name string) (idp.TOTPEnrollment, error) {
	secret, err := totp.GenerateSecret()
	if err != nil {
		return idp.TOTPEnrollment{}, err
	}
	a := &storage.TOTPAuthenticator{ID: idp.RandomToken(16), UserID: user.ID, Name: idp.DisplayName(name, "Authenticator app")}
	if a.SecretSealed, err = t.seal(a.ID, secret); err != nil {
		return idp.TOTPEnrollment{}, err
	}
	if err := t.store.CreateTOTP(ctx, a); err != nil {
		return idp.TOTPEnrollment{}, err
	}
	return t.describe(user, a)
}

// Enrollment shows an unconfirmed authenticator again; idp.ErrNotFound
// when there is none by that id.
func (t *TOTP) Enrollment(ctx context.Context, user *storage.User, id string) (idp.TOTPEnrollment, error) {
	a, err := t.store.GetTOTP(ctx, user.ID, id)
	if err != nil || a.ConfirmedAt != nil {
		return idp.TOTPEnrollment{}, idp.ErrNotFound
	}
	return t.describe(user, a)
}

// describe makes what the enrollment page shows.
func (t *TOTP) describe(user *storage.User, a *storage.TOTPAuthenticator) (idp.TOTPEnrollment, error) {
	secret, err := t.open(a)
	if err != nil {
		return idp.TOTPEnrollment{}, err
	}
	k := totp.Key{Secret: secret, Issuer: t.issuer, Account: user.Username}
	png, err := k.QRPNG(256)
	if err != nil {
		return idp.TOTPEnrollment{}, err
	}
	return idp.TOTPEnrollment{
		ID: a.ID, URI: k.URI(), QRPNG: png,
		Secret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret),
	}, nil
}

// ConfirmEnrollment activates an authenticator with its first valid code
// (verified like any code, under the caller's throttle) and returns it as
// a proven factor.
func (t *TOTP) ConfirmEnrollment(ctx context.Context, user *storage.User, id, code string) (storage.SessionFactor, error) {
	a, err := t.store.GetTOTP(ctx, user.ID, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && a.ConfirmedAt != nil) {
		return storage.SessionFactor{}, idp.ErrInvalidCode
	}
	if err != nil {
		return storage.SessionFactor{}, err
	}
	secret, err := t.open(a)
	if err != nil {
		return storage.SessionFactor{}, err
	}
	step, err := totp.Verify(secret, code, t.now(), -1)
	if err != nil {
		return storage.SessionFactor{}, idp.ErrInvalidCode
	}
	if err := t.store.ConfirmTOTP(ctx, user.ID, id, step); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return storage.SessionFactor{}, idp.ErrInvalidCode
		}
		return storage.SessionFactor{}, err
	}
	t.audit.Record(ctx, idp.UserActor(user.ID), "totp.enrolled", user.ID, map[string]any{"authenticator": id})
	return t.proof(), nil
}

// List describes the user's confirmed authenticators.
func (t *TOTP) List(ctx context.Context, userID string) ([]idp.FactorView, error) {
	auths, err := t.store.ListTOTP(ctx, userID, true)
	if err != nil {
		return nil, err
	}
	out := make([]idp.FactorView, len(auths))
	for i, a := range auths {
		out[i] = idp.FactorView{Method: string(policy.TOTP), Kind: "Authenticator app", ID: a.ID, Name: a.Name, CreatedAt: a.CreatedAt, LastUsedAt: a.LastUsedAt}
	}
	return out, nil
}

func (t *TOTP) Rename(ctx context.Context, userID, id, name string) error {
	return t.store.RenameTOTP(ctx, userID, id, name)
}

func (t *TOTP) Remove(ctx context.Context, userID, id string) error {
	return t.store.DeleteTOTP(ctx, userID, id)
}
