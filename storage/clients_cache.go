package storage

import (
	"slices"
	"sync"
	"time"
)

// clientTTL is how long GetClient may answer from memory. Every token
// request and sign-in looks its client up two or three times; clients change
// rarely, and ARCHITECTURE.md allows client configuration to be briefly
// stale. A change made through this Store is seen at once (the cache is
// dropped); one made by another replica within clientTTL.
const clientTTL = 3 * time.Second

// clientCache holds recently read enabled clients. It is shared by a Store
// and the copies InTx makes of it.
type clientCache struct {
	mu  sync.Mutex
	gen uint64 // bumped by every invalidation
	m   map[string]cachedClient
}

type cachedClient struct {
	c       Client
	expires time.Time
}

func newClientCache() *clientCache { return &clientCache{m: map[string]cachedClient{}} }

// get returns a copy of the cached client, and the generation to pass to
// put after a miss.
func (cc *clientCache) get(id string, now time.Time) (*Client, uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.m[id]
	if !ok || !now.Before(e.expires) {
		return nil, cc.gen
	}
	return cloneClient(&e.c), cc.gen
}

// put caches c unless the cache was invalidated since gen was read: a row
// read before a concurrent change must not outlive it.
func (cc *clientCache) put(c *Client, gen uint64, now time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if gen != cc.gen {
		return
	}
	if len(cc.m) >= 10000 { // bounded: ids come from requests
		clear(cc.m)
	}
	cc.m[c.ID] = cachedClient{c: *cloneClient(c), expires: now.Add(clientTTL)}
}

// invalidate forgets every client: called on every write to clients (and to
// policies, which a client names).
func (cc *clientCache) invalidate() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen++
	clear(cc.m)
}

func cloneClient(c *Client) *Client {
	d := *c
	d.RedirectURIs = slices.Clone(c.RedirectURIs)
	d.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	d.GrantTypes = slices.Clone(c.GrantTypes)
	d.AllowedScopes = slices.Clone(c.AllowedScopes)
	if c.Policy != nil {
		p := *c.Policy
		d.Policy = &p
	}
	return &d
}
