package idp

import "errors"

// Verified email, security notifications and "this wasn't me" (issue 11):
// what the pages and the services below them say to each other about them.

// StepVerifyEmail: a policy of this sign-in requires a verified email
// address and the user's is not: show the verify-email page (a code sent
// to Step.Email on request), then continue.
const StepVerifyEmail StepKind = "verify_email"

// KnownDeviceCookieBase names the long-lived cookie that tells a browser
// apart from the others a user signs in from: a sign-in from a browser
// whose cookie the user has not signed in with before is from a new device
// (a security notification). It proves nothing and grants nothing.
const KnownDeviceCookieBase = "twofold_known"

var (
	// ErrCodeExpired: no live code to check a typed one against — it
	// expired, was used, was replaced by a newer one, or too many wrong
	// guesses retired it. Pages answer 401 and offer to send a new code.
	ErrCodeExpired = errors.New("idp: the code has expired or was already used; send a new one")
	// ErrLinkInvalid: a link from a message (verify an address, "this
	// wasn't me") that is unknown, tampered with, expired or already used.
	// Pages answer 401 and change nothing.
	ErrLinkInvalid = errors.New("idp: the link is not valid: it expired or was already used")
	// ErrChangesBlocked: "this wasn't me" was reported for the account, so
	// its sign-in methods, password and email cannot be changed until a
	// sign-in proves every kind of factor the user has. Pages answer 403.
	ErrChangesBlocked = errors.New("idp: changes are blocked until you sign in again with every factor")
	// ErrNoEmail: the account has no email address to send to.
	ErrNoEmail = errors.New("idp: the account has no email address")
)
