package op

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// verifiedTokens remembers JWT access tokens whose signature this replica
// has already checked: a resource server introspects the same token many
// times, and an ECDSA verification costs more than the rest of the
// request. Only what the signed token itself says is kept — the verdict,
// and for a client_credentials JWT its claims (a signed token never
// changes, and its key stays published until the token expires);
// revocation is still read from the database on every request.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[[32]byte]verifiedToken
}

type verifiedToken struct {
	id, subject string
	expires     time.Time
	// stateless is set for a client_credentials JWT (a subject that is its
	// client, no auth_time), which is not stored: claims stands in for its
	// row.
	stateless *storage.AccessToken
}

// maxVerifiedTokens bounds the memory: about 200 bytes an entry.
const maxVerifiedTokens = 50000

func (v *verifiedTokens) get(token string, now time.Time) (verifiedToken, bool) {
	k := sha256.Sum256([]byte(token))
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[k]
	if !ok || !now.Before(e.expires) {
		return verifiedToken{}, false
	}
	return e, true
}

func (v *verifiedTokens) put(token string, e verifiedToken) {
	k := sha256.Sum256([]byte(token))
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerifiedTokens {
		v.m = make(map[[32]byte]verifiedToken)
	}
	v.m[k] = e
}
