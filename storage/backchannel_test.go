package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// The back-channel logout outbox: filled by the transaction that ends a
// session, claimed by one sender at a time under a lease.
func TestBackchannelLogoutOutbox(t *testing.T) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clock := storagetest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			s := newStore(t, storage.WithNow(clock.Now))
			mustOK := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			mustOK(s.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice"}))
			mustOK(s.CreateClient(ctx, &storage.Client{ID: "told", BackchannelLogoutURI: "https://told.example.com/bcl"}))
			mustOK(s.CreateClient(ctx, &storage.Client{ID: "silent"}))
			now := clock.Now()
			session := func(id string) {
				mustOK(s.CreateSession(ctx, &storage.Session{ID: id, CookieHash: id, UserID: "u1", AuthTime: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(2 * time.Hour)}))
			}
			session("s1")
			mustOK(s.RecordSessionClient(ctx, "s1", "told"))
			mustOK(s.RecordSessionClient(ctx, "s1", "told")) // again: nothing changes
			mustOK(s.RecordSessionClient(ctx, "s1", "silent"))

			// A re-authentication moves the clients to the new session, quietly.
			session("s2")
			mustOK(s.SupersedeSession(ctx, "s1", "s2"))
			if rows, _ := s.ListBackchannelLogouts(ctx); len(rows) != 0 {
				t.Fatalf("superseding announced %d logouts", len(rows))
			}
			if err := s.RecordSessionClient(ctx, "s1", "told"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("recording a client in an ended session: %v, want ErrNotFound", err)
			}

			mustOK(s.EndSession(ctx, "s2"))
			if err := s.EndSession(ctx, "s2"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("ending it again: %v", err)
			}
			rows, err := s.ListBackchannelLogouts(ctx)
			if err != nil || len(rows) != 1 || rows[0].ClientID != "told" || rows[0].SessionID != "s2" || rows[0].UserID != "u1" {
				t.Fatalf("outbox %+v, %v: want one logout for the client with a URI", rows, err)
			}

			claimed, err := s.ClaimBackchannelLogouts(ctx, 10, time.Minute)
			if err != nil || len(claimed) != 1 || claimed[0].Attempts != 1 {
				t.Fatalf("claim: %+v, %v", claimed, err)
			}
			if again, _ := s.ClaimBackchannelLogouts(ctx, 10, time.Minute); len(again) != 0 {
				t.Fatal("a claimed logout was claimed again within its lease")
			}
			clock.Advance(2 * time.Minute) // the sender died: the lease runs out
			claimed, err = s.ClaimBackchannelLogouts(ctx, 10, time.Minute)
			if err != nil || len(claimed) != 1 || claimed[0].Attempts != 2 {
				t.Fatalf("claim after the lease: %+v, %v", claimed, err)
			}
			mustOK(s.FinishBackchannelLogout(ctx, claimed[0].ID, "the relying party answered 500", clock.Now().Add(time.Minute), false))
			if c, _ := s.ClaimBackchannelLogouts(ctx, 10, time.Minute); len(c) != 0 {
				t.Fatal("claimed before its retry time")
			}
			clock.Advance(time.Minute)
			claimed, _ = s.ClaimBackchannelLogouts(ctx, 10, time.Minute)
			if len(claimed) != 1 {
				t.Fatal("not claimed at its retry time")
			}
			mustOK(s.FinishBackchannelLogout(ctx, claimed[0].ID, "", time.Time{}, false))
			if err := s.FinishBackchannelLogout(ctx, claimed[0].ID, "", time.Time{}, false); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("finishing a delivered logout again: %v", err)
			}
			clock.Advance(8 * 24 * time.Hour)
			if n, err := s.DeleteFinishedBackchannelLogouts(ctx, clock.Now().Add(-7*24*time.Hour)); err != nil || n != 1 {
				t.Fatalf("purged %d, %v", n, err)
			}
		})
	}
}
