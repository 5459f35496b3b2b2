// Package account is self-service: the signed-in user's second factors,
// backup codes, password, email address, sessions and remembered devices,
// with a fresh proof of the strongest factor before any sensitive change —
// each told to the user by mail (idp/notices) and refused while a "this
// wasn't me" report blocks changes.
package account
