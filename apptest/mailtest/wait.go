package mailtest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultWait bounds how long Next waits for a message (less when the test's
// own deadline is nearer).
const DefaultWait = 10 * time.Second

// queues holds delivered messages per recipient, for waiters to take in
// order. arrived is closed (and replaced) at each delivery: waiters block on
// it, never on a timer.
type queues[M any] struct {
	mu      sync.Mutex
	pending map[string][]M
	all     map[string][]M
	arrived chan struct{}
}

func newQueues[M any]() *queues[M] {
	return &queues[M]{pending: map[string][]M{}, all: map[string][]M{}, arrived: make(chan struct{})}
}

func (q *queues[M]) deliver(to string, m M) {
	key := strings.ToLower(to)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending[key] = append(q.pending[key], m)
	q.all[key] = append(q.all[key], m)
	close(q.arrived)
	q.arrived = make(chan struct{})
}

// wait takes the oldest message to to not taken yet, waiting for one.
func (q *queues[M]) wait(ctx context.Context, to string) (M, error) {
	key := strings.ToLower(to)
	for {
		q.mu.Lock()
		if p := q.pending[key]; len(p) > 0 {
			q.pending[key] = p[1:]
			q.mu.Unlock()
			return p[0], nil
		}
		arrived := q.arrived
		q.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			var zero M
			return zero, ctx.Err()
		}
	}
}

// received is every message delivered to to, taken or not.
func (q *queues[M]) received(to string) []M {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]M(nil), q.all[strings.ToLower(to)]...)
}

// testContext ends at DefaultWait or a second before the test's deadline.
func testContext(t testing.TB) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(DefaultWait)
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if td, ok := d.Deadline(); ok && td.Add(-time.Second).Before(deadline) {
			deadline = td.Add(-time.Second)
		}
	}
	return context.WithDeadline(context.Background(), deadline)
}
