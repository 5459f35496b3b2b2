package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// TOTPAuthenticator is an authenticator app enrolled by a user (RFC 6238).
// The row never holds the secret in the clear: SecretSealed is base64 of
// the secret sealed by the caller.
//
// LastStep is the time step of the last accepted code (-1: none yet). A
// code of a step at or before it is refused as a replay (RFC 6238 §5.2);
// AdvanceTOTPStep enforces that in the database, across sessions and
// replicas. The authenticator is active only once ConfirmedAt is set, by one
// valid code (ConfirmTOTP).
type TOTPAuthenticator struct {
	ID           string `gorm:"primaryKey"`
	UserID       string
	Name         string
	SecretSealed string
	LastStep     int64
	ConfirmedAt  *time.Time // nil: enrollment not finished, not usable
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

// TableName names the table (gorm would say t_o_t_p…).
func (TOTPAuthenticator) TableName() string { return "totp_authenticators" }

// activeTOTP is the condition of an authenticator that may verify codes.
const activeTOTP = "confirmed_at IS NOT NULL"

// CreateTOTP stores a new, unconfirmed authenticator: whatever the caller
// set, LastStep becomes -1 and ConfirmedAt and LastUsedAt nil, so that
// ConfirmTOTP is the only way to activate it. CreatedAt defaults to now. A
// taken id → ErrConflict; an unknown user → ErrReference.
func (s *Store) CreateTOTP(ctx context.Context, a *TOTPAuthenticator) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.clock()
	}
	a.CreatedAt = stored(a.CreatedAt)
	// Set explicitly: gorm inserts the zero value 0, not the column default.
	a.LastStep, a.ConfirmedAt, a.LastUsedAt = -1, nil, nil
	return translate("create totp", s.db.WithContext(ctx).Create(a).Error)
}

// GetTOTP returns the authenticator id of userID, confirmed or not; another
// user's → ErrNotFound.
func (s *Store) GetTOTP(ctx context.Context, userID, id string) (*TOTPAuthenticator, error) {
	var a TOTPAuthenticator
	if err := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Take(&a).Error; err != nil {
		return nil, translate("get totp", err)
	}
	return &a, nil
}

// ListTOTP returns a user's authenticators, oldest first; with
// confirmedOnly, only the active ones.
func (s *Store) ListTOTP(ctx context.Context, userID string, confirmedOnly bool) ([]TOTPAuthenticator, error) {
	q := s.db.WithContext(ctx).Where("user_id = ?", userID)
	if confirmedOnly {
		q = q.Where(activeTOTP)
	}
	var out []TOTPAuthenticator
	err := q.Order("created_at, id").Find(&out).Error
	return out, translate("list totp", err)
}

// ConfirmTOTP activates an unconfirmed authenticator of userID with the
// step of its first valid code, which then cannot be used again. It is one
// conditional statement and succeeds once: an authenticator already
// confirmed, another user's or an absent one → ErrNotFound.
func (s *Store) ConfirmTOTP(ctx context.Context, userID, id string, step int64) error {
	return translate("confirm totp", s.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&TOTPAuthenticator{}).
			Where("id = ? AND user_id = ? AND confirmed_at IS NULL AND last_step < ?", id, userID, step).
			Updates(map[string]any{"confirmed_at": s.clock(), "last_step": step})
		if err := affectedOne("confirm totp", res); err != nil {
			return err
		}
		return clearMustEnroll(tx, userID)
	}))
}

// AdvanceTOTPStep records that a code of step was verified with an active
// authenticator of userID, and when. It is one conditional UPDATE that
// requires step to be newer than the last accepted one, so of any number of
// concurrent callers with the same (or an older) step exactly one wins, on
// any replica; the others get ErrConflict: a replay (RFC 6238 §5.2). An
// unconfirmed, absent or other user's authenticator → ErrNotFound.
func (s *Store) AdvanceTOTPStep(ctx context.Context, userID, id string, step int64) error {
	const op = "advance totp step"
	res := s.db.WithContext(ctx).Model(&TOTPAuthenticator{}).
		Where("id = ? AND user_id = ? AND "+activeTOTP+" AND last_step < ?", id, userID, step).
		Updates(map[string]any{"last_step": step, "last_used_at": s.clock()})
	if res.Error != nil {
		return translate(op, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	// Nothing matched: tell a replay from a missing authenticator. This read
	// only picks the error; the decision was made above.
	var n int64
	if err := s.db.WithContext(ctx).Model(&TOTPAuthenticator{}).
		Where("id = ? AND user_id = ? AND "+activeTOTP, id, userID).Count(&n).Error; err != nil {
		return translate(op, err)
	}
	if n == 0 {
		return translate(op, gorm.ErrRecordNotFound)
	}
	return translate(op, ErrConflict)
}

// RenameTOTP changes the name of an authenticator of userID; another
// user's or an absent one → ErrNotFound.
func (s *Store) RenameTOTP(ctx context.Context, userID, id, name string) error {
	res := s.db.WithContext(ctx).Model(&TOTPAuthenticator{}).
		Where("id = ? AND user_id = ?", id, userID).
		Update("name", name)
	return affectedOne("rename totp", res)
}

// DeleteTOTP removes an authenticator of userID; another user's or an
// absent one → ErrNotFound.
func (s *Store) DeleteTOTP(ctx context.Context, userID, id string) error {
	res := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&TOTPAuthenticator{})
	return affectedOne("delete totp", res)
}

// DeleteStaleTOTP removes the unconfirmed authenticators created before
// before (abandoned enrollments: their secret was shown but never proven)
// and returns how many, in batches as DeleteExpired does.
func (s *Store) DeleteStaleTOTP(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.purge(ctx, "totp_authenticators", "confirmed_at IS NULL AND created_at < ?", stored(before))
	return n, translate("delete stale totp", err)
}

// flagBackupEligible is the BE bit of the authenticator data flags
// (WebAuthn §6.1).
const flagBackupEligible = 0x08

// FactorCounts is how many usable second factors a user has.
type FactorCounts struct {
	TOTP     int64 // confirmed TOTP authenticators
	WebAuthn int64 // WebAuthn credentials not marked possibly cloned
	// WebAuthnDeviceBound counts those whose backup-eligible flag is clear:
	// the key cannot leave the authenticator (phrh).
	WebAuthnDeviceBound int64
	BackupCodes         int64 // unused backup codes
	// EmailVerified and PhoneVerified are 1 when the user has an address or
	// number they proved they read (the email and SMS code factors).
	EmailVerified int64
	PhoneVerified int64
}

// CountSecondFactors counts a user's usable second factors (unconfirmed
// authenticators, possibly cloned credentials and used codes left out) in
// one round trip.
func (s *Store) CountSecondFactors(ctx context.Context, userID string) (FactorCounts, error) {
	const q = `SELECT
	(SELECT count(*) FROM totp_authenticators WHERE user_id = ? AND ` + activeTOTP + `),
	(SELECT count(*) FROM webauthn_credentials WHERE user_id = ? AND possibly_cloned = ?),
	(SELECT count(*) FROM webauthn_credentials WHERE user_id = ? AND possibly_cloned = ? AND (flags & ?) = 0),
	(SELECT count(*) FROM backup_codes WHERE user_id = ? AND used_at IS NULL),
	(SELECT count(*) FROM users WHERE id = ? AND email <> '' AND email_verified_at IS NOT NULL),
	(SELECT count(*) FROM users WHERE id = ? AND phone <> '' AND phone_verified_at IS NOT NULL)`
	var c FactorCounts
	err := s.db.WithContext(ctx).Raw(q, userID, userID, false, userID, false, flagBackupEligible, userID, userID, userID).Row().
		Scan(&c.TOTP, &c.WebAuthn, &c.WebAuthnDeviceBound, &c.BackupCodes, &c.EmailVerified, &c.PhoneVerified)
	if err != nil {
		return FactorCounts{}, translate("count second factors", err)
	}
	return c, nil
}
