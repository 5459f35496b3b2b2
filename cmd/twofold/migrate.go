package main

import (
	"context"
	"fmt"
	"text/tabwriter"
)

func runMigrate(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "migrate", args, map[string]command{
		"up":     {"apply pending migrations (serve does this on start)", runMigrateUp},
		"status": {"list migrations and whether each is applied", runMigrateStatus},
	})
}

func runMigrateUp(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "migrate up", "migrate up [--config FILE]",
		"Applies every pending schema migration, under a database lock so that replicas may run it together.")
	configPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, *configPath, false)
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.store.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "applied %d migration(s)\n", n)
	return nil
}

func runMigrateStatus(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "migrate status", "migrate status [--config FILE]", "Lists every migration and whether it is applied.")
	configPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, *configPath, false)
	if err != nil {
		return err
	}
	defer a.Close()
	st, err := a.store.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tFILE")
	for _, s := range st {
		state := "pending"
		if s.Applied {
			state = "applied"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", s.Version, state, s.Name)
	}
	return tw.Flush()
}
