package bench_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/cmd/twofold-bench/internal/bench"
	"github.com/twofold-idp/twofold/idp/password"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

func TestFillWritesRowsTheServerCanUse(t *testing.T) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := newStore(t)
			if _, err := bench.Fill(ctx, store, bench.FillOptions{Users: 1, RefreshTokens: 1}); err == nil ||
				!strings.Contains(err.Error(), "no client") {
				t.Fatalf("fill without any client: err = %v, want one naming the missing client", err)
			}
			if n, _ := store.CountUsers(ctx); n != 0 {
				t.Fatalf("a refused fill wrote %d users", n)
			}
			for _, id := range []string{"app", "other"} {
				if err := store.CreateClient(ctx, &storage.Client{ID: id, Name: id}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := bench.Fill(ctx, store, bench.FillOptions{Users: 1, RefreshTokens: 1, ClientID: "nope"}); err == nil ||
				!strings.Contains(err.Error(), `"nope"`) {
				t.Fatalf("fill for an unknown client: err = %v", err)
			}

			var progress bytes.Buffer
			before := time.Now()
			res, err := bench.Fill(ctx, store, bench.FillOptions{Users: 2500, RefreshTokens: 3000, BatchSize: 1000, Progress: &progress})
			if err != nil {
				t.Fatal(err)
			}
			if res.ClientID != "app" || res.Users != 2500 || res.Tokens != 3000 {
				t.Fatalf("result %+v, want 2500 users and 3000 tokens for the first client, app", res)
			}
			for _, line := range []string{"fill: users 1000/2500\n", "fill: users 2500/2500\n", "fill: refresh tokens 3000/3000\n"} {
				if !strings.Contains(progress.String(), line) {
					t.Errorf("progress lacks %q:\n%s", line, progress.String())
				}
			}

			if n, err := store.CountUsers(ctx); err != nil || n != 2500 {
				t.Fatalf("CountUsers = %d, %v; want 2500", n, err)
			}
			first, err := store.GetUserByUsername(ctx, strings.ToUpper(res.Username(1)))
			if err != nil {
				t.Fatalf("the first filler user by name: %v", err)
			}
			last, err := store.GetUserByUsername(ctx, res.Username(2500))
			if err != nil {
				t.Fatalf("the last filler user by name: %v", err)
			}
			if _, err := store.GetUserByUsername(ctx, res.Username(2501)); err == nil {
				t.Fatal("a 2501st filler user exists")
			}
			if first.ManagedBy != storage.ManagedByDatabase || len(first.Groups) != 0 || first.Admin || first.Disabled ||
				first.CreatedAt.Before(before.Add(-time.Second)) || first.PasswordHash != last.PasswordHash {
				t.Fatalf("filler user %+v", first)
			}
			ok, rehash, err := password.New(password.DefaultParams, 1).Verify(ctx, first.PasswordHash, "filler")
			if err != nil || ok || rehash {
				t.Fatalf("verify a guess against the filler hash: ok %v, rehash %v, err %v; want a valid hash at the default parameters that refuses it", ok, rehash, err)
			}

			db := store.SQL()
			var tokens, families, users, hashes, otherClient int
			if err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT family_id), count(DISTINCT user_id),
				count(DISTINCT token_hash), sum(CASE WHEN client_id = 'app' THEN 0 ELSE 1 END) FROM refresh_tokens`).
				Scan(&tokens, &families, &users, &hashes, &otherClient); err != nil {
				t.Fatal(err)
			}
			if tokens != 3000 || families != 3000 || users != 2500 || hashes != 3000 || otherClient != 0 {
				t.Fatalf("refresh tokens: %d, families %d, users %d, hashes %d, of other clients %d; want 3000 in 3000 families over 2500 users, all of app",
					tokens, families, users, hashes, otherClient)
			}
			var hash string
			if err := db.QueryRowContext(ctx, "SELECT token_hash FROM refresh_tokens WHERE id = $1", "fill-"+res.RunID+"-t2501").Scan(&hash); err != nil {
				t.Fatal(err)
			}
			rt, err := store.GetRefreshTokenByHash(ctx, hash)
			if err != nil {
				t.Fatalf("the server reads a filler refresh token: %v", err)
			}
			if rt.UserID != first.ID || rt.ClientID != "app" || !slices.Equal(rt.Scopes, []string{"openid", "offline_access"}) ||
				!slices.Equal(rt.AMR, []string{"pwd"}) || rt.RotatedAt != nil || rt.RevokedAt != nil ||
				rt.ExpiresAt.Before(before.Add(29*24*time.Hour)) || rt.ExpiresAt.After(time.Now().Add(31*24*time.Hour)) {
				t.Fatalf("filler refresh token %+v (first user %s)", rt, first.ID)
			}
			// The rotation's own conditional UPDATE (… AND expires_at > now)
			// takes it: the token is live as the server sees it.
			next := &storage.RefreshToken{ID: "next", TokenHash: "next-hash", FamilyID: rt.FamilyID, ClientID: rt.ClientID,
				UserID: rt.UserID, Scopes: rt.Scopes, AMR: rt.AMR, ACR: rt.ACR, AuthTime: rt.AuthTime, ExpiresAt: rt.ExpiresAt}
			if _, err := store.RotateRefreshToken(ctx, hash, next, nil); err != nil {
				t.Fatalf("rotate a filler refresh token: %v", err)
			}

			again, err := bench.Fill(ctx, store, bench.FillOptions{Users: 10, RefreshTokens: 5, ClientID: "other"})
			if err != nil {
				t.Fatalf("a second fill: %v", err)
			}
			if again.RunID == res.RunID {
				t.Fatal("two runs share a run id")
			}
			if n, _ := store.CountUsers(ctx); n != 2510 {
				t.Fatalf("after a second fill of 10: %d users", n)
			}
		})
	}
}

func TestFillRefusesBadInput(t *testing.T) {
	store := storagetest.NewSQLite(t)
	for _, c := range []struct {
		name string
		o    bench.FillOptions
		want string
	}{
		{"negative users", bench.FillOptions{Users: -1}, "negative"},
		{"negative tokens", bench.FillOptions{Users: 1, RefreshTokens: -1}, "negative"},
		{"nothing", bench.FillOptions{}, "nothing to fill"},
		{"tokens without users", bench.FillOptions{RefreshTokens: 3}, "give a number of users"},
		{"a negative batch", bench.FillOptions{Users: 3, BatchSize: -1}, "batch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := bench.Fill(context.Background(), store, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}
