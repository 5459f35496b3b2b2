package storage

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/twofold-idp/twofold/migrations"
)

// SessionClient records that a client received a token in an SSO session,
// so that the session's end can be announced to it (OpenID Connect
// Back-Channel Logout 1.0 §2.1).
type SessionClient struct {
	SessionID string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	CreatedAt time.Time
}

// BackchannelLogout is one logout token still to deliver, or delivered, or
// given up. Its ID is the token's jti: every attempt sends the same one, so
// a relying party that got it twice (a sender that died after the POST and
// before recording it) can tell.
type BackchannelLogout struct {
	ID            string `gorm:"primaryKey"`
	ClientID      string
	SessionID     string
	UserID        string
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	ClaimedUntil  *time.Time
	DeliveredAt   *time.Time
	FailedAt      *time.Time
	LastError     string
}

// RecordSessionClient notes that clientID received a token in session
// sessionID; recording it again changes nothing. A session that has ended
// (or is absent) → ErrNotFound. The session row is locked first (FOR
// UPDATE on PostgreSQL; SQLite has one writer), so a concurrent end of the
// session either sees this record or makes this call fail: never a client
// with tokens that is not told.
func (s *Store) RecordSessionClient(ctx context.Context, sessionID, clientID string) error {
	now := s.clock()
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		var se Session
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Select("id").
			Where("id = ? AND ended_at IS NULL", sessionID).Take(&se).Error
		if err != nil {
			return err
		}
		row := &SessionClient{SessionID: sessionID, ClientID: clientID, CreatedAt: now}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(row).Error
	})
	return translate("record session client", err)
}

// endSessionsTx ends, inside tx, the live-or-expired sessions matching
// where that have not ended yet, and enqueues a back-channel logout for
// every client with a back-channel logout URI that received a token in one
// of them. The UPDATE … RETURNING names exactly the sessions this statement
// ended, so a session ended twice at once is announced once.
func endSessionsTx(tx *gorm.DB, now time.Time, where string, args ...any) (int64, error) {
	var ended []struct{ ID, UserID string }
	q := "UPDATE sessions SET ended_at = ? WHERE ended_at IS NULL AND " + where + " RETURNING id, user_id"
	if err := tx.Raw(q, append([]any{now}, args...)...).Scan(&ended).Error; err != nil {
		return 0, err
	}
	if len(ended) == 0 {
		return 0, nil
	}
	users := make(map[string]string, len(ended))
	ids := make([]string, 0, len(ended))
	for _, e := range ended {
		users[e.ID] = e.UserID
		ids = append(ids, e.ID)
	}
	var pairs []struct{ SessionID, ClientID string }
	err := tx.Raw(`SELECT sc.session_id, sc.client_id FROM session_clients sc JOIN clients c ON c.id = sc.client_id
		WHERE sc.session_id IN ? AND c.backchannel_logout_uri <> '' AND NOT c.disabled ORDER BY sc.session_id, sc.client_id`, ids).
		Scan(&pairs).Error
	if err != nil {
		return 0, err
	}
	if len(pairs) > 0 {
		rows := make([]BackchannelLogout, len(pairs))
		for i, p := range pairs {
			rows[i] = BackchannelLogout{
				ID: outboxID(), ClientID: p.ClientID, SessionID: p.SessionID, UserID: users[p.SessionID],
				CreatedAt: now, NextAttemptAt: now,
			}
		}
		if err := tx.Create(&rows).Error; err != nil {
			return 0, err
		}
	}
	return int64(len(ended)), nil
}

func outboxID() string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// EndExpiredSessions ends the sessions that expired (absolutely or idle)
// while a client with a back-channel logout URI held tokens from them, so
// that their end is announced before the purge deletes them (called by the
// maintenance loop ahead of DeleteExpired). The refresh tokens those clients
// got in the session stop working with it. Returns how many it ended.
func (s *Store) EndExpiredSessions(ctx context.Context) (int64, error) {
	now := s.clock()
	var n int64
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		var ids []string
		err := tx.Raw(`SELECT DISTINCT s.id FROM sessions s JOIN session_clients sc ON sc.session_id = s.id
			WHERE s.ended_at IS NULL AND (s.expires_at <= ? OR s.idle_expires_at <= ?)`, now, now).Scan(&ids).Error
		if err != nil || len(ids) == 0 {
			return err
		}
		if n, err = endSessionsTx(tx, now, "id IN ?", ids); err != nil {
			return err
		}
		for _, id := range ids {
			if err := revokeTokensWhereTx(tx, now, "session_id", id); err != nil {
				return err
			}
		}
		return nil
	})
	return n, translate("end expired sessions", err)
}

// ClaimBackchannelLogouts claims up to limit logouts due at now for one
// sender until now+lease, counting the attempt, and returns them. A row is
// claimed by one sender at a time: on PostgreSQL the rows are picked FOR
// UPDATE SKIP LOCKED, so senders on other replicas take other rows instead
// of waiting; on SQLite the one statement runs alone (one writer). A
// sender that dies holding a claim leaves it to expire.
func (s *Store) ClaimBackchannelLogouts(ctx context.Context, limit int, lease time.Duration) ([]BackchannelLogout, error) {
	now := s.clock()
	pick := `SELECT id FROM backchannel_logouts
		WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
		ORDER BY next_attempt_at LIMIT ?`
	if s.dialect == migrations.Postgres {
		pick += " FOR UPDATE SKIP LOCKED"
	}
	var ids []string
	err := s.db.WithContext(ctx).Raw(`UPDATE backchannel_logouts SET claimed_until = ?, attempts = attempts + 1
		WHERE id IN (`+pick+`) AND delivered_at IS NULL AND failed_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?)
		RETURNING id`, stored(now.Add(lease)), now, now, limit, now).Scan(&ids).Error
	if err != nil || len(ids) == 0 {
		return nil, translate("claim back-channel logouts", err)
	}
	var out []BackchannelLogout
	err = s.db.WithContext(ctx).Where("id IN ?", ids).Order("next_attempt_at, id").Find(&out).Error
	return out, translate("claim back-channel logouts", err)
}

// FinishBackchannelLogout records the outcome of a claimed attempt: with
// errText "" it was delivered; otherwise it is retried at retryAt, or, with
// giveUp, never again.
func (s *Store) FinishBackchannelLogout(ctx context.Context, id, errText string, retryAt time.Time, giveUp bool) error {
	now := s.clock()
	set := map[string]any{"claimed_until": nil, "last_error": errText}
	switch {
	case errText == "":
		set["delivered_at"] = now
	case giveUp:
		set["failed_at"] = now
	default:
		set["next_attempt_at"] = stored(retryAt)
	}
	res := s.db.WithContext(ctx).Model(&BackchannelLogout{}).Where("id = ? AND delivered_at IS NULL AND failed_at IS NULL", id).Updates(set)
	return affectedOne("finish back-channel logout", res)
}

// ListBackchannelLogouts returns the outbox, oldest first (tests, audits).
func (s *Store) ListBackchannelLogouts(ctx context.Context) ([]BackchannelLogout, error) {
	var out []BackchannelLogout
	err := s.db.WithContext(ctx).Order("created_at, id").Find(&out).Error
	return out, translate("list back-channel logouts", err)
}

// DeleteFinishedBackchannelLogouts removes the logouts delivered or given
// up before before.
func (s *Store) DeleteFinishedBackchannelLogouts(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("(delivered_at IS NOT NULL OR failed_at IS NOT NULL) AND created_at <= ?", stored(before)).
		Delete(&BackchannelLogout{})
	return res.RowsAffected, translate("delete finished back-channel logouts", res.Error)
}

// SupersedeSession ends session oldID, replaced by newID for the same user
// in the same browser (a re-authentication), without announcing it: the
// user is still signed in. The clients that got tokens in the old session
// are recorded for the new one instead, so its end is announced to them
// too (with the new sid and the same sub). An old session already ended →
// ErrNotFound.
func (s *Store) SupersedeSession(ctx context.Context, oldID, newID string) error {
	now := s.clock()
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Session{}).Where("id = ? AND ended_at IS NULL", oldID).Update("ended_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		return tx.Exec(`INSERT INTO session_clients (session_id, client_id, created_at)
			SELECT ?, client_id, created_at FROM session_clients WHERE session_id = ?
			ON CONFLICT DO NOTHING`, newID, oldID).Error
	})
	return translate("supersede session", err)
}
