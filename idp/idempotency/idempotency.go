package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/storage"
)

// Store keeps one record per (scope, key).
type Store interface {
	ReserveIdempotencyKey(ctx context.Context, scope, key, requestHash string) (*storage.IdempotencyRecord, error)
	CompleteIdempotencyKey(ctx context.Context, scope, key string, status int, response string) error
	ReleaseIdempotencyKey(ctx context.Context, scope, key string) error
	DeleteIdempotencyKeysBefore(ctx context.Context, before time.Time) (int64, error)
}

var _ Store = (*storage.Store)(nil)

var (
	// ErrKeyReused: the key was used before for a different request.
	ErrKeyReused = errors.New("idempotency: the key was used for a different request")
	// ErrInProgress: the first request with this key has not finished yet.
	ErrInProgress = errors.New("idempotency: a request with this key is still being processed")
)

// TTL is how long a key is remembered.
const TTL = 24 * time.Hour

// sealPurpose seals stored responses: a create's response may hold a
// secret shown once (a new client's secret), which must not sit in the
// database in the clear.
const sealPurpose = "idempotency-response"

// Service reserves keys and replays responses.
type Service struct {
	store Store
	ring  *secrets.Keyring
	now   func() time.Time
}

// New wires a Service. now may be nil (time.Now).
func New(store Store, ring *secrets.Keyring, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, ring: ring, now: now}
}

// Replay is the stored response of an earlier request with the same key.
type Replay struct {
	Status   int
	Response []byte
}

// Begin claims key for request under scope (who is asking, and where). It
// returns (nil, nil) when this request is the first and must run, then
// Finish or Abandon it; a Replay when an identical request already
// finished; ErrKeyReused or ErrInProgress otherwise. Records older than
// TTL are forgotten first.
func (s *Service) Begin(ctx context.Context, scope, key string, request []byte) (*Replay, error) {
	if _, err := s.store.DeleteIdempotencyKeysBefore(ctx, s.now().Add(-TTL)); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(request)
	hash := hex.EncodeToString(sum[:])
	rec, err := s.store.ReserveIdempotencyKey(ctx, scope, key, hash)
	switch {
	case errors.Is(err, storage.ErrConflict):
		return nil, ErrInProgress
	case err != nil:
		return nil, err
	case rec == nil:
		return nil, nil
	case rec.RequestHash != hash:
		return nil, ErrKeyReused
	case rec.Status == 0:
		return nil, ErrInProgress
	}
	sealed, err := base64.StdEncoding.DecodeString(rec.Response)
	if err != nil {
		return nil, fmt.Errorf("idempotency: stored response: %w", err)
	}
	plain, err := s.ring.Open(sealPurpose, sealed, []byte(scope+"\x00"+key))
	if err != nil {
		return nil, fmt.Errorf("idempotency: stored response: %w", err)
	}
	return &Replay{Status: rec.Status, Response: plain}, nil
}

// Finish stores the response of the request that Begin let run.
func (s *Service) Finish(ctx context.Context, scope, key string, status int, response []byte) error {
	sealed, err := s.ring.Seal(sealPurpose, response, []byte(scope+"\x00"+key))
	if err != nil {
		return err
	}
	return s.store.CompleteIdempotencyKey(ctx, scope, key, status, base64.StdEncoding.EncodeToString(sealed))
}

// Abandon forgets the reservation of a request that failed with nothing
// worth replaying (a server error), so that a retry runs again.
func (s *Service) Abandon(ctx context.Context, scope, key string) error {
	return s.store.ReleaseIdempotencyKey(ctx, scope, key)
}
