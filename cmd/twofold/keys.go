package main

import (
	"context"
	"fmt"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/keys"
)

func runKeys(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "keys", args, map[string]command{
		"rotate": {"start using new signing keys (published first, old ones kept until their tokens expire)", runKeysRotate},
	})
}

func runKeysRotate(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "keys rotate", "keys rotate [--config FILE] [--alg RS256|ES256|EdDSA]",
		"Creates a successor for the signing key of every algorithm (or only --alg). The new key is published\n"+
			"in /keys at once and signs after a short lead time, so every replica and relying party has it first;\n"+
			"the old key stays published until the last token it signed has expired.")
	configPath := configFlag(fs)
	alg := fs.String("alg", "", "rotate only this algorithm")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, *configPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	km := keys.New(a.store, a.keys, a.log, nil, keys.Options{})
	if err := km.Ensure(ctx); err != nil {
		return err
	}
	algs := km.Algorithms()
	if *alg != "" {
		algs = []string{*alg}
	}
	for _, al := range algs {
		if err := km.Rotate(ctx, idp.ActorCLI, al); err != nil {
			return fmt.Errorf("%s: %w", al, err)
		}
		fmt.Fprintf(e.stdout, "rotated %s signing key\n", al)
	}
	return nil
}
