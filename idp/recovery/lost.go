package recovery

import (
	"context"
	"crypto/hmac"
	"errors"
	"strings"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/throttle"
	"github.com/twofold-idp/twofold/storage"
)

// CancelPath is the page a recovery's cancel link opens, under the issuer.
const CancelPath = "/recovery/cancel"

// ReenrollReason is the reason a completed recovery gives the forced
// re-enrollment, kept in its audit event.
const ReenrollReason = "self-service recovery of a lost second factor"

// Status is where a user stands in recovering a lost second factor.
type Status struct {
	// Email is the verified address codes go to, masked (MaskEmail); "":
	// none, so no self-service recovery.
	Email string
	// Open is the user's recovery that is neither cancelled nor completed.
	Open *storage.Recovery
	// Ready: Open may be completed now.
	Ready bool
	// CodeSent: a code was sent for the next step (starting, or completing
	// a ready recovery) and still works.
	CodeSent bool
	// Wait is how long a recovery waits.
	Wait time.Duration
}

// Status says where user stands: what the lost-factor page shows.
func (s *Service) Status(ctx context.Context, user *storage.User) (Status, error) {
	st := Status{Wait: s.cfg.Wait}
	if verified(user) {
		st.Email = MaskEmail(user.Email)
	}
	open, err := s.store.OpenRecovery(ctx, user.ID)
	switch {
	case err == nil:
		st.Open, st.Ready = open, !s.now().Before(open.ReadyAt)
	case !errors.Is(err, storage.ErrNotFound):
		return st, err
	}
	if st.Email != "" && (st.Open == nil || st.Ready) {
		c, err := s.store.LiveOneTimeCode(ctx, user.ID, storage.PurposeRecovery)
		switch {
		case err == nil:
			st.CodeSent = st.Open == nil || !c.CreatedAt.Before(st.Open.ReadyAt)
		case !errors.Is(err, storage.ErrNotFound):
			return st, err
		}
	}
	return st, nil
}

// Open is the user's open recovery, or nil.
func (s *Service) Open(ctx context.Context, userID string) (*storage.Recovery, error) {
	r, err := s.store.OpenRecovery(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return r, err
}

// SendCode mails user a code that proves they read their verified
// address: the next step of their recovery, starting one or completing a
// ready one. A new code replaces the one sent before — but only once it
// was handed to the mail server, so a refused send (an *idp.ThrottledError,
// channels.ErrSendFailed) leaves the earlier code working. ErrNoVerifiedEmail
// without an address; ErrRecoveryPending while a recovery waits.
func (s *Service) SendCode(ctx context.Context, b idp.Browser, user *storage.User) error {
	if !verified(user) {
		return ErrNoVerifiedEmail
	}
	open, err := s.Open(ctx, user.ID)
	if err != nil {
		return err
	}
	step := "start"
	if open != nil {
		if s.now().Before(open.ReadyAt) {
			return ErrRecoveryPending
		}
		step = "complete"
	}
	code := newCode()
	err = s.send.SendEmail(ctx, channels.Message{Kind: notify.SignInCode, To: user.Email, ClientIP: b.IP,
		Data: notify.Data{Username: user.Username, Code: code, ExpiresIn: CodeTTL}})
	if err != nil {
		return err
	}
	err = s.store.CreateOneTimeCode(ctx, &storage.OneTimeCode{
		ID: idp.RandomToken(16), UserID: user.ID, Purpose: storage.PurposeRecovery, Target: user.Email,
		CodeHash: s.hash(storage.PurposeRecovery, code), ExpiresAt: s.now().Add(CodeTTL),
	}, false)
	if err != nil {
		return err
	}
	s.audit.Record(ctx, actor(user.ID, b), "recovery.code_sent", user.ID, map[string]any{"step": step})
	return nil
}

// checkCode spends the user's live recovery code if code is it. Attempts
// are counted first (codeRule: while throttled even the right code is
// refused, an *idp.ThrottledError), a wrong guess counts against the code
// too (MaxCodeAttempts retire it), and the right one works once:
// idp.ErrInvalidCode otherwise. A code sent before notBefore, or to an
// address that is no longer the user's verified one, does not count.
func (s *Service) checkCode(ctx context.Context, b idp.Browser, user *storage.User, code string, notBefore time.Time) error {
	attempt, err := s.limiter.Begin(ctx, throttle.Limit{Key: "recovery:code:" + user.ID, Rule: codeRule})
	if err != nil {
		var throttled *idp.ThrottledError
		if errors.As(err, &throttled) {
			s.audit.Record(ctx, actor(user.ID, b), "recovery.throttled", user.ID, nil)
		}
		return err
	}
	failed := func() error {
		s.audit.Record(ctx, actor(user.ID, b), "recovery.code_failed", user.ID, nil)
		return idp.ErrInvalidCode // the attempt stays counted
	}
	code, ok := normalizeCode(code)
	c, err := s.store.LiveOneTimeCode(ctx, user.ID, storage.PurposeRecovery)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return failed()
	case err != nil:
		attempt.Release(ctx)
		return err
	}
	if !ok || !verified(user) || !strings.EqualFold(c.Target, user.Email) || c.CreatedAt.Before(notBefore) ||
		!hmac.Equal([]byte(s.hash(storage.PurposeRecovery, code)), []byte(c.CodeHash)) {
		if _, err := s.store.FailOneTimeCode(ctx, c.ID, MaxCodeAttempts); err != nil {
			s.log.WarnContext(ctx, "count a wrong recovery code", "err", err)
		}
		return failed()
	}
	used, err := s.store.UseOneTimeCode(ctx, c.ID)
	if err != nil {
		attempt.Release(ctx)
		return err
	}
	if !used {
		return failed() // spent meanwhile by a parallel submission
	}
	attempt.Succeeded(ctx)
	return nil
}

// Start starts a recovery of user with the code SendCode mailed: it can
// be completed after the waiting period unless cancelled through the link
// every channel of the user is sent meanwhile. It returns the recovery
// (the one a concurrent start made, if it won). Errors: ErrNoVerifiedEmail,
// ErrRecoveryPending, idp.ErrInvalidCode, *idp.ThrottledError.
func (s *Service) Start(ctx context.Context, b idp.Browser, user *storage.User, code string) (*storage.Recovery, error) {
	if !verified(user) {
		return nil, ErrNoVerifiedEmail
	}
	switch open, err := s.Open(ctx, user.ID); {
	case err != nil:
		return nil, err
	case open != nil:
		return open, ErrRecoveryPending
	}
	if err := s.checkCode(ctx, b, user, code, time.Time{}); err != nil {
		return nil, err
	}
	token := idp.RandomToken(32)
	now := s.now()
	r, created, err := s.store.StartRecovery(ctx, &storage.Recovery{
		ID: idp.RandomToken(16), UserID: user.ID, CancelHash: s.hash(storage.PurposeRecovery+":cancel", token),
		StartedAt: now, ReadyAt: now.Add(s.cfg.Wait),
	})
	if err != nil || !created {
		return r, err // a concurrent start won: its notifications went out
	}
	s.audit.Record(ctx, actor(user.ID, b), "recovery.started", user.ID, map[string]any{"recovery_id": r.ID, "ready_at": r.ReadyAt})
	d := notify.Data{CompletesAt: r.ReadyAt, CancelLink: s.cfg.Issuer + CancelPath + "?t=" + token, When: now, IP: b.IP}
	if s.cfg.ReportLink != nil {
		d.ReportLink = s.reportLink(ctx, user)
	}
	s.tell(ctx, user, notify.RecoveryStarted, d)
	return r, nil
}

// Complete completes user's ready recovery with a code SendCode mailed
// after it became ready: once — of concurrent completions one succeeds,
// the others get ErrNoRecovery or idp.ErrInvalidCode. Every second factor
// of the user is removed, their sessions end, their tokens are revoked and
// the next sign-in must enroll a new factor (the forced re-enrollment);
// every channel of the user is told. Errors: ErrNoRecovery,
// ErrRecoveryNotReady, idp.ErrInvalidCode, *idp.ThrottledError.
func (s *Service) Complete(ctx context.Context, b idp.Browser, user *storage.User, code string) error {
	open, err := s.Open(ctx, user.ID)
	switch {
	case err != nil:
		return err
	case open == nil:
		return ErrNoRecovery
	case s.now().Before(open.ReadyAt):
		return ErrRecoveryNotReady
	}
	if err := s.checkCode(ctx, b, user, code, open.ReadyAt); err != nil {
		return err
	}
	done, err := s.store.CompleteRecovery(ctx, open.ID)
	if err != nil {
		return err
	}
	if !done {
		return ErrNoRecovery // cancelled or completed meanwhile
	}
	if err := s.reenroll.ForceReenrollment(ctx, actor(user.ID, b), user.ID, ReenrollReason); err != nil {
		s.log.ErrorContext(ctx, "recovery completed but the factors were not reset", "user_id", user.ID, "err", err)
		return err
	}
	s.audit.Record(ctx, actor(user.ID, b), "recovery.completed", user.ID, map[string]any{"recovery_id": open.ID})
	s.tell(ctx, user, notify.RecoveryCompleted, notify.Data{When: s.now(), IP: b.IP})
	return nil
}

// CancelLink is the recovery a cancel link stops, as its page shows it.
type CancelLink struct {
	StartedAt, ReadyAt time.Time
}

// CancelPrompt checks a cancel link's token: the recovery it stops, or
// ErrLinkInvalid (unknown, cancelled or completed). It changes nothing: a
// mail scanner opening the link cancels nothing.
func (s *Service) CancelPrompt(ctx context.Context, token string) (CancelLink, error) {
	if !validToken(token) {
		return CancelLink{}, ErrLinkInvalid
	}
	r, err := s.store.RecoveryByCancelHash(ctx, s.hash(storage.PurposeRecovery+":cancel", token))
	if err != nil {
		return CancelLink{}, notFound(err, ErrLinkInvalid)
	}
	return CancelLink{StartedAt: r.StartedAt, ReadyAt: r.ReadyAt}, nil
}

// Cancel stops the recovery of a cancel link, once (ErrLinkInvalid
// afterwards): it can no longer be completed, and its codes stop working.
func (s *Service) Cancel(ctx context.Context, b idp.Browser, token string) error {
	if !validToken(token) {
		return ErrLinkInvalid
	}
	r, err := s.store.CancelRecovery(ctx, s.hash(storage.PurposeRecovery+":cancel", token))
	if err != nil {
		return notFound(err, ErrLinkInvalid)
	}
	if err := s.store.RetireOneTimeCodes(ctx, r.UserID, storage.PurposeRecovery); err != nil {
		return err
	}
	// Whoever follows the link reads the user's mail or text messages.
	s.audit.Record(ctx, actor(r.UserID, b), "recovery.cancelled", r.UserID, map[string]any{"recovery_id": r.ID})
	return nil
}
