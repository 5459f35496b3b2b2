package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names a supported database.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Options say how to lock and where to log.
type Options struct {
	// LockFile is used by SQLite file databases: an exclusive advisory lock
	// on this file serialises migrators in different processes. PostgreSQL
	// uses a session-level advisory lock instead.
	LockFile string
	Logger   *slog.Logger
}

// Status is one migration's state.
type Status struct {
	Version int64
	Name    string
	Applied bool
}

func provider(db *sql.DB, d Dialect, o Options) (*goose.Provider, error) {
	sub, err := fs.Sub(files, string(d))
	if err != nil {
		return nil, fmt.Errorf("migrations: no files for dialect %q: %w", d, err)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if o.Logger != nil {
		opts = append(opts, goose.WithSlog(o.Logger))
	}
	var gd goose.Dialect
	switch d {
	case Postgres:
		gd = goose.DialectPostgres
		// Session advisory lock: the second replica waits until the first
		// has finished, then finds nothing left to apply.
		l, err := lock.NewPostgresSessionLocker(
			lock.WithLockTimeout(1, 300), // poll every second for up to five minutes
		)
		if err != nil {
			return nil, fmt.Errorf("migrations: lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(l))
	case SQLite:
		gd = goose.DialectSQLite3
		if o.LockFile != "" {
			opts = append(opts, goose.WithSessionLocker(&fileLocker{path: o.LockFile}))
		}
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", d)
	}
	p, err := goose.NewProvider(gd, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Up applies every pending migration and returns how many it applied.
func Up(ctx context.Context, db *sql.DB, d Dialect, o Options) (int, error) {
	p, err := provider(db, d, o)
	if err != nil {
		return 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("migrations: up: %w", err)
	}
	return len(res), nil
}

// DownTo rolls back to version (0 removes everything). Used by tests and by
// operators undoing a release.
func DownTo(ctx context.Context, db *sql.DB, d Dialect, version int64, o Options) (int, error) {
	p, err := provider(db, d, o)
	if err != nil {
		return 0, err
	}
	res, err := p.DownTo(ctx, version)
	if err != nil {
		return len(res), fmt.Errorf("migrations: down: %w", err)
	}
	return len(res), nil
}

// List reports every known migration and whether it is applied.
func List(ctx context.Context, db *sql.DB, d Dialect, o Options) ([]Status, error) {
	p, err := provider(db, d, o)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: status: %w", err)
	}
	out := make([]Status, 0, len(st))
	for _, s := range st {
		out = append(out, Status{
			Version: s.Source.Version,
			Name:    s.Source.Path,
			Applied: s.State == goose.StateApplied,
		})
	}
	return out, nil
}
