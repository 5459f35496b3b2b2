// Package session owns SSO sessions: start one after a first factor, load
// it by cookie, add a proven factor (rotating the cookie), compute its amr,
// and end it with the tokens issued from it.
package session
