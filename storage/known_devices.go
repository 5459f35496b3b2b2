package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// KnownDevice is a browser a user signed in from: the keyed hash of the
// long-lived cookie that browser carries. A sign-in from a browser that is
// not one of the user's known devices is a sign-in from a new device.
type KnownDevice struct {
	UserID     string `gorm:"primaryKey"`
	TokenHash  string `gorm:"primaryKey"`
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt: a device unseen until then is forgotten (purged).
	ExpiresAt time.Time
}

// SeeKnownDevice records that the user signed in from the browser whose
// cookie has tokenHash, known until expiresAt. It reports whether the
// browser was new to the user, and whether the user had any known device
// before (false for their first recorded sign-in). Of concurrent calls for
// the same browser exactly one reports it new.
func (s *Store) SeeKnownDevice(ctx context.Context, userID, tokenHash string, expiresAt time.Time) (isNew, hadOthers bool, err error) {
	now := s.clock()
	err = s.transaction(ctx, func(tx *gorm.DB) error {
		var others int64
		if err := tx.Model(&KnownDevice{}).Where("user_id = ? AND token_hash <> ? AND expires_at > ?", userID, tokenHash, now).
			Count(&others).Error; err != nil {
			return err
		}
		hadOthers = others > 0
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&KnownDevice{
			UserID: userID, TokenHash: tokenHash, CreatedAt: now, LastSeenAt: now, ExpiresAt: expiresAt,
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			isNew = true
			return nil
		}
		// Known already: seen again now. One that had expired without being
		// purged yet counts as new, like a purged one.
		var expired int64
		if err := tx.Model(&KnownDevice{}).Where("user_id = ? AND token_hash = ? AND expires_at <= ?", userID, tokenHash, now).
			Count(&expired).Error; err != nil {
			return err
		}
		isNew = expired > 0
		return tx.Model(&KnownDevice{}).Where("user_id = ? AND token_hash = ?", userID, tokenHash).
			Updates(map[string]any{"last_seen_at": now, "expires_at": expiresAt}).Error
	})
	return isNew, hadOthers, translate("see known device", err)
}

// ForgetKnownDevices forgets every browser the user signed in from: the
// next sign-in from any of them is from a new device.
func (s *Store) ForgetKnownDevices(ctx context.Context, userID string) error {
	return translate("forget known devices", s.db.WithContext(ctx).Where("user_id = ?", userID).Delete(&KnownDevice{}).Error)
}
