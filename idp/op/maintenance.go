package op

import (
	"context"
	"log/slog"
	"time"

	"github.com/twofold-idp/twofold/idp/keys"
)

// MaintenanceStore is what periodic housekeeping needs.
type MaintenanceStore interface {
	DeleteExpired(ctx context.Context) (int64, error)
	DeleteExpiredSigningKeys(ctx context.Context) (int64, error)
	DeleteExpiredMFA(ctx context.Context) (int64, error)
	DeleteStaleTOTP(ctx context.Context, before time.Time) (int64, error)
	EndExpiredSessions(ctx context.Context) (int64, error)
	DeleteFinishedBackchannelLogouts(ctx context.Context, before time.Time) (int64, error)
	DeleteExpiredPushedRequests(ctx context.Context) (int64, error)
}

// RunMaintenance rotates signing keys when due and removes expired rows,
// every interval until ctx ends. Every replica may run it: each step is
// idempotent.
func RunMaintenance(ctx context.Context, store MaintenanceStore, km *keys.Manager, logger *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := km.Ensure(ctx); err != nil {
			logger.ErrorContext(ctx, "signing key rotation", "err", err)
		}
		// Sessions that expired while a client with a back-channel logout
		// URI held their tokens end first, which enqueues their logouts;
		// then the purge may delete them.
		if _, err := store.EndExpiredSessions(ctx); err != nil {
			logger.ErrorContext(ctx, "end expired sessions", "err", err)
		}
		if _, err := store.DeleteFinishedBackchannelLogouts(ctx, time.Now().Add(-7*24*time.Hour)); err != nil {
			logger.ErrorContext(ctx, "delete finished back-channel logouts", "err", err)
		}
		if _, err := store.DeleteExpiredPushedRequests(ctx); err != nil {
			logger.ErrorContext(ctx, "delete expired pushed authorization requests", "err", err)
		}
		n, err := store.DeleteExpired(ctx)
		if err != nil {
			logger.ErrorContext(ctx, "delete expired rows", "err", err)
		}
		k, err := store.DeleteExpiredSigningKeys(ctx)
		if err != nil {
			logger.ErrorContext(ctx, "delete expired signing keys", "err", err)
		}
		m, err := store.DeleteExpiredMFA(ctx)
		if err != nil {
			logger.ErrorContext(ctx, "delete expired WebAuthn ceremonies", "err", err)
		}
		// An enrollment not confirmed within a day was abandoned.
		a, err := store.DeleteStaleTOTP(ctx, time.Now().Add(-24*time.Hour))
		if err != nil {
			logger.ErrorContext(ctx, "delete abandoned TOTP enrollments", "err", err)
		}
		n += m + a
		if n+k > 0 {
			logger.InfoContext(ctx, "removed expired rows", "rows", n, "signing_keys", k)
		}
	}
}
