package account

import (
	"context"
	"errors"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/factors"
	"github.com/twofold-idp/twofold/idp/login"
	"github.com/twofold-idp/twofold/storage"
)

// What an administrator may see and do about someone else's account (the
// admin API): the same lists as the account page, without any secret, and
// the same ends and forgets, audited under the administrator's name.

func (s *Service) adminUser(ctx context.Context, userID string) (*storage.User, error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return nil, notFound(err)
	}
	return u, nil
}

// UserFactors lists the user's second factors: names, kinds, when they
// were added and last used — never a secret.
func (s *Service) UserFactors(ctx context.Context, userID string) ([]idp.FactorView, int, error) {
	if _, err := s.adminUser(ctx, userID); err != nil {
		return nil, 0, err
	}
	out := []idp.FactorView{}
	for _, f := range s.factors.Managed() {
		list, err := f.List(ctx, userID)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, list...)
	}
	enrolled, err := s.factors.Enrolled(ctx, userID)
	if err != nil {
		return nil, 0, err
	}
	return out, int(enrolled.Counts.BackupCodes), nil
}

// UserSessions lists the user's live sessions.
func (s *Service) UserSessions(ctx context.Context, userID string) ([]idp.SessionView, error) {
	if _, err := s.adminUser(ctx, userID); err != nil {
		return nil, err
	}
	sessions, err := s.store.ListUserSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := []idp.SessionView{}
	for _, x := range sessions {
		out = append(out, idp.SessionView{ID: x.ID, CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt, IP: x.IP, UserAgent: x.UserAgent})
	}
	return out, nil
}

// EndUserSession ends one of the user's sessions and revokes its tokens.
func (s *Service) EndUserSession(ctx context.Context, actor idp.Actor, userID, sessionID string) error {
	target, err := s.store.GetSession(ctx, sessionID)
	if err != nil || target.UserID != userID || target.EndedAt != nil {
		return idp.ErrNotFound
	}
	if err := s.sessions.Terminate(ctx, target, "admin"); err != nil {
		return err
	}
	s.audit.Record(ctx, actor, "session.ended_by_admin", userID, map[string]any{"session_id": sessionID})
	return nil
}

// EndUserSessions ends every session of the user and revokes every token
// issued to them.
func (s *Service) EndUserSessions(ctx context.Context, actor idp.Actor, userID string) (int, error) {
	if _, err := s.adminUser(ctx, userID); err != nil {
		return 0, err
	}
	sessions, err := s.store.ListUserSessions(ctx, userID)
	if err != nil {
		return 0, err
	}
	for i := range sessions {
		if err := s.sessions.Terminate(ctx, &sessions[i], "admin"); err != nil {
			return 0, err
		}
	}
	if err := s.store.RevokeUserTokens(ctx, userID); err != nil {
		return 0, err
	}
	s.audit.Record(ctx, actor, "sessions.ended_by_admin", userID, map[string]any{"sessions": len(sessions)})
	return len(sessions), nil
}

// UserDevices lists the user's remembered devices.
func (s *Service) UserDevices(ctx context.Context, userID string) ([]idp.DeviceView, error) {
	if _, err := s.adminUser(ctx, userID); err != nil {
		return nil, err
	}
	devices, err := s.store.ListRememberedDevices(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := []idp.DeviceView{}
	for _, d := range devices {
		out = append(out, idp.DeviceView{ID: d.ID, Label: d.Label, CreatedAt: d.CreatedAt, ExpiresAt: d.ExpiresAt, LastUsedAt: d.LastUsedAt})
	}
	return out, nil
}

// ForgetUserDevice stops trusting one of the user's remembered devices.
func (s *Service) ForgetUserDevice(ctx context.Context, actor idp.Actor, userID, deviceID string) error {
	if err := s.store.ForgetRememberedDevice(ctx, userID, deviceID); err != nil {
		return notFound(err)
	}
	s.audit.Record(ctx, actor, "device.forgotten_by_admin", userID, map[string]any{"device": deviceID})
	return nil
}

// ForgetUserDevices stops trusting every remembered device of the user.
func (s *Service) ForgetUserDevices(ctx context.Context, actor idp.Actor, userID string) error {
	if _, err := s.adminUser(ctx, userID); err != nil {
		return err
	}
	if err := s.store.ForgetRememberedDevices(ctx, userID); err != nil {
		return err
	}
	s.audit.Record(ctx, actor, "devices.forgotten_by_admin", userID, nil)
	return nil
}

// UnlockUser forgets the failed attempts counted against the account: its
// one-time codes and its password from unknown browsers. (Per-address
// counters belong to the address, not the account, and stay.)
func (s *Service) UnlockUser(ctx context.Context, actor idp.Actor, userID string) error {
	u, err := s.adminUser(ctx, userID)
	if err != nil {
		return err
	}
	for _, key := range []string{factors.OTPThrottleKey(u.ID), login.AccountThrottleKey(storage.NormalizeUsername(u.Username))} {
		if err := s.store.ResetThrottle(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	s.audit.Record(ctx, actor, "user.unlocked", userID, map[string]any{"username": u.Username})
	return nil
}
