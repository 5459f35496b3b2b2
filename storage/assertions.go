package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// clientAssertion remembers the jti of a private_key_jwt client assertion
// while the assertion lives, so that it is accepted once (RFC 7523 §3).
type clientAssertion struct {
	ClientID  string `gorm:"primaryKey"`
	JTI       string `gorm:"primaryKey;column:jti"`
	ExpiresAt time.Time
}

// UseClientAssertion records that clientID used the assertion jti, which
// expires at expiresAt. A second use while it lives → ErrConflict (a
// replay). A pair whose assertion has expired may be used again — that
// assertion is refused as expired anyway — so the expired row is deleted and
// the new one inserted in one transaction; of concurrent uses, the primary
// key lets exactly one insert succeed.
func (s *Store) UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	now := s.clock()
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		err := tx.Where("client_id = ? AND jti = ? AND expires_at <= ?", clientID, jti, now).
			Delete(&clientAssertion{}).Error
		if err != nil {
			return err
		}
		return tx.Create(&clientAssertion{ClientID: clientID, JTI: jti, ExpiresAt: stored(expiresAt)}).Error
	})
	return translate("use client assertion", err)
}
