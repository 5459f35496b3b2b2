// Package config owns Twofold's configuration: it loads the YAML file, applies TWOFOLD_* environment overrides,
// fills defaults and validates the result, reporting every problem by its key path without echoing secrets.
package config
