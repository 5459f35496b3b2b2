// Package account is self-service: the signed-in user's second factors,
// backup codes, password, sessions and remembered devices, with a fresh
// proof of the strongest factor before any sensitive change.
package account
