// Package throttle limits attempts at a secret (passwords, one-time codes)
// by key, in the database, so every replica agrees.
package throttle

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// Store keeps decaying attempt counters.
type Store interface {
	Attempt(ctx context.Context, key string, burst int, every time.Duration) (time.Duration, error)
	ReturnAttempt(ctx context.Context, key string, every time.Duration) error
	ResetThrottle(ctx context.Context, key string) error
	GetThrottle(ctx context.Context, key string) (*storage.Throttle, error)
}

var _ Store = (*storage.Store)(nil)

// Rule is how many attempts a key allows at once, and how fast they come
// back: one counted attempt is forgotten per Every, so a stranger can slow
// a key down but never lock it for good (NIST SP 800-63B §5.2.2: throttling
// must not enable a denial of service).
type Rule struct {
	Burst int
	Every time.Duration
	// ForgetOnSuccess: a success forgets every attempt counted under the
	// key (consecutive failures end); otherwise it gives back only its own.
	ForgetOnSuccess bool
}

// Limit is a rule on one key.
type Limit struct {
	Key  string
	Rule Rule
}

// Limiter counts attempts before the secret is checked.
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

// Attempt is one attempt, counted under its limits.
type Attempt struct {
	l      *Limiter
	limits []Limit
}

// Begin counts one attempt under every limit, in order, before the secret
// is checked: each count is one conditional statement that refuses past
// the limit, so parallel guesses on any replica check at most the limit.
// When a limit refuses, the counts already taken are given back and the
// error is an *idp.ThrottledError: the secret must not be checked, even if
// it is right. A failed attempt stays counted; call Succeeded or Release.
func (l *Limiter) Begin(ctx context.Context, limits ...Limit) (*Attempt, error) {
	a := &Attempt{l: l}
	for _, lim := range limits {
		wait, err := l.store.Attempt(ctx, lim.Key, lim.Rule.Burst, lim.Rule.Every)
		if err == nil && wait == 0 {
			a.limits = append(a.limits, lim)
			continue
		}
		a.Release(ctx)
		if err != nil {
			return nil, err
		}
		return nil, &idp.ThrottledError{RetryAfter: wait}
	}
	return a, nil
}

// Succeeded ends a successful attempt: keys whose rule says so forget
// their attempts (and remember the success, see Known); the others get
// this attempt back. Errors are logged: the sign-in has succeeded.
func (a *Attempt) Succeeded(ctx context.Context) {
	for _, lim := range a.limits {
		var err error
		if lim.Rule.ForgetOnSuccess {
			err = a.l.store.ResetThrottle(ctx, lim.Key)
		} else {
			err = a.l.store.ReturnAttempt(ctx, lim.Key, lim.Rule.Every)
		}
		if err != nil {
			a.l.log.WarnContext(ctx, "end a successful attempt", "err", err)
		}
	}
	a.limits = nil
}

// Release gives the attempt back under every limit: the secret was never
// judged (another limit refused, or checking it failed for another reason).
func (a *Attempt) Release(ctx context.Context) {
	for _, lim := range a.limits {
		if err := a.l.store.ReturnAttempt(ctx, lim.Key, lim.Rule.Every); err != nil {
			a.l.log.WarnContext(ctx, "give back an attempt", "err", err)
		}
	}
	a.limits = nil
}

// KnownFor is how long a success under a key makes it known.
const KnownFor = storage.ThrottleSuccessRetention

// Known reports whether an attempt under key succeeded (and reset it) in
// the last KnownFor: a device or address the account has signed in from.
func (l *Limiter) Known(ctx context.Context, key string) (bool, error) {
	th, err := l.store.GetThrottle(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return th.SucceededAt != nil && th.SucceededAt.After(l.now().Add(-KnownFor)), nil
}
