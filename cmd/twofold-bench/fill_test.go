package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

func TestFillThroughTheDatabaseURL(t *testing.T) {
	for name, newURL := range storagetest.URLs() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			u := newURL(t)
			store, err := storage.Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			if _, err := store.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := store.CreateClient(ctx, &storage.Client{ID: "app", Name: "App"}); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(ctx, []string{"fill", "--database", u, "--users", "30", "--refresh-tokens", "40", "--batch", "7"}, nil, &stdout, &stderr)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), "fill: users 28/30\n") || !strings.Contains(stderr.String(), "fill: refresh tokens 40/40\n") {
				t.Errorf("progress:\n%s", stderr.String())
			}
			if !strings.Contains(stdout.String(), "30 users") || !strings.Contains(stdout.String(), "40 refresh tokens for client app") {
				t.Errorf("summary: %s", stdout.String())
			}
			if n, err := store.CountUsers(ctx); err != nil || n != 30 {
				t.Fatalf("CountUsers = %d, %v", n, err)
			}
		})
	}
}

func TestFillRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"without a database", []string{"--users", "3"}, 2, "--database is required"},
		{"with an unknown scheme", []string{"--database", "mysql://u:secret@h/db", "--users", "3"}, 2, "sqlite:PATH or postgres://"},
		{"with a missing SQLite file", []string{"--database", "sqlite:" + filepath.Join(dir, "absent.db"), "--users", "3"}, 2, "no SQLite database"},
		{"with negative users", []string{"--database", "sqlite:" + empty, "--users", "-1"}, 2, "must not be negative"},
		{"with nothing to fill", []string{"--database", "sqlite:" + empty}, 2, "give --users"},
		{"with tokens but no users", []string{"--database", "sqlite:" + empty, "--refresh-tokens", "5"}, 2, "give --users too"},
		{"with a zero batch", []string{"--database", "sqlite:" + empty, "--users", "3", "--batch", "0"}, 2, "--batch"},
		{"on a database without the schema", []string{"--database", "sqlite:" + empty, "--users", "3"}, 1, "no Twofold schema"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"fill"}, c.args...), nil, &stdout, &stderr)
			if code != c.code || !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), c.code, c.want)
			}
			if strings.Contains(stderr.String(), "secret") {
				t.Fatalf("the database URL's password is echoed: %s", stderr.String())
			}
		})
	}
}
