package bench

// Fill is the one part of this package that is not an HTTP client: it
// writes inert filler rows straight into the server's database, so that the
// paths can be measured against a large database (issue 12, item 3) without
// a million argon2id hashes through the CLI.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/twofold-idp/twofold/idp/password"
	"github.com/twofold-idp/twofold/migrations"
	"github.com/twofold-idp/twofold/storage"
)

// DefaultFillBatch is how many rows one INSERT … SELECT writes.
const DefaultFillBatch = 50_000

// FillOptions says what Fill writes.
type FillOptions struct {
	// Users is how many filler accounts to add; RefreshTokens how many live
	// refresh tokens, spread over those accounts (so RefreshTokens > 0 needs
	// Users > 0).
	Users, RefreshTokens int
	// ClientID owns the refresh tokens; "": the first client in the
	// database (by creation time).
	ClientID string
	// BatchSize is the rows per statement (0: DefaultFillBatch).
	BatchSize int
	// Progress gets a line per batch ("fill: users 350000/1000000"); nil:
	// none.
	Progress io.Writer
	// Now is the clock for the rows' timestamps (nil: time.Now).
	Now func() time.Time
}

// FillResult is what one Fill wrote.
type FillResult struct {
	// RunID names this run's rows: usernames fill-<RunID>-<n>, n from 1.
	RunID              string
	ClientID           string
	Users, Tokens      int
	UsersTook, TokTook time.Duration
}

// Username is the name of the n-th filler account of the run (n from 1).
func (r FillResult) Username(n int) string { return fmt.Sprintf("fill-%s-%d", r.RunID, n) }

// Fill adds inert filler accounts and refresh tokens to the migrated
// database behind store with set-based inserts, in batches, each batch one
// statement committed on its own (so an interrupted fill leaves whole
// batches). The accounts share one argon2id hash of a random password that
// is thrown away: nobody can sign in with them. Each token is live for 30
// days in a family of its own, with a random hash whose token nobody knows.
// Every run has a new random run id, so running it again adds rows.
func Fill(ctx context.Context, store *storage.Store, o FillOptions) (FillResult, error) {
	switch {
	case o.Users < 0 || o.RefreshTokens < 0:
		return FillResult{}, errors.New("the numbers of users and refresh tokens must not be negative")
	case o.Users == 0 && o.RefreshTokens == 0:
		return FillResult{}, errors.New("nothing to fill: give a number of users and/or refresh tokens")
	case o.RefreshTokens > 0 && o.Users == 0:
		return FillResult{}, errors.New("refresh tokens belong to the filler users of the same run: give a number of users too")
	case o.BatchSize < 0:
		return FillResult{}, errors.New("the batch size must be positive")
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultFillBatch
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if err := checkSchema(ctx, store); err != nil {
		return FillResult{}, err
	}
	f := filler{db: store.SQL(), dialect: store.Dialect(), o: o, now: o.Now().UTC().Truncate(time.Microsecond)}
	var b [4]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	res := FillResult{RunID: hex.EncodeToString(b[:])}
	f.run = res.RunID
	if o.RefreshTokens > 0 {
		// Before the users: a missing client should fail before the long part.
		id, err := f.client(ctx)
		if err != nil {
			return res, err
		}
		res.ClientID = id
	}
	if o.Users > 0 {
		start := time.Now()
		if err := f.users(ctx); err != nil {
			return res, err
		}
		res.Users, res.UsersTook = o.Users, time.Since(start)
	}
	if o.RefreshTokens > 0 {
		start := time.Now()
		if err := f.tokens(ctx, res.ClientID); err != nil {
			return res, err
		}
		res.Tokens, res.TokTook = o.RefreshTokens, time.Since(start)
	}
	return res, nil
}

// checkSchema refuses a database that is not a Twofold database at the
// schema this binary knows (the filler rows fill every column it has).
func checkSchema(ctx context.Context, store *storage.Store) error {
	status, err := store.MigrationStatus(ctx)
	if err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	pending := 0
	for _, s := range status {
		if !s.Applied {
			pending++
		}
	}
	if pending == len(status) {
		return errors.New("the database has no Twofold schema: point --database at the server's database (start the server or run twofold migrate first)")
	}
	if pending > 0 {
		return fmt.Errorf("the database schema is not up to date (%d migrations pending): run twofold migrate first", pending)
	}
	return nil
}

type filler struct {
	db      *sql.DB
	dialect migrations.Dialect
	o       FillOptions
	now     time.Time
	run     string
}

// userIDPrefix makes UUID-shaped user ids: <run>-f111-4000-8000-<n as 12
// hex digits>, unique per run and computable from n, so that the tokens can
// name their user without a join.
func (f filler) userIDPrefix() string { return f.run + "-f111-4000-8000-" }

func (f filler) client(ctx context.Context) (string, error) {
	if f.o.ClientID != "" {
		// $1 is also an ordinal parameter for the SQLite driver.
		var n int
		if err := f.db.QueryRowContext(ctx, "SELECT count(*) FROM clients WHERE id = $1", f.o.ClientID).Scan(&n); err != nil {
			return "", fmt.Errorf("look up the client: %w", err)
		}
		if n == 0 {
			return "", fmt.Errorf("no client %q in the database", f.o.ClientID)
		}
		return f.o.ClientID, nil
	}
	var id string
	err := f.db.QueryRowContext(ctx, "SELECT id FROM clients ORDER BY created_at, id LIMIT 1").Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errors.New("the database has no client to own the refresh tokens: add one (twofold client add) or name one with --client")
	}
	if err != nil {
		return "", fmt.Errorf("look up a client: %w", err)
	}
	return id, nil
}

func (f filler) users(ctx context.Context) error {
	// One argon2id hash with the server's default parameters, shared by
	// every filler account: it costs what a real hash costs to verify.
	var pw [24]byte
	rand.Read(pw[:])
	hash, err := password.New(password.DefaultParams, 1).Hash(ctx, hex.EncodeToString(pw[:]))
	if err != nil {
		return fmt.Errorf("hash the filler password: %w", err)
	}
	name := "fill-" + f.run + "-" // lowercase already: username_key is the same
	var q string
	if f.dialect == migrations.Postgres {
		q = `INSERT INTO users (id, username, username_key, email, password_hash, admin, disabled, managed_by,
	created_at, updated_at, password_changed_at)
SELECT $1::text || lpad(to_hex(g), 12, '0'), $2::text || g::text, $2::text || g::text, '', $3::text, false, false, 'database',
	$4, $4, $4
FROM generate_series($5::bigint, $6::bigint) AS g`
	} else {
		q = `WITH RECURSIVE g(n) AS (SELECT ?5 UNION ALL SELECT n + 1 FROM g WHERE n < ?6)
INSERT INTO users (id, username, username_key, email, password_hash, admin, disabled, managed_by,
	created_at, updated_at, password_changed_at)
SELECT ?1 || printf('%012x', n), ?2 || n, ?2 || n, '', ?3, 0, 0, 'database', ?4, ?4, ?4
FROM g`
	}
	return f.batches(ctx, "users", f.o.Users, func(from, to int) error {
		_, err := f.db.ExecContext(ctx, q, f.userIDPrefix(), name, hash, f.now, from, to)
		return err
	})
}

func (f filler) tokens(ctx context.Context, clientID string) error {
	const scopes, amr, acr = `["openid","offline_access"]`, `["pwd"]`, "urn:twofold:acr:pwd"
	expires := f.now.Add(30 * 24 * time.Hour)
	id := "fill-" + f.run + "-t"
	// The token hash has the shape of a real one (hex SHA-256) and hashes
	// nothing anyone knows. Token g belongs to user ((g-1) mod users) + 1.
	var q string
	if f.dialect == migrations.Postgres {
		q = `INSERT INTO refresh_tokens (id, token_hash, family_id, client_id, user_id, session_id, auth_request_id,
	scopes, amr, acr, auth_time, created_at, expires_at)
SELECT $1::text || g::text, encode(sha256(convert_to($1::text || g::text || random()::text, 'UTF8')), 'hex'), $1::text || g::text,
	$2::text, $3::text || lpad(to_hex((g - 1) % $4::bigint + 1), 12, '0'), '', '', $5::text, $6::text, $7::text, $8, $8, $9
FROM generate_series($10::bigint, $11::bigint) AS g`
	} else {
		q = `WITH RECURSIVE g(n) AS (SELECT ?10 UNION ALL SELECT n + 1 FROM g WHERE n < ?11)
INSERT INTO refresh_tokens (id, token_hash, family_id, client_id, user_id, session_id, auth_request_id,
	scopes, amr, acr, auth_time, created_at, expires_at)
SELECT ?1 || n, lower(hex(randomblob(32))), ?1 || n, ?2, ?3 || printf('%012x', (n - 1) % ?4 + 1), '', '', ?5, ?6, ?7, ?8, ?8, ?9
FROM g`
	}
	return f.batches(ctx, "refresh tokens", f.o.RefreshTokens, func(from, to int) error {
		_, err := f.db.ExecContext(ctx, q, id, clientID, f.userIDPrefix(), f.o.Users, scopes, amr, acr, f.now, expires, from, to)
		return err
	})
}

// batches calls insert for [1, batch], [batch+1, 2·batch], … up to total,
// with a progress line after each.
func (f filler) batches(ctx context.Context, what string, total int, insert func(from, to int) error) error {
	for from := 1; from <= total; from += f.o.BatchSize {
		to := min(from+f.o.BatchSize-1, total)
		if err := insert(from, to); err != nil {
			return fmt.Errorf("insert %s %d–%d: %w", what, from, to, err)
		}
		fmt.Fprintf(f.o.Progress, "fill: %s %d/%d\n", what, to, total)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}
