package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twofold-idp/twofold/cmd/twofold/wire"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/op"
)

func runServe(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "serve", "serve [--config FILE] [--no-migrate] [--demo]",
		"Runs the identity provider. With no configuration it serves http://localhost:8080 on a SQLite\n"+
			"file twofold.db in the working directory. The schema is migrated on start unless --no-migrate.\n"+
			"With no accounts yet, it prints a one-time link for creating the first administrator.\n"+
			"--demo adds a demo application at /demo/ and a demo user whose password is printed once.")
	configPath := configFlag(fs)
	noMigrate := fs.Bool("no-migrate", false, "do not migrate the database schema on start")
	assetsDir := fs.String("assets-dir", "", "serve templates and static files from this directory (development)")
	withDemo := fs.Bool("demo", false, "also serve a demo relying party at /demo/ (with a demo client and user)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	a, err := openApp(ctx, e, *configPath, !*noMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := applyConfig(ctx, a); err != nil {
		return err
	}
	if err := announceSetup(ctx, e, a); err != nil {
		return err
	}

	tuneGC()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerPoolMetrics(reg, a.store)
	mailer, sms, err := outboundChannels(a.cfg, e.stderr, *withDemo, a.log)
	if err != nil {
		return fmt.Errorf("outbound channels: %w", err)
	}
	built, err := wire.Build(ctx, wire.Options{
		Issuer: a.cfg.Issuer, Store: a.store, Ring: a.keys, Logger: a.log, Registry: reg, Directory: a.dir,
		SessionIdleTimeout:   time.Duration(a.cfg.SessionIdleTimeout),
		SessionLifetime:      time.Duration(a.cfg.SessionLifetime),
		AccessTokenLifetime:  time.Duration(a.cfg.AccessTokenLifetime),
		RefreshTokenLifetime: time.Duration(a.cfg.RefreshTokenLifetime),
		AccessTokenAlg:       a.cfg.AccessTokenAlg,
		CORSAllowedOrigins:   a.cfg.CORSAllowedOrigins,
		TrustedProxies:       a.cfg.TrustedProxyPrefixes(),
		MaxPendingSignIns:    a.cfg.MaxPendingSignIns,
		AssetsDir:            *assetsDir,
		Mailer:               mailer,
		SMS:                  sms,
		RecoveryWait:         time.Duration(a.cfg.RecoveryWait),
	})
	if err != nil {
		return err
	}
	go op.RunMaintenance(ctx, a.store, built.Keys, a.log, 5*time.Minute)
	// Back-channel logouts: stopped with ctx, after the deliveries under way.
	logoutsCtx, stopLogouts := context.WithCancel(ctx)
	logoutsDone := make(chan struct{})
	go func() {
		defer close(logoutsDone)
		built.BackchannelLogouts.Run(logoutsCtx)
	}()
	defer func() { stopLogouts(); <-logoutsDone }()
	srv := built.Server
	if *withDemo {
		h, err := startDemo(ctx, e, a)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		srv.Router().Mount("/demo", h)
	}
	if a.cfg.DebugListen != "" {
		if err := serveDebug(ctx, a.cfg.DebugListen, a.log); err != nil {
			return fmt.Errorf("debug_listen: %w", err)
		}
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// The request line and headers; /authorize bounds its own query to
		// 64 KB, and no page needs more than a few cookies.
		MaxHeaderBytes: 128 << 10,
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    120 * time.Second,
		ErrorLog:       nil,
	}
	a.log.Info("listening", "addr", ln.Addr().String(), "issuer", a.cfg.Issuer, "database", string(a.store.Dialect()), "version", version)
	if e.ready != nil {
		e.ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Drain in-flight requests, but not forever.
	timeout := time.Duration(a.cfg.ShutdownTimeout)
	a.log.Info("shutting down", "timeout", timeout.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.log.Info("stopped")
	return nil
}

// tuneGC trades memory for CPU unless the operator set GOGC or GOMEMLIMIT:
// a request allocates a few dozen kilobytes that die at once, so collecting
// at twice the live heap instead of once cut the token endpoint's CPU per
// request by about 10 % (twofold-bench, client_credentials and
// introspection); the soft limit keeps the heap well under 1 GiB when a
// burst of argon2id checks (19 MiB each) meets that headroom.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(768 << 20)
	}
}

// registerPoolMetrics exports the database connection pool: a soak test
// watches these stay flat.
func registerPoolMetrics(reg prometheus.Registerer, store interface{ DBStats() sql.DBStats }) {
	for _, g := range []struct {
		name, help string
		value      func(sql.DBStats) float64
	}{
		{"twofold_db_open_connections", "Database connections open, in use or idle.", func(s sql.DBStats) float64 { return float64(s.OpenConnections) }},
		{"twofold_db_in_use_connections", "Database connections in use.", func(s sql.DBStats) float64 { return float64(s.InUse) }},
		{"twofold_db_wait_count", "Requests that waited for a free database connection, since start.", func(s sql.DBStats) float64 { return float64(s.WaitCount) }},
	} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.name, Help: g.help},
			func() float64 { return g.value(store.DBStats()) }))
	}
}

// applyConfig makes the database match the file's policies, groups, clients and users, in one transaction:
// a refused file changes nothing (ARCHITECTURE.md "Sources of truth").
func applyConfig(ctx context.Context, a *app) error {
	if err := a.dir.ApplyStatic(ctx, a.cfg.Static()); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

// announceSetup prints the first-run link when no account exists. The token
// goes to stderr as plain text, never into the structured log.
func announceSetup(ctx context.Context, e env, a *app) error {
	token, err := a.dir.PrepareSetup(ctx)
	if err != nil || token == "" {
		return err
	}
	fmt.Fprintf(e.stderr, "\n"+
		"  ==> No accounts yet. Create the first administrator within %s at:\n"+
		"      %s/setup?token=%s\n\n", directory.SetupTokenTTL, a.cfg.Issuer, token)
	a.log.Info("first-run setup link printed to the console")
	return nil
}
