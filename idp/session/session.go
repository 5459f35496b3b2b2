package session

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// Store is the storage of sessions.
type Store interface {
	GetLiveSessionByCookieHash(ctx context.Context, cookieHash string) (*storage.Session, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)
	CreateSession(ctx context.Context, s *storage.Session) error
	AddSessionFactor(ctx context.Context, id, oldHash, newHash string, f storage.SessionFactor) error
	TouchSession(ctx context.Context, id string, idleExpiresAt time.Time) error
	EndSession(ctx context.Context, id string) error
	SupersedeSession(ctx context.Context, oldID, newID string) error
	RevokeSessionTokens(ctx context.Context, sessionID string) error
	CompleteSession(ctx context.Context, id string) error
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

var _ Store = (*storage.Store)(nil)

// Config holds the session lifetimes; zero values take defaults.
type Config struct {
	IdleTimeout time.Duration // default 12h
	Lifetime    time.Duration // default 14 days
}

// Service starts, loads, extends and ends SSO sessions.
type Service struct {
	store Store
	cfg   Config
	audit idp.Auditor
	log   *slog.Logger
	now   func() time.Time
}

// New wires a Service. now may be nil (time.Now).
func New(store Store, cfg Config, logger *slog.Logger, now func() time.Time) *Service {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 12 * time.Hour
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = 14 * 24 * time.Hour
	}
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, cfg: cfg, audit: idp.Auditor{Store: store, Log: logger}, log: logger, now: now}
}

// Load returns the live, complete session behind a cookie value and its
// (enabled) user, or nils when there is none. A pending session — its
// sign-in has not met its policy — is none here (SECURITY-RULES: "A
// half-authenticated session … is not a session").
func (s *Service) Load(ctx context.Context, cookie string) (*storage.Session, *storage.User, error) {
	return s.LoadFor(ctx, cookie, "")
}

// LoadFor is Load for the sign-in of auth request authRequestID: a session
// pending for that very sign-in is returned too.
func (s *Service) LoadFor(ctx context.Context, cookie, authRequestID string) (*storage.Session, *storage.User, error) {
	sess, u, err := s.loadAny(ctx, cookie)
	if err != nil || sess == nil {
		return nil, nil, err
	}
	if sess.PendingRequest != nil && (authRequestID == "" || *sess.PendingRequest != authRequestID) {
		return nil, nil, nil
	}
	return sess, u, nil
}

// loadAny returns the live session behind a cookie, pending or not.
func (s *Service) loadAny(ctx context.Context, cookie string) (*storage.Session, *storage.User, error) {
	if cookie == "" {
		return nil, nil, nil
	}
	sess, err := s.store.GetLiveSessionByCookieHash(ctx, idp.HashSecret(cookie))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	u, err := s.store.GetUser(ctx, sess.UserID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return sess, u, nil
}

// Complete marks the session's sign-in done: from now on it is a session
// for everything (account pages, silent SSO).
func (s *Service) Complete(ctx context.Context, sess *storage.Session) error {
	if sess.PendingRequest == nil {
		return nil
	}
	if err := s.store.CompleteSession(ctx, sess.ID); err != nil {
		return err
	}
	sess.PendingRequest = nil
	return nil
}

// Start begins a new SSO session after a first factor, pending until the
// sign-in of auth request authRequestID meets its policy. Whatever session
// the browser had ends: a new sign-in never inherits an old session's
// factors, and the cookie value is new (session fixation). Another user's
// session ends as a logout does (its back-channel logouts are sent, its
// tokens revoked); the same user's is superseded (see
// storage.Store.SupersedeSession): the user is still signed in.
func (s *Service) Start(ctx context.Context, userID, authRequestID string, b idp.Browser, f storage.SessionFactor) (*idp.SessionCookie, error) {
	old, _, err := s.loadAny(ctx, b.SessionCookie)
	if err != nil {
		old = nil
	}
	if old != nil && old.UserID != userID {
		if err := s.Terminate(ctx, old, "replaced"); err != nil {
			return nil, err
		}
		old = nil
	}
	now := s.now()
	value := idp.RandomToken(32)
	sess := &storage.Session{
		ID: idp.RandomToken(16), CookieHash: idp.HashSecret(value), UserID: userID,
		Factors: storage.SessionFactors{f}, AuthTime: f.At,
		CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(s.cfg.IdleTimeout), ExpiresAt: now.Add(s.cfg.Lifetime),
		IP: b.IP, UserAgent: b.UserAgent, PendingRequest: &authRequestID,
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	if old != nil {
		if err := s.store.SupersedeSession(ctx, old.ID, sess.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
	}
	return &idp.SessionCookie{Value: value, Expires: sess.ExpiresAt}, nil
}

// AddFactor records a proven factor on the session and gives it a new
// cookie value: the old one means nothing afterwards.
func (s *Service) AddFactor(ctx context.Context, sess *storage.Session, oldCookie string, f storage.SessionFactor) (*idp.SessionCookie, error) {
	value := idp.RandomToken(32)
	if err := s.store.AddSessionFactor(ctx, sess.ID, idp.HashSecret(oldCookie), idp.HashSecret(value), f); err != nil {
		return nil, err
	}
	return &idp.SessionCookie{Value: value, Expires: sess.ExpiresAt}, nil
}

// Touch extends the session's idle expiry (never past its lifetime).
func (s *Service) Touch(ctx context.Context, sess *storage.Session) {
	t := s.now().Add(s.cfg.IdleTimeout)
	if t.After(sess.ExpiresAt) {
		t = sess.ExpiresAt
	}
	if err := s.store.TouchSession(ctx, sess.ID, t); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.WarnContext(ctx, "touch session", "err", err)
	}
}

// Terminate ends a session and revokes the tokens issued from it.
func (s *Service) Terminate(ctx context.Context, sess *storage.Session, via string) error {
	if err := s.store.EndSession(ctx, sess.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if err := s.store.RevokeSessionTokens(ctx, sess.ID); err != nil {
		return err
	}
	s.audit.Record(ctx, idp.UserActor(sess.UserID), "session.ended", sess.UserID, map[string]any{"session_id": sess.ID, "via": via})
	return nil
}
