// Package demo owns the demo relying party "Acme Notes": a small web application, mounted at /demo/ by
// `twofold serve --demo`, that signs in to Twofold through the real OpenID Connect redirect flow (zitadel/oidc's
// rp package), shows the ID token claims Twofold issued, asks for more (acr_values, an essential acr claim,
// max_age=0), signs out through RP-initiated logout, and carries a tiny RFC 9470 resource server that demands a
// second factor and answers insufficient_user_authentication when the access token lacks one.
//
// It talks to the provider only over HTTP, like any other relying party, so it imports no project package.
package demo
