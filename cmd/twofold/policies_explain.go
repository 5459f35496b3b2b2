package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twofold-idp/twofold/cmd/twofold/config"
	"github.com/twofold-idp/twofold/cmd/twofold/wire"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/login"
	"github.com/twofold-idp/twofold/idp/notify"
)

func runPolicyExplain(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "policy explain", "policy explain --user U --client C [--acr-values V] [--claims JSON] [--max-age N] [--prompt P]\n"+
		"       [--remembered-device AGE] [--last-factor METHOD=AGE …] [--json]",
		"Simulates a sign-in of the user to the client and prints the effective policies (and where each\n"+
			"is attached), every rule that contributed, the level required, the methods allowed, and what the\n"+
			"user would be asked: nothing, a second factor, enrollment, or unmet_authentication_requirements.\n"+
			"It runs the code real sign-ins run and changes nothing. Without --last-factor the browser has no\n"+
			"session: the user signs in with the password first.")
	configPath := configFlag(fs)
	user := fs.String("user", "", "the user: username or id")
	clientID := fs.String("client", "", "the client (relying party) id")
	acrValues := fs.String("acr-values", "", "the acr_values the application sends, space-separated, e.g. \"phr urn:twofold:acr:mfa\"")
	claims := fs.String("claims", "", "the claims request parameter (JSON), e.g. '{\"id_token\":{\"acr\":{\"essential\":true,\"value\":\"phr\"}}}'")
	maxAge := fs.String("max-age", "", "the max_age the application sends, in seconds")
	prompt := fs.String("prompt", "", "the prompt the application sends: login, none, consent, select_account")
	remembered := fs.String("remembered-device", "", "the browser presents a remembered device set this long ago, e.g. 3d")
	var factors stringList
	fs.Var(&factors, "last-factor", "a factor the browser's session proved this long ago, METHOD=AGE (repeatable): pwd, passkey,\n"+
		"totp, webauthn, backup_code, email, sms; webauthn+uv for user verification, +bound for a device-bound key.\n"+
		"e.g. --last-factor pwd=5m --last-factor totp=2h")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *user == "" || *clientID == "" {
		fs.Usage()
		return errUsage
	}
	sim := login.Simulation{User: *user, ClientID: *clientID, ACRValues: strings.Fields(*acrValues), Claims: *claims, Prompt: strings.Fields(strings.ReplaceAll(*prompt, ",", " "))}
	if *maxAge != "" {
		n, err := strconv.ParseInt(*maxAge, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("--max-age: %q is not a number of seconds", *maxAge)
		}
		sim.MaxAge = &n
	}
	if *remembered != "" {
		d, err := config.ParseDuration(*remembered)
		if err != nil {
			return fmt.Errorf("--remembered-device: %q %w (use e.g. 90s, 12h, 30d)", *remembered, err)
		}
		n := int64(time.Duration(d) / time.Second)
		sim.RememberedDeviceAge = &n
	}
	for _, f := range factors {
		sf, err := parseLastFactor(f)
		if err != nil {
			return err
		}
		sim.Session = append(sim.Session, sf)
	}
	a, err := openApp(ctx, e, *configPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	// Whether SMS codes are a factor depends on the gateway; nothing is sent.
	var sms notify.SMSSender
	if wc, ok := a.cfg.SMSWebhookConfig(); ok {
		if sms, err = notify.NewWebhook(wc, a.log); err != nil {
			return err
		}
	}
	flow, err := wire.Flow(wire.Options{Issuer: a.cfg.Issuer, Store: a.store, Ring: a.keys, Logger: a.log, Directory: a.dir, SMS: sms})
	if err != nil {
		return err
	}
	res, err := flow.Simulate(ctx, sim)
	var ie *idp.InputError
	if errors.As(err, &ie) {
		return fmt.Errorf("%s: %s", explainFlag(ie.Field), ie.Message)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printSimulation(e, res)
	return nil
}

// parseLastFactor reads METHOD[+uv][+bound]=AGE.
func parseLastFactor(s string) (login.SimulatedFactor, error) {
	method, age, ok := strings.Cut(s, "=")
	if !ok {
		return login.SimulatedFactor{}, fmt.Errorf("--last-factor: %q is not METHOD=AGE, e.g. totp=2h", s)
	}
	parts := strings.Split(method, "+")
	sf := login.SimulatedFactor{Method: parts[0]}
	for _, p := range parts[1:] {
		switch p {
		case "uv":
			sf.UserVerified = true
		case "bound":
			sf.DeviceBound = true
		default:
			return login.SimulatedFactor{}, fmt.Errorf("--last-factor: %q: +%s is not +uv or +bound", s, p)
		}
	}
	d, err := config.ParseDuration(age)
	if err != nil {
		return login.SimulatedFactor{}, fmt.Errorf("--last-factor: %q: the age %w (use e.g. 90s, 12h, 30d)", s, err)
	}
	sf.Age = int64(time.Duration(d) / time.Second)
	return sf, nil
}

// explainFlag names the flag behind a simulation field.
func explainFlag(field string) string {
	for prefix, flag := range map[string]string{
		"user": "--user", "client_id": "--client", "acr_values": "--acr-values", "claims": "--claims", "max_age": "--max-age",
		"prompt": "--prompt", "remembered_device_age": "--remembered-device", "session": "--last-factor",
	} {
		if field == prefix || strings.HasPrefix(field, prefix+"[") || strings.HasPrefix(field, prefix+".") {
			return flag
		}
	}
	return field
}

func printSimulation(e env, r login.SimulationResult) {
	w := e.stdout
	groups := "no groups"
	if len(r.User.Groups) > 0 {
		groups = "groups " + strings.Join(r.User.Groups, ", ")
	}
	enrolled := "no second factor"
	if len(r.User.Enrolled) > 0 {
		enrolled = "second factors " + strings.Join(r.User.Enrolled, ", ")
	}
	client := r.Client.ID
	if r.Client.Name != "" {
		client += " (" + r.Client.Name + ")"
	}
	fmt.Fprintf(w, "Sign-in of %s (%s; %s) to %s\n\n", r.User.Username, groups, enrolled, client)
	fmt.Fprintln(w, "Effective policies:")
	if len(r.Policies) == 0 {
		fmt.Fprintln(w, "  none")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range r.Policies {
		fmt.Fprintf(tw, "  %s\tvia %s\trequire_mfa=%s min_level=%s methods=%s mfa_max_age=%s remember_device=%s enrollment=%s\n",
			p.Name, p.Via, p.RequireMFA, dash(p.MinLevel), strings.Join(p.Methods, ","),
			config.Duration(time.Duration(p.MFAMaxAge)*time.Second), config.Duration(time.Duration(p.RememberDevice)*time.Second), p.Enrollment)
	}
	tw.Flush()
	if r.SignIn {
		fmt.Fprintf(w, "\nFirst, sign in: %s\n", r.SignInReason)
		for _, rule := range r.SignInRules {
			fmt.Fprintf(w, "  %s\n", rule)
		}
		fmt.Fprint(w, "\nThen, after the password, the rules")
	} else {
		fmt.Fprint(w, "\nRules")
	}
	fmt.Fprintln(w, ":")
	for _, rule := range r.Rules {
		fmt.Fprintf(w, "  %s\n", rule)
	}
	fmt.Fprintf(w, "\nLevel reached:   %s\nLevel required:  %s\nMethods allowed: %s\n", r.LevelReached, r.LevelRequired, dash(strings.Join(r.MethodsAllowed, ", ")))
	outcome := string(r.Outcome)
	if len(r.Methods) > 0 {
		outcome += " (" + strings.Join(r.Methods, ", ") + ")"
	}
	fmt.Fprintf(w, "Outcome:         %s\n\n%s\n", outcome, r.Summary)
}
