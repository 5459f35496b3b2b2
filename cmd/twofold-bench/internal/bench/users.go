package bench

import (
	"context"
	"encoding/base32"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twofold-idp/twofold/mfa/totp"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// users hands seeded accounts to workers: any account for a password
// sign-in (round robin), and for a TOTP sign-in an account with a time step
// it has not used yet. The server accepts a code once per step, from the
// step before the current one to the step after (RFC 6238 §5.2, ±1), so an
// account signs in with TOTP at most about once per 30 s: the TOTP path's
// rate is bounded by the number of accounts.
type users struct {
	now  func() time.Time
	next atomic.Uint64

	mu   sync.Mutex
	list []User
	keys [][]byte
	// waited is the time workers spent waiting for a usable step.
	waited time.Duration
}

func newUsers(list []User, now func() time.Time) (*users, error) {
	u := &users{now: now, list: list, keys: make([][]byte, len(list))}
	for i, x := range list {
		k, err := b32.DecodeString(x.TOTPSecret)
		if err != nil {
			return nil, fmt.Errorf("user %s: TOTP secret: %w", x.Username, err)
		}
		u.keys[i] = k
	}
	return u, nil
}

// any returns the next account for a password sign-in.
func (u *users) any() User {
	i := u.next.Add(1) - 1
	return u.list[i%uint64(len(u.list))]
}

// withStep reserves a TOTP step of some account and returns the account
// and its code, waiting for the next step when every account has used the
// current and the next one. It uses only the current step and the next:
// the server's clock, read a moment later, may already be one step ahead,
// and the step before could then be out of its window.
func (u *users) withStep(ctx context.Context) (User, string, error) {
	for {
		now := u.now()
		cur := totp.Step(now)
		u.mu.Lock()
		best := -1
		for i, x := range u.list {
			if x.LastStep < cur+1 && (best < 0 || x.LastStep < u.list[best].LastStep) {
				best = i
			}
		}
		if best >= 0 {
			step := max(u.list[best].LastStep+1, cur)
			u.list[best].LastStep = step
			x, code := u.list[best], totp.Code(u.keys[best], step)
			u.mu.Unlock()
			return x, code, nil
		}
		u.mu.Unlock()
		wait := time.Unix((cur+1)*int64(totp.Period/time.Second), 0).Sub(now)
		start := time.Now()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return User{}, "", ctx.Err()
		case <-t.C:
		}
		u.mu.Lock()
		u.waited += time.Since(start)
		u.mu.Unlock()
	}
}

// snapshot returns the accounts with the steps they used.
func (u *users) snapshot() []User {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]User(nil), u.list...)
}

func (u *users) waitedFor() time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.waited
}
