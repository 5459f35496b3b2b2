// Package browsertest owns the browser end-to-end suite: Debian's Chromium, driven headless through the DevTools
// protocol with virtual WebAuthn authenticators, signs in to a relying party through the hosted pages of a real
// Twofold server.
package browsertest
