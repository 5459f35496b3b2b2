package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/twofold-idp/twofold/cmd/twofold/config"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/password"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/storage"
)

// app is everything a command needs, wired from the configuration.
type app struct {
	cfg   *config.Config
	log   *slog.Logger
	store *storage.Store
	keys  *secrets.Keyring
	dir   *directory.Directory
}

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "configuration file (YAML); every key can also be set with TWOFOLD_* variables")
}

func loadConfig(e env, path string) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(path, e.environ)
	if err != nil {
		return nil, nil, err
	}
	log := newLogger(e.stderr, cfg)
	// The op library logs through the default logger; make that ours, so
	// its lines are structured like everything else.
	slog.SetDefault(log)
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w)
	}
	return cfg, log, nil
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// openApp loads the configuration, opens the database and, when migrate is
// set, brings the schema up to date.
func openApp(ctx context.Context, e env, configPath string, migrate bool) (*app, error) {
	cfg, log, err := loadConfig(e, configPath)
	if err != nil {
		return nil, err
	}
	keys, err := loadKeyring(e, cfg, log)
	if err != nil {
		return nil, err
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	store, err := storage.Open(openCtx, cfg.Database, storage.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if migrate {
		n, err := store.Migrate(ctx)
		if err != nil {
			store.Close()
			return nil, err
		}
		if n > 0 {
			log.Info("database migrated", "applied", n, "dialect", store.Dialect())
		}
	}
	hasher := password.New(password.DefaultParams, 0)
	return &app{cfg: cfg, log: log, store: store, keys: keys, dir: directory.New(store, hasher, keys, log, nil, directory.WithAdminGroup(cfg.AdminGroup))}, nil
}

func (a *app) Close() error { return a.store.Close() }

// loadKeyring finds the master key: secret_key, then secret_key_file, then —
// on SQLite only — a generated key file beside the database.
func loadKeyring(e env, cfg *config.Config, log *slog.Logger) (*secrets.Keyring, error) {
	var key []byte
	var err error
	switch {
	case cfg.SecretKey != "":
		key, err = config.DecodeSecretKey(cfg.SecretKey)
	case cfg.SecretKeyFile != "":
		key, err = secrets.LoadKeyFile(cfg.SecretKeyFile)
	case !cfg.IsSQLite():
		return nil, errors.New("refusing to start on PostgreSQL without a master key: set TWOFOLD_SECRET_KEY " +
			"(base64 of 32 random bytes, e.g. `openssl rand -base64 32`) or secret_key_file")
	default:
		key, err = devKey(e, cfg, log)
	}
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return secrets.NewKeyring(key)
}

// devKey makes development on SQLite work with no setup, loudly.
func devKey(e env, cfg *config.Config, log *slog.Logger) ([]byte, error) {
	path := strings.TrimPrefix(cfg.Database, "sqlite:")
	if path == ":memory:" {
		log.Warn("no master key configured: using a random key that dies with this process (in-memory database)")
		return secrets.GenerateKey()
	}
	keyPath := path + ".key"
	key, created, err := secrets.LoadOrCreateKeyFile(keyPath)
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(e.stderr, "\n"+
			"  !!  DEVELOPMENT MASTER KEY CREATED: %s\n"+
			"  !!  Anyone who can read this file can decrypt this server's secrets. For production,\n"+
			"  !!  set TWOFOLD_SECRET_KEY (or secret_key_file) and keep the key out of the data directory.\n\n", keyPath)
	}
	log.Warn("using a development master key file beside the SQLite database; set TWOFOLD_SECRET_KEY in production", "path", keyPath)
	return key, nil
}

// noneToEmpty: the CLI, like the file, writes "none" for no policy.
func noneToEmpty(p string) string {
	if p == config.PolicyNone {
		return ""
	}
	return p
}

// readPassword reads a password: one line from stdin with --password-stdin,
// or a no-echo prompt (asked twice) on a terminal.
func readPassword(e env, fromStdin bool) (string, error) {
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(e.stdin, password.MaxLength+2))
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return "", errors.New("no terminal to ask for the password: pass it with --password-stdin")
	}
	pw, err := promptHidden(e, f, "Password: ")
	if err != nil {
		return "", err
	}
	again, err := promptHidden(e, f, "Repeat password: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the passwords do not match")
	}
	return pw, nil
}
