package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"
)

func runAudit(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "audit", "audit [--user NAME] [--action ACTION] [--limit N] [--json]",
		"Lists the audit trail, newest first: sign-ins, factors used, failed and throttled, enrolled and\n"+
			"removed, and every step-up decision with the rule that made it (action policy.decision), so\n"+
			"\"why was I asked for a code?\" has an answer.")
	configPath := configFlag(fs)
	user := fs.String("user", "", "only events about this user")
	action := fs.String("action", "", "only this action, e.g. policy.decision or mfa.failed")
	limit := fs.Int("limit", 50, "at most this many events (up to 500)")
	asJSON := fs.Bool("json", false, "print JSON (one array)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, *configPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	events, err := a.dir.Audit(ctx, *user, *action, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(events)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tTARGET\tDETAILS")
	for _, ev := range events {
		details, _ := json.Marshal(ev.Details)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ev.At.UTC().Format(time.DateTime), ev.Actor, ev.Action, dash(ev.Target), details)
	}
	return tw.Flush()
}
