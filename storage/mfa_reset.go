package storage

import (
	"context"

	"gorm.io/gorm"
)

// MFAReset says what ResetSecondFactors removed.
type MFAReset struct {
	TOTP          int64 // authenticator apps, confirmed or not
	WebAuthn      int64 // passkeys and security keys
	SessionsEnded int64
	Phone         int64 // 1 when the phone number for SMS codes was removed
}

// ResetSecondFactors removes every second factor of a user — authenticator
// apps, WebAuthn credentials, backup codes, remembered devices, the phone
// number that receives SMS codes (with the codes sent to it) — and ends the
// user's sessions, in one transaction: a reset is never half done.
func (s *Store) ResetSecondFactors(ctx context.Context, userID string) (MFAReset, error) {
	var r MFAReset
	now := s.clock()
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Where("user_id = ?", userID).Delete(&TOTPAuthenticator{})
		if res.Error != nil {
			return res.Error
		}
		r.TOTP = res.RowsAffected
		if res = tx.Where("user_id = ?", userID).Delete(&WebAuthnCredential{}); res.Error != nil {
			return res.Error
		}
		r.WebAuthn = res.RowsAffected
		if err := tx.Where("user_id = ?", userID).Delete(&BackupCode{}).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", userID).Delete(&RememberedDevice{}).Error; err != nil {
			return err
		}
		res = tx.Model(&User{}).Where("id = ? AND phone <> ''", userID).
			Updates(map[string]any{"phone": "", "phone_verified_at": nil, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		r.Phone = res.RowsAffected
		err := tx.Model(&OneTimeCode{}).
			Where("user_id = ? AND purpose IN ? AND used_at IS NULL", userID, []string{PurposeSignInSMS, PurposeVerifyPhone}).
			Update("used_at", now).Error
		if err != nil {
			return err
		}
		// Ending them enqueues their back-channel logouts.
		n, err := endSessionsTx(tx, now, "user_id = ?", userID)
		r.SessionsEnded = n
		return err
	})
	return r, translate("reset second factors", err)
}
