package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Consent is what a user allowed a client: the scopes granted, remembered so
// that the consent page is shown again only for new scopes.
type Consent struct {
	UserID    string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	Scopes    Strings
	GrantedAt time.Time
}

// GetConsent returns what userID granted clientID; ErrNotFound when nothing.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (*Consent, error) {
	var c Consent
	err := s.db.WithContext(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&c).Error
	if err != nil {
		return nil, translate("get consent", err)
	}
	return &c, nil
}

// SaveConsent creates or replaces a consent (scopes and granted_at) in one
// statement; GrantedAt defaults to now. An unknown user or client →
// ErrReference.
func (s *Store) SaveConsent(ctx context.Context, c *Consent) error {
	if c.GrantedAt.IsZero() {
		c.GrantedAt = s.clock()
	}
	c.GrantedAt = stored(c.GrantedAt)
	// Not s.upsert: a consent has no updated_at, granted_at plays its part.
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"scopes", "granted_at"}),
	}).Create(c).Error
	return translate("save consent", err)
}

// RevokeConsent forgets what userID granted clientID; ErrNotFound when
// nothing was granted.
func (s *Store) RevokeConsent(ctx context.Context, userID, clientID string) error {
	res := s.db.WithContext(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&Consent{})
	if res.Error != nil {
		return translate("revoke consent", res.Error)
	}
	if res.RowsAffected == 0 {
		return translate("revoke consent", gorm.ErrRecordNotFound)
	}
	return nil
}

// ListConsents returns a user's consents by client id.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]Consent, error) {
	var out []Consent
	err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("client_id").Find(&out).Error
	return out, translate("list consents", err)
}
