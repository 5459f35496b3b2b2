package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// setupToken is a one-time first-run link. Only its hash is stored.
type setupToken struct {
	TokenHash string `gorm:"primaryKey"`
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// CreateSetupToken stores the hash of a new first-run token.
func (s *Store) CreateSetupToken(ctx context.Context, tokenHash string, expiresAt time.Time) error {
	t := setupToken{TokenHash: tokenHash, ExpiresAt: expiresAt.UTC()}
	return translate("create setup token", s.db.WithContext(ctx).Create(&t).Error)
}

// CheckSetupToken returns nil if the token is unused and unexpired,
// ErrNotFound otherwise.
func (s *Store) CheckSetupToken(ctx context.Context, tokenHash string) error {
	var n int64
	err := s.db.WithContext(ctx).Model(&setupToken{}).
		Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", tokenHash, s.clock()).
		Count(&n).Error
	if err != nil {
		return translate("check setup token", err)
	}
	if n == 0 {
		return translate("check setup token", gorm.ErrRecordNotFound)
	}
	return nil
}

// ConsumeSetupToken marks the token used in one conditional statement:
// exactly one caller wins; everyone else gets ErrNotFound.
func (s *Store) ConsumeSetupToken(ctx context.Context, tokenHash string) error {
	return consumeSetupToken(s.db.WithContext(ctx), tokenHash, s.clock())
}

func consumeSetupToken(db *gorm.DB, tokenHash string, now time.Time) error {
	res := db.Model(&setupToken{}).
		Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", tokenHash, now).
		Update("used_at", now)
	if res.Error != nil {
		return translate("consume setup token", res.Error)
	}
	if res.RowsAffected != 1 {
		return translate("consume setup token", gorm.ErrRecordNotFound)
	}
	return nil
}

// CompleteSetup consumes the token and creates the first account in one
// transaction. A marker row with a fixed primary key makes completions
// serialise: when two setup links (say, printed by two replicas) are used at
// the same moment, the second transaction waits for the first and then fails
// with ErrConflict, as it does when any account already exists.
func (s *Store) CompleteSetup(ctx context.Context, tokenHash string, u *User) error {
	now := s.clock()
	u.UsernameKey = NormalizeUsername(u.Username)
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		if err := consumeSetupToken(tx, tokenHash, now); err != nil {
			return err
		}
		if err := tx.Create(&setting{Key: settingSetupCompleted, Value: now.Format(time.RFC3339)}).Error; err != nil {
			return err // unique violation → ErrConflict
		}
		var n int64
		if err := tx.Model(&User{}).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrConflict
		}
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		return insertUserGroups(tx, u.ID, u.Groups)
	})
	return translate("complete setup", err)
}
