// Package idp is the shared vocabulary of the authorization server: what
// the hosted pages and the services below them say to each other (Browser,
// Step, Actor, views) and the sentinel errors. The services live in its
// sub-packages: op, login, session, factors, account, directory, keys.
package idp
