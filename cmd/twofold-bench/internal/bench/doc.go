// Package bench drives a running Twofold over HTTP the way relying parties
// and scripted browsers do — discovery, keys, hosted sign-in with and
// without TOTP, silent SSO, the token endpoint's grants, introspection — and
// measures each path. It is an HTTP client only: it seeds its own users and
// clients through an Admin (the twofold CLI, see CLIAdmin) and the hosted
// enrollment pages, and never talks to anything but the issuer.
package bench
