package storage

import (
	"context"
	"database/sql/driver"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SessionFactor is one factor proven in an SSO session.
type SessionFactor struct {
	Method string    `json:"method"` // "pwd", "totp", "webauthn", "backup_code", …
	At     time.Time `json:"at"`     // when it was proven
	AMR    []string  `json:"amr"`    // the RFC 8176 values it contributes
	// UserVerified: a WebAuthn factor whose authenticator verified the user.
	UserVerified bool `json:"uv,omitempty"`
	// DeviceBound: a WebAuthn credential that cannot leave its authenticator
	// (backup-eligible flag clear).
	DeviceBound bool `json:"bound,omitempty"`
}

// SessionFactors is a list of factors stored as a JSON array in a text
// column; nil is stored as [].
type SessionFactors []SessionFactor

// Value implements driver.Valuer.
func (f SessionFactors) Value() (driver.Value, error) { return jsonListValue(f) }

// Scan implements sql.Scanner.
func (f *SessionFactors) Scan(src any) error { return scanJSONList(src, (*[]SessionFactor)(f)) }

// Session is an SSO session. ID is the sid claim; only the hash of the
// cookie value is stored, so a database leak does not hand out sessions.
type Session struct {
	ID         string `gorm:"primaryKey"`
	CookieHash string
	UserID     string
	Factors    SessionFactors
	// AuthTime is when the user last actively authenticated (the latest
	// factor); a silent SSO login leaves it unchanged.
	AuthTime      time.Time
	CreatedAt     time.Time
	LastSeenAt    time.Time
	IdleExpiresAt time.Time
	ExpiresAt     time.Time // absolute: no activity extends it
	EndedAt       *time.Time
	IP            string `gorm:"column:ip"`
	UserAgent     string
	// PendingRequest is the auth request whose sign-in started the session
	// and has not met its policy yet; nil once it has.
	PendingRequest *string
	// EnrollmentSkippedAt: the session's sign-in put enrolling a second
	// factor off during the enrollment grace ("Not now").
	EnrollmentSkippedAt *time.Time
}

// LiveAt reports whether the session is usable at now: not ended and
// neither idle nor absolutely expired. GetSession returns sessions in any
// state; GetLiveSessionByCookieHash applies the same test in the database.
func (se *Session) LiveAt(now time.Time) bool {
	return se.EndedAt == nil && se.IdleExpiresAt.After(now) && se.ExpiresAt.After(now)
}

// liveSession is the condition GetLiveSessionByCookieHash and every session
// update apply.
const liveSession = "ended_at IS NULL AND idle_expires_at > ? AND expires_at > ?"

// CreateSession stores a new session; CreatedAt and LastSeenAt default to
// now.
func (s *Store) CreateSession(ctx context.Context, se *Session) error {
	now := s.clock()
	if se.CreatedAt.IsZero() {
		se.CreatedAt = now
	}
	if se.LastSeenAt.IsZero() {
		se.LastSeenAt = se.CreatedAt
	}
	se.AuthTime, se.CreatedAt, se.LastSeenAt = stored(se.AuthTime), stored(se.CreatedAt), stored(se.LastSeenAt)
	se.IdleExpiresAt, se.ExpiresAt, se.EndedAt = stored(se.IdleExpiresAt), stored(se.ExpiresAt), storedPtr(se.EndedAt)
	for i := range se.Factors {
		se.Factors[i].At = stored(se.Factors[i].At)
	}
	return translate("create session", s.db.WithContext(ctx).Create(se).Error)
}

// GetLiveSessionByCookieHash returns the session whose cookie hashes to
// cookieHash if it is live; otherwise ErrNotFound.
func (s *Store) GetLiveSessionByCookieHash(ctx context.Context, cookieHash string) (*Session, error) {
	now := s.clock()
	var se Session
	err := s.db.WithContext(ctx).Where("cookie_hash = ? AND "+liveSession, cookieHash, now, now).Take(&se).Error
	if err != nil {
		return nil, translate("get session", err)
	}
	return &se, nil
}

// GetSession returns the session with id in any state (ended and expired
// too: a logout or an id_token_hint may name one); check LiveAt.
func (s *Store) GetSession(ctx context.Context, id string) (*Session, error) {
	var se Session
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&se).Error; err != nil {
		return nil, translate("get session", err)
	}
	return &se, nil
}

// RotateSessionCookie replaces the cookie hash of a live session, on
// condition that oldHash is still current: afterwards the old cookie means
// nothing. A session whose hash moved on, or that is no longer live →
// ErrNotFound.
func (s *Store) RotateSessionCookie(ctx context.Context, id, oldHash, newHash string) error {
	now := s.clock()
	res := s.db.WithContext(ctx).Model(&Session{}).
		Where("id = ? AND cookie_hash = ? AND "+liveSession, id, oldHash, now, now).
		Update("cookie_hash", newHash)
	return affectedOne("rotate session cookie", res)
}

// AddSessionFactor records a newly proven factor: it appends f, moves
// auth_time to f.At (a step-up is an active authentication) and rotates the
// cookie hash, in one transaction, on condition that oldHash is current and
// the session live (else ErrNotFound). The row is locked while the list is
// read and rewritten, so two factors added at once are both kept: SELECT …
// FOR UPDATE on PostgreSQL; SQLite's immediate transactions already
// serialise writers.
func (s *Store) AddSessionFactor(ctx context.Context, id, oldHash, newHash string, f SessionFactor) error {
	now := s.clock()
	f.At = stored(f.At)
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		var se Session
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
			Where("id = ? AND cookie_hash = ? AND "+liveSession, id, oldHash, now, now).
			Take(&se).Error
		if err != nil {
			return err
		}
		factors := append(se.Factors, f)
		res := tx.Model(&Session{}).Where("id = ? AND cookie_hash = ?", id, oldHash).
			Updates(map[string]any{"factors": factors, "auth_time": f.At, "cookie_hash": newHash})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return gorm.ErrRecordNotFound
		}
		return nil
	})
	return translate("add session factor", err)
}

// CompleteSession marks a pending session complete: its sign-in met its
// policy, so it is a session for everything from now on.
func (s *Store) CompleteSession(ctx context.Context, id string) error {
	res := s.db.WithContext(ctx).Model(&Session{}).
		Where("id = ? AND pending_request IS NOT NULL", id).
		Update("pending_request", nil)
	return translate("complete session", res.Error)
}

// SkipEnrollment marks the live session as one whose sign-in put enrolling
// a second factor off (the enrollment grace); else ErrNotFound.
func (s *Store) SkipEnrollment(ctx context.Context, id string) error {
	now := s.clock()
	res := s.db.WithContext(ctx).Model(&Session{}).
		Where("id = ? AND "+liveSession, id, now, now).
		Update("enrollment_skipped_at", now)
	return affectedOne("skip enrollment", res)
}

// TouchSession records activity: last_seen_at becomes now and the idle
// expiry moves to idleExpiresAt, but never past the absolute expiry. Only a
// live session can be touched (else ErrNotFound).
func (s *Store) TouchSession(ctx context.Context, id string, idleExpiresAt time.Time) error {
	now := s.clock()
	// The cap is computed in SQL from the row's own expires_at, so the
	// update stays a single statement.
	res := s.db.WithContext(ctx).Model(&Session{}).
		Where("id = ? AND "+liveSession, id, now, now).
		Updates(map[string]any{
			"last_seen_at":    now,
			"idle_expires_at": gorm.Expr("CASE WHEN expires_at < ? THEN expires_at ELSE ? END", stored(idleExpiresAt), stored(idleExpiresAt)),
		})
	return affectedOne("touch session", res)
}

// EndSession ends a session (logout) and, in the same transaction,
// enqueues its back-channel logouts (see endSessionsTx); a session already
// ended or absent → ErrNotFound.
func (s *Store) EndSession(ctx context.Context, id string) error {
	now := s.clock()
	var n int64
	err := s.transaction(ctx, func(tx *gorm.DB) (err error) {
		n, err = endSessionsTx(tx, now, "id = ?", id)
		return err
	})
	if err == nil && n == 0 {
		err = gorm.ErrRecordNotFound
	}
	return translate("end session", err)
}

// EndUserSessions ends every session of a user (password reset, account
// disabled, "sign out everywhere"), enqueueing their back-channel logouts,
// and returns how many it ended.
func (s *Store) EndUserSessions(ctx context.Context, userID string) (int64, error) {
	now := s.clock()
	var n int64
	err := s.transaction(ctx, func(tx *gorm.DB) (err error) {
		n, err = endSessionsTx(tx, now, "user_id = ?", userID)
		return err
	})
	return n, translate("end user sessions", err)
}

// ListUserSessions returns a user's live sessions, newest first.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]Session, error) {
	now := s.clock()
	var out []Session
	err := s.db.WithContext(ctx).Where("user_id = ? AND "+liveSession, userID, now, now).
		Order("created_at DESC, id").Find(&out).Error
	return out, translate("list user sessions", err)
}
