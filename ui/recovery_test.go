package ui

import "github.com/twofold-idp/twofold/idp/login"

// The lost-factor pages and the enrollment grace's "Not now" are found on the MFA flow by type: a change of
// login.MFA's methods must not turn them off silently.
var (
	_ LostFactorFlow = (*login.MFA)(nil)
	_ GraceFlow      = (*login.MFA)(nil)
)
