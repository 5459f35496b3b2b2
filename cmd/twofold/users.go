package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
)

func runUser(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "user", args, map[string]command{
		"add":            {"create an account", runUserAdd},
		"list":           {"list accounts", runUserList},
		"disable":        {"disable an account (it can no longer sign in)", runUserDisabled(true)},
		"enable":         {"re-enable a disabled account", runUserDisabled(false)},
		"revoke-consent": {"forget that a user allowed a client (the next sign-in asks again)", runUserRevokeConsent},
		"reset-mfa":      {"remove every second factor of a user who lost them (recovery)", runUserResetMFA},
	})
}

func runUserAdd(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "user add", "user add --username NAME [--email ADDR] [--group G]... [--admin] [--password-stdin]",
		"Creates an account. The password is asked for twice on a terminal, or read as one line from\n"+
			"standard input with --password-stdin (never pass a password as an argument: it would be\n"+
			"visible to every user of the machine).")
	configPath := configFlag(fs)
	username := fs.String("username", "", "the sign-in name (required; unique regardless of case)")
	email := fs.String("email", "", "email address")
	var groups stringList
	fs.Var(&groups, "group", "a group to put the user in (repeatable, or comma-separated)")
	admin := fs.Bool("admin", false, "make the user an administrator")
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *username == "" {
		fmt.Fprintln(e.stderr, "twofold user add: --username is required")
		fs.Usage()
		return errUsage
	}
	pw, err := readPassword(e, *pwStdin)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, e, *configPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.dir.CreateUser(ctx, idp.ActorCLI, directory.NewUser{Username: *username, Email: *email, Password: pw, Groups: groups, Admin: *admin})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created user %s (id %s)\n", u.Username, u.ID)
	return nil
}

func runUserList(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "user list", "user list [--json]", "Lists every account by username.")
	configPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON (one array) instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, *configPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	var all []directory.User
	after := ""
	for {
		page, err := a.dir.ListUsers(ctx, after, 500)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Username
	}
	if *asJSON {
		type row struct {
			ID        string    `json:"id"`
			Username  string    `json:"username"`
			Email     string    `json:"email"`
			Groups    []string  `json:"groups"`
			Admin     bool      `json:"admin"`
			Disabled  bool      `json:"disabled"`
			ManagedBy string    `json:"managed_by"`
			CreatedAt time.Time `json:"created_at"`
		}
		rows := make([]row, len(all))
		for i, u := range all {
			rows[i] = row{u.ID, u.Username, u.Email, nonNil(u.Groups), u.Admin, u.Disabled, u.ManagedBy, u.CreatedAt}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tEMAIL\tGROUPS\tADMIN\tSTATUS\tMANAGED BY\tCREATED")
	for _, u := range all {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, dash(u.Email), dash(strings.Join(u.Groups, ",")),
			yesNo(u.Admin), status, sourceColumn(u.ManagedBy), u.CreatedAt.UTC().Format(time.DateTime))
	}
	return tw.Flush()
}

func runUserDisabled(disabled bool) func(context.Context, env, []string) error {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	return func(ctx context.Context, e env, args []string) error {
		fs := newFlags(e, "user "+verb, "user "+verb+" [--config FILE] USERNAME", "Changes whether USERNAME can sign in.")
		configPath := configFlag(fs)
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fs.Usage()
			return errUsage
		}
		a, err := openApp(ctx, e, *configPath, true)
		if err != nil {
			return err
		}
		defer a.Close()
		if err := a.dir.SetUserDisabled(ctx, idp.ActorCLI, fs.Arg(0), disabled); err != nil {
			var me *directory.ManagedError
			if errors.As(err, &me) {
				return a.explainManaged(err)
			}
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		fmt.Fprintf(e.stdout, "%sd user %s\n", verb, fs.Arg(0))
		return nil
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func runUserRevokeConsent(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "user revoke-consent", "user revoke-consent --client ID USERNAME",
		"Forgets USERNAME's consent for the client; its next sign-in there shows the consent page again.")
	configPath := configFlag(fs)
	clientID := fs.String("client", "", "the client id (required)")
	if err := parseFlags(fs, reorder(fs, args)); err != nil {
		return err
	}
	if fs.NArg() != 1 || *clientID == "" {
		fs.Usage()
		return errUsage
	}
	a, err := openApp(ctx, e, *configPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.dir.RevokeConsent(ctx, idp.ActorCLI, fs.Arg(0), *clientID); err != nil {
		return fmt.Errorf("%s, %s: %w", fs.Arg(0), *clientID, err)
	}
	fmt.Fprintf(e.stdout, "revoked %s's consent for %s\n", fs.Arg(0), *clientID)
	return nil
}

func runUserResetMFA(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "user reset-mfa", "user reset-mfa [--config FILE] USERNAME",
		"Recovery for a user who lost every second factor: removes their authenticator apps, passkeys and\n"+
			"security keys, backup codes and remembered devices, and ends their sessions. Where a policy\n"+
			"requires a second factor, their next sign-in enrolls a new one. Confirm who is asking first.")
	configPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	a, err := openApp(ctx, e, *configPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.dir.ResetMFA(ctx, idp.ActorCLI, fs.Arg(0)); err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(e.stdout, "removed every second factor of %s and ended their sessions\n", fs.Arg(0))
	if a.notifyMFAReset(ctx, e, fs.Arg(0)) {
		fmt.Fprintf(e.stdout, "told %s by email, at their verified address\n", fs.Arg(0))
	} else {
		fmt.Fprintf(e.stdout, "%s has no verified email address (or the mail failed; see the log): tell them yourself\n", fs.Arg(0))
	}
	return nil
}
