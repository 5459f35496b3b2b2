package op

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedTokens remembers JWT access tokens whose signature this replica
// has already checked: a resource server introspects the same token many
// times, and an ECDSA verification costs more than the rest of the
// request. Only the signature's verdict is kept (a signed token never
// changes, and its key stays published until the token expires);
// revocation is still read from the database on every request.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[[32]byte]verifiedToken
}

type verifiedToken struct {
	id, subject string
	expires     time.Time
}

// maxVerifiedTokens bounds the memory: about 200 bytes an entry.
const maxVerifiedTokens = 50000

func (v *verifiedTokens) get(token string, now time.Time) (id, subject string, ok bool) {
	k := sha256.Sum256([]byte(token))
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[k]
	if !ok || !now.Before(e.expires) {
		return "", "", false
	}
	return e.id, e.subject, true
}

func (v *verifiedTokens) put(token, id, subject string, expires time.Time) {
	k := sha256.Sum256([]byte(token))
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerifiedTokens {
		v.m = make(map[[32]byte]verifiedToken)
	}
	v.m[k] = verifiedToken{id: id, subject: subject, expires: expires}
}
