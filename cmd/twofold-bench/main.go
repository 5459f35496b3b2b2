// Command twofold-bench drives a running Twofold with N workers, path by
// path, and prints requests per second and latency percentiles per path.
// It seeds its own accounts and clients with the twofold CLI (--seed) or
// reuses a setup written by an earlier run (--state).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twofold-idp/twofold/cmd/twofold-bench/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Usage: twofold-bench --issuer URL [--seed N | --state FILE] [flags]
       twofold-bench fill --database URL --users N [--refresh-tokens M] [--client ID]

Drives a running Twofold with --workers concurrent clients, each path for
--duration (or --count requests), and prints requests, errors, req/s and
p50/p95/p99 latency per path. Traffic goes to the issuer only.

--seed N creates two clients and N accounts by running the twofold CLI
(--twofold, with --config and the TWOFOLD_* environment of this process,
which must reach the server's database and master key), then enrolls an
authenticator app for each account through the hosted pages. The setup
(client secrets, passwords, TOTP secrets of these throwaway accounts) is
written to --state, so a later run can skip seeding with --state alone.

Paths (--paths, comma-separated; default all, in this order):
`

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fill" {
		return runFill(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("twofold-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage+bench.PathHelp()+"\nFlags:\n")
		fs.PrintDefaults()
	}
	issuer := fs.String("issuer", "", "the issuer URL of the running Twofold (required)")
	workers := fs.Int("workers", 8, "concurrent workers (simulated browsers and clients)")
	duration := fs.Duration("duration", 10*time.Second, "how long each path runs")
	count := fs.Int("count", 0, "requests per path, instead of --duration")
	pathList := fs.String("paths", "", "paths to run, comma-separated (default: all)")
	seed := fs.Int("seed", 0, "create this many accounts (and two clients) with the twofold CLI first")
	state := fs.String("state", "", "the setup file: written after --seed, read without it (default with --seed: twofold-bench-setup.json)")
	twofold := fs.String("twofold", "twofold", "the twofold binary used by --seed")
	config := fs.String("config", "", "passed to the twofold CLI as --config (the server's configuration file)")
	jsonPath := fs.String("json", "", "also write the results as JSON to this file")
	timeout := fs.Duration("timeout", 30*time.Second, "per HTTP request")
	overload := fs.Int("overload", 0, "instead of the paths: start this many password sign-ins at once and report how they were refused")
	soak := fs.Duration("soak", 0, "instead of the paths: run the mix this long, sampling the server's memory, goroutines and database connections")
	sampleEvery := fs.Duration("sample-every", 10*time.Second, "how often --soak reads /metrics")
	idTokenAlg := fs.String("id-token-alg", "ES256", "the seeded clients' ID token algorithm (RS256 costs ~25x ES256 per token)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var problems []string
	if *issuer == "" {
		problems = append(problems, "--issuer is required")
	}
	if set["count"] && set["duration"] {
		problems = append(problems, "give --duration or --count, not both")
	}
	if *count < 0 || *duration <= 0 || *workers < 1 || *seed < 0 || *overload < 0 || *soak < 0 || *sampleEvery <= 0 {
		problems = append(problems, "--count, --duration, --workers, --seed, --overload, --soak and --sample-every must be positive")
	}
	if *overload > 0 && *soak > 0 {
		problems = append(problems, "give --overload or --soak, not both")
	}
	if fs.NArg() > 0 {
		problems = append(problems, "unexpected arguments: "+strings.Join(fs.Args(), " "))
	}
	if len(problems) > 0 {
		fmt.Fprintln(stderr, "twofold-bench: "+strings.Join(problems, "; "))
		return 2
	}
	var paths []string
	for _, p := range strings.Split(*pathList, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	if err := measure(ctx, options{
		issuer: strings.TrimRight(*issuer, "/"), workers: *workers, duration: *duration, count: *count, paths: paths,
		seed: *seed, state: *state, twofold: *twofold, config: *config, json: *jsonPath, timeout: *timeout, environ: environ,
		idTokenAlg: *idTokenAlg, overload: *overload, soak: *soak, sampleEvery: *sampleEvery,
	}, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "twofold-bench:", err)
		return 1
	}
	return 0
}

type options struct {
	issuer            string
	workers, count    int
	duration, timeout time.Duration
	paths             []string
	seed              int
	state, twofold    string
	config, json      string
	environ           []string
	idTokenAlg        string
	overload          int
	soak, sampleEvery time.Duration
}

func measure(ctx context.Context, o options, stdout, stderr io.Writer) error {
	var setup *bench.Setup
	switch {
	case o.seed > 0:
		if o.state == "" {
			o.state = "twofold-bench-setup.json"
		}
		admin := bench.CLIAdmin{Path: o.twofold, Config: o.config, Environ: o.environ, IDTokenAlg: o.idTokenAlg}
		start := time.Now()
		var err error
		setup, err = bench.Seed(ctx, admin, o.issuer, bench.SeedOptions{Users: o.seed, Parallel: o.workers, HTTPTimeout: o.timeout,
			Progress: func(done int) { fmt.Fprintf(stderr, "\rseeding: %d/%d accounts enrolled", done, o.seed) }})
		if err != nil {
			fmt.Fprintln(stderr)
			return fmt.Errorf("seed: %w", err)
		}
		fmt.Fprintf(stderr, "\rseeding: %d accounts and clients %s, %s in %.1f s; setup in %s\n",
			o.seed, setup.Client.ID, setup.MFAClient.ID, time.Since(start).Seconds(), o.state)
		if err := bench.SaveSetup(o.state, setup); err != nil {
			return err
		}
	case o.state != "":
		var err error
		if setup, err = bench.LoadSetup(o.state); err != nil {
			return err
		}
	}
	cfg := bench.Config{Issuer: o.issuer, Workers: o.workers, Duration: o.duration, Count: o.count,
		Paths: o.paths, Setup: setup, HTTPTimeout: o.timeout, Progress: stderr}
	switch {
	case o.overload > 0:
		r, err := bench.Overload(ctx, cfg, o.overload)
		if err != nil {
			return err
		}
		r.WriteText(stdout)
		return writeJSON(o.json, r)
	case o.soak > 0:
		cfg.Duration = o.soak
		r, err := bench.Soak(ctx, cfg, o.sampleEvery)
		if err != nil {
			return err
		}
		r.WriteText(stdout)
		return writeJSON(o.json, r)
	}
	report, runErr := bench.Run(ctx, cfg)
	if setup != nil && o.state != "" {
		// The TOTP steps used, so that the next run does not replay them.
		if err := bench.SaveSetup(o.state, setup); err != nil {
			return errors.Join(runErr, err)
		}
	}
	if runErr != nil {
		return runErr
	}
	if err := report.WriteTable(stdout); err != nil {
		return err
	}
	return writeJSON(o.json, report)
}

// writeJSON writes v, indented, to path ("": nowhere).
func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
