package recovery

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/throttle"
	"github.com/twofold-idp/twofold/storage"
)

// maxNameLen bounds what a forgotten-password request may name: the
// longest username or email address.
const maxNameLen = 320

// signInID is what a sign-in request id looks like (idp.RandomToken(16)):
// only such an id rides along in a mailed link.
var signInID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ResetPath is the page a reset link opens, under the issuer.
const ResetPath = "/login/reset-password"

// RequestPasswordReset asks for a forgotten-password link for the account
// called name (a username, or a verified email address). Whether an
// account matches, is disabled or has no verified address, the answer is
// the same and as fast (SECURITY-RULES: "Unknown user, wrong password,
// disabled account, with or without MFA: the same status, message,
// redirects, cookies and timing"): the lookup and the mail happen in the
// background. The only error is an *idp.ThrottledError from the limits on
// requests, counted alike for every name, or an *idp.InputError for an
// empty or over-long name. authRequestID, when it is a sign-in request's
// id, rides along in the link so that the sign-in can continue afterwards.
func (s *Service) RequestPasswordReset(ctx context.Context, b idp.Browser, name, authRequestID string) error {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return idp.InputErrorf("username", "is required")
	case len(name) > maxNameLen || !utf8.ValidString(name):
		return idp.InputErrorf("username", "is not a username or an email address")
	}
	if _, err := s.limiter.Begin(ctx,
		throttle.Limit{Key: "recovery:reset:ip:" + addressKey(b.IP), Rule: resetPerAddress},
		throttle.Limit{Key: "recovery:reset:name:" + strings.ToLower(name), Rule: resetPerName},
	); err != nil {
		return err
	}
	if !signInID.MatchString(authRequestID) {
		authRequestID = ""
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		s.sendResetLinks(ctx, b, name, authRequestID)
	}()
	return nil
}

// sendResetLinks mails a reset link to every account name reaches that
// may have one. It runs in the background: nothing it finds reaches the
// person who asked, only the log and the audit trail.
func (s *Service) sendResetLinks(ctx context.Context, b idp.Browser, name, authRequestID string) {
	var users []storage.User
	u, err := s.store.GetUserByUsername(ctx, name)
	switch {
	case err == nil:
		users = []storage.User{*u}
	case errors.Is(err, storage.ErrNotFound) && strings.Contains(name, "@"):
		users, err = s.store.UsersByVerifiedEmail(ctx, name)
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.ErrorContext(ctx, "forgotten password: look the account up", "err", err)
		return
	}
	if len(users) == 0 {
		// Not the name (people type passwords into the field), only that
		// someone asked.
		s.audit.Record(ctx, idp.Actor{ID: "anonymous", IP: b.IP, RequestID: b.RequestID}, "password.reset_requested", "", map[string]any{"sent": false, "reason": "no such account"})
		return
	}
	for i := range users {
		s.sendResetLink(ctx, b, &users[i], authRequestID)
	}
}

// sendResetLink mails u a reset link, if u may have one.
func (s *Service) sendResetLink(ctx context.Context, b idp.Browser, u *storage.User, authRequestID string) {
	// Whoever asked is not known to be the user.
	asker := idp.Actor{ID: "anonymous", IP: b.IP, RequestID: b.RequestID}
	refuse := func(reason string) {
		s.audit.Record(ctx, asker, "password.reset_requested", u.ID, map[string]any{"sent": false, "reason": reason})
	}
	switch {
	case u.Disabled:
		refuse("the account is disabled")
		return
	case !verified(u):
		refuse("the account has no verified email address")
		return
	}
	token := idp.RandomToken(32)
	// Stored before it is sent, so that the link works as soon as it
	// arrives; kept beside the links sent before (each works once, all end
	// with a reset), so a refused send never takes a delivered link away.
	code := &storage.OneTimeCode{
		ID: idp.RandomToken(16), UserID: u.ID, Purpose: storage.PurposePasswordReset, Target: u.Email,
		CodeHash: s.hash(storage.PurposePasswordReset, token), ExpiresAt: s.now().Add(ResetLinkTTL),
	}
	if err := s.store.CreateOneTimeCode(ctx, code, true); err != nil {
		s.log.ErrorContext(ctx, "forgotten password: store the link", "user_id", u.ID, "err", err)
		refuse("error")
		return
	}
	link := s.cfg.Issuer + ResetPath + "?t=" + token
	if authRequestID != "" {
		link += "&id=" + url.QueryEscape(authRequestID)
	}
	err := s.send.SendEmail(ctx, channels.Message{Kind: notify.PasswordReset, To: u.Email, ClientIP: b.IP,
		Data: notify.Data{Username: u.Username, Link: link, ExpiresIn: ResetLinkTTL}})
	if err != nil {
		s.log.WarnContext(ctx, "forgotten password: the link was not sent", "user_id", u.ID, "err", err)
		if _, rerr := s.store.UseOneTimeCode(ctx, code.ID); rerr != nil { // nobody got it: retire it
			s.log.WarnContext(ctx, "forgotten password: retire an unsent link", "err", rerr)
		}
		var throttled *idp.ThrottledError
		if errors.As(err, &throttled) {
			refuse("too many mails to this address")
		} else {
			refuse("the mail could not be sent")
		}
		return
	}
	s.audit.Record(ctx, asker, "password.reset_requested", u.ID, map[string]any{"sent": true})
}

// ResetLink is a live reset link, as its page shows it.
type ResetLink struct {
	Username string
	user     *storage.User
	code     *storage.OneTimeCode
}

// PasswordResetLink checks a reset link's token and says whose it is:
// ErrLinkInvalid when it is unknown (tampered), expired or used, or no
// longer fits the account (disabled, its address changed or unverified).
// It changes nothing: a mail scanner opening the link spends nothing.
func (s *Service) PasswordResetLink(ctx context.Context, token string) (ResetLink, error) {
	if !validToken(token) {
		return ResetLink{}, ErrLinkInvalid
	}
	// The lookup is by the keyed hash of a 256-bit token: its timing tells
	// nothing about any other token.
	c, err := s.store.OneTimeCodeByHash(ctx, storage.PurposePasswordReset, s.hash(storage.PurposePasswordReset, token))
	if err != nil {
		return ResetLink{}, notFound(err, ErrLinkInvalid)
	}
	u, err := s.store.GetUser(ctx, c.UserID)
	if err != nil {
		return ResetLink{}, notFound(err, ErrLinkInvalid)
	}
	if u.Disabled || !verified(u) || !strings.EqualFold(u.Email, c.Target) {
		return ResetLink{}, ErrLinkInvalid
	}
	return ResetLink{Username: u.Username, user: u, code: c}, nil
}

// ResetPassword sets a new password through a reset link, which works
// once: of concurrent uses one succeeds, the others get ErrLinkInvalid. A
// password the rules refuse is an *idp.InputError (field "password") and
// leaves the link usable. Afterwards every session of the user has ended,
// every token is revoked, no remembered device stands in for a second
// factor, every other reset link is retired, and the user is told on every
// channel. It signs nobody in: the next sign-in asks for the password and
// the second factor as before — a reset never lowers the level.
func (s *Service) ResetPassword(ctx context.Context, b idp.Browser, token, password string) (string, error) {
	l, err := s.PasswordResetLink(ctx, token)
	if err != nil {
		return "", err
	}
	u := l.user
	hash, err := s.passwords.NewPasswordHash(ctx, u.ID, password)
	if err != nil {
		return "", err
	}
	ok, err := s.store.UseOneTimeCode(ctx, l.code.ID)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", ErrLinkInvalid // used meanwhile (a parallel submission), or expired
	}
	if err := s.store.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return "", err
	}
	if err := s.store.RetireOneTimeCodes(ctx, u.ID, storage.PurposePasswordReset); err != nil {
		return "", err
	}
	ended, err := s.store.EndUserSessions(ctx, u.ID)
	if err != nil {
		return "", err
	}
	if err := s.store.RevokeUserTokens(ctx, u.ID); err != nil {
		return "", err
	}
	if err := s.store.ForgetRememberedDevices(ctx, u.ID); err != nil {
		return "", err
	}
	s.audit.Record(ctx, actor(u.ID, b), "password.reset", u.ID, map[string]any{"sessions_ended": ended})
	s.tell(ctx, u, notify.PasswordChanged, notify.Data{When: s.now(), IP: b.IP})
	return u.Username, nil
}
