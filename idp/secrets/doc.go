// Package secrets owns Twofold's master keys and the symmetric cryptography
// derived from them: loading and creating key files, HKDF sub-keys per
// purpose, AES-256-GCM encryption at rest and keyed hashes of high-entropy
// secrets, all with key rotation.
package secrets
