// Package op is the OpenID Provider: zitadel/oidc wiring and our overrides
// of it — authorization requests, discovery, token minting, refresh
// families, introspection, revocation, end_session and client
// authentication. The login itself is package login's.
package op
