package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// dpopTests cover DPoP proof replay protection (RFC 9449 §11.1).
func dpopTests() []conformanceTest {
	return []conformanceTest{
		{"a DPoP proof's jti is used once per key while it lives, and again after", testDPoPProofOnce},
		{"of 20 concurrent uses of one DPoP proof exactly one wins", testConcurrentDPoPProof},
	}
}

func testDPoPProofOnce(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	exp := clock.Now().Add(time.Minute)
	mustNil(t, s.UseDPoPProof(ctx(t), "key-a", "jti-1", exp))
	mustIs(t, s.UseDPoPProof(ctx(t), "key-a", "jti-1", exp), storage.ErrConflict)
	mustNil(t, s.UseDPoPProof(ctx(t), "key-b", "jti-1", exp)) // another key's jti
	clock.Advance(2 * time.Minute)
	mustNil(t, s.UseDPoPProof(ctx(t), "key-a", "jti-1", clock.Now().Add(time.Minute)))
}

func testConcurrentDPoPProof(t *testing.T, newStore Factory) {
	s, clock := pvStore(t, newStore)
	const n = 20
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.UseDPoPProof(ctx(t), "key", "race", clock.Now().Add(time.Minute))
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d uses won, want exactly 1", wins, n)
	}
}
