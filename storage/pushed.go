package storage

import (
	"context"
	"time"
)

// PushedRequest is an authorization request pushed to /par (RFC 9126): its
// parameters, kept until its request_uri is used once or expires. ID is the
// hash of the request_uri's random part.
type PushedRequest struct {
	ID        string `gorm:"primaryKey"`
	ClientID  string
	Params    string // the pushed form, JSON
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// CreatePushedRequest stores a pushed request; CreatedAt defaults to now.
func (s *Store) CreatePushedRequest(ctx context.Context, r *PushedRequest) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.clock()
	}
	r.CreatedAt, r.ExpiresAt, r.UsedAt = stored(r.CreatedAt), stored(r.ExpiresAt), storedPtr(r.UsedAt)
	return translate("create pushed request", s.db.WithContext(ctx).Create(r).Error)
}

// ConsumePushedRequest uses the pushed request with id for clientID, once:
// one conditional UPDATE marks it used, so of parallel uses exactly one
// wins. Used, expired, unknown or pushed by another client → ErrNotFound,
// and nothing changes.
func (s *Store) ConsumePushedRequest(ctx context.Context, id, clientID string) (*PushedRequest, error) {
	now := s.clock()
	res := s.db.WithContext(ctx).Model(&PushedRequest{}).
		Where("id = ? AND client_id = ? AND used_at IS NULL AND expires_at > ?", id, clientID, now).
		Update("used_at", now)
	if err := affectedOne("consume pushed request", res); err != nil {
		return nil, err
	}
	var r PushedRequest
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, translate("consume pushed request", err)
	}
	return &r, nil
}

// DeleteExpiredPushedRequests removes the pushed requests that expired
// before now.
func (s *Store) DeleteExpiredPushedRequests(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Where("expires_at <= ?", s.clock()).Delete(&PushedRequest{})
	return res.RowsAffected, translate("delete expired pushed requests", res.Error)
}
