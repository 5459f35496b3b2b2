package keys

import (
	"context"
	"slices"
	"time"
)

// KeyStatus is one published signing key as an administrator sees it
// (never its private part).
type KeyStatus struct {
	ID        string
	Alg       string
	State     string // next (published, signs from ActiveAt), current (signs now), retired (still published), inactive
	CreatedAt time.Time
	ActiveAt  time.Time
	RetireAt  *time.Time
	ExpiresAt *time.Time // leaves JWKS then
}

// AlgorithmStatus is when an algorithm's current key gets its successor.
type AlgorithmStatus struct {
	Alg          string
	NextRotation time.Time
}

// Status lists the keys in the database, newest first, and the next
// scheduled rotation of each algorithm (RotateEvery after its newest key
// was made; the maintenance loop performs it).
func (m *Manager) Status(ctx context.Context) ([]KeyStatus, []AlgorithmStatus, error) {
	rows, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := m.clock()
	// The key that signs now, per algorithm: as keySet.signing chooses.
	current, since := map[string]string{}, map[string]time.Time{}
	for _, r := range rows {
		if r.ActiveAt.After(now) || (r.RetireAt != nil && !r.RetireAt.After(now)) {
			continue
		}
		if t, ok := since[r.Alg]; !ok || !r.ActiveAt.Before(t) {
			current[r.Alg], since[r.Alg] = r.ID, r.ActiveAt
		}
	}
	keys := make([]KeyStatus, 0, len(rows))
	newest := map[string]time.Time{}
	for _, r := range rows {
		k := KeyStatus{ID: r.ID, Alg: r.Alg, CreatedAt: r.CreatedAt, ActiveAt: r.ActiveAt, RetireAt: r.RetireAt, ExpiresAt: r.ExpiresAt}
		switch {
		case r.RetireAt != nil && !r.RetireAt.After(now):
			k.State = "retired"
		case current[r.Alg] == r.ID:
			k.State = "current"
		case r.ActiveAt.After(now):
			k.State = "next"
		default:
			k.State = "inactive"
		}
		keys = append(keys, k)
		if r.RetireAt == nil && r.CreatedAt.After(newest[r.Alg]) {
			newest[r.Alg] = r.CreatedAt
		}
	}
	slices.SortFunc(keys, func(a, b KeyStatus) int { return b.CreatedAt.Compare(a.CreatedAt) })
	var algs []AlgorithmStatus
	for _, alg := range m.algs {
		if t, ok := newest[alg]; ok {
			algs = append(algs, AlgorithmStatus{Alg: alg, NextRotation: t.Add(m.opts.RotateEvery)})
		}
	}
	return keys, algs, nil
}
