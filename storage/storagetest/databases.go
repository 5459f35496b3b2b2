package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for schema admin

	"github.com/twofold-idp/twofold/storage"
)

// EnvPostgresURL names the variable that points tests at a PostgreSQL
// database they may create schemas in.
const EnvPostgresURL = "TWOFOLD_TEST_DATABASE_URL"

// Factory returns a fresh, migrated, empty store; the test's cleanup closes it.
type Factory func(t testing.TB, opts ...storage.Option) *storage.Store

// Databases returns a factory per database to test: SQLite always, and
// PostgreSQL when TWOFOLD_TEST_DATABASE_URL is set. With it unset, the
// PostgreSQL case is skipped with a message, never silently.
func Databases() map[string]Factory {
	return map[string]Factory{"sqlite": NewSQLite, "postgres": NewPostgres}
}

// NewSQLite opens a migrated SQLite file in a temporary directory (a file,
// not :memory:, so WAL, the busy timeout and several connections are
// exercised as in production).
func NewSQLite(t testing.TB, opts ...storage.Option) *storage.Store {
	t.Helper()
	return open(t, SQLiteURL(t), opts...)
}

// SQLiteURL names a database file in a fresh temporary directory.
func SQLiteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "twofold.db")
}

// URLs returns, per database to test, a function that makes the URL of a
// fresh, empty (unmigrated) database.
func URLs() map[string]func(testing.TB) string {
	return map[string]func(testing.TB) string{"sqlite": SQLiteURL, "postgres": PostgresSchemaURL}
}

// NewPostgres opens a store in a new schema of the database named by
// TWOFOLD_TEST_DATABASE_URL and drops the schema afterwards. Unset: the test
// is skipped; set but unreachable: the test fails.
func NewPostgres(t testing.TB, opts ...storage.Option) *storage.Store {
	t.Helper()
	u := PostgresSchemaURL(t)
	return open(t, u, opts...)
}

// PostgresSchemaURL creates a fresh schema and returns a URL whose
// connections use it (search_path), dropping it at cleanup.
func PostgresSchemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		t.Skipf("%s is not set: skipping the PostgreSQL case (set it to run against PostgreSQL)", EnvPostgresURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgresURL, err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("%s is set but PostgreSQL is unreachable: %v", EnvPostgresURL, err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	pu, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s does not parse", EnvPostgresURL)
	}
	q := pu.Query()
	q.Set("search_path", schema)
	pu.RawQuery = q.Encode()
	return pu.String()
}

// OpenURL returns a factory whose every store opens (and migrates, under
// the migration lock) the one database at rawURL: two stores from it are
// two replicas on one database.
func OpenURL(rawURL string) Factory {
	return func(t testing.TB, opts ...storage.Option) *storage.Store {
		t.Helper()
		return open(t, rawURL, opts...)
	}
}

func open(t testing.TB, rawURL string, opts ...storage.Option) *storage.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := storage.Open(ctx, rawURL, opts...)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}
