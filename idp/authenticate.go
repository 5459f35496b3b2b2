package idp

import (
	"context"
	"errors"

	"github.com/twofold-idp/twofold/storage"
)

// ErrInvalidCredentials is the one answer for an unknown user, a wrong
// password and a disabled account, so that none can be told apart
// (SECURITY-RULES: no account enumeration).
var ErrInvalidCredentials = errors.New("idp: invalid username or password")

// Authenticate checks a username and password. Every failure costs one
// password-hash evaluation, like a success, so timing does not reveal whether
// the account exists. A hash made with outdated parameters is replaced
// transparently.
func (d *Directory) Authenticate(ctx context.Context, username, pw string) (User, error) {
	u, err := d.store.GetUserByUsername(ctx, username)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			return User{}, err
		}
		d.hasher.VerifyDummy(ctx, pw)
		return User{}, ErrInvalidCredentials
	}
	if u.PasswordHash == "" {
		d.hasher.VerifyDummy(ctx, pw)
		return User{}, ErrInvalidCredentials
	}
	ok, rehash, err := d.hasher.Verify(ctx, u.PasswordHash, pw)
	if err != nil {
		if ctx.Err() != nil {
			return User{}, ctx.Err()
		}
		// A malformed stored hash or an over-long password: log the cause,
		// answer like a wrong password.
		d.log.WarnContext(ctx, "password verification failed", "user_id", u.ID, "err", err)
		return User{}, ErrInvalidCredentials
	}
	if !ok || u.Disabled {
		return User{}, ErrInvalidCredentials
	}
	if rehash {
		d.rehash(ctx, u, pw)
	}
	return userFromStorage(u), nil
}

func (d *Directory) rehash(ctx context.Context, u *storage.User, pw string) {
	h, err := d.hasher.Hash(ctx, pw)
	if err == nil {
		err = d.store.ReplacePasswordHash(ctx, u.ID, u.PasswordHash, h)
	}
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		d.log.WarnContext(ctx, "password rehash failed", "user_id", u.ID, "err", err)
	}
}
