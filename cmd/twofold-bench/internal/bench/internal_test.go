package bench

import (
	"context"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/mfa/totp"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	for _, c := range []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"no requests give zero", nil, 50, 0},
		{"one request is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"p50 of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p95 of ten is the tenth", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := percentile(c.sorted, c.p); got != c.want {
				t.Fatalf("percentile(%v, %d) = %v, want %v", c.sorted, c.p, got, c.want)
			}
		})
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	if got := percentile(hundred, 99); got != 99*time.Millisecond {
		t.Fatalf("p99 of 1..100 ms = %v, want the 99th", got)
	}
}

// An account gives the current step and the next, each once; then the
// pool waits for the clock (here: until the context ends).
func TestTOTPStepsAreReservedOnceEach(t *testing.T) {
	now := time.Unix(1_800_000_015, 0)
	cur := totp.Step(now)
	secret := make([]byte, totp.SecretBytes)
	u, err := newUsers([]User{{Username: "a", TOTPSecret: b32.EncodeToString(secret), LastStep: cur - 5}}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int64{cur, cur + 1} {
		_, code, err := u.withStep(context.Background())
		if err != nil || code != totp.Code(secret, want) {
			t.Fatalf("code %q, %v; want the code of step %d", code, err, want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := u.withStep(ctx); err == nil {
		t.Fatal("a third code in the same step")
	}
	if got := u.snapshot()[0].LastStep; got != cur+1 {
		t.Fatalf("last step %d, want %d", got, cur+1)
	}
}
