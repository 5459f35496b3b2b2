package storage

import (
	"context"
	"time"
)

// SigningKey is one of the provider's JWT signing keys. The row never holds
// the private key in the clear: PrivateSealed is base64 of the PKCS#8 DER
// sealed by the secrets keyring (purpose "signing-key", aad = ID).
//
// Life of a key: published in JWKS from CreatedAt; signs from ActiveAt
// until RetireAt; removed from JWKS at ExpiresAt, when the last token it
// signed has expired.
type SigningKey struct {
	ID            string `gorm:"primaryKey"` // the JWS "kid"
	Alg           string // RS256, ES256 or EdDSA
	PrivateSealed string
	PublicJWK     string `gorm:"column:public_jwk"` // JSON of the public JWK
	CreatedAt     time.Time
	ActiveAt      time.Time
	RetireAt      *time.Time // nil: not retired
	ExpiresAt     *time.Time // nil: published indefinitely
}

// keyTime normalises a caller's time as the store's clock does: UTC,
// microsecond precision. SQLite compares the stored text, which orders
// correctly only when every value is in one zone.
func keyTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func keyTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := keyTime(*t)
	return &v
}

// CreateSigningKey stores a new key; a taken id → ErrConflict. CreatedAt
// defaults to now, ActiveAt to CreatedAt.
func (s *Store) CreateSigningKey(ctx context.Context, k *SigningKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.clock()
	}
	if k.ActiveAt.IsZero() {
		k.ActiveAt = k.CreatedAt
	}
	k.CreatedAt, k.ActiveAt = keyTime(k.CreatedAt), keyTime(k.ActiveAt)
	k.RetireAt, k.ExpiresAt = keyTimePtr(k.RetireAt), keyTimePtr(k.ExpiresAt)
	return translate("create signing key", s.db.WithContext(ctx).Create(k).Error)
}

// ListSigningKeys returns the keys not yet expired (the published set),
// oldest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	var ks []SigningKey
	err := s.db.WithContext(ctx).
		Where("expires_at IS NULL OR expires_at > ?", s.clock()).
		Order("created_at, id").
		Find(&ks).Error
	return ks, translate("list signing keys", err)
}

// RetireSigningKeys hands signing of alg over to the key keepID: every other
// key of alg that is still unretired and became (or becomes) active before
// retireAt is retired at retireAt and expires at expiresAt, in one
// statement, and the count is returned. Keys activating at or after retireAt
// are left alone, so when two replicas rotate at once the later successor
// survives and the earlier one is retired, never both.
func (s *Store) RetireSigningKeys(ctx context.Context, alg, keepID string, retireAt, expiresAt time.Time) (int64, error) {
	retireAt, expiresAt = keyTime(retireAt), keyTime(expiresAt)
	res := s.db.WithContext(ctx).Model(&SigningKey{}).
		Where("alg = ? AND id <> ? AND retire_at IS NULL AND active_at < ?", alg, keepID, retireAt).
		Updates(map[string]any{"retire_at": retireAt, "expires_at": expiresAt})
	return res.RowsAffected, translate("retire signing keys", res.Error)
}

// DeleteExpiredSigningKeys removes the keys whose expires_at has passed and
// returns how many.
func (s *Store) DeleteExpiredSigningKeys(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).
		Where("expires_at IS NOT NULL AND expires_at <= ?", s.clock()).
		Delete(&SigningKey{})
	return res.RowsAffected, translate("delete expired signing keys", res.Error)
}
