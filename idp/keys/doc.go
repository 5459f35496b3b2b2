// Package keys owns the provider's signing keys: sealed storage in the
// database, rotation on a schedule, and the JWKS bytes served at /keys.
package keys
