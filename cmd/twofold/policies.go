package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twofold-idp/twofold/cmd/twofold/config"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
)

func runPolicy(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "policy", args, map[string]command{
		"set":     {"create a policy or change some of its fields", runPolicySet},
		"list":    {"list policies", runPolicyList},
		"assign":  {"attach a policy to a client, a group, or make it the default", runPolicyAssign},
		"explain": {"simulate a sign-in: what would be asked, and every rule that made it so", runPolicyExplain},
	})
}

func runPolicySet(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "policy set", "policy set NAME [--require-mfa always|on_request|never] [flags]",
		"Creates the policy NAME, or changes the fields given as flags and keeps the others. Every\n"+
			"replica applies the change from the next sign-in on.")
	configPath := configFlag(fs)
	require := fs.String("require-mfa", "", "always, on_request or never (new policies: on_request)")
	var methods stringList
	fs.Var(&methods, "methods", "allowed second factors: totp, webauthn, backup_code, and the opt-in email, sms (new policies: all but email and sms)")
	maxAge := fs.String("mfa-max-age", "", "ask for the second factor again after this long, e.g. 12h (0: never)")
	remember := fs.String("remember-device", "", "let a device skip the second factor for this long, e.g. 30d (0: off)")
	enrollment := fs.String("enrollment", "", "required or optional: what happens when MFA is required and the user has none")
	var clients stringList
	fs.Var(&clients, "clients", "limit the policy to sign-ins to these clients (repeatable; \"\" for every client)")
	minLevel := fs.String("min-level", "", "the weakest level a sign-in may end at: pwd, mfa or phr (none: \"\")")
	verifiedEmail := fs.Bool("require-verified-email", false, "sign-ins complete only once the user's email address is verified")
	grace := fs.String("enrollment-grace", "", "users who must enroll a second factor may put it off this long, e.g. 7d (0: no grace by time)")
	graceSignIns := fs.Int("enrollment-grace-sign-ins", 0, "...or for this many sign-ins (0: no grace by sign-ins); the first limit reached ends it")
	if err := parseFlags(fs, reorder(fs, args)); err != nil {
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
	p := policy.Policy{Name: fs.Arg(0)}
	existing, err := a.dir.ListPolicies(ctx)
	if err != nil {
		return err
	}
	for _, ep := range existing {
		if ep.Name == p.Name {
			p = ep
		}
	}
	var errs []error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "require-mfa":
			p.RequireMFA = policy.Requirement(*require)
		case "methods":
			p.Methods = nil
			for _, m := range methods {
				p.Methods = append(p.Methods, policy.Method(m))
			}
		case "mfa-max-age":
			d, err := config.ParseDuration(*maxAge)
			errs = append(errs, flagErr("--mfa-max-age", err))
			p.MFAMaxAge = time.Duration(d)
		case "remember-device":
			d, err := config.ParseDuration(*remember)
			errs = append(errs, flagErr("--remember-device", err))
			p.RememberDevice = time.Duration(d)
		case "enrollment":
			p.Enrollment = policy.Enrollment(*enrollment)
		case "clients":
			p.Clients = clients
		case "min-level":
			l, err := policy.ParseLevel(*minLevel)
			errs = append(errs, flagErr("--min-level", err))
			p.MinLevel = l
		case "require-verified-email":
			p.RequireVerifiedEmail = *verifiedEmail
		case "enrollment-grace":
			d, err := config.ParseDuration(*grace)
			errs = append(errs, flagErr("--enrollment-grace", err))
			p.EnrollmentGrace = time.Duration(d)
		case "enrollment-grace-sign-ins":
			p.EnrollmentGraceSignIns = *graceSignIns
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	saved, err := a.dir.SetPolicy(ctx, idp.ActorCLI, p)
	if err != nil {
		return a.explainManaged(err)
	}
	fmt.Fprintf(e.stdout, "saved policy %s: require_mfa=%s methods=%s mfa_max_age=%s remember_device=%s enrollment=%s min_level=%s%s",
		saved.Name, saved.RequireMFA, joinMethods(saved.Methods), config.Duration(saved.MFAMaxAge), config.Duration(saved.RememberDevice), saved.Enrollment, levelName(saved.MinLevel),
		graceWords(saved))
	if saved.RequireVerifiedEmail {
		fmt.Fprint(e.stdout, " require_verified_email=true")
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// graceWords is the enrollment grace of p for the "saved policy" line ("" without one).
func graceWords(p policy.Policy) string {
	var s string
	if p.EnrollmentGrace > 0 {
		s += " enrollment_grace=" + config.Duration(p.EnrollmentGrace).String()
	}
	if p.EnrollmentGraceSignIns > 0 {
		s += fmt.Sprintf(" enrollment_grace_sign_ins=%d", p.EnrollmentGraceSignIns)
	}
	return s
}

func flagErr(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}

// reorder moves a leading positional NAME behind the flags, so that both
// "policy set strict --require-mfa always" and the flag-first order work.
func reorder(fs *flag.FlagSet, args []string) []string {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return append(append([]string{}, args[1:]...), args[0])
	}
	return args
}

func runPolicyList(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "policy list", "policy list [--config FILE]", "Lists every policy, its rules, and which groups and clients use it.")
	configPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, *configPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	ps, err := a.dir.ListPolicies(ctx)
	if err != nil {
		return err
	}
	def, err := a.dir.DefaultPolicy(ctx)
	if err != nil {
		return err
	}
	groups, err := a.dir.ListGroups(ctx)
	if err != nil {
		return err
	}
	clients, err := a.dir.ListClients(ctx)
	if err != nil {
		return err
	}
	sources, err := a.dir.PolicySources(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREQUIRE MFA\tMIN LEVEL\tMETHODS\tMFA MAX AGE\tREMEMBER DEVICE\tENROLLMENT\tMANAGED BY\tUSED BY")
	for _, p := range ps {
		var usedBy []string
		if p.Name == def {
			usedBy = append(usedBy, "default")
		}
		for _, g := range groups {
			if g.Policy == p.Name {
				usedBy = append(usedBy, "group:"+g.Name)
			}
		}
		for _, c := range clients {
			if c.Policy == p.Name {
				usedBy = append(usedBy, "client:"+c.ID)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.RequireMFA, levelName(p.MinLevel), joinMethods(p.Methods),
			config.Duration(p.MFAMaxAge), config.Duration(p.RememberDevice), p.Enrollment, sourceColumn(sources[p.Name]), dash(strings.Join(usedBy, " ")))
	}
	return tw.Flush()
}

func joinMethods(ms []policy.Method) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ",")
}

func levelName(l policy.Level) string {
	switch l {
	case policy.LevelPassword:
		return "pwd"
	case policy.LevelMFA:
		return "mfa"
	case policy.LevelPhishingResistant:
		return "phr"
	}
	return "-"
}

func runPolicyAssign(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "policy assign", "policy assign NAME (--client ID | --group NAME | --default)",
		"Attaches the policy NAME to a client, to a group (every member), or makes it the default.\n"+
			"NAME \"none\" detaches. The strongest of all applicable policies wins at every sign-in.")
	configPath := configFlag(fs)
	clientID := fs.String("client", "", "the client to attach the policy to")
	group := fs.String("group", "", "the group to attach the policy to")
	def := fs.Bool("default", false, "make it the default policy")
	if err := parseFlags(fs, reorder(fs, args)); err != nil {
		return err
	}
	targets := 0
	for _, set := range []bool{*clientID != "", *group != "", *def} {
		if set {
			targets++
		}
	}
	if fs.NArg() != 1 || targets != 1 {
		fs.Usage()
		return errUsage
	}
	name := noneToEmpty(fs.Arg(0))
	a, err := openApp(ctx, e, *configPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	switch {
	case *clientID != "":
		err = a.dir.AssignClientPolicy(ctx, idp.ActorCLI, *clientID, name)
	case *group != "":
		err = a.dir.SetGroup(ctx, idp.ActorCLI, directory.Group{Name: *group, Policy: name})
	default:
		err = a.dir.SetDefaultPolicy(ctx, idp.ActorCLI, name)
	}
	if err != nil {
		return a.explainManaged(err)
	}
	fmt.Fprintf(e.stdout, "assigned policy %s\n", fs.Arg(0))
	return nil
}
