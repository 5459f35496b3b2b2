package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/twofold-idp/twofold/migrations"
)

// Store is the database behind Twofold. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect migrations.Dialect
	// path is the SQLite file ("" for PostgreSQL and in-memory SQLite).
	path   string
	now    func() time.Time
	logger *slog.Logger
	// clients caches GetClient briefly; shared with InTx's copies.
	clients *clientCache
	inTx    bool // a copy bound to InTx's transaction: reads bypass the cache
	// purgeBatch is how many rows one DeleteExpired statement removes.
	purgeBatch int
}

// defaultPurgeBatch is how many expired rows one DeleteExpired statement
// removes: enough that a backlog goes quickly, few enough that each
// statement is short.
const defaultPurgeBatch = 5000

// Option configures Open.
type Option func(*Store)

// WithNow sets the clock used for created/updated timestamps and expiry
// checks (tests inject a fixed clock).
func WithNow(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithPurgeBatch sets how many rows one DeleteExpired statement removes at
// most (default 5000); n < 1 is taken as 1.
func WithPurgeBatch(n int) Option { return func(s *Store) { s.purgeBatch = max(n, 1) } }

// WithLogger sets the logger used for migrations.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.logger = l } }

// Open connects to url: "sqlite:PATH", "sqlite::memory:" or
// "postgres://…"/"postgresql://…". It does not migrate; call Migrate.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	s := &Store{now: time.Now, logger: slog.New(slog.DiscardHandler), clients: newClientCache(), purgeBatch: defaultPurgeBatch}
	for _, o := range opts {
		o(s)
	}
	var dialector gorm.Dialector
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		s.dialect = migrations.SQLite
		path := strings.TrimPrefix(rawURL, "sqlite:")
		if path == "" {
			return nil, errors.New("storage: sqlite URL needs a path, e.g. sqlite:twofold.db or sqlite::memory:")
		}
		if path != ":memory:" {
			s.path = path
			if err := createPrivate(path); err != nil {
				return nil, err
			}
		}
		// WAL lets readers proceed during a write; busy_timeout makes
		// writers queue instead of failing; _txlock=immediate is meant to
		// take the write lock at BEGIN so a transaction never fails half-way
		// when it upgrades from read to write — but glebarez/go-sqlite
		// v1.21.2 stops reading parameters after _time_format and ignores
		// it, so every transaction takes the lock itself (Store.transaction).
		q := url.Values{}
		for _, p := range []string{"foreign_keys(1)", "busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		q.Set("_time_format", "sqlite")
		dialector = sqlite.Open(path + "?" + q.Encode())
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		s.dialect = migrations.Postgres
		if _, err := url.Parse(rawURL); err != nil {
			return nil, errors.New("storage: the postgres URL does not parse") // the URL holds a password: don't echo it
		}
		dialector = postgres.New(postgres.Config{DSN: rawURL})
	default:
		return nil, errors.New("storage: database URL must start with sqlite: or postgres://")
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		// Every write here is either one statement or an explicit
		// transaction; gorm's implicit per-write transaction only adds
		// round trips.
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return s.clock() },
		Logger:                 logger.Discard,
		TranslateError:         false,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", s.dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	switch {
	case s.dialect == migrations.SQLite && s.path == "":
		// Each connection to :memory: is its own database: keep exactly one.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0)
		sqlDB.SetConnMaxIdleTime(0)
	case s.dialect == migrations.SQLite:
		sqlDB.SetMaxOpenConns(8)
		sqlDB.SetMaxIdleConns(8)
	default:
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(16)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	s.db, s.sqlDB = db, sqlDB
	if err := s.Ping(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// createPrivate creates an absent database file readable by its owner only:
// it holds password hashes and sealed secrets. SQLite gives its -wal and -shm
// files the same mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	switch {
	case errors.Is(err, os.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("storage: create %s: %w", path, err)
	}
	return f.Close()
}

// clock returns the current time as stored: UTC, microsecond precision
// (PostgreSQL's), without a monotonic reading.
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// InTx runs fn in one transaction: fn's changes through tx are committed
// together when it returns nil and rolled back when it returns an error (or
// panics). tx is this Store bound to the transaction; its methods that open
// their own transaction nest as savepoints. fn must use only tx: on SQLite
// the transaction holds the single write lock (BEGIN IMMEDIATE, see Open),
// and an in-memory database has one connection, so a write or read through
// the outer Store from inside fn would wait for the transaction to end.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	// A client read inside the transaction, or by another request while it
	// ran, may be older than what it commits.
	defer s.clients.invalidate()
	return s.transaction(ctx, func(db *gorm.DB) error {
		tx := *s
		tx.db, tx.inTx = db, true
		return fn(&tx)
	})
}

// transaction runs fn in a transaction (a savepoint inside InTx). On
// SQLite it takes the write lock at once, as BEGIN IMMEDIATE would: a
// transaction that reads first and writes later fails with
// SQLITE_BUSY_SNAPSHOT, without waiting, when another writer committed in
// between (see Open on why _txlock does not do it). A statement that writes
// takes the lock even when it matches no row; busy_timeout makes it wait.
// Every transaction of the Store goes through here.
func (s *Store) transaction(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == migrations.SQLite {
			if err := tx.Exec("DELETE FROM settings WHERE 0 = 1").Error; err != nil {
				return translate("begin", err)
			}
		}
		return fn(tx)
	})
}

// LockTx serialises the transactions that take the lock called name: on
// PostgreSQL it takes a transaction-scoped advisory lock, released at commit
// or rollback, so that replicas starting together apply their configuration
// one after the other, each seeing what the previous one committed; on SQLite
// every write transaction already holds the database's one write lock
// (BEGIN IMMEDIATE). Call it first in an InTx function: outside a
// transaction it holds nothing.
func (s *Store) LockTx(ctx context.Context, name string) error {
	if s.dialect != migrations.Postgres {
		return nil
	}
	return translate("lock "+name, s.db.WithContext(ctx).Exec("SELECT pg_advisory_xact_lock(hashtext(?))", name).Error)
}

// Dialect reports which database this is.
func (s *Store) Dialect() migrations.Dialect { return s.dialect }

// DBStats reports the connection pool (for metrics).
func (s *Store) DBStats() sql.DBStats { return s.sqlDB.Stats() }

// Close releases the connections.
func (s *Store) Close() error { return s.sqlDB.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("storage: ping %s: %w", s.dialect, err)
	}
	return nil
}

func (s *Store) migrationOptions() migrations.Options {
	o := migrations.Options{Logger: s.logger}
	if s.path != "" {
		o.LockFile = filepath.Join(filepath.Dir(s.path), "."+filepath.Base(s.path)+".migrate.lock")
	}
	return o
}

// Migrate applies pending schema migrations under a database-wide lock and
// returns how many it applied.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	return migrations.Up(ctx, s.sqlDB, s.dialect, s.migrationOptions())
}

// MigrateDownTo rolls the schema back to version (0: empty).
func (s *Store) MigrateDownTo(ctx context.Context, version int64) (int, error) {
	return migrations.DownTo(ctx, s.sqlDB, s.dialect, version, s.migrationOptions())
}

// MigrationStatus lists every migration and whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]migrations.Status, error) {
	return migrations.List(ctx, s.sqlDB, s.dialect, s.migrationOptions())
}

// SQL exposes the connection pool for tests and tools that inspect the
// schema directly.
func (s *Store) SQL() *sql.DB { return s.sqlDB }
