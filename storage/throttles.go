package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// throttleRetention is how long an unlocked throttle outlives its last
// failure before DeleteExpired forgets it.
const throttleRetention = 24 * time.Hour

// Throttle counts consecutive failures under a key ("login:user:<id>",
// "login:ip:<ip>", "otp:user:<id>") and, past a threshold chosen by the
// caller, when the key is locked until.
type Throttle struct {
	Key         string `gorm:"primaryKey"`
	Failures    int
	LockedUntil *time.Time
	UpdatedAt   time.Time
}

// RecordFailure counts one more failure under key and returns the row. The
// increment is one INSERT … ON CONFLICT DO UPDATE … RETURNING, so
// concurrent failures (parallel guesses, several replicas) never lose a
// count. When backoff(failures) is positive, locked_until becomes now plus
// that — in the same transaction, and never earlier than a lock already
// set, so a slower concurrent failure cannot shorten a longer lock.
func (s *Store) RecordFailure(ctx context.Context, key string, backoff func(failures int) time.Duration) (*Throttle, error) {
	now := s.clock()
	th := Throttle{Key: key, Failures: 1, UpdatedAt: now}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		err := tx.Clauses(
			clause.OnConflict{
				Columns: []clause.Column{{Name: "key"}},
				DoUpdates: clause.Assignments(map[string]any{
					"failures":   gorm.Expr("throttles.failures + 1"),
					"updated_at": now,
				}),
			},
			clause.Returning{},
		).Create(&th).Error
		if err != nil {
			return err
		}
		d := backoff(th.Failures)
		if d <= 0 {
			return nil
		}
		until := stored(now.Add(d))
		// A separate row to scan into: gorm writes the assigned values into
		// the model even when nothing matches (a longer lock is already
		// set), and th must then stay as the upsert returned it.
		var locked Throttle
		res := tx.Model(&locked).Clauses(clause.Returning{}).
			Where("key = ? AND (locked_until IS NULL OR locked_until < ?)", key, until).
			Update("locked_until", until)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			th = locked
		}
		return nil
	})
	if err != nil {
		return nil, translate("record failure", err)
	}
	return &th, nil
}

// GetThrottle returns the throttle under key; ErrNotFound when there is
// none (no failures counted).
func (s *Store) GetThrottle(ctx context.Context, key string) (*Throttle, error) {
	var th Throttle
	if err := s.db.WithContext(ctx).Where("key = ?", key).Take(&th).Error; err != nil {
		return nil, translate("get throttle", err)
	}
	return &th, nil
}

// ResetThrottle forgets the failures under key (after a success); a key
// without failures is not an error.
func (s *Store) ResetThrottle(ctx context.Context, key string) error {
	err := s.db.WithContext(ctx).Where("key = ?", key).Delete(&Throttle{}).Error
	return translate("reset throttle", err)
}
