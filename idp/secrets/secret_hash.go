package secrets

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

const secretHashAlg = "hmac-sha256"

// secretHashMACLen is the length of the base64url form of an HMAC-SHA256.
var secretHashMACLen = base64.RawURLEncoding.EncodedLen(sha256.Size)

// HashSecret is for high-entropy secrets (client secrets, opaque tokens,
// session ids): HMAC-SHA256 under SubKey(purpose). Such secrets cannot be
// guessed, so a slow password hash would only cost CPU; the key means a
// stolen database alone does not let anyone test candidates (NIST SP 800-63B
// §5.1.1.2 recommends a keyed hash stored apart from the hashes).
// Encoded as "hmac-sha256$<keyid>$<base64url-nopad>".
func (k *Keyring) HashSecret(purpose string, secret []byte) string {
	mk := &k.keys[0]
	return secretHashAlg + "$" + hex.EncodeToString(mk.id[:]) + "$" +
		base64.RawURLEncoding.EncodeToString(secretMAC(mk.subKey(purpose), secret))
}

// VerifySecret checks in constant time against an encoded hash made by any
// keyring key; current=false when made under a previous key (caller may
// rehash). Malformed input → false, never panic.
func (k *Keyring) VerifySecret(purpose string, secret []byte, encoded string) (ok, current bool) {
	alg, rest, _ := strings.Cut(encoded, "$")
	idHex, macB64, _ := strings.Cut(rest, "$")
	if alg != secretHashAlg || len(idHex) != 2*keyIDSize || len(macB64) != secretHashMACLen {
		return false, false
	}
	id, err := hex.DecodeString(idHex)
	if err != nil {
		return false, false
	}
	// A CR or LF, which the decoder skips, leaves the decoded MAC too short.
	got, err := base64.RawURLEncoding.Strict().DecodeString(macB64)
	if err != nil || len(got) != sha256.Size {
		return false, false
	}
	mk := k.lookup(id)
	if mk == nil {
		return false, false
	}
	if !hmac.Equal(got, secretMAC(mk.subKey(purpose), secret)) {
		return false, false
	}
	return true, mk == &k.keys[0]
}

func secretMAC(key, secret []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(secret)
	return m.Sum(nil)
}
