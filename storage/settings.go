package storage

import (
	"context"
	"time"
)

// Setting keys.
const (
	// SettingDefaultPolicy names the policy that applies when neither the
	// client nor a group names one ("" for none).
	SettingDefaultPolicy = "default_policy"
	// SettingDefaultPolicyManagedBy says who set the default policy (a
	// ManagedBy value; absent: ManagedByLegacy).
	SettingDefaultPolicyManagedBy = "default_policy_managed_by"

	// settingSetupCompleted is written once, by CompleteSetup.
	settingSetupCompleted = "setup_completed"
)

type setting struct {
	Key       string `gorm:"primaryKey"`
	Value     string
	UpdatedAt time.Time
}

// SetSetting stores a server-wide setting.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	return s.upsert(ctx, "set setting", &setting{Key: key, Value: value}, "key", "value")
}

// GetSetting returns a setting, ErrNotFound when it was never set.
func (s *Store) GetSetting(ctx context.Context, key string) (string, error) {
	var st setting
	if err := s.db.WithContext(ctx).Where("key = ?", key).Take(&st).Error; err != nil {
		return "", translate("get setting", err)
	}
	return st.Value, nil
}
