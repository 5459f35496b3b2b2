package secrets

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

const keyIDSize = 4

// keyIDSalt is the HKDF salt for key ids. SubKey uses the RFC 5869 default
// salt, so no purpose string can make SubKey reproduce a key id (which is
// public) or the reverse: the two derivations start from different PRKs.
var keyIDSalt = []byte("twofold/key-id")

// Keyring holds the current master key, which seals and hashes, and previous
// ones, which only open and verify so that keys can be rotated without
// re-encrypting everything at once. It is immutable and safe for concurrent
// use. Build it with NewKeyring.
type Keyring struct {
	keys []masterKey // keys[0] is the current key
}

type masterKey struct {
	id  [keyIDSize]byte
	key []byte
}

// NewKeyring: current seals/MACs; current and previous all open/verify
// (rotation). Keys must be KeySize bytes; the same key twice is refused
// because it would make rotation state ambiguous.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	all := append([][]byte{current}, previous...)
	k := &Keyring{keys: make([]masterKey, 0, len(all))}
	for i, raw := range all {
		if len(raw) != KeySize {
			return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrInvalidKey, keyName(i), len(raw), KeySize)
		}
		mk := masterKey{id: deriveKeyID(raw), key: bytes.Clone(raw)}
		for j, other := range k.keys {
			// Equal keys give equal ids; distinct keys colliding in 32 bits
			// is improbable but would make Open pick the wrong key.
			if other.id == mk.id {
				return nil, fmt.Errorf("%w: %s has the same key id as %s", ErrInvalidKey, keyName(i), keyName(j))
			}
		}
		k.keys = append(k.keys, mk)
	}
	return k, nil
}

func keyName(i int) string {
	if i == 0 {
		return "current key"
	}
	return fmt.Sprintf("previous key %d", i-1)
}

// KeyID is a short stable identifier of the current master key: 8 hex
// characters of an HKDF-SHA256 output (RFC 5869) under its own salt and info.
// Unlike a plain hash of the key, it is domain-separated: it equals no other
// value derived from the key and cannot be matched against a SHA-256
// fingerprint of the same key published elsewhere.
func (k *Keyring) KeyID() string {
	return hex.EncodeToString(k.keys[0].id[:])
}

// SubKey derives a 32-byte purpose-specific key from the current master key
// with HKDF-SHA256 (RFC 5869), info = "twofold/" + purpose. Different
// purposes give independent keys (RFC 5869 §3.2), so a ciphertext or MAC made
// for one purpose is useless for another.
func (k *Keyring) SubKey(purpose string) []byte {
	return k.keys[0].subKey(purpose)
}

// lookup returns the keyring key with the given id, or nil.
func (k *Keyring) lookup(id []byte) *masterKey {
	for i := range k.keys {
		if bytes.Equal(k.keys[i].id[:], id) {
			return &k.keys[i]
		}
	}
	return nil
}

func (mk *masterKey) subKey(purpose string) []byte {
	// A nil salt is the RFC 5869 §2.2 default (HashLen zero bytes); the
	// master key is already uniformly random, so no salt is needed for
	// extraction (RFC 5869 §3.1).
	return hkdfSHA256(mk.key, nil, "twofold/"+purpose, KeySize)
}

func deriveKeyID(master []byte) [keyIDSize]byte {
	var id [keyIDSize]byte
	copy(id[:], hkdfSHA256(master, keyIDSalt, "twofold/key-id", keyIDSize))
	return id
}

func hkdfSHA256(secret, salt []byte, info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, secret, salt, info, n)
	if err != nil {
		// Only possible for n > 255*32 or in FIPS-only mode with a
		// non-approved configuration; neither can happen with our constants.
		panic("secrets: hkdf: " + err.Error())
	}
	return out
}
