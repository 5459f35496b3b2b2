// Package directory owns users, groups, clients and policies: their
// validation (every entry point — config file, CLI, setup page — goes
// through the validators here), first-run setup, the config apply, the
// audit trail, and EffectivePolicies, shared by the login flow and the
// policy simulator.
package directory
