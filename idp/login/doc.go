// Package login is the login state machine: an authorization request
// starts it, the hosted pages move it on (password, passkey, second
// factors, enrollment, consent), and policy.Decide says at every step what
// must still happen. It is the only place a login advances.
package login
