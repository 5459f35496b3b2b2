package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Device grant states (RFC 8628): pending until the person decides; approved
// or denied by the person; issued once a token request redeemed it.
const (
	DeviceGrantPending  = "pending"
	DeviceGrantApproved = "approved"
	DeviceGrantDenied   = "denied"
	DeviceGrantIssued   = "issued"
)

// DeviceGrant is one device authorization request (RFC 8628 §3.1). Only
// keyed hashes of its device code and user code are stored.
type DeviceGrant struct {
	ID             string `gorm:"primaryKey"`
	DeviceCodeHash string
	UserCodeHash   string
	ClientID       string
	Scopes         Strings
	Status         string
	// AuthRequestID is the sign-in started for the grant from /device.
	AuthRequestID *string
	// The sign-in that approved the grant.
	UserID    *string
	SessionID *string
	AuthTime  *time.Time
	AMR       Strings `gorm:"column:amr"`
	ACR       string  `gorm:"column:acr"`
	// IntervalSeconds is the polling interval; slow_down adds 5 seconds.
	IntervalSeconds int
	// NextPollAt is the earliest time the client may poll again.
	NextPollAt time.Time
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// CreateDeviceGrant stores a new grant.
func (s *Store) CreateDeviceGrant(ctx context.Context, g *DeviceGrant) error {
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.clock()
	}
	if g.Status == "" {
		g.Status = DeviceGrantPending
	}
	g.CreatedAt, g.ExpiresAt, g.NextPollAt = stored(g.CreatedAt), stored(g.ExpiresAt), stored(g.NextPollAt)
	g.AuthTime = storedPtr(g.AuthTime)
	return translate("create device grant", s.db.WithContext(ctx).Create(g).Error)
}

// GetDeviceGrantByDeviceCode finds a grant, expired or not, by the hash of
// its device code (the token endpoint tells expired_token apart).
func (s *Store) GetDeviceGrantByDeviceCode(ctx context.Context, hash string) (*DeviceGrant, error) {
	return s.takeDeviceGrant(ctx, "device_code_hash = ?", hash)
}

// GetDeviceGrantByUserCode finds a grant, expired or not, by the hash of its
// normalised user code.
func (s *Store) GetDeviceGrantByUserCode(ctx context.Context, hash string) (*DeviceGrant, error) {
	return s.takeDeviceGrant(ctx, "user_code_hash = ?", hash)
}

// GetDeviceGrantByAuthRequest finds the grant a sign-in was started for.
func (s *Store) GetDeviceGrantByAuthRequest(ctx context.Context, authRequestID string) (*DeviceGrant, error) {
	return s.takeDeviceGrant(ctx, "auth_request_id = ?", authRequestID)
}

func (s *Store) takeDeviceGrant(ctx context.Context, where string, arg any) (*DeviceGrant, error) {
	var g DeviceGrant
	if err := s.db.WithContext(ctx).Where(where, arg).Take(&g).Error; err != nil {
		return nil, translate("get device grant", err)
	}
	return &g, nil
}

// AttachDeviceGrantSignIn records the sign-in started for a live, pending
// grant. A grant already attached to another sign-in is attached again (the
// person may start over, e.g. in another browser: only the latest sign-in
// can approve); an expired or decided one → ErrNotFound.
func (s *Store) AttachDeviceGrantSignIn(ctx context.Context, id, authRequestID string) error {
	res := s.db.WithContext(ctx).Model(&DeviceGrant{}).
		Where("id = ? AND status = ? AND expires_at > ?", id, DeviceGrantPending, s.clock()).
		Update("auth_request_id", authRequestID)
	return affectedOne("attach device grant sign-in", res)
}

// DecideDeviceGrant approves (with the sign-in's user, session, auth_time,
// amr and acr) or denies the live, pending grant attached to authRequestID,
// in one conditional statement: of parallel decisions exactly one wins; the
// others, like a decision on an expired or decided grant, → ErrNotFound.
func (s *Store) DecideDeviceGrant(ctx context.Context, authRequestID string, approve bool, userID, sessionID string, authTime time.Time, amr []string, acr string) error {
	q := s.db.WithContext(ctx).Model(&DeviceGrant{}).
		Where("auth_request_id = ? AND status = ? AND expires_at > ?", authRequestID, DeviceGrantPending, s.clock())
	var res *gorm.DB
	if approve {
		res = q.Updates(map[string]any{
			"status": DeviceGrantApproved, "user_id": userID, "session_id": sessionID,
			"auth_time": stored(authTime), "amr": Strings(amr), "acr": acr,
		})
	} else {
		res = q.Update("status", DeviceGrantDenied)
	}
	return affectedOne("decide device grant", res)
}

// PollDeviceGrant takes the client's polling turn: when the grant may be
// polled (next_poll_at has passed) it moves next_poll_at one interval on and
// reports true; polled too early, it adds 5 seconds to the interval (RFC 8628
// §3.5 slow_down) and reports false. One conditional statement each: of
// parallel polls at most one gets the turn.
func (s *Store) PollDeviceGrant(ctx context.Context, id string, interval time.Duration) (bool, error) {
	now := s.clock()
	res := s.db.WithContext(ctx).Model(&DeviceGrant{}).
		Where("id = ? AND next_poll_at <= ?", id, now).
		Update("next_poll_at", stored(now.Add(interval)))
	if res.Error != nil {
		return false, translate("poll device grant", res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	res = s.db.WithContext(ctx).Model(&DeviceGrant{}).Where("id = ?", id).
		Updates(map[string]any{
			"interval_seconds": gorm.Expr("interval_seconds + 5"),
			"next_poll_at":     stored(now.Add(interval + 5*time.Second)),
		})
	return false, translate("slow down device grant", res.Error)
}

// IssueDeviceGrant redeems an approved, live grant once: of parallel
// redemptions exactly one gets the grant, the others ErrNotFound.
func (s *Store) IssueDeviceGrant(ctx context.Context, id string) (*DeviceGrant, error) {
	var g DeviceGrant
	res := s.db.WithContext(ctx).Model(&g).Clauses(clause.Returning{}).
		Where("id = ? AND status = ? AND expires_at > ?", id, DeviceGrantApproved, s.clock()).
		Update("status", DeviceGrantIssued)
	if res.Error != nil {
		return nil, translate("issue device grant", res.Error)
	}
	if res.RowsAffected != 1 {
		return nil, translate("issue device grant", gorm.ErrRecordNotFound)
	}
	return &g, nil
}

// deviceGrantRetention is how long an expired grant is kept, so that a
// client still polling is told expired_token rather than invalid_grant.
const deviceGrantRetention = 24 * time.Hour
