package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// RememberedDevice is a browser a user chose to remember after a second
// factor. Only the hash of its cookie token is stored.
type RememberedDevice struct {
	ID         string `gorm:"primaryKey"`
	UserID     string
	TokenHash  string
	Label      string // e.g. the browser's user agent, shortened
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt *time.Time
}

// CreateRememberedDevice stores a remembered device.
func (s *Store) CreateRememberedDevice(ctx context.Context, d *RememberedDevice) error {
	d.ExpiresAt = d.ExpiresAt.UTC().Truncate(time.Microsecond)
	return translate("create remembered device", s.db.WithContext(ctx).Create(d).Error)
}

// UseRememberedDevice returns the unexpired device of userID with
// tokenHash and records the use; ErrNotFound otherwise.
func (s *Store) UseRememberedDevice(ctx context.Context, userID, tokenHash string) (*RememberedDevice, error) {
	now := s.clock()
	var d RememberedDevice
	err := s.db.WithContext(ctx).Where("token_hash = ? AND user_id = ? AND expires_at > ?", tokenHash, userID, now).Take(&d).Error
	if err != nil {
		return nil, translate("use remembered device", err)
	}
	if err := s.db.WithContext(ctx).Model(&d).Update("last_used_at", now).Error; err != nil {
		return nil, translate("use remembered device", err)
	}
	d.LastUsedAt = &now
	return &d, nil
}

// ListRememberedDevices returns the user's unexpired devices, newest first.
func (s *Store) ListRememberedDevices(ctx context.Context, userID string) ([]RememberedDevice, error) {
	var out []RememberedDevice
	err := s.db.WithContext(ctx).Where("user_id = ? AND expires_at > ?", userID, s.clock()).Order("created_at DESC, id").Find(&out).Error
	return out, translate("list remembered devices", err)
}

// ForgetRememberedDevice removes one of the user's devices.
func (s *Store) ForgetRememberedDevice(ctx context.Context, userID, id string) error {
	res := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&RememberedDevice{})
	if res.Error != nil {
		return translate("forget remembered device", res.Error)
	}
	if res.RowsAffected == 0 {
		return translate("forget remembered device", gorm.ErrRecordNotFound)
	}
	return nil
}

// ForgetRememberedDevices removes all the user's devices (a factor was
// removed, the password changed).
func (s *Store) ForgetRememberedDevices(ctx context.Context, userID string) error {
	return translate("forget remembered devices", s.db.WithContext(ctx).Where("user_id = ?", userID).Delete(&RememberedDevice{}).Error)
}
