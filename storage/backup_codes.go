package storage

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// BackupCode is one of a user's look-up secrets (NIST SP 800-63B §5.1.2).
// The code itself is never stored: Tag is a keyed lookup tag of it, unique
// per user, so that a submitted code is found without trying every hash,
// and Hash its argon2id PHC string, checked once. Both are computed by the
// caller.
type BackupCode struct {
	ID        string `gorm:"primaryKey"`
	UserID    string
	Tag       string
	Hash      string
	UsedAt    *time.Time // nil: still usable
	CreatedAt time.Time
}

// ReplaceBackupCodes deletes every code of userID and inserts codes in one
// transaction, so that regenerating invalidates the previous set and a
// failure leaves it intact. Each code's UserID is set to userID (a code of
// another user is refused), and CreatedAt defaults to now; codes is not
// modified. An empty list just deletes. Two codes with one tag →
// ErrConflict; an unknown user → ErrReference.
func (s *Store) ReplaceBackupCodes(ctx context.Context, userID string, codes []BackupCode) error {
	const op = "replace backup codes"
	now := s.clock()
	rows := make([]BackupCode, len(codes))
	for i, c := range codes {
		if c.UserID != "" && c.UserID != userID {
			return translate(op, errors.New("a code of another user"))
		}
		c.UserID = userID
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		c.CreatedAt, c.UsedAt = stored(c.CreatedAt), storedPtr(c.UsedAt)
		rows[i] = c
	}
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ?", userID).Delete(&BackupCode{}).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		return tx.Create(&rows).Error
	})
	return translate(op, err)
}

// FindBackupCode returns the unused code of userID with tag, for the caller
// to verify its hash (one KDF evaluation); a used, unknown or other user's
// code → ErrNotFound. Finding a code does not use it: UseBackupCode does.
func (s *Store) FindBackupCode(ctx context.Context, userID, tag string) (*BackupCode, error) {
	var c BackupCode
	err := s.db.WithContext(ctx).Where("user_id = ? AND tag = ? AND used_at IS NULL", userID, tag).Take(&c).Error
	if err != nil {
		return nil, translate("find backup code", err)
	}
	return &c, nil
}

// UseBackupCode consumes a code in one conditional statement: of any number
// of concurrent callers exactly one wins; the others, and any later caller,
// get ErrNotFound.
func (s *Store) UseBackupCode(ctx context.Context, id string) error {
	res := s.db.WithContext(ctx).Model(&BackupCode{}).
		Where("id = ? AND used_at IS NULL", id).
		Update("used_at", s.clock())
	return affectedOne("use backup code", res)
}

// CountUnusedBackupCodes returns how many codes userID has left.
func (s *Store) CountUnusedBackupCodes(ctx context.Context, userID string) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&BackupCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error
	return n, translate("count unused backup codes", err)
}

// DeleteBackupCodes removes every code of userID, used or not; a user
// without codes is not an error.
func (s *Store) DeleteBackupCodes(ctx context.Context, userID string) error {
	err := s.db.WithContext(ctx).Where("user_id = ?", userID).Delete(&BackupCode{}).Error
	return translate("delete backup codes", err)
}
