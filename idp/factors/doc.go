// Package factors owns the second factors: one Factor per method (TOTP,
// WebAuthn, backup codes, email and SMS codes) in a Registry that the login flow, the account
// pages and the policy ask instead of switching on method names, and the
// failed-attempt throttle shared by the one-time-code factors. A new method
// is one file here plus its pure package under mfa/.
package factors
