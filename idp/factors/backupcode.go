package factors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/backupcodes"
	"github.com/twofold-idp/twofold/storage"
)

// BackupCodeStore is the storage of backup codes.
type BackupCodeStore interface {
	ReplaceBackupCodes(ctx context.Context, userID string, codes []storage.BackupCode) error
	FindBackupCode(ctx context.Context, userID, tag string) (*storage.BackupCode, error)
	UseBackupCode(ctx context.Context, id string) error
	CountUnusedBackupCodes(ctx context.Context, userID string) (int64, error)
	DeleteBackupCodes(ctx context.Context, userID string) error
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

// BackupCodes is the recovery factor: single-use look-up secrets, amr bkc
// (RFC 8176 names no value for them; "bkc" is ours).
type BackupCodes struct {
	store  BackupCodeStore
	hasher *backupcodes.Hasher
	audit  idp.Auditor
	now    func() time.Time
}

var _ Factor = (*BackupCodes)(nil)

// NewBackupCodes wires the factor.
func NewBackupCodes(store BackupCodeStore, hasher *backupcodes.Hasher, logger *slog.Logger, now func() time.Time) *BackupCodes {
	return &BackupCodes{store: store, hasher: hasher, audit: idp.Auditor{Store: store, Log: logger}, now: now}
}

func (b *BackupCodes) Method() policy.Method               { return policy.BackupCode }
func (b *BackupCodes) Enrolled(c storage.FactorCounts) int { return int(c.BackupCodes) }
func (b *BackupCodes) Enrollable() bool                    { return false }
func (b *BackupCodes) PhishingResistant() bool             { return false }
func (b *BackupCodes) OneTimeCode() bool                   { return true }
func (b *BackupCodes) Begin(context.Context, *storage.User, Challenge) ([]byte, error) {
	return nil, nil
}

// Verify consumes one of the user's backup codes: the lookup tag finds the
// one candidate, so checking costs one KDF evaluation.
func (b *BackupCodes) Verify(ctx context.Context, user *storage.User, _ Challenge, input []byte) (storage.SessionFactor, error) {
	canon, err := backupcodes.Normalize(string(input))
	if err != nil {
		return storage.SessionFactor{}, idp.ErrInvalidCode
	}
	row, err := b.store.FindBackupCode(ctx, user.ID, b.hasher.Tag(canon))
	if errors.Is(err, storage.ErrNotFound) {
		return storage.SessionFactor{}, idp.ErrInvalidCode
	}
	if err != nil {
		return storage.SessionFactor{}, err
	}
	if !b.hasher.Verify(canon, row.Hash) {
		return storage.SessionFactor{}, idp.ErrInvalidCode
	}
	if err := b.store.UseBackupCode(ctx, row.ID); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return storage.SessionFactor{}, idp.ErrInvalidCode
		}
		return storage.SessionFactor{}, err
	}
	left, _ := b.store.CountUnusedBackupCodes(ctx, user.ID)
	b.audit.Record(ctx, idp.UserActor(user.ID), "backup_code.used", user.ID, map[string]any{"remaining": left})
	return proof(policy.BackupCode, b.now(), "bkc"), nil
}

// Issue replaces the user's backup codes and returns the new ones, for
// showing exactly once.
func (b *BackupCodes) Issue(ctx context.Context, userID string) ([]string, error) {
	codes, err := b.hasher.Generate()
	if err != nil {
		return nil, err
	}
	rows := make([]storage.BackupCode, len(codes))
	for i, c := range codes {
		canon, err := backupcodes.Normalize(c)
		if err != nil {
			return nil, err
		}
		h, err := b.hasher.Hash(canon)
		if err != nil {
			return nil, err
		}
		rows[i] = storage.BackupCode{ID: idp.RandomToken(16), UserID: userID, Tag: b.hasher.Tag(canon), Hash: h}
	}
	if err := b.store.ReplaceBackupCodes(ctx, userID, rows); err != nil {
		return nil, err
	}
	b.audit.Record(ctx, idp.UserActor(userID), "backup_codes.generated", userID, nil)
	return codes, nil
}

// Left counts the user's unused codes.
func (b *BackupCodes) Left(ctx context.Context, userID string) (int, error) {
	n, err := b.store.CountUnusedBackupCodes(ctx, userID)
	return int(n), err
}

// Delete removes every code: backup codes alone are not a second factor.
func (b *BackupCodes) Delete(ctx context.Context, userID string) error {
	return b.store.DeleteBackupCodes(ctx, userID)
}
