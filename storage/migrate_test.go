package storage_test

import (
	"sync"
	"testing"

	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

func TestMigrationsApplyUpAndDownOnEveryDatabase(t *testing.T) {
	for name, newURL := range storagetest.URLs() {
		t.Run(name, func(t *testing.T) {
			s := openUnmigrated(t, newURL(t))
			st, err := s.MigrationStatus(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			total := len(st)
			if total == 0 {
				t.Fatal("no migrations found")
			}
			for round := range 2 { // up, down, up again: down really undoes up
				n, err := s.Migrate(t.Context())
				if err != nil || n != total {
					t.Fatalf("round %d: up applied %d of %d: %v", round, n, total, err)
				}
				assertTable(t, s, "users", true)
				st, err = s.MigrationStatus(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range st {
					if !m.Applied {
						t.Fatalf("migration %d (%s) not applied", m.Version, m.Name)
					}
				}
				if round == 1 {
					break
				}
				n, err = s.MigrateDownTo(t.Context(), 0)
				if err != nil || n != total {
					t.Fatalf("down rolled back %d of %d: %v", n, total, err)
				}
				assertTable(t, s, "users", false)
			}
			if n, err := s.Migrate(t.Context()); err != nil || n != 0 {
				t.Fatalf("a second up applied %d migrations (err %v), want 0", n, err)
			}
		})
	}
}

func TestConcurrentMigratorsApplyEachMigrationOnce(t *testing.T) {
	for name, newURL := range storagetest.URLs() {
		t.Run(name, func(t *testing.T) {
			url := newURL(t)
			// Separate stores have separate connection pools, as two replicas do.
			a, b := openUnmigrated(t, url), openUnmigrated(t, url)
			st, err := a.MigrationStatus(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var (
				wg     sync.WaitGroup
				counts [2]int
				errs   [2]error
			)
			for i, s := range []*storage.Store{a, b} {
				wg.Go(func() { counts[i], errs[i] = s.Migrate(t.Context()) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("migrate errors: %v, %v", errs[0], errs[1])
			}
			if counts[0]+counts[1] != len(st) {
				t.Fatalf("applied %d + %d migrations, want %d in total", counts[0], counts[1], len(st))
			}
			var rows int
			if err := a.SQL().QueryRowContext(t.Context(), "SELECT count(*) FROM goose_db_version WHERE version_id > 0").Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if rows != len(st) {
				t.Fatalf("goose_db_version has %d applied rows, want %d", rows, len(st))
			}
		})
	}
}

func openUnmigrated(t *testing.T, url string) *storage.Store {
	t.Helper()
	s, err := storage.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func assertTable(t *testing.T, s *storage.Store, table string, want bool) {
	t.Helper()
	var q string
	if s.Dialect() == "postgres" {
		q = "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1"
	} else {
		q = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	}
	var n int
	if err := s.SQL().QueryRowContext(t.Context(), q, table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if (n == 1) != want {
		t.Fatalf("table %s exists = %v, want %v", table, n == 1, want)
	}
}

func TestRowsFromBeforeSourcesWereRecordedAreLegacy(t *testing.T) {
	for name, newURL := range storagetest.URLs() {
		t.Run(name, func(t *testing.T) {
			s := openUnmigrated(t, newURL(t))
			if _, err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := s.MigrateDownTo(t.Context(), 7); err != nil {
				t.Fatalf("down to 7: %v", err)
			}
			// A client and a user as a version without managed_by wrote them.
			for _, q := range []string{
				"INSERT INTO clients (id, name, created_at, updated_at) VALUES ('app', 'App', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
				"INSERT INTO users (id, username, username_key, created_at, updated_at) VALUES ('u1', 'alice', 'alice', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
			} {
				if _, err := s.SQL().ExecContext(t.Context(), q); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			cs, err := s.ListClients(t.Context())
			if err != nil || len(cs) != 1 || cs[0].ManagedBy != storage.ManagedByLegacy || cs[0].Disabled {
				t.Fatalf("clients = %+v, %v", cs, err)
			}
			if us, err := s.ListUsersManagedBy(t.Context(), storage.ManagedByLegacy); err != nil || len(us) != 1 {
				t.Fatalf("legacy users = %+v, %v", us, err)
			}
			// New rows are managed in the database.
			if err := s.CreateUser(t.Context(), &storage.User{ID: "u2", Username: "bob"}); err != nil {
				t.Fatal(err)
			}
			if us, err := s.ListUsersManagedBy(t.Context(), storage.ManagedByDatabase); err != nil || len(us) != 1 || us[0].Username != "bob" {
				t.Fatalf("database users = %+v, %v", us, err)
			}
		})
	}
}
