package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// SetupTokenTTL is how long a first-run setup link works.
const SetupTokenTTL = 24 * time.Hour

// setupTokenHash: setup tokens carry 256 random bits, so a plain SHA-256 is
// enough to make the stored value useless to a database reader, and it keeps
// lookups independent of master-key rotation.
func setupTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// setupStore is what first-run setup needs.
type setupStore interface {
	CountUsers(ctx context.Context) (int64, error)
	CreateSetupToken(ctx context.Context, tokenHash string, expiresAt time.Time) error
	CheckSetupToken(ctx context.Context, tokenHash string) error
	CompleteSetup(ctx context.Context, tokenHash string, u *storage.User) error
	CreateGroupIfAbsent(ctx context.Context, name string) (bool, error)
}

// Setup creates the first administrator through a one-time link.
type Setup struct {
	store setupStore
	dir   *Directory // validates and hashes the new user, audits
}

// PrepareSetup returns a new one-time setup token when no account exists
// yet, and "" otherwise.
func (d *Setup) PrepareSetup(ctx context.Context) (string, error) {
	n, err := d.store.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	if err := d.store.CreateSetupToken(ctx, setupTokenHash(token), d.dir.now().Add(SetupTokenTTL)); err != nil {
		return "", fmt.Errorf("create setup token: %w", err)
	}
	return token, nil
}

// CheckSetupToken says whether token can still create the first admin.
func (d *Setup) CheckSetupToken(ctx context.Context, token string) error {
	n, err := d.store.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return idp.ErrSetupDone
	}
	if err := d.store.CheckSetupToken(ctx, setupTokenHash(token)); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return idp.ErrSetupTokenInvalid
		}
		return err
	}
	return nil
}

// CompleteSetup validates nu, then consumes token and creates nu as the
// first administrator, a member of the admin group, in one transaction.
// Bad input leaves the token usable.
func (d *Setup) CompleteSetup(ctx context.Context, token string, nu NewUser) error {
	nu.Admin = true
	nu.PasswordHash = ""
	if !slices.Contains(nu.Groups, d.dir.adminGroup) {
		nu.Groups = append(slices.Clone(nu.Groups), d.dir.adminGroup)
	}
	u, err := d.dir.prepareUser(ctx, nu)
	if err != nil {
		return err
	}
	// The group is created (if absent) before the transaction that creates
	// the user, and only for a token that can still finish; a setup that
	// fails after it leaves an empty group, which the next attempt uses.
	if d.CheckSetupToken(ctx, token) == nil {
		created, err := d.store.CreateGroupIfAbsent(ctx, d.dir.adminGroup)
		if err != nil {
			return err
		}
		if created {
			d.dir.audit(ctx, idp.ActorSetup, "group.created", d.dir.adminGroup, map[string]any{"via": "setup"})
		}
	}
	switch err := d.store.CompleteSetup(ctx, setupTokenHash(token), u); {
	case errors.Is(err, storage.ErrNotFound):
		return idp.ErrSetupTokenInvalid
	case errors.Is(err, storage.ErrConflict):
		return idp.ErrSetupDone
	case errors.Is(err, storage.ErrReference):
		return d.dir.userStoreError(err, nu)
	case err != nil:
		return err
	}
	d.dir.audit(ctx, idp.ActorSetup, "user.created", u.ID, map[string]any{"username": u.Username, "admin": true, "via": "setup"})
	return nil
}
