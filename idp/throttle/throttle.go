// Package throttle limits failed attempts (passwords, one-time codes) by
// key, in the database, so every replica agrees.
package throttle

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// Store keeps failure counters.
type Store interface {
	RecordFailure(ctx context.Context, key string, backoff func(failures int) time.Duration) (*storage.Throttle, error)
	GetThrottle(ctx context.Context, key string) (*storage.Throttle, error)
	ResetThrottle(ctx context.Context, key string) error
}

// MaxLock caps every lock: a stranger can slow an account down but never
// lock it out for good.
const MaxLock = 15 * time.Minute

// Limiter reads and updates failure counters.
type Limiter struct {
	store Store
	log   *slog.Logger
	now   func() time.Time
}

// New wires a Limiter. now may be nil (time.Now).
func New(store Store, logger *slog.Logger, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{store: store, log: logger, now: now}
}

// Wait returns how long the busiest of keys is still locked.
func (l *Limiter) Wait(ctx context.Context, keys ...string) (time.Duration, error) {
	var wait time.Duration
	for _, k := range keys {
		t, err := l.store.GetThrottle(ctx, k)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if t.LockedUntil != nil {
			wait = max(wait, t.LockedUntil.Sub(l.now()))
		}
	}
	return wait, nil
}

// Fail counts a failure of key: from threshold consecutive failures on,
// the key locks for a time that doubles with each further failure, capped
// at MaxLock. A failure to count is logged.
func (l *Limiter) Fail(ctx context.Context, key string, threshold int) {
	if _, err := l.store.RecordFailure(ctx, key, Backoff(threshold)); err != nil {
		l.log.ErrorContext(ctx, "record a failed attempt", "err", err)
	}
}

// Reset clears key's counter after a success.
func (l *Limiter) Reset(ctx context.Context, key string) {
	if err := l.store.ResetThrottle(ctx, key); err != nil {
		l.log.WarnContext(ctx, "reset throttle", "err", err)
	}
}

// Backoff is the lock after failures for a threshold.
func Backoff(threshold int) func(int) time.Duration {
	return func(failures int) time.Duration {
		if failures < threshold {
			return 0
		}
		return min(time.Second<<min(failures-threshold, 20), MaxLock)
	}
}
