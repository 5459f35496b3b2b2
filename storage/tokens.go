package storage

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrTokenReused is returned by RotateRefreshToken when a refresh token that
// was already rotated or revoked is presented again; the whole family has
// then been revoked (RFC 9700 §4.14.2).
var ErrTokenReused = errors.New("storage: refresh token reused")

// AccessToken records an issued access token (JWT or opaque) so that it can
// be revoked and introspected. ID is the JWT's jti or the opaque token's id.
type AccessToken struct {
	ID              string `gorm:"primaryKey"`
	ClientID        string
	UserID          string // "" for client_credentials
	SessionID       string
	AuthRequestID   string
	RefreshFamilyID string
	Scopes          Strings
	Audience        Strings
	AMR             Strings `gorm:"column:amr"`
	ACR             string  `gorm:"column:acr"`
	AuthTime        *time.Time
	CreatedAt       time.Time
	ExpiresAt       time.Time
	RevokedAt       *time.Time
}

// RefreshToken is one link of a rotation chain. Only the hash of the token
// is stored. Every token of a chain shares FamilyID, and keeps the AuthTime,
// AMR and ACR of the original login (OIDC Core §12.2: a refresh never moves
// auth_time or raises acr).
type RefreshToken struct {
	ID            string `gorm:"primaryKey"`
	TokenHash     string
	FamilyID      string
	ClientID      string
	UserID        string
	SessionID     string
	AuthRequestID string
	Scopes        Strings
	AMR           Strings `gorm:"column:amr"`
	ACR           string  `gorm:"column:acr"`
	AuthTime      time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
	RotatedAt     *time.Time
	RevokedAt     *time.Time
}

// CreateAccessToken records an issued access token; CreatedAt defaults to
// now.
func (s *Store) CreateAccessToken(ctx context.Context, t *AccessToken) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.clock()
	}
	t.CreatedAt, t.ExpiresAt = stored(t.CreatedAt), stored(t.ExpiresAt)
	t.AuthTime, t.RevokedAt = storedPtr(t.AuthTime), storedPtr(t.RevokedAt)
	return translate("create access token", s.db.WithContext(ctx).Create(t).Error)
}

// GetAccessToken returns the token with id even when it is revoked or
// expired: callers check RevokedAt and ExpiresAt.
func (s *Store) GetAccessToken(ctx context.Context, id string) (*AccessToken, error) {
	var t AccessToken
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, translate("get access token", err)
	}
	return &t, nil
}

// RevokeAccessToken revokes one access token. Revoking it again is not an
// error and keeps the first revocation time; an unknown id → ErrNotFound.
func (s *Store) RevokeAccessToken(ctx context.Context, id string) error {
	res := s.db.WithContext(ctx).Model(&AccessToken{}).Where("id = ?", id).
		Update("revoked_at", gorm.Expr("COALESCE(revoked_at, ?)", s.clock()))
	return affectedOne("revoke access token", res)
}

// CreateRefreshToken stores the first token of a new family (later ones
// come from RotateRefreshToken); CreatedAt defaults to now.
func (s *Store) CreateRefreshToken(ctx context.Context, t *RefreshToken) error {
	return translate("create refresh token", createRefreshToken(s.db.WithContext(ctx), t, s.clock()))
}

func createRefreshToken(db *gorm.DB, t *RefreshToken, now time.Time) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	t.AuthTime, t.CreatedAt, t.ExpiresAt = stored(t.AuthTime), stored(t.CreatedAt), stored(t.ExpiresAt)
	t.RotatedAt, t.RevokedAt = storedPtr(t.RotatedAt), storedPtr(t.RevokedAt)
	return db.Create(t).Error
}

// GetRefreshTokenByHash returns the token with hash in any state: callers
// check RotatedAt, RevokedAt and ExpiresAt.
func (s *Store) GetRefreshTokenByHash(ctx context.Context, hash string) (*RefreshToken, error) {
	var t RefreshToken
	if err := s.db.WithContext(ctx).Where("token_hash = ?", hash).Take(&t).Error; err != nil {
		return nil, translate("get refresh token", err)
	}
	return &t, nil
}

// RotateRefreshToken redeems the refresh token with oldHash and stores next
// (same family, filled by the caller) in one transaction, and returns the
// old token. The redemption is one conditional UPDATE … RETURNING, so of
// parallel rotations exactly one succeeds. A token that exists but was
// already rotated or revoked is a replay (RFC 9700 §4.14.2): the whole
// family — every refresh token, the newest included, and every access token
// issued from it — is revoked, that is committed, and ErrTokenReused is
// returned. An unknown or expired token → ErrNotFound.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next *RefreshToken) (*RefreshToken, error) {
	const op = "rotate refresh token"
	now := s.clock()
	var old RefreshToken
	var reused bool
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&old).Clauses(clause.Returning{}).
			Where("token_hash = ? AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?", oldHash, now).
			Update("rotated_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			if next.FamilyID != old.FamilyID {
				return errors.New("the next token belongs to another family")
			}
			return createRefreshToken(tx, next, now)
		}
		var prev RefreshToken
		err := tx.Where("token_hash = ? AND (rotated_at IS NOT NULL OR revoked_at IS NOT NULL)", oldHash).Take(&prev).Error
		if err != nil {
			return err // gorm.ErrRecordNotFound: unknown, or unused but expired
		}
		reused = true
		return revokeFamilies(tx, now, []string{prev.FamilyID})
	})
	if err != nil {
		return nil, translate(op, err)
	}
	if reused {
		return nil, translate(op, ErrTokenReused)
	}
	return &old, nil
}

// RevokeRefreshFamily revokes every refresh token of a family and every
// access token issued from it. A family with nothing left to revoke is not
// an error.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	now := s.clock()
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		return revokeFamilies(tx, now, []string{familyID})
	})
	return translate("revoke refresh family", err)
}

// RevokeAuthRequestTokens revokes everything issued from an auth request:
// its access tokens, and every refresh family started from it with all the
// access tokens of those families. Called when its code is redeemed twice
// (RFC 6749 §4.1.2). It first marks the request not done, committed before
// any token is revoked: a first redemption still minting its tokens checks
// that mark afterwards (see AuthRequestRetracted), so tokens minted after
// this revocation ran cannot escape it.
func (s *Store) RevokeAuthRequestTokens(ctx context.Context, authRequestID string) error {
	if err := s.db.WithContext(ctx).Model(&AuthRequest{}).Where("id = ?", authRequestID).Update("done", false).Error; err != nil {
		return translate("retract auth request", err)
	}
	return s.revokeTokensWhere(ctx, "revoke auth request tokens", "auth_request_id", authRequestID)
}

// AuthRequestRetracted reports whether RevokeAuthRequestTokens has run for
// the request (or it is gone).
func (s *Store) AuthRequestRetracted(ctx context.Context, authRequestID string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&AuthRequest{}).Where("id = ? AND done = ?", authRequestID, true).Count(&n).Error
	return n == 0, translate("check auth request", err)
}

// RevokeSessionTokens revokes the access and refresh tokens bound to a
// session (logout), with the whole families of those refresh tokens.
func (s *Store) RevokeSessionTokens(ctx context.Context, sessionID string) error {
	return s.revokeTokensWhere(ctx, "revoke session tokens", "session_id", sessionID)
}

// RevokeUserTokens revokes every refresh family and access token of a
// user: what an account change (disabled, second factors reset, password
// changed, every session ended) must reach.
func (s *Store) RevokeUserTokens(ctx context.Context, userID string) error {
	return s.revokeTokensWhere(ctx, "revoke user tokens", "user_id", userID)
}

// RevokeClientTokens revokes every access and refresh token issued to a
// client, with the whole families of those refresh tokens (a client the
// configuration file no longer declares).
func (s *Store) RevokeClientTokens(ctx context.Context, clientID string) error {
	return s.revokeTokensWhere(ctx, "revoke client tokens", "client_id", clientID)
}

// revokeTokensWhere revokes, in one transaction, the refresh families of the
// refresh tokens whose column equals value, then the access tokens whose
// column equals value. Every revocation locks refresh tokens before access
// tokens, so two of them running at once on PostgreSQL cannot deadlock.
func (s *Store) revokeTokensWhere(ctx context.Context, op, column, value string) error {
	now := s.clock()
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		var families []string
		if err := tx.Model(&RefreshToken{}).Distinct("family_id").Where(column+" = ?", value).
			Pluck("family_id", &families).Error; err != nil {
			return err
		}
		if err := revokeFamilies(tx, now, families); err != nil {
			return err
		}
		return tx.Model(&AccessToken{}).Where(column+" = ? AND revoked_at IS NULL", value).
			Update("revoked_at", now).Error
	})
	return translate(op, err)
}

// revokeFamilies revokes, inside tx, every refresh token of the families
// and every access token issued from them.
//
// The refresh-token update repeats until it changes nothing. On PostgreSQL
// (read committed) a statement does not see a token inserted by a rotation
// that commits while the statement runs; that rotation had locked its
// predecessor, which the statement waits for and then revokes, so the next
// statement — with a fresh snapshot — catches the new token. Without the
// repeat, a replay racing a legitimate rotation could leave the newest token
// of the family alive.
func revokeFamilies(tx *gorm.DB, now time.Time, families []string) error {
	if len(families) == 0 {
		return nil
	}
	for range 10 {
		res := tx.Model(&RefreshToken{}).Where("family_id IN ? AND revoked_at IS NULL", families).
			Update("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			break
		}
	}
	return tx.Model(&AccessToken{}).Where("refresh_family_id IN ? AND revoked_at IS NULL", families).
		Update("revoked_at", now).Error
}
