// Package rules holds the validation rules of users, clients and groups:
// pure functions of what an admin, the config file or the setup page
// supplies, with errors that name the field. Package directory applies them
// (and re-exports them); the config, the CLI and the API get the same
// answers through it.
package rules
