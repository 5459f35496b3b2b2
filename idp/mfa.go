package idp

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"net/url"
	"time"

	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/backupcodes"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage"
)

// mfaStore is the storage of second factors.
type mfaStore interface {
	CountSecondFactors(ctx context.Context, userID string) (storage.FactorCounts, error)
	CreateTOTP(ctx context.Context, a *storage.TOTPAuthenticator) error
	GetTOTP(ctx context.Context, userID, id string) (*storage.TOTPAuthenticator, error)
	ListTOTP(ctx context.Context, userID string, confirmedOnly bool) ([]storage.TOTPAuthenticator, error)
	ConfirmTOTP(ctx context.Context, userID, id string, step int64) error
	AdvanceTOTPStep(ctx context.Context, userID, id string, step int64) error
	ReplaceBackupCodes(ctx context.Context, userID string, codes []storage.BackupCode) error
	FindBackupCode(ctx context.Context, userID, tag string) (*storage.BackupCode, error)
	UseBackupCode(ctx context.Context, id string) error
	CountUnusedBackupCodes(ctx context.Context, userID string) (int64, error)
	AddSessionFactor(ctx context.Context, id, oldHash, newHash string, f storage.SessionFactor) error
	CreateWebAuthnCredential(ctx context.Context, c *storage.WebAuthnCredential) error
	GetWebAuthnCredential(ctx context.Context, id string) (*storage.WebAuthnCredential, error)
	ListWebAuthnCredentials(ctx context.Context, userID string) ([]storage.WebAuthnCredential, error)
	UseWebAuthnCredential(ctx context.Context, id string, newCount uint32) error
	MarkWebAuthnCredentialCloned(ctx context.Context, id string) error
	CreateWebAuthnSession(ctx context.Context, ws *storage.WebAuthnSession) error
	ConsumeWebAuthnSession(ctx context.Context, id, purpose string) (*storage.WebAuthnSession, error)
	GetPolicy(ctx context.Context, name string) (*storage.Policy, error)
	GetGroup(ctx context.Context, name string) (*storage.Group, error)
	GetSetting(ctx context.Context, key string) (string, error)
}

const (
	totpPurpose = "totp-secret"
	// OTP-type factors (TOTP and backup codes together, NIST SP 800-63B
	// §5.2.2) lock after 5 consecutive failures, doubling up to 15 minutes.
	otpFailureThreshold = 5
	// freshProof is how recent a second factor must be before the account
	// may add factors or see new backup codes.
	freshProof = 5 * time.Minute
)

// Factor records as stored on the session, with their RFC 8176 amr values.
func factorTOTP(at time.Time) storage.SessionFactor {
	return storage.SessionFactor{Method: string(policy.TOTP), At: at, AMR: []string{"otp"}}
}

func factorBackupCode(at time.Time) storage.SessionFactor {
	// RFC 8176 names no value for look-up secrets; "bkc" is ours.
	return storage.SessionFactor{Method: string(policy.BackupCode), At: at, AMR: []string{"bkc"}}
}

func factorWebAuthn(at time.Time, uv bool) storage.SessionFactor {
	f := storage.SessionFactor{Method: string(policy.WebAuthn), At: at, AMR: []string{"hwk"}, UserVerified: uv}
	if uv {
		f.AMR = append(f.AMR, "user")
	}
	return f
}

func factorPasskey(at time.Time) storage.SessionFactor {
	return storage.SessionFactor{Method: policy.FactorPasskey, At: at, AMR: []string{"hwk", "user"}, UserVerified: true}
}

// enrolledMethods lists the second factors the user can use now.
func enrolledMethods(c storage.FactorCounts) []policy.Method {
	var out []policy.Method
	if c.WebAuthn > 0 {
		out = append(out, policy.WebAuthn)
	}
	if c.TOTP > 0 {
		out = append(out, policy.TOTP)
	}
	if c.BackupCodes > 0 {
		out = append(out, policy.BackupCode)
	}
	return out
}

// freshSecondFactor: the session proved a second factor within d.
func freshSecondFactor(s *storage.Session, now time.Time, d time.Duration) bool {
	for _, f := range s.Factors {
		if f.Method != policy.FactorPassword && now.Sub(f.At) <= d {
			return true
		}
	}
	return false
}

func (p *Provider) sealTOTP(id string, secret []byte) (string, error) {
	b, err := p.ring.Seal(totpPurpose, secret, []byte(id))
	return base64.StdEncoding.EncodeToString(b), err
}

func (p *Provider) openTOTP(a *storage.TOTPAuthenticator) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(a.SecretSealed)
	if err != nil {
		return nil, err
	}
	return p.ring.Open(totpPurpose, b, []byte(a.ID))
}

// verifyTOTP accepts a code of any of the user's confirmed authenticators,
// once: the step is advanced by one conditional statement, so a replay is
// refused across sessions and replicas (RFC 6238 §5.2).
func (p *Provider) verifyTOTP(ctx context.Context, userID, code string) error {
	auths, err := p.store.ListTOTP(ctx, userID, true)
	if err != nil {
		return err
	}
	for i := range auths {
		a := &auths[i]
		secret, err := p.openTOTP(a)
		if err != nil {
			p.log.ErrorContext(ctx, "open a TOTP secret", "authenticator", a.ID, "err", err)
			continue
		}
		step, err := totp.Verify(secret, code, p.now(), a.LastStep)
		if err != nil {
			continue
		}
		if err := p.store.AdvanceTOTPStep(ctx, userID, a.ID, step); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return ErrInvalidCode // the same code, used a moment ago
			}
			return err
		}
		return nil
	}
	return ErrInvalidCode
}

// verifyBackupCode consumes one of the user's backup codes: the lookup tag
// finds the one candidate, so checking costs one KDF evaluation.
func (p *Provider) verifyBackupCode(ctx context.Context, userID, code string) error {
	canon, err := backupcodes.Normalize(code)
	if err != nil {
		return ErrInvalidCode
	}
	row, err := p.store.FindBackupCode(ctx, userID, p.codes.Tag(canon))
	if isNotFound(err) {
		return ErrInvalidCode
	}
	if err != nil {
		return err
	}
	if !p.codes.Verify(canon, row.Hash) {
		return ErrInvalidCode
	}
	if err := p.store.UseBackupCode(ctx, row.ID); err != nil {
		if isNotFound(err) {
			return ErrInvalidCode
		}
		return err
	}
	left, _ := p.store.CountUnusedBackupCodes(ctx, userID)
	p.audit(ctx, userID, "backup_code.used", userID, map[string]any{"remaining": left})
	return nil
}

// checkOTP runs verify under the per-user throttle shared by TOTP and
// backup codes: while locked, even the right code is refused.
func (p *Provider) checkOTP(ctx context.Context, userID, method string, verify func() error) error {
	key := "otp:user:" + userID
	wait, err := p.throttled(ctx, []string{key})
	if err != nil {
		return err
	}
	if wait > 0 {
		p.audit(ctx, userID, "mfa.throttled", userID, map[string]any{"method": method})
		return &ThrottledError{RetryAfter: wait}
	}
	err = verify()
	switch {
	case errors.Is(err, ErrInvalidCode):
		if _, rerr := p.store.RecordFailure(ctx, key, backoff(otpFailureThreshold)); rerr != nil {
			p.log.ErrorContext(ctx, "record OTP failure", "err", rerr)
		}
		p.audit(ctx, userID, "mfa.failed", userID, map[string]any{"method": method})
	case err == nil:
		if rerr := p.store.ResetThrottle(ctx, key); rerr != nil {
			p.log.WarnContext(ctx, "reset OTP throttle", "err", rerr)
		}
		p.audit(ctx, userID, "mfa.used", userID, map[string]any{"method": method})
	}
	return err
}

// issueBackupCodes replaces the user's backup codes and returns the new
// ones, for showing exactly once.
func (p *Provider) issueBackupCodes(ctx context.Context, userID string) ([]string, error) {
	codes, err := p.codes.Generate()
	if err != nil {
		return nil, err
	}
	rows := make([]storage.BackupCode, len(codes))
	for i, c := range codes {
		canon, err := backupcodes.Normalize(c)
		if err != nil {
			return nil, err
		}
		h, err := p.codes.Hash(canon)
		if err != nil {
			return nil, err
		}
		rows[i] = storage.BackupCode{ID: randomToken(16), UserID: userID, Tag: p.codes.Tag(canon), Hash: h}
	}
	if err := p.store.ReplaceBackupCodes(ctx, userID, rows); err != nil {
		return nil, err
	}
	p.audit(ctx, userID, "backup_codes.generated", userID, nil)
	return codes, nil
}

// addFactor records a proven factor on the session and gives it a new
// cookie value: the old one means nothing afterwards.
func (p *Provider) addFactor(ctx context.Context, s *storage.Session, oldCookie string, f storage.SessionFactor) (*SessionCookie, error) {
	value := randomToken(32)
	if err := p.store.AddSessionFactor(ctx, s.ID, hashSecret(oldCookie), hashSecret(value), f); err != nil {
		return nil, err
	}
	return &SessionCookie{Value: value, Expires: s.ExpiresAt}, nil
}

// totpKey describes an authenticator for the enrollment page.
func (p *Provider) totpKey(user *storage.User, a *storage.TOTPAuthenticator) (TOTPEnrollment, error) {
	secret, err := p.openTOTP(a)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	issuer := "Twofold"
	if u, err := url.Parse(p.cfg.Issuer); err == nil {
		issuer = "Twofold (" + u.Hostname() + ")"
	}
	k := totp.Key{Secret: secret, Issuer: issuer, Account: user.Username}
	png, err := k.QRPNG(256)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	return TOTPEnrollment{
		ID: a.ID, URI: k.URI(), QRPNG: png,
		Secret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret),
	}, nil
}

// newTOTP creates an unconfirmed authenticator with a fresh secret.
func (p *Provider) newTOTP(ctx context.Context, user *storage.User, name string) (*storage.TOTPAuthenticator, error) {
	secret, err := totp.GenerateSecret()
	if err != nil {
		return nil, err
	}
	a := &storage.TOTPAuthenticator{ID: randomToken(16), UserID: user.ID, Name: name}
	if a.SecretSealed, err = p.sealTOTP(a.ID, secret); err != nil {
		return nil, err
	}
	if err := p.store.CreateTOTP(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// confirmTOTP activates an authenticator with its first valid code.
func (p *Provider) confirmTOTP(ctx context.Context, user *storage.User, id, code string) error {
	return p.checkOTP(ctx, user.ID, string(policy.TOTP), func() error {
		a, err := p.store.GetTOTP(ctx, user.ID, id)
		if isNotFound(err) || (err == nil && a.ConfirmedAt != nil) {
			return ErrInvalidCode
		}
		if err != nil {
			return err
		}
		secret, err := p.openTOTP(a)
		if err != nil {
			return err
		}
		step, err := totp.Verify(secret, code, p.now(), -1)
		if err != nil {
			return ErrInvalidCode
		}
		if err := p.store.ConfirmTOTP(ctx, user.ID, id, step); err != nil {
			if isNotFound(err) {
				return ErrInvalidCode
			}
			return err
		}
		p.audit(ctx, user.ID, "totp.enrolled", user.ID, map[string]any{"authenticator": id})
		return nil
	})
}
