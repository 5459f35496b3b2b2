// Package config owns Twofold's configuration: it loads the YAML file, applies TWOFOLD_* environment overrides,
// fills defaults and validates the result, reporting every problem by its key path without echoing secrets. The
// rules for policies, groups, clients and users are the domain's (idp/directory, idp/policy); this package adds
// the key path and what only the file has (duplicates, references between its objects, the server's settings).
package config
