// Package bench drives a running Twofold over HTTP the way relying parties
// and scripted browsers do — discovery, keys, hosted sign-in with and
// without TOTP, silent SSO, the token endpoint's grants, introspection — and
// measures each path. Its measurements are an HTTP client's only: it seeds
// its own users and clients through an Admin (the twofold CLI, see
// CLIAdmin) and the hosted enrollment pages, and talks to nothing but the
// issuer — except Fill, which writes inert filler rows (a million accounts
// and refresh tokens) straight into the server's database, where no API
// could make them in reasonable time.
package bench
