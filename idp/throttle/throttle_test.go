package throttle_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/throttle"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

var (
	tight = throttle.Rule{Burst: 1, Every: time.Hour}
	pair  = throttle.Rule{Burst: 3, Every: 15 * time.Minute, ForgetOnSuccess: true}
	wide  = throttle.Rule{Burst: 3, Every: time.Hour}
)

func eachDatabase(t *testing.T, fn func(t *testing.T, s *storage.Store, l *throttle.Limiter, clock *storagetest.Clock)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			clock := storagetest.NewClock(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
			s := newStore(t, storage.WithNow(clock.Now))
			fn(t, s, throttle.New(s, slog.New(slog.DiscardHandler), clock.Now), clock)
		})
	}
}

func count(t *testing.T, s *storage.Store, clock *storagetest.Clock, key string, every time.Duration) int {
	t.Helper()
	th, err := s.GetThrottle(context.Background(), key)
	if errors.Is(err, storage.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return th.Count(clock.Now(), every)
}

func TestALimitThatRefusesGivesBackTheCountsAlreadyTaken(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *storage.Store, l *throttle.Limiter, clock *storagetest.Clock) {
		ctx := context.Background()
		if _, err := l.Begin(ctx, throttle.Limit{Key: "b", Rule: tight}); err != nil {
			t.Fatal(err)
		}
		_, err := l.Begin(ctx, throttle.Limit{Key: "a", Rule: wide}, throttle.Limit{Key: "b", Rule: tight})
		var throttled *idp.ThrottledError
		if !errors.As(err, &throttled) || throttled.RetryAfter != time.Hour {
			t.Fatalf("Begin past b's limit: %v", err)
		}
		if n := count(t, s, clock, "a", wide.Every); n != 0 {
			t.Fatalf("a counts %d after b refused, want 0", n)
		}
	})
}

func TestASuccessForgetsOrGivesBackByRuleAndMakesTheKeyKnown(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *storage.Store, l *throttle.Limiter, clock *storagetest.Clock) {
		ctx := context.Background()
		limits := []throttle.Limit{{Key: "pair", Rule: pair}, {Key: "wide", Rule: wide}}
		for range 2 { // two failures
			if _, err := l.Begin(ctx, limits...); err != nil {
				t.Fatal(err)
			}
		}
		if known, err := l.Known(ctx, "pair"); err != nil || known {
			t.Fatalf("Known before a success: %v, %v", known, err)
		}
		a, err := l.Begin(ctx, limits...)
		if err != nil {
			t.Fatal(err)
		}
		a.Succeeded(ctx)
		if n := count(t, s, clock, "pair", pair.Every); n != 0 {
			t.Fatalf("pair counts %d after a success, want 0", n)
		}
		if n := count(t, s, clock, "wide", wide.Every); n != 2 {
			t.Fatalf("wide counts %d after a success, want the 2 failures", n)
		}
		if known, err := l.Known(ctx, "pair"); err != nil || !known {
			t.Fatalf("Known after a success: %v, %v", known, err)
		}
		clock.Advance(throttle.KnownFor + time.Second)
		if known, err := l.Known(ctx, "pair"); err != nil || known {
			t.Fatalf("Known 90 days after the success: %v, %v", known, err)
		}
	})
}

func TestReleaseGivesTheAttemptBack(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *storage.Store, l *throttle.Limiter, clock *storagetest.Clock) {
		ctx := context.Background()
		a, err := l.Begin(ctx, throttle.Limit{Key: "k", Rule: tight})
		if err != nil {
			t.Fatal(err)
		}
		a.Release(ctx)
		if _, err := l.Begin(ctx, throttle.Limit{Key: "k", Rule: tight}); err != nil {
			t.Fatalf("after a release: %v", err)
		}
	})
}
