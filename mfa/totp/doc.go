// Package totp owns time-based one-time passwords (RFC 6238): secrets,
// otpauth URIs and their QR codes, and checking a code against a secret, the
// clock and the last accepted time step. It has no storage: the caller keeps
// the secret sealed and advances the last step atomically. Codes come from
// github.com/pquerna/otp; the drift window, the replay rule and the URI
// checks are this package's.
package totp
