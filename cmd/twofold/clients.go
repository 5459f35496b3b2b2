package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
)

func runClient(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "client", args, map[string]command{
		"add":  {"register a relying party", runClientAdd},
		"list": {"list relying parties", runClientList},
	})
}

func runClientAdd(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "client add", "client add --id ID --redirect-uri URI... [--public] [flags]",
		"Registers a relying party. A confidential client (the default) gets a 256-bit secret that is\n"+
			"printed once; Twofold keeps only a keyed hash of it. --public registers a client without a\n"+
			"secret (browser or native app), which must use PKCE. --jwks-file registers a client that signs\n"+
			"its assertions with its own keys (private_key_jwt, RFC 7523) instead of holding a secret.")
	configPath := configFlag(fs)
	id := fs.String("id", "", "client id (required)")
	name := fs.String("name", "", "display name shown to users (default: the id)")
	var redirects, logoutRedirects, grants, scopes stringList
	fs.Var(&redirects, "redirect-uri", "an allowed redirect URI, matched exactly (repeatable)")
	fs.Var(&logoutRedirects, "post-logout-redirect-uri", "an allowed post-logout redirect URI (repeatable)")
	fs.Var(&grants, "grant-type", "authorization_code, refresh_token, client_credentials (default: the first two)")
	fs.Var(&scopes, "allowed-scope", "a privileged scope the client may be granted: twofold:admin (the admin API) (repeatable)")
	public := fs.Bool("public", false, "no client secret (PKCE S256 required)")
	skipConsent := fs.Bool("skip-consent", false, "first-party client: do not ask users for consent")
	policyName := fs.String("policy", "", "the step-up policy for this client (default: the server default)")
	jwksFile := fs.String("jwks-file", "", "the client's public JWK set (JSON): it authenticates with private_key_jwt, not a secret")
	idTokenAlg := fs.String("id-token-alg", "", "id_token_signed_response_alg: RS256 (default), ES256 or EdDSA")
	accessTokenType := fs.String("access-token-type", "", "jwt (RFC 9068, default) or opaque")
	backchannelURI := fs.String("backchannel-logout-uri", "", "where Twofold POSTs a logout token when a session the client got tokens in ends")
	backchannelSID := fs.Bool("backchannel-logout-session-required", false, "the client needs the sid in logout tokens")
	requirePAR := fs.Bool("require-pushed-authorization-requests", false, "accept authorization requests only through /par (RFC 9126)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var jwks string
	if *jwksFile != "" {
		if *public {
			return errors.New("--jwks-file makes a confidential client (private_key_jwt); drop --public")
		}
		b, err := os.ReadFile(*jwksFile)
		if err != nil {
			return fmt.Errorf("--jwks-file: %w", err)
		}
		jwks = string(b)
	}
	a, err := openApp(ctx, e, *configPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	c, secret, err := a.dir.AddClient(ctx, idp.ActorCLI, directory.ClientSpec{
		ID: *id, Name: *name, GenerateSecret: !*public && jwks == "", JWKS: jwks, RedirectURIs: redirects,
		PostLogoutRedirectURIs: logoutRedirects, GrantTypes: grants, SkipConsent: *skipConsent, Policy: *policyName,
		IDTokenAlg: *idTokenAlg, AccessTokenType: *accessTokenType, AllowedScopes: scopes,
		BackchannelLogoutURI: *backchannelURI, BackchannelLogoutSessionRequired: *backchannelSID,
		RequirePushedAuthorizationRequests: *requirePAR,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created client %s\n", c.ID)
	if secret != "" {
		fmt.Fprintf(e.stdout, "client secret (shown once, store it now): %s\n", secret)
	}
	return nil
}

func runClientList(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "client list", "client list [--config FILE]", "Lists every relying party.")
	configPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, *configPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	cs, err := a.dir.ListClients(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTYPE\tGRANTS\tPOLICY\tSTATUS\tMANAGED BY\tREDIRECT URIS")
	for _, c := range cs {
		kind := "confidential"
		if c.Public {
			kind = "public"
		}
		status := "active"
		if c.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, strings.Join(c.GrantTypes, ","), dash(c.Policy),
			status, sourceColumn(c.ManagedBy), strings.Join(c.RedirectURIs, " "))
	}
	return tw.Flush()
}
