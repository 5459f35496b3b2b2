package storage

import (
	"context"
	"errors"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/twofold-idp/twofold/migrations"
)

// ErrCodeReused is returned by ConsumeAuthCode, together with the request,
// when the code exists but was already redeemed: the caller revokes what the
// first redemption issued (RFC 6749 §4.1.2, RFC 9700 §4.2.4).
var ErrCodeReused = errors.New("storage: authorization code already used")

// AuthRequest is one /authorize request. It carries the login through every
// step (any replica can serve any step) and, once done, the hash of the
// authorization code issued for it.
type AuthRequest struct {
	ID                  string `gorm:"primaryKey"`
	ClientID            string
	RedirectURI         string `gorm:"column:redirect_uri"`
	ResponseType        string
	ResponseMode        string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	LoginHint           string
	IDTokenHintSubject  string `gorm:"column:id_token_hint_subject"`
	// Claims is the raw JSON of the claims request parameter, "" when absent.
	Claims    string
	Scopes    Strings
	Prompt    Strings
	UILocales Strings `gorm:"column:ui_locales"`
	ACRValues Strings `gorm:"column:acr_values"`
	// MaxAgeSeconds is nil when max_age was not sent (0 is meaningful: it
	// means prompt=login, OIDC Core §3.1.2.1).
	MaxAgeSeconds *int64
	// BrowserHash is the hash of the browser-binding cookie; "" until the
	// first browser binds the request.
	BrowserHash  string
	UserID       *string
	SessionID    *string
	AuthTime     *time.Time
	AMR          Strings `gorm:"column:amr"`
	ACR          string  `gorm:"column:acr"`
	Done         bool
	ConsentGiven bool
	// Decision is the step-up decision last recorded for the request.
	Decision      string
	CodeHash      *string
	CodeExpiresAt *time.Time
	CodeUsedAt    *time.Time
	// ClientAddress is the address (an IPv6 /64) the request came from, so
	// that the pending requests of one address can be counted.
	ClientAddress string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// stored is t as the database keeps it: UTC at microsecond precision (see
// Store.clock). SQLite compares times as text, so every stored time must be
// UTC for comparisons to hold.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func storedPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := stored(*t)
	return &v
}

// CreateAuthRequest stores a new request; CreatedAt defaults to now.
func (s *Store) CreateAuthRequest(ctx context.Context, r *AuthRequest) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.clock()
	}
	r.CreatedAt, r.ExpiresAt = stored(r.CreatedAt), stored(r.ExpiresAt)
	r.AuthTime, r.CodeExpiresAt, r.CodeUsedAt = storedPtr(r.AuthTime), storedPtr(r.CodeExpiresAt), storedPtr(r.CodeUsedAt)
	return translate("create auth request", s.db.WithContext(ctx).Create(r).Error)
}

// GetAuthRequest returns a live request; an expired one is ErrNotFound even
// before DeleteExpired removes it.
func (s *Store) GetAuthRequest(ctx context.Context, id string) (*AuthRequest, error) {
	var r AuthRequest
	err := s.db.WithContext(ctx).Where("id = ? AND expires_at > ?", id, s.clock()).Take(&r).Error
	if err != nil {
		return nil, translate("get auth request", err)
	}
	return &r, nil
}

// CountPendingAuthRequests counts the live requests from clientAddress that
// have not finished their sign-in.
func (s *Store) CountPendingAuthRequests(ctx context.Context, clientAddress string) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&AuthRequest{}).
		// "NOT done" spelled out, not a parameter: the index holds only
		// unfinished requests, and the planner must see that it may use it.
		Where("client_address = ? AND NOT done AND expires_at > ?", clientAddress, s.clock()).
		Count(&n).Error
	return n, translate("count pending auth requests", err)
}

// BindAuthRequest ties the request to the browser that first shows up with
// it (the hash of its binding cookie), so that a login link passed to
// someone else cannot be completed in their browser. Binding again with the
// same hash is a no-op; a different hash → ErrConflict; an absent or expired
// request → ErrNotFound. The binding is one conditional statement: of two
// browsers racing, exactly one wins.
func (s *Store) BindAuthRequest(ctx context.Context, id, browserHash string) error {
	const op = "bind auth request"
	if browserHash == "" {
		// Binding to "" would leave the request unbound.
		return translate(op, errors.New("empty browser hash"))
	}
	now := s.clock()
	// PostgreSQL and SQLite count matched rows, so re-binding to the same
	// hash reports one row although nothing changes.
	res := s.db.WithContext(ctx).Model(&AuthRequest{}).
		Where("id = ? AND expires_at > ? AND (browser_hash = '' OR browser_hash = ?)", id, now, browserHash).
		Update("browser_hash", browserHash)
	if res.Error != nil {
		return translate(op, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	// Nothing matched: tell a foreign binding from a missing request. This
	// read only picks the error; the decision was made above.
	var n int64
	if err := s.db.WithContext(ctx).Model(&AuthRequest{}).
		Where("id = ? AND expires_at > ?", id, now).Count(&n).Error; err != nil {
		return translate(op, err)
	}
	if n == 0 {
		return translate(op, gorm.ErrRecordNotFound)
	}
	return translate(op, ErrConflict)
}

// CompleteAuthRequest marks a live, not yet done request as authenticated
// by userID in sessionID. It succeeds once: a request already done or
// expired → ErrNotFound.
func (s *Store) CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string, acr string) error {
	res := s.db.WithContext(ctx).Model(&AuthRequest{}).
		Where("id = ? AND done = ? AND expires_at > ?", id, false, s.clock()).
		Updates(map[string]any{
			"done":       true,
			"user_id":    userID,
			"session_id": sessionID,
			"auth_time":  stored(authTime),
			"amr":        Strings(amr),
			"acr":        acr,
		})
	return affectedOne("complete auth request", res)
}

// SwapAuthRequestDecision records decision for the request when it differs
// from the one recorded; it reports whether this call changed it, so that
// of many replicas deciding alike exactly one records the change.
func (s *Store) SwapAuthRequestDecision(ctx context.Context, id, decision string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&AuthRequest{}).
		Where("id = ? AND decision <> ?", id, decision).
		Update("decision", decision)
	if res.Error != nil {
		return false, translate("swap auth request decision", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SetAuthRequestConsent records that the user consented for this request.
func (s *Store) SetAuthRequestConsent(ctx context.Context, id string) error {
	res := s.db.WithContext(ctx).Model(&AuthRequest{}).
		Where("id = ? AND expires_at > ?", id, s.clock()).
		Update("consent_given", true)
	return affectedOne("set auth request consent", res)
}

// SaveAuthCode stores the hash of the authorization code issued for a done
// request, once: a request that already has a code → ErrConflict (one code
// per request, so a code replay can find everything it issued); a request
// that is not done, expired or absent → ErrNotFound.
func (s *Store) SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error {
	const op = "save auth code"
	now := s.clock()
	res := s.db.WithContext(ctx).Model(&AuthRequest{}).
		Where("id = ? AND done = ? AND code_hash IS NULL AND expires_at > ?", id, true, now).
		Updates(map[string]any{"code_hash": codeHash, "code_expires_at": stored(expiresAt)})
	if res.Error != nil {
		return translate(op, res.Error) // a code hash taken by another request → ErrConflict
	}
	if res.RowsAffected == 1 {
		return nil
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&AuthRequest{}).
		Where("id = ? AND done = ? AND code_hash IS NOT NULL AND expires_at > ?", id, true, now).
		Count(&n).Error; err != nil {
		return translate(op, err)
	}
	if n == 1 {
		return translate(op, ErrConflict)
	}
	return translate(op, gorm.ErrRecordNotFound)
}

// ConsumeAuthCode redeems a code in one conditional statement (of any number
// of parallel redemptions exactly one wins) and returns its request. When
// nothing matched it returns ErrCodeReused together with the request if the
// code exists and was already used, so that the caller can revoke the tokens
// of the first redemption (RFC 6749 §4.1.2); otherwise (unknown or expired
// code) ErrNotFound.
func (s *Store) ConsumeAuthCode(ctx context.Context, codeHash string) (*AuthRequest, error) {
	const op = "consume auth code"
	now := s.clock()
	var r AuthRequest
	res := s.db.WithContext(ctx).Model(&r).Clauses(clause.Returning{}).
		Where("code_hash = ? AND code_used_at IS NULL AND code_expires_at > ?", codeHash, now).
		Update("code_used_at", now)
	if res.Error != nil {
		return nil, translate(op, res.Error)
	}
	if res.RowsAffected == 1 {
		return &r, nil
	}
	var used AuthRequest
	err := s.db.WithContext(ctx).Where("code_hash = ? AND code_used_at IS NOT NULL", codeHash).Take(&used).Error
	if err != nil {
		return nil, translate(op, err)
	}
	return &used, translate(op, ErrCodeReused)
}

// DeleteAuthRequest removes a request (the flow was abandoned or ended in an
// error).
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.deleteByKey(ctx, "delete auth request", &AuthRequest{}, "id", id)
}

// DeleteExpired removes expired auth requests (kept while their code is
// still redeemable), ended or expired sessions, expired access and refresh
// tokens, expired client assertions and stale throttles (drained, idle for
// 24 hours and without a success in the last 90 days), and returns how many
// rows it removed. It is called periodically, by every replica. Each table
// is cleaned by its own statements, not in one transaction: nothing depends
// on the deletions happening together. Each statement deletes at most one
// batch of rows (see WithPurgeBatch) found through an index, so that a
// backlog of a million expired rows never makes one long transaction holding
// its locks (SQLite has a single writer): other writers get their turn
// between batches, and a cancelled ctx stops the purge between batches.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	now := s.clock()
	deletes := []struct {
		table, where string
		args         []any
	}{
		{"auth_requests", "expires_at <= ? AND (code_expires_at IS NULL OR code_expires_at <= ?)", []any{now, now}},
		// A session goes when it has ended, or expired, or idled out: one
		// statement per part, each reached through its own index (SQLite's
		// planner, without statistics, scans the whole table for the OR).
		{"sessions", "ended_at IS NOT NULL", nil},
		{"sessions", "expires_at <= ?", []any{now}},
		{"sessions", "idle_expires_at <= ?", []any{now}},
		{"access_tokens", "expires_at <= ?", []any{now}},
		{"refresh_tokens", "expires_at <= ?", []any{now}},
		{"client_assertions", "expires_at <= ?", []any{now}},
		{"dpop_proofs", "expires_at <= ?", []any{now}},
		{"one_time_codes", "expires_at <= ?", []any{now}},
		{"known_devices", "expires_at <= ?", []any{now}},
		{"device_grants", "expires_at <= ?", []any{now.Add(-deviceGrantRetention)}},
		{"throttles", "drained_at <= ? AND updated_at <= ? AND (succeeded_at IS NULL OR succeeded_at <= ?)",
			[]any{now.UnixMilli(), now.Add(-throttleRetention), now.Add(-ThrottleSuccessRetention)}},
	}
	var total int64
	for _, d := range deletes {
		n, err := s.purge(ctx, d.table, d.where, d.args...)
		total += n
		if err != nil {
			return total, translate("delete expired", err)
		}
	}
	return total, nil
}

// purge deletes the rows of table matching where, one batch per statement,
// until a batch finds fewer rows than it may delete; it stops between
// batches when ctx is done. It returns how many rows it deleted.
func (s *Store) purge(ctx context.Context, table, where string, args ...any) (int64, error) {
	q, all := purgeBatchStatement(s.dialect, table, where, args, s.purgeBatch)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res := s.db.WithContext(ctx).Exec(q, all...)
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
		// Fewer than a batch: the table is clean (or another replica
		// purging it at the same time took the rest).
		if res.RowsAffected < int64(s.purgeBatch) {
			return total, nil
		}
	}
}

// purgeBatchStatement is a DELETE of at most batch rows of table matching
// where. DELETE … LIMIT is not portable (PostgreSQL has none, SQLite only
// when compiled with it), so a subquery picks the rows by their physical
// address, which the DELETE then reaches directly: SQLite's rowid (its one
// writer runs the statement alone); PostgreSQL's ctid (a TID scan), the
// subquery locking the rows it picks (FOR UPDATE: a row a concurrent writer
// changed is checked against where again, in its new version) and skipping
// rows locked by others (a replica purging at the same time, a throttle
// counting an attempt), so that purges never wait on each other.
func purgeBatchStatement(d migrations.Dialect, table, where string, args []any, batch int) (string, []any) {
	var q string
	if d == migrations.Postgres {
		q = "DELETE FROM " + table + " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " + table + " WHERE " + where +
			" LIMIT ? FOR UPDATE SKIP LOCKED))"
	} else {
		q = "DELETE FROM " + table + " WHERE rowid IN (SELECT rowid FROM " + table + " WHERE " + where + " LIMIT ?)"
	}
	return q, slices.Concat(args, []any{batch})
}

// affectedOne turns a conditional update's result into nil (it matched) or
// ErrNotFound (it did not).
func affectedOne(op string, res *gorm.DB) error {
	if res.Error != nil {
		return translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return translate(op, gorm.ErrRecordNotFound)
	}
	return nil
}
