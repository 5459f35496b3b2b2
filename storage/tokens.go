package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/twofold-idp/twofold/migrations"

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
	// DPoPJKT is the thumbprint of the key the token is bound to (RFC 9449
	// cnf.jkt); "" for a bearer token.
	DPoPJKT string `gorm:"column:dpop_jkt"`
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
	// DPoPJKT: the family is bound to this key (RFC 9449 §5); "" unbound.
	DPoPJKT string `gorm:"column:dpop_jkt"`
}

// CreateAccessToken records an issued access token; CreatedAt defaults to
// now.
func (s *Store) CreateAccessToken(ctx context.Context, t *AccessToken) error {
	prepareAccessToken(t, s.clock())
	// Plain SQL: this insert is on the token endpoint's hottest path, and
	// gorm's model callbacks cost about as much as the statement itself.
	err := s.db.WithContext(ctx).Exec("INSERT INTO access_tokens ("+accessTokenColumns+") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
		t.ID, t.ClientID, t.UserID, t.SessionID, t.AuthRequestID, t.RefreshFamilyID, t.Scopes, t.Audience, t.AMR, t.ACR,
		t.AuthTime, t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.DPoPJKT).Error
	return translate("create access token", err)
}

const accessTokenColumns = "id, client_id, user_id, session_id, auth_request_id, refresh_family_id, scopes, audience, amr, acr, auth_time, created_at, expires_at, revoked_at, dpop_jkt"

func prepareAccessToken(t *AccessToken, now time.Time) {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	t.CreatedAt, t.ExpiresAt = stored(t.CreatedAt), stored(t.ExpiresAt)
	t.AuthTime, t.RevokedAt = storedPtr(t.AuthTime), storedPtr(t.RevokedAt)
}

// GetAccessToken returns the token with id even when it is revoked or
// expired: callers check RevokedAt and ExpiresAt.
func (s *Store) GetAccessToken(ctx context.Context, id string) (*AccessToken, error) {
	// Plain SQL, as in CreateAccessToken: every introspection and userinfo
	// request reads one.
	var t AccessToken
	err := s.db.WithContext(ctx).Raw("SELECT "+accessTokenColumns+" FROM access_tokens WHERE id = ?", id).Row().
		Scan(&t.ID, &t.ClientID, &t.UserID, &t.SessionID, &t.AuthRequestID, &t.RefreshFamilyID, &t.Scopes, &t.Audience, &t.AMR,
			&t.ACR, &t.AuthTime, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.DPoPJKT)
	if errors.Is(err, sql.ErrNoRows) {
		err = gorm.ErrRecordNotFound
	}
	if err != nil {
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
	prepareRefreshToken(t, now)
	return db.Create(t).Error
}

func prepareRefreshToken(t *RefreshToken, now time.Time) {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	t.AuthTime, t.CreatedAt, t.ExpiresAt = stored(t.AuthTime), stored(t.CreatedAt), stored(t.ExpiresAt)
	t.RotatedAt, t.RevokedAt = storedPtr(t.RotatedAt), storedPtr(t.RevokedAt)
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
// (same family, filled by the caller) and, when not nil, access (the access
// token issued with next) atomically, and returns the old token. The
// redemption is one conditional UPDATE … RETURNING, so of parallel rotations
// exactly one succeeds; on PostgreSQL the redemption and both inserts are one
// statement (one round trip, no explicit transaction). A token that exists
// but was already rotated or revoked is a replay (RFC 9700 §4.14.2): the
// whole family — every refresh token, the newest included, and every access
// token issued from it — is revoked, that is committed, and ErrTokenReused is
// returned. An unknown or expired token, or one of another family than next,
// → ErrNotFound, and nothing changes.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next *RefreshToken, access *AccessToken) (*RefreshToken, error) {
	const op = "rotate refresh token"
	now := s.clock()
	prepareRefreshToken(next, now)
	if access != nil {
		prepareAccessToken(access, now)
	}
	var (
		old     RefreshToken
		rotated bool
	)
	if s.dialect == migrations.Postgres {
		var a AccessToken // zero without an access token: the statement then inserts none
		if access != nil {
			a = *access
		}
		res := s.db.WithContext(ctx).Raw(rotateRefreshPostgres, sql.Named("now", now), sql.Named("hash", oldHash),
			sql.Named("family", next.FamilyID), sql.Named("id", next.ID), sql.Named("token_hash", next.TokenHash),
			sql.Named("client", next.ClientID), sql.Named("user", next.UserID), sql.Named("session", next.SessionID),
			sql.Named("auth_request", next.AuthRequestID), sql.Named("scopes", next.Scopes), sql.Named("amr", next.AMR),
			sql.Named("acr", next.ACR), sql.Named("auth_time", next.AuthTime), sql.Named("created", next.CreatedAt),
			sql.Named("expires", next.ExpiresAt), sql.Named("with_access", access != nil),
			sql.Named("a_id", a.ID), sql.Named("a_scopes", a.Scopes), sql.Named("a_audience", a.Audience),
			sql.Named("a_auth_time", a.AuthTime), sql.Named("a_created", a.CreatedAt), sql.Named("a_expires", a.ExpiresAt),
			sql.Named("dpop_jkt", next.DPoPJKT), sql.Named("a_dpop_jkt", a.DPoPJKT),
		).Scan(&old)
		if res.Error != nil {
			return nil, translate(op, res.Error)
		}
		rotated = res.RowsAffected == 1
	} else {
		err := s.transaction(ctx, func(tx *gorm.DB) error {
			res := tx.Model(&old).Clauses(clause.Returning{}).
				Where("token_hash = ? AND family_id = ? AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?", oldHash, next.FamilyID, now).
				Update("rotated_at", now)
			if res.Error != nil || res.RowsAffected != 1 {
				return res.Error
			}
			rotated = true
			if err := tx.Create(next).Error; err != nil {
				return err
			}
			if access != nil {
				return tx.Create(access).Error
			}
			return nil
		})
		if err != nil {
			return nil, translate(op, err)
		}
	}
	if rotated {
		return &old, nil
	}
	// Not redeemed: unknown, expired, of another family — or a replay.
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		var prev RefreshToken
		err := tx.Where("token_hash = ? AND (rotated_at IS NOT NULL OR revoked_at IS NOT NULL)", oldHash).Take(&prev).Error
		if err != nil {
			return err // gorm.ErrRecordNotFound: unknown, unused but expired, or another family
		}
		return revokeFamilies(tx, now, []string{prev.FamilyID})
	})
	if err != nil {
		return nil, translate(op, err)
	}
	return nil, translate(op, ErrTokenReused)
}

// rotateRefreshPostgres redeems the old token, inserts the next one and the
// access token, in one statement: data-modifying CTEs run in one snapshot
// and commit together (PostgreSQL "WITH Queries", §7.8.4).
const rotateRefreshPostgres = `
WITH old AS (
	UPDATE refresh_tokens SET rotated_at = @now
	WHERE token_hash = @hash AND family_id = @family AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > @now
	RETURNING *
), next AS (
	INSERT INTO refresh_tokens (id, token_hash, family_id, client_id, user_id, session_id, auth_request_id, scopes, amr, acr,
		auth_time, created_at, expires_at, dpop_jkt)
	SELECT @id, @token_hash, @family, @client, @user, @session, @auth_request, @scopes, @amr, @acr, @auth_time, @created, @expires, @dpop_jkt
	FROM old
), access AS (
	INSERT INTO access_tokens (id, client_id, user_id, session_id, auth_request_id, refresh_family_id, scopes, audience, amr, acr,
		auth_time, created_at, expires_at, dpop_jkt)
	SELECT @a_id, @client, @user, @session, @auth_request, @family, @a_scopes, @a_audience, @amr, @acr, @a_auth_time, @a_created, @a_expires, @a_dpop_jkt
	FROM old WHERE @with_access
)
SELECT * FROM old`

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
// configuration file no longer declares, or deleted), and marks the client
// (TokensRevokedAt) for its client_credentials tokens, which are not
// stored.
func (s *Store) RevokeClientTokens(ctx context.Context, clientID string) error {
	defer s.clients.invalidate()
	now := s.clock()
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		// The client's stateless client_credentials tokens: by the mark.
		if err := tx.Model(&Client{}).Where("id = ?", clientID).Update("tokens_revoked_at", now).Error; err != nil {
			return err
		}
		return revokeTokensWhereTx(tx, now, "client_id", clientID)
	})
	return translate("revoke client tokens", err)
}

// RecordRevokedAccessToken revokes an access token that was never stored
// (a client_credentials JWT) by storing it revoked, until it expires.
// Revoking it again keeps the first time.
func (s *Store) RecordRevokedAccessToken(ctx context.Context, t *AccessToken) error {
	now := s.clock()
	t.RevokedAt = &now
	prepareAccessToken(t, now)
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(t).Error
	return translate("record revoked access token", err)
}

// revokeTokensWhere revokes, in one transaction, the refresh families of the
// refresh tokens whose column equals value, then the access tokens whose
// column equals value. Every revocation locks refresh tokens before access
// tokens, so two of them running at once on PostgreSQL cannot deadlock.
func (s *Store) revokeTokensWhere(ctx context.Context, op, column, value string) error {
	now := s.clock()
	err := s.transaction(ctx, func(tx *gorm.DB) error { return revokeTokensWhereTx(tx, now, column, value) })
	return translate(op, err)
}

func revokeTokensWhereTx(tx *gorm.DB, now time.Time, column, value string) error {
	var families []string
	if err := tx.Model(&RefreshToken{}).Distinct("family_id").Where(column+" = ?", value).
		Pluck("family_id", &families).Error; err != nil {
		return err
	}
	if err := revokeFamilies(tx, now, families); err != nil {
		return err
	}
	// "<> ''": the access tokens' indexes leave out empty values (a
	// client_credentials token has no user, session or sign-in).
	return tx.Model(&AccessToken{}).Where(column+" = ? AND "+column+" <> '' AND revoked_at IS NULL", value).
		Update("revoked_at", now).Error
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
	return tx.Model(&AccessToken{}).Where("refresh_family_id IN ? AND refresh_family_id <> '' AND revoked_at IS NULL", families).
		Update("revoked_at", now).Error
}
