package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

func runVersion(_ context.Context, e env, args []string) error {
	fs := newFlags(e, "version", "version", "Prints the version, the Go version and the source revision.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rev := "unknown"
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	fmt.Fprintf(e.stdout, "twofold %s (%s, revision %s)\n", version, goVersion, rev)
	return nil
}
