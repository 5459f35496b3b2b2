package storage

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// IdempotencyRecord remembers one create made under a client-supplied
// Idempotency-Key: the hash of the request and, once it is done, the
// response. Status 0 means the first request is still running.
type IdempotencyRecord struct {
	Scope       string `gorm:"primaryKey"` // who and where: actor, method and path
	Key         string `gorm:"primaryKey"`
	RequestHash string
	Status      int
	Response    string
	CreatedAt   time.Time
}

func (IdempotencyRecord) TableName() string { return "idempotency_keys" }

// ReserveIdempotencyKey claims (scope, key) for a request whose hash is
// requestHash, in one conditional insert: of parallel requests under one
// key exactly one gets (nil, nil) and runs; the others get the existing
// record (running or done) to compare and replay.
func (s *Store) ReserveIdempotencyKey(ctx context.Context, scope, key, requestHash string) (*IdempotencyRecord, error) {
	rec := &IdempotencyRecord{Scope: scope, Key: key, RequestHash: requestHash, CreatedAt: s.clock()}
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(rec)
	if res.Error != nil {
		return nil, translate("reserve idempotency key", res.Error)
	}
	if res.RowsAffected == 1 {
		return nil, nil
	}
	var existing IdempotencyRecord
	err := s.db.WithContext(ctx).Where("scope = ? AND key = ?", scope, key).Take(&existing).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		// Released between the insert and the read: the caller may retry.
		return nil, translate("reserve idempotency key", ErrConflict)
	}
	return &existing, translate("get idempotency key", err)
}

// CompleteIdempotencyKey stores the response of the request that reserved
// (scope, key).
func (s *Store) CompleteIdempotencyKey(ctx context.Context, scope, key string, status int, response string) error {
	res := s.db.WithContext(ctx).Model(&IdempotencyRecord{}).Where("scope = ? AND key = ? AND status = 0", scope, key).
		Updates(map[string]any{"status": status, "response": response})
	if res.Error != nil {
		return translate("complete idempotency key", res.Error)
	}
	return affectedOne("complete idempotency key", res)
}

// ReleaseIdempotencyKey forgets a reservation whose request failed without
// an answer worth replaying (a server error), so that a retry runs again.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, scope, key string) error {
	return translate("release idempotency key", s.db.WithContext(ctx).
		Where("scope = ? AND key = ? AND status = 0", scope, key).Delete(&IdempotencyRecord{}).Error)
}

// DeleteIdempotencyKeysBefore forgets records older than before.
func (s *Store) DeleteIdempotencyKeysBefore(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("created_at < ?", before.UTC()).Delete(&IdempotencyRecord{})
	return res.RowsAffected, translate("delete idempotency keys", res.Error)
}
