package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// Sealed format: version | key id | nonce | AES-256-GCM ciphertext and tag.
const (
	sealVersion  = 0x01
	headerSize   = 1 + keyIDSize
	nonceSize    = 12 // the 96-bit IV NIST SP 800-38D §5.2.1.1 recommends
	tagSize      = 16
	sealOverhead = headerSize + nonceSize + tagSize
)

// Seal encrypts with AES-256-GCM under SubKey(purpose). Format: version byte
// 0x01 | 4-byte key id of the master key | 12-byte random nonce |
// ciphertext+tag. aad is authenticated (callers bind e.g. the row id so a
// sealed value cannot be moved to another row); so is the header.
//
// Nonces are random, which NIST SP 800-38D §8.3 allows for up to 2^32
// messages per key; per-purpose sub-keys and rotation keep each key far
// below that.
func (k *Keyring) Seal(purpose string, plaintext, aad []byte) ([]byte, error) {
	mk := &k.keys[0]
	aead, err := newGCM(mk.subKey(purpose))
	if err != nil {
		return nil, err
	}
	header := make([]byte, headerSize, sealOverhead+len(plaintext))
	header[0] = sealVersion
	copy(header[1:], mk.id[:])
	// The AEAD draws the nonce from crypto/rand and writes it after header.
	return aead.Seal(header, nil, plaintext, sealAAD(header, aad)), nil
}

// Open reverses Seal with whichever keyring key matches the embedded key id;
// ErrUnknownKey / ErrDecrypt otherwise. A wrong purpose or aad, or any
// modified byte, is ErrDecrypt.
func (k *Keyring) Open(purpose string, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < sealOverhead {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrDecrypt, len(sealed))
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrDecrypt, sealed[0])
	}
	mk := k.lookup(sealed[1:headerSize])
	if mk == nil {
		return nil, ErrUnknownKey
	}
	aead, err := newGCM(mk.subKey(purpose))
	if err != nil {
		return nil, err
	}
	// The AEAD reads the nonce from the front of what follows the header.
	plaintext, err := aead.Open(nil, nil, sealed[headerSize:], sealAAD(sealed[:headerSize], aad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return plaintext, nil
}

// NeedsReseal reports whether sealed was made under a non-current key (so
// callers can re-encrypt lazily). Values too short or of an unknown version
// report false: no reseal can fix them, and Open reports why.
func (k *Keyring) NeedsReseal(sealed []byte) bool {
	if len(sealed) < sealOverhead || sealed[0] != sealVersion {
		return false
	}
	return !bytes.Equal(sealed[1:headerSize], k.keys[0].id[:])
}

// newGCM returns AES-256-GCM with 96-bit random nonces generated inside the
// AEAD, which is also the only GCM mode allowed under GODEBUG=fips140=only.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets: aes: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("secrets: gcm: %w", err)
	}
	return aead, nil
}

// sealAAD authenticates the header along with the caller's aad, so the
// version and key id cannot be altered either. The header has a fixed
// length, so the concatenation is unambiguous.
func sealAAD(header, aad []byte) []byte {
	return append(bytes.Clone(header), aad...)
}
