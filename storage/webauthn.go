package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// WebAuthnCredential is a public-key credential registered by a user: a
// security key, a platform authenticator or a passkey.
type WebAuthnCredential struct {
	// ID is base64url of the credential id. It is the primary key, so a
	// credential id registered to anyone else is refused (WebAuthn §7.1
	// step 22).
	ID        string `gorm:"primaryKey"`
	UserID    string
	Name      string
	PublicKey string // base64 of the COSE public key
	AAGUID    string `gorm:"column:aaguid"`
	// SignCount is the last signature counter seen; 0 on both sides means
	// the authenticator keeps no counter (WebAuthn §6.1.1).
	SignCount  uint32
	Transports Strings
	// Flags is the raw authenticator-data flags byte of the registration
	// (UP, UV, BE, BS, AT, ED), kept exactly so that backup eligibility can
	// be compared on every assertion.
	Flags           uint8
	AttestationType string
	Discoverable    bool // a passkey: usable for sign-in without a username
	// PossiblyCloned is set after a sign-count regression; such a credential
	// is refused and does not count as a factor.
	PossiblyCloned bool
	CreatedAt      time.Time
	LastUsedAt     *time.Time
}

// TableName names the table (gorm would say web_authn_…).
func (WebAuthnCredential) TableName() string { return "webauthn_credentials" }

// WebAuthnSession is the server-side state of one WebAuthn ceremony (the
// challenge and options the library returned from Begin…): single use and
// short-lived, so that a ceremony response cannot be replayed.
type WebAuthnSession struct {
	ID      string  `gorm:"primaryKey"`
	UserID  *string // nil for a passkey sign-in, whose user is not known yet
	Purpose string  // WebAuthnRegister, WebAuthnLogin or WebAuthnPasskey
	Data    string  // JSON, opaque to storage
	// CreatedAt defaults to now; ExpiresAt is set by the caller.
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// TableName names the table (gorm would say web_authn_…).
func (WebAuthnSession) TableName() string { return "webauthn_sessions" }

// The purposes of a WebAuthn ceremony; the database refuses any other.
const (
	WebAuthnRegister = "register" // adding a credential
	WebAuthnLogin    = "login"    // a second factor for a known user
	WebAuthnPasskey  = "passkey"  // discoverable sign-in, user unknown
)

// CreateWebAuthnCredential stores a newly registered credential; CreatedAt
// defaults to now. A credential id already registered, to this user or any
// other → ErrConflict; an unknown user → ErrReference.
func (s *Store) CreateWebAuthnCredential(ctx context.Context, c *WebAuthnCredential) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.clock()
	}
	c.CreatedAt, c.LastUsedAt = stored(c.CreatedAt), storedPtr(c.LastUsedAt)
	return translate("create webauthn credential", s.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(c).Error; err != nil {
			return err
		}
		return clearMustEnroll(tx, c.UserID)
	}))
}

// GetWebAuthnCredential returns the credential with id, whoever owns it (a
// passkey sign-in learns the user from the credential) and possibly cloned
// ones too: callers check UserID and PossiblyCloned.
func (s *Store) GetWebAuthnCredential(ctx context.Context, id string) (*WebAuthnCredential, error) {
	var c WebAuthnCredential
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, translate("get webauthn credential", err)
	}
	return &c, nil
}

// ListWebAuthnCredentials returns every credential of a user, possibly
// cloned ones included, oldest first.
func (s *Store) ListWebAuthnCredentials(ctx context.Context, userID string) ([]WebAuthnCredential, error) {
	var out []WebAuthnCredential
	err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&out).Error
	return out, translate("list webauthn credentials", err)
}

// UseWebAuthnCredential records a successful assertion with signature
// counter newCount: sign_count becomes newCount and last_used_at now, in one
// conditional statement that requires the credential not to be possibly
// cloned and the counter to grow — or both counters to be 0, which means
// the authenticator keeps none (WebAuthn §6.1.1). When the condition fails
// → ErrConflict: a regression, which the caller treats as a clone
// (MarkWebAuthnCredentialCloned). Of concurrent assertions with the same
// counter exactly one wins. An absent credential → ErrNotFound.
func (s *Store) UseWebAuthnCredential(ctx context.Context, id string, newCount uint32) error {
	const op = "use webauthn credential"
	// sign_count < 0 never holds, so for newCount 0 the condition is the
	// stored counter being 0 too.
	grows := "sign_count < ?"
	if newCount == 0 {
		grows = "sign_count = ?"
	}
	res := s.db.WithContext(ctx).Model(&WebAuthnCredential{}).
		Where("id = ? AND possibly_cloned = ? AND "+grows, id, false, int64(newCount)).
		Updates(map[string]any{"sign_count": int64(newCount), "last_used_at": s.clock()})
	if res.Error != nil {
		return translate(op, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	// Nothing matched: tell a regression (or a cloned credential) from a
	// missing one. This read only picks the error.
	var n int64
	if err := s.db.WithContext(ctx).Model(&WebAuthnCredential{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return translate(op, err)
	}
	if n == 0 {
		return translate(op, gorm.ErrRecordNotFound)
	}
	return translate(op, ErrConflict)
}

// MarkWebAuthnCredentialCloned flags a credential as possibly cloned after
// a sign-count regression: from then on it is refused and not counted as a
// factor. Marking it again is not an error; an absent one → ErrNotFound.
func (s *Store) MarkWebAuthnCredentialCloned(ctx context.Context, id string) error {
	res := s.db.WithContext(ctx).Model(&WebAuthnCredential{}).Where("id = ?", id).
		Update("possibly_cloned", true)
	return affectedOne("mark webauthn credential cloned", res)
}

// RenameWebAuthnCredential changes the name of a credential of userID;
// another user's or an absent one → ErrNotFound.
func (s *Store) RenameWebAuthnCredential(ctx context.Context, userID, id, name string) error {
	res := s.db.WithContext(ctx).Model(&WebAuthnCredential{}).
		Where("id = ? AND user_id = ?", id, userID).
		Update("name", name)
	return affectedOne("rename webauthn credential", res)
}

// DeleteWebAuthnCredential removes a credential of userID; another user's
// or an absent one → ErrNotFound.
func (s *Store) DeleteWebAuthnCredential(ctx context.Context, userID, id string) error {
	res := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&WebAuthnCredential{})
	return affectedOne("delete webauthn credential", res)
}

// CreateWebAuthnSession stores the state of a ceremony just begun;
// CreatedAt defaults to now. An unknown purpose, or a register or login
// ceremony without a user, is refused by the database.
func (s *Store) CreateWebAuthnSession(ctx context.Context, ws *WebAuthnSession) error {
	if ws.CreatedAt.IsZero() {
		ws.CreatedAt = s.clock()
	}
	ws.CreatedAt, ws.ExpiresAt, ws.UsedAt = stored(ws.CreatedAt), stored(ws.ExpiresAt), storedPtr(ws.UsedAt)
	return translate("create webauthn session", s.db.WithContext(ctx).Create(ws).Error)
}

// ConsumeWebAuthnSession marks the ceremony id used and returns it, in one
// UPDATE … RETURNING conditional on it being unused, unexpired and for
// purpose; otherwise ErrNotFound. Single use: a replayed ceremony response
// finds nothing, and of concurrent ones exactly one wins.
func (s *Store) ConsumeWebAuthnSession(ctx context.Context, id, purpose string) (*WebAuthnSession, error) {
	now := s.clock()
	var ws WebAuthnSession
	res := s.db.WithContext(ctx).Model(&ws).Clauses(clause.Returning{}).
		Where("id = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", id, purpose, now).
		Update("used_at", now)
	if err := affectedOne("consume webauthn session", res); err != nil {
		return nil, err
	}
	return &ws, nil
}

// DeleteExpiredMFA removes the WebAuthn ceremony sessions that were used or
// have expired, and nothing else, and returns how many. It is called
// periodically, next to DeleteExpired.
func (s *Store) DeleteExpiredMFA(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).
		Where("used_at IS NOT NULL OR expires_at <= ?", s.clock()).
		Delete(&WebAuthnSession{})
	return res.RowsAffected, translate("delete expired mfa", res.Error)
}
