package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// dpopProof remembers a used DPoP proof (RFC 9449 §11.1) by its key's
// thumbprint and its jti while the proof could still be accepted.
type dpopProof struct {
	JKT       string `gorm:"primaryKey;column:jkt"`
	JTI       string `gorm:"primaryKey;column:jti"`
	ExpiresAt time.Time
}

// UseDPoPProof records the proof jti of the key jkt until expiresAt. A second
// use while it lives → ErrConflict (a replay); of concurrent uses the
// primary key lets exactly one insert succeed, on any replica.
func (s *Store) UseDPoPProof(ctx context.Context, jkt, jti string, expiresAt time.Time) error {
	now := s.clock()
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("jkt = ? AND jti = ? AND expires_at <= ?", jkt, jti, now).Delete(&dpopProof{}).Error; err != nil {
			return err
		}
		return tx.Create(&dpopProof{JKT: jkt, JTI: jti, ExpiresAt: stored(expiresAt)}).Error
	})
	return translate("use dpop proof", err)
}
