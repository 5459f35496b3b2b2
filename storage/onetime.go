package storage

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"
)

// One-time code purposes: what a code or link sent to a user proves.
const (
	PurposeVerifyEmail   = "verify_email"   // the user reads mail at Target
	PurposeVerifyPhone   = "verify_phone"   // the user reads SMS at Target
	PurposeSignInEmail   = "sign_in_email"  // a second factor by email
	PurposeSignInSMS     = "sign_in_sms"    // a second factor by SMS
	PurposePasswordReset = "password_reset" // a forgotten-password link
	PurposeRecovery      = "recovery"       // proof of the verified email to start a lost-factor recovery
	PurposeNotMe         = "not_me"         // the "this wasn't me" link of a security notification
)

// OneTimeCode is a code or a link's token sent to a user. Only CodeHash, a
// keyed hash the caller computes, is stored. Target is where it was sent
// (an email address, a phone number): a code proves that address only.
// SentFor, when set, is the sign-in (authorization request id) the code was
// sent for: it completes that sign-in only.
type OneTimeCode struct {
	ID        string `gorm:"primaryKey"`
	UserID    string
	Purpose   string
	Target    string
	SentFor   string
	CodeHash  string
	Attempts  int
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
}

// CreateOneTimeCode stores c and, in the same transaction, retires every
// live code of the user for the same purpose unless keepOthers (links that
// may be outstanding together, like "this wasn't me" in several mails): a
// new code replaces the one sent before. CreatedAt defaults to now. An
// unknown user → ErrReference; a hash already stored for the purpose →
// ErrConflict.
func (s *Store) CreateOneTimeCode(ctx context.Context, c *OneTimeCode, keepOthers bool) error {
	const op = "create one-time code"
	now := s.clock()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	return translate(op, s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if !keepOthers {
			err := tx.Model(&OneTimeCode{}).
				Where("user_id = ? AND purpose = ? AND used_at IS NULL", c.UserID, c.Purpose).
				Update("used_at", now).Error
			if err != nil {
				return err
			}
		}
		return tx.Create(c).Error
	}))
}

// LiveOneTimeCode is the user's code for purpose that is neither used nor
// expired, or ErrNotFound.
func (s *Store) LiveOneTimeCode(ctx context.Context, userID, purpose string) (*OneTimeCode, error) {
	var c OneTimeCode
	err := s.db.WithContext(ctx).
		Where("user_id = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", userID, purpose, s.clock()).
		Order("created_at DESC").Take(&c).Error
	if err != nil {
		return nil, translate("live one-time code", err)
	}
	return &c, nil
}

// OneTimeCodeByHash finds a live (unused, unexpired) code by its hash: the
// token of a link names no user. ErrNotFound otherwise.
func (s *Store) OneTimeCodeByHash(ctx context.Context, purpose, hash string) (*OneTimeCode, error) {
	var c OneTimeCode
	err := s.db.WithContext(ctx).
		Where("purpose = ? AND code_hash = ? AND used_at IS NULL AND expires_at > ?", purpose, hash, s.clock()).
		Take(&c).Error
	if err != nil {
		return nil, translate("one-time code by hash", err)
	}
	return &c, nil
}

// UseOneTimeCode marks the code used, once: of concurrent callers exactly
// one gets true. An expired or already used code → false.
func (s *Store) UseOneTimeCode(ctx context.Context, id string) (bool, error) {
	now := s.clock()
	res := s.db.WithContext(ctx).Model(&OneTimeCode{}).
		Where("id = ? AND used_at IS NULL AND expires_at > ?", id, now).
		Update("used_at", now)
	return res.RowsAffected == 1, translate("use one-time code", res.Error)
}

// FailOneTimeCode counts a wrong guess at the code; the guess that reaches
// maxAttempts retires it (a new code must be sent). It reports whether
// the code is still live.
func (s *Store) FailOneTimeCode(ctx context.Context, id string, maxAttempts int) (bool, error) {
	now := s.clock()
	var live bool
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&OneTimeCode{}).Where("id = ? AND used_at IS NULL", id).
			Update("attempts", gorm.Expr("attempts + 1"))
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		res = tx.Model(&OneTimeCode{}).Where("id = ? AND used_at IS NULL AND attempts >= ?", id, maxAttempts).
			Update("used_at", now)
		live = res.RowsAffected == 0
		return res.Error
	})
	return live, translate("fail one-time code", err)
}

// RetireOneTimeCodes ends every live code of the user for the purposes
// given (all purposes when none): after a password change, say, no reset
// link sent before still works.
func (s *Store) RetireOneTimeCodes(ctx context.Context, userID string, purposes ...string) error {
	q := s.db.WithContext(ctx).Model(&OneTimeCode{}).Where("user_id = ? AND used_at IS NULL", userID)
	if len(purposes) > 0 {
		q = q.Where("purpose IN ?", purposes)
	}
	return translate("retire one-time codes", q.Update("used_at", s.clock()).Error)
}

// UsersByVerifiedEmail returns the users whose verified address is email
// (case-insensitively), at most 10, by username: who a forgotten-password
// request by email address reaches. Disabled accounts are included; the
// caller decides.
func (s *Store) UsersByVerifiedEmail(ctx context.Context, email string) ([]User, error) {
	var users []User
	err := s.db.WithContext(ctx).
		Where("LOWER(email) = ? AND email_verified_at IS NOT NULL", strings.ToLower(strings.TrimSpace(email))).
		Order("username_key").Limit(10).Find(&users).Error
	return users, translate("users by verified email", err)
}

// SetEmailVerified marks the user's address verified, provided it is still
// email (an address changed meanwhile stays unverified). It reports
// whether it did.
func (s *Store) SetEmailVerified(ctx context.Context, userID, email string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ? AND email = ?", userID, email).
		Updates(map[string]any{"email_verified_at": s.clock(), "updated_at": s.clock()})
	return res.RowsAffected == 1, translate("set email verified", res.Error)
}

// ChangeEmail sets the user's address, unverified, and retires the codes
// sent to the old one.
func (s *Store) ChangeEmail(ctx context.Context, userID, email string) error {
	return translate("change email", s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("id = ?", userID).
			Updates(map[string]any{"email": email, "email_verified_at": nil, "updated_at": s.clock()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return tx.Model(&OneTimeCode{}).
			Where("user_id = ? AND purpose IN ? AND used_at IS NULL", userID, []string{PurposeVerifyEmail, PurposeSignInEmail, PurposeRecovery}).
			Update("used_at", s.clock()).Error
	}))
}

// SetPhone sets the user's phone number with when it was verified (nil:
// not verified; "" removes the number).
func (s *Store) SetPhone(ctx context.Context, userID, phone string, verifiedAt *time.Time) error {
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", userID).
		Updates(map[string]any{"phone": phone, "phone_verified_at": verifiedAt, "updated_at": s.clock()})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return translate("set phone", res.Error)
}

// SetChangesBlocked sets (at) or clears (nil) the "this wasn't me" block on
// the user's second factors.
func (s *Store) SetChangesBlocked(ctx context.Context, userID string, at *time.Time) error {
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", userID).
		Updates(map[string]any{"changes_blocked_at": at, "updated_at": s.clock()})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return translate("set changes blocked", res.Error)
}

// CountGraceSignIn counts a sign-in made in the enrollment grace, starting
// the grace at the first; it returns when the grace started and the sign-ins
// made in it, this one included. Concurrent sign-ins are each counted.
func (s *Store) CountGraceSignIn(ctx context.Context, userID string) (time.Time, int, error) {
	now := s.clock()
	var u User
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("id = ?", userID).Updates(map[string]any{
			"grace_started_at": gorm.Expr("COALESCE(grace_started_at, ?)", now),
			"grace_sign_ins":   gorm.Expr("grace_sign_ins + 1"),
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return tx.Select("grace_started_at", "grace_sign_ins").Where("id = ?", userID).Take(&u).Error
	})
	if err != nil {
		return time.Time{}, 0, translate("count grace sign-in", err)
	}
	return *u.GraceStartedAt, u.GraceSignIns, nil
}

// Recovery is a lost-factor recovery: the user proved their verified email
// at StartedAt; unless cancelled (through the link whose keyed hash is
// CancelHash) it may be completed from ReadyAt.
type Recovery struct {
	ID          string `gorm:"primaryKey"`
	UserID      string
	CancelHash  string
	StartedAt   time.Time
	ReadyAt     time.Time
	CancelledAt *time.Time
	CompletedAt *time.Time
}

// StartRecovery stores r unless the user has one open (neither cancelled
// nor completed): then it returns that one and false.
func (s *Store) StartRecovery(ctx context.Context, r *Recovery) (*Recovery, bool, error) {
	var open Recovery
	created := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		err := tx.Where("user_id = ? AND cancelled_at IS NULL AND completed_at IS NULL", r.UserID).Take(&open).Error
		if err == nil {
			return nil
		}
		if err != gorm.ErrRecordNotFound {
			return err
		}
		if r.StartedAt.IsZero() {
			r.StartedAt = s.clock()
		}
		created = true
		open = *r
		return tx.Create(r).Error
	})
	if err != nil {
		return nil, false, translate("start recovery", err)
	}
	return &open, created, nil
}

// OpenRecovery is the user's recovery that is neither cancelled nor
// completed, or ErrNotFound.
func (s *Store) OpenRecovery(ctx context.Context, userID string) (*Recovery, error) {
	var r Recovery
	err := s.db.WithContext(ctx).Where("user_id = ? AND cancelled_at IS NULL AND completed_at IS NULL", userID).Take(&r).Error
	if err != nil {
		return nil, translate("open recovery", err)
	}
	return &r, nil
}

// RecoveryByCancelHash is the open recovery whose cancel link has hash
// (what the link's confirmation page shows), or ErrNotFound.
func (s *Store) RecoveryByCancelHash(ctx context.Context, cancelHash string) (*Recovery, error) {
	var r Recovery
	err := s.db.WithContext(ctx).Where("cancel_hash = ? AND cancelled_at IS NULL AND completed_at IS NULL", cancelHash).Take(&r).Error
	if err != nil {
		return nil, translate("recovery by cancel hash", err)
	}
	return &r, nil
}

// CancelRecovery cancels the open recovery whose cancel link has hash; it
// returns it, or ErrNotFound (unknown, cancelled or completed).
func (s *Store) CancelRecovery(ctx context.Context, cancelHash string) (*Recovery, error) {
	var r Recovery
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("cancel_hash = ? AND cancelled_at IS NULL AND completed_at IS NULL", cancelHash).Take(&r).Error; err != nil {
			return err
		}
		res := tx.Model(&Recovery{}).Where("id = ? AND cancelled_at IS NULL AND completed_at IS NULL", r.ID).Update("cancelled_at", s.clock())
		if res.Error == nil && res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		return res.Error
	})
	if err != nil {
		return nil, translate("cancel recovery", err)
	}
	return &r, nil
}

// CompleteRecovery marks the recovery completed, once, provided it is ready
// and still open: of concurrent callers exactly one gets true.
func (s *Store) CompleteRecovery(ctx context.Context, id string) (bool, error) {
	now := s.clock()
	res := s.db.WithContext(ctx).Model(&Recovery{}).
		Where("id = ? AND cancelled_at IS NULL AND completed_at IS NULL AND ready_at <= ?", id, now).
		Update("completed_at", now)
	return res.RowsAffected == 1, translate("complete recovery", res.Error)
}
