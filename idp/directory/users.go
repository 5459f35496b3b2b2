package directory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// User is an account as the rest of Twofold sees it (never its hash).
type User struct {
	ID        string
	Username  string
	Email     string
	Groups    []string
	Admin     bool
	Disabled  bool
	ManagedBy string // ManagedByDatabase, ManagedByConfig or ManagedByDemo
	CreatedAt time.Time
}

// UserFromStorage describes a stored account without its secrets.
func UserFromStorage(u *storage.User) User {
	return User{ID: u.ID, Username: u.Username, Email: u.Email, Groups: u.Groups, Admin: u.Admin, Disabled: u.Disabled, ManagedBy: managedBy(u.ManagedBy), CreatedAt: u.CreatedAt}
}

// CreateUser validates and creates an account.
func (d *Directory) CreateUser(ctx context.Context, actor idp.Actor, nu NewUser) (User, error) {
	u, err := d.prepareUser(ctx, nu)
	if err != nil {
		return User{}, err
	}
	if err := d.store.CreateUser(ctx, u); err != nil {
		return User{}, d.userStoreError(err, nu)
	}
	d.audit(ctx, actor, "user.created", u.ID, map[string]any{"username": u.Username, "admin": u.Admin, "groups": u.Groups})
	return UserFromStorage(u), nil
}

// prepareUser validates nu and hashes its password.
func (d *Directory) prepareUser(ctx context.Context, nu NewUser) (*storage.User, error) {
	return d.prepareUserWithHash(ctx, nu, "")
}

// prepareUserWithHash is prepareUser with nu.Password's hash already made
// (or "" to make it).
func (d *Directory) prepareUserWithHash(ctx context.Context, nu NewUser, hashed string) (*storage.User, error) {
	if err := ValidateNewUser(nu); err != nil {
		return nil, err
	}
	nu.Username = strings.TrimSpace(nu.Username)
	nu.Email = strings.TrimSpace(nu.Email)
	hash := nu.PasswordHash
	if hash == "" {
		hash = hashed
	}
	if hash == "" {
		h, err := d.hasher.Hash(ctx, nu.Password)
		if err != nil {
			return nil, fmt.Errorf("hash password: %w", err)
		}
		hash = h
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	return &storage.User{
		ID: id.String(), Username: nu.Username, Email: nu.Email, PasswordHash: hash,
		Admin: nu.Admin, Groups: nu.Groups,
	}, nil
}

func (d *Directory) userStoreError(err error, nu NewUser) error {
	switch {
	case errors.Is(err, storage.ErrConflict):
		return inputError("username", "is already taken")
	case errors.Is(err, storage.ErrReference):
		return inputError("groups", "one of %q does not exist", nu.Groups)
	}
	return err
}

// GetUserByUsername finds an account case-insensitively.
func (d *Directory) GetUserByUsername(ctx context.Context, username string) (User, error) {
	u, err := d.store.GetUserByUsername(ctx, username)
	if err != nil {
		return User{}, notFound(err)
	}
	return UserFromStorage(u), nil
}

// ListUsers returns a page of accounts ordered by username; pass the last
// username of a page to get the next.
func (d *Directory) ListUsers(ctx context.Context, after string, limit int) ([]User, error) {
	us, err := d.store.ListUsers(ctx, storage.NormalizeUsername(after), limit)
	if err != nil {
		return nil, err
	}
	out := make([]User, len(us))
	for i := range us {
		out[i] = UserFromStorage(&us[i])
	}
	return out, nil
}

// SetUserDisabled disables or re-enables the account called username.
func (d *Directory) SetUserDisabled(ctx context.Context, actor idp.Actor, username string, disabled bool) error {
	u, err := d.store.GetUserByUsername(ctx, username)
	if err != nil {
		return notFound(err)
	}
	// The file declares which of its users exist (and so are enabled).
	if err := checkWritable("user", u.Username, u.ManagedBy); err != nil {
		err.(*ManagedError).Removed = u.Disabled
		return err
	}
	if err := d.store.SetUserDisabled(ctx, u.ID, disabled); err != nil {
		return notFound(err)
	}
	if disabled {
		// Tokens already issued stop working too, at once.
		if err := d.store.RevokeUserTokens(ctx, u.ID); err != nil {
			return err
		}
	}
	action := "user.enabled"
	if disabled {
		action = "user.disabled"
	}
	d.audit(ctx, actor, action, u.ID, map[string]any{"username": u.Username})
	return nil
}

func notFound(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w", idp.ErrNotFound)
	}
	return err
}

// RevokeConsent forgets that username allowed clientID: the next sign-in
// to that client asks again.
func (d *Directory) RevokeConsent(ctx context.Context, actor idp.Actor, username, clientID string) error {
	u, err := d.store.GetUserByUsername(ctx, username)
	if err != nil {
		return notFound(err)
	}
	if err := d.store.RevokeConsent(ctx, u.ID, clientID); err != nil {
		return notFound(err)
	}
	d.audit(ctx, actor, "consent.revoked", u.ID, map[string]any{"client_id": clientID})
	return nil
}

// ResetMFA is the administrator's recovery for a user who lost every
// second factor: it removes them all (authenticator apps, passkeys and
// security keys, backup codes, remembered devices) and ends the user's
// sessions, so the next sign-in enrolls afresh where a policy requires it.
// It is audited; it is never reachable by the user alone.
func (d *Directory) ResetMFA(ctx context.Context, actor idp.Actor, username string) error {
	u, err := d.store.GetUserByUsername(ctx, username)
	if err != nil {
		return notFound(err)
	}
	return d.resetMFA(ctx, actor, u, nil)
}

// resetMFA removes u's second factors, ends its sessions, revokes its
// tokens and audits it, with extra details (the administrator's reason).
func (d *Directory) resetMFA(ctx context.Context, actor idp.Actor, u *storage.User, extra map[string]any) error {
	r, err := d.store.ResetSecondFactors(ctx, u.ID)
	if err != nil {
		return err
	}
	if err := d.store.RevokeUserTokens(ctx, u.ID); err != nil {
		return err
	}
	details := map[string]any{"username": u.Username, "totp": r.TOTP, "webauthn": r.WebAuthn, "sessions_ended": r.SessionsEnded}
	maps.Copy(details, extra)
	d.audit(ctx, actor, "mfa.reset", u.ID, details)
	return nil
}

// AuditEntry is one event of the audit trail as an administrator reads it.
type AuditEntry struct {
	ID      int64          `json:"id"`
	At      time.Time      `json:"at"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Target  string         `json:"target"`
	IP      string         `json:"ip,omitempty"`
	Details map[string]any `json:"details,omitempty"`
}

// Audit lists audit events, newest first: of one user (by username) or of
// everyone, optionally of one action.
func (d *Directory) Audit(ctx context.Context, username, action string, limit int) ([]AuditEntry, error) {
	f := storage.AuditFilter{Action: action, Limit: limit}
	if username != "" {
		u, err := d.store.GetUserByUsername(ctx, username)
		if err != nil {
			return nil, notFound(err)
		}
		f.Target = u.ID
	}
	events, err := d.store.ListAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]AuditEntry, len(events))
	for i, e := range events {
		out[i] = AuditEntry{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, IP: e.IP, Details: e.Details}
	}
	return out, nil
}
