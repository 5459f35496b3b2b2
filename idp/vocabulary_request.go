package idp

import (
	"context"
	"errors"
)

// Refusals of a request a person's browser brought to /authorize or
// /end_session that cannot be answered at the relying party: the pages show
// them as an error page, never as a redirect (RFC 6749 §4.1.2.1) and never as
// raw JSON (ARCHITECTURE.md "Hosted pages").
var (
	// ErrUnknownClient: client_id is missing or names no registered client.
	ErrUnknownClient = errors.New("idp: unknown client")
	// ErrRedirectURIInvalid: redirect_uri is missing or not registered for
	// the client (RFC 9700 §2.1: exact match).
	ErrRedirectURIInvalid = errors.New("idp: redirect_uri missing or not registered")
	// ErrRequestInvalid: the request could not be read at all (too large,
	// malformed), so it has no client to answer.
	ErrRequestInvalid = errors.New("idp: request unreadable or too large")
)

type clientIPKey struct{}

// WithClientIP returns ctx carrying the address of the client behind any
// trusted proxies, as the hosted pages work it out, for the services below
// them (the per-address limit on pending sign-ins).
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP is the address WithClientIP put in ctx, or "".
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}
