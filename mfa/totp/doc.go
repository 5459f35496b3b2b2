// Package totp owns time-based one-time passwords (RFC 6238): secrets,
// otpauth URIs and mapping a code to its time step. It has no storage.
package totp
