package directory

import (
	"context"
	"errors"
	"log/slog"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/password"
	"github.com/twofold-idp/twofold/storage"
)

// passwordStore is what checking and changing passwords needs.
type passwordStore interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
	ReplacePasswordHash(ctx context.Context, id, oldHash, newHash string) error
	SetPasswordHash(ctx context.Context, id, hash string) error
}

// Passwords checks and changes users' passwords.
type Passwords struct {
	store  passwordStore
	hasher PasswordHasher
	log    *slog.Logger
}

// Authenticate checks a username and password. Every failure costs one
// password-hash evaluation, like a success, so timing does not reveal whether
// the account exists. A hash made with outdated parameters is replaced
// transparently.
// dummy spends a password check's work and admission for an account that
// cannot sign in with a password: busy like a real check would be, else
// ErrInvalidCredentials.
func (d *Passwords) dummy(ctx context.Context, pw string) error {
	err := d.hasher.VerifyDummy(ctx, pw)
	switch {
	case errors.Is(err, password.ErrBusy):
		return idp.ErrBusy
	case err != nil:
		return err
	}
	return idp.ErrInvalidCredentials
}

func (d *Passwords) Authenticate(ctx context.Context, username, pw string) (User, error) {
	u, err := d.store.GetUserByUsername(ctx, username)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			return User{}, err
		}
		return User{}, d.dummy(ctx, pw)
	}
	if u.PasswordHash == "" {
		return User{}, d.dummy(ctx, pw)
	}
	ok, rehash, err := d.hasher.Verify(ctx, u.PasswordHash, pw)
	if err != nil {
		if ctx.Err() != nil {
			return User{}, ctx.Err()
		}
		if errors.Is(err, password.ErrBusy) {
			return User{}, idp.ErrBusy
		}
		// A malformed stored hash or an over-long password: log the cause,
		// answer like a wrong password.
		d.log.WarnContext(ctx, "password verification failed", "user_id", u.ID, "err", err)
		return User{}, idp.ErrInvalidCredentials
	}
	if !ok || u.Disabled {
		return User{}, idp.ErrInvalidCredentials
	}
	if rehash {
		d.rehash(ctx, u, pw)
	}
	return UserFromStorage(u), nil
}

func (d *Passwords) rehash(ctx context.Context, u *storage.User, pw string) {
	h, err := d.hasher.Hash(ctx, pw)
	if err == nil {
		err = d.store.ReplacePasswordHash(ctx, u.ID, u.PasswordHash, h)
	}
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		d.log.WarnContext(ctx, "password rehash failed", "user_id", u.ID, "err", err)
	}
}

// ChangePassword checks a user's current password and sets a new one.
// A wrong current password is an InputError on current_password, a weak
// new one on password.
func (d *Passwords) ChangePassword(ctx context.Context, userID, current, next string) error {
	u, err := d.store.GetUser(ctx, userID)
	if err != nil {
		return notFound(err)
	}
	if _, err := d.Authenticate(ctx, u.Username, current); err != nil {
		if errors.Is(err, idp.ErrInvalidCredentials) {
			return inputError("current_password", "is not right")
		}
		return err
	}
	if err := ValidatePassword(next, u.Username); err != nil {
		return err
	}
	h, err := d.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	return d.store.SetPasswordHash(ctx, u.ID, h)
}

// NewPasswordHash checks that next may become the password of the user with
// id (the rules of ValidatePassword: an *idp.InputError on "password") and
// hashes it, without storing it: a forgotten-password reset stores it only
// once its link is used, so a refused password spends nothing.
func (d *Passwords) NewPasswordHash(ctx context.Context, userID, next string) (string, error) {
	u, err := d.store.GetUser(ctx, userID)
	if err != nil {
		return "", notFound(err)
	}
	if err := ValidatePassword(next, u.Username); err != nil {
		return "", err
	}
	h, err := d.hasher.Hash(ctx, next)
	if errors.Is(err, password.ErrBusy) {
		return "", idp.ErrBusy
	}
	return h, err
}
