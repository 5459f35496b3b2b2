package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/twofold-idp/twofold/cmd/twofold-bench/internal/bench"
	"github.com/twofold-idp/twofold/storage"
)

const fillUsage = `Usage: twofold-bench fill --database URL --users N [--refresh-tokens M] [--client ID]

Writes inert filler rows straight into the server's database, to measure the
paths against a large database: N accounts named fill-<run>-<n> sharing one
argon2id hash of a password nobody knows, and M live refresh tokens (30 days,
each its own family) spread over them, for --client (default: the first
client in the database). Set-based inserts, --batch rows per statement. Every
run adds new rows under a new run id. The schema must be migrated already.

Flags:
`

func runFill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("twofold-bench fill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, fillUsage)
		fs.PrintDefaults()
	}
	database := fs.String("database", "", "the server's database: sqlite:PATH or postgres://… (required)")
	users := fs.Int("users", 0, "filler accounts to add")
	tokens := fs.Int("refresh-tokens", 0, "live refresh tokens to add, spread over the new accounts")
	client := fs.String("client", "", "the client that owns the refresh tokens (default: the first one in the database)")
	batch := fs.Int("batch", bench.DefaultFillBatch, "rows per INSERT statement")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var problems []string
	switch {
	case *database == "":
		problems = append(problems, "--database is required")
	case strings.HasPrefix(*database, "sqlite:"):
		// storage.Open would create a missing file: filling a new, empty
		// database is a typo, not a wish.
		path := strings.TrimPrefix(*database, "sqlite:")
		if path == ":memory:" {
			problems = append(problems, "--database sqlite::memory: would be gone when fill exits")
		} else if _, err := os.Stat(path); err != nil {
			problems = append(problems, fmt.Sprintf("--database: no SQLite database at %s", path))
		}
	case strings.HasPrefix(*database, "postgres://"), strings.HasPrefix(*database, "postgresql://"):
	default:
		problems = append(problems, "--database must be sqlite:PATH or postgres://…")
	}
	if *users < 0 || *tokens < 0 {
		problems = append(problems, "--users and --refresh-tokens must not be negative")
	} else if *users == 0 && *tokens == 0 {
		problems = append(problems, "give --users and/or --refresh-tokens")
	} else if *tokens > 0 && *users == 0 {
		problems = append(problems, "--refresh-tokens belong to the accounts of the same run: give --users too")
	}
	if *batch < 1 {
		problems = append(problems, "--batch must be positive")
	}
	if fs.NArg() > 0 {
		problems = append(problems, "unexpected arguments: "+strings.Join(fs.Args(), " "))
	}
	if len(problems) > 0 {
		fmt.Fprintln(stderr, "twofold-bench fill: "+strings.Join(problems, "; "))
		return 2
	}
	store, err := storage.Open(ctx, *database)
	if err != nil {
		// storage's errors do not echo the URL (it may hold a password).
		fmt.Fprintln(stderr, "twofold-bench fill:", err)
		return 1
	}
	defer store.Close()
	res, err := bench.Fill(ctx, store, bench.FillOptions{
		Users: *users, RefreshTokens: *tokens, ClientID: *client, BatchSize: *batch, Progress: stderr,
	})
	if err != nil {
		fmt.Fprintln(stderr, "twofold-bench fill:", err)
		return 1
	}
	fmt.Fprintf(stdout, "fill: run %s: %d users (%s … %s) in %.1f s", res.RunID, res.Users,
		res.Username(1), res.Username(res.Users), res.UsersTook.Seconds())
	if res.Tokens > 0 {
		fmt.Fprintf(stdout, ", %d refresh tokens for client %s in %.1f s", res.Tokens, res.ClientID, res.TokTook.Seconds())
	}
	fmt.Fprintln(stdout)
	return 0
}
