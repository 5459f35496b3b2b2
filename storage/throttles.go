package storage

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// throttleRetention is how long a drained throttle outlives its last
// attempt before DeleteExpired forgets it.
const throttleRetention = 24 * time.Hour

// ThrottleSuccessRetention is how long a success under a key is
// remembered (Throttle.SucceededAt): DeleteExpired keeps the row that long.
const ThrottleSuccessRetention = 90 * 24 * time.Hour

// Throttle is a counter of attempts under a key ("login:name:<name>",
// "login:ip:<ip>", "otp:user:<id>", …) that decays: one counted attempt is
// forgotten per period the caller chooses. It is kept as the time the
// counter is back to zero (the generic cell rate algorithm): each attempt
// moves DrainedAt one period past the later of itself and now, so at time
// now ceil((DrainedAt-now)/period) attempts are still counted.
type Throttle struct {
	Key string `gorm:"primaryKey"`
	// DrainedAt is in Unix milliseconds: an integer, so that one portable
	// statement does the arithmetic on SQLite and PostgreSQL alike.
	DrainedAt   int64
	SucceededAt *time.Time // the last success under this key, if any
	UpdatedAt   time.Time
}

// Count is how many attempts are still counted at now, for period every.
func (t *Throttle) Count(now time.Time, every time.Duration) int {
	left := t.DrainedAt - now.UnixMilli()
	per := every.Milliseconds()
	if left <= 0 || per <= 0 {
		return 0
	}
	return int((left + per - 1) / per)
}

// Attempt counts one attempt under key unless burst attempts are already
// counted; counted attempts decay by one per every. It returns 0 when the
// attempt was counted (the caller may check the secret), else how long
// until one more would be. Check and count are one conditional
// INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING, so of any number of
// parallel attempts, on any number of replicas, at most burst get through.
func (s *Store) Attempt(ctx context.Context, key string, burst int, every time.Duration) (time.Duration, error) {
	now := s.clock()
	at, per := now.UnixMilli(), max(every.Milliseconds(), 1)
	// Admitted while the counter, after this attempt, holds at most burst.
	ceiling := at + int64(max(burst, 1)-1)*per
	var drained []int64
	err := s.db.WithContext(ctx).Raw(`INSERT INTO throttles (key, drained_at, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
	drained_at = CASE WHEN throttles.drained_at > ? THEN throttles.drained_at ELSE ? END + ?,
	updated_at = excluded.updated_at
WHERE throttles.drained_at <= ?
RETURNING drained_at`, key, at+per, now, at, at, per, ceiling).Scan(&drained).Error
	if err != nil {
		return 0, translate("attempt", err)
	}
	if len(drained) == 1 {
		return 0, nil
	}
	// Refused: nothing changed. How long to wait is only advice, so a
	// second read is good enough.
	th, err := s.GetThrottle(ctx, key)
	if errors.Is(err, ErrNotFound) { // reset meanwhile
		return time.Second, nil
	}
	if err != nil {
		return 0, err
	}
	return max(time.Duration(th.DrainedAt-ceiling)*time.Millisecond, time.Millisecond), nil
}

// ReturnAttempt uncounts one attempt counted under key with period every
// (an attempt that succeeded, or one never made because another key
// refused). A key without a counter is not an error.
func (s *Store) ReturnAttempt(ctx context.Context, key string, every time.Duration) error {
	err := s.db.WithContext(ctx).Model(&Throttle{}).Where("key = ?", key).Updates(map[string]any{
		"drained_at": gorm.Expr("drained_at - ?", every.Milliseconds()),
		"updated_at": s.clock(),
	}).Error
	return translate("return attempt", err)
}

// GetThrottle returns the throttle under key; ErrNotFound when there is
// none.
func (s *Store) GetThrottle(ctx context.Context, key string) (*Throttle, error) {
	var th Throttle
	if err := s.db.WithContext(ctx).Where("key = ?", key).Take(&th).Error; err != nil {
		return nil, translate("get throttle", err)
	}
	return &th, nil
}

// ResetThrottle forgets every attempt counted under key after a success,
// and remembers when that success was (SucceededAt).
func (s *Store) ResetThrottle(ctx context.Context, key string) error {
	now := s.clock()
	th := Throttle{Key: key, DrainedAt: 0, SucceededAt: &now, UpdatedAt: now}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"drained_at", "succeeded_at", "updated_at"}),
	}).Create(&th).Error
	return translate("reset throttle", err)
}
