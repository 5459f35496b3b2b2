// Package recovery owns the ways back into an account without an
// administrator, each built so that it never becomes a back door:
//
//   - a forgotten password: a single-use link, valid 30 minutes, mailed to
//     the account's verified address; asking for one answers the same,
//     equally fast, whether the account exists or not; using it ends every
//     session and revokes every token, and never lowers the level a sign-in
//     must reach — the second factor is still asked;
//   - a lost second factor: proof of the verified address (an emailed code)
//     after the password starts a recovery that waits (recovery_wait, 24
//     hours by default) while every channel of the user is told, with a
//     link that cancels it; after the wait, the password and another emailed
//     code complete it once: the old factors are removed and the sign-in
//     enrolls a new one (the administrator's forced re-enrollment).
//
// Codes and link tokens come from crypto/rand and are stored only as an
// HMAC-SHA256 under a key of their own (derived from the master key), and
// compared in constant time. The login flow (idp/login) drives the lost-
// factor steps of a sign-in; the hosted pages call the rest directly.
package recovery
