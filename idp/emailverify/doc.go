// Package emailverify proves that a user reads mail at their address: it
// sends a code and a link (idp/channels, notify.EmailVerification) and
// checks either. A code is 8 digits from crypto/rand, lives 10 minutes, is
// used once and retired after 5 wrong guesses; the link carries 256 random
// bits. Only keyed hashes of both are stored (HMAC-SHA256 under a sub-key
// of the master key), compared in constant time. Verifying marks the
// address the code was sent to, and only while it is still the user's.
//
// The account page and the login flow (a policy's require_verified_email)
// send and check codes here; the link's pages check links here.
package emailverify
