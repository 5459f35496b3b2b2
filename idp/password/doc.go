// Package password owns how Twofold stores and checks user passwords:
// argon2id hashes in PHC string format, bounded concurrency, and the dummy
// verification that keeps unknown accounts indistinguishable by timing.
package password
