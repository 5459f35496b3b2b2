package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/recovery"
)

// The ways back into an account without an administrator (idp/recovery): a forgotten password (a link by mail),
// a lost second factor (a backup code, else a recovery that waits), and the enrollment grace's "Not now".

// RecoveryService backs the forgotten-password pages and the cancel links of recoveries (*recovery.Service).
type RecoveryService interface {
	// RequestPasswordReset asks for a reset link for a username or email address. It answers alike whether an
	// account matches or not; its only errors are *idp.ThrottledError and *idp.InputError.
	RequestPasswordReset(ctx context.Context, b idp.Browser, name, authRequestID string) error
	// PasswordResetLink checks a reset link's token without using it: recovery.ErrLinkInvalid when it is
	// tampered, expired or used.
	PasswordResetLink(ctx context.Context, token string) (recovery.ResetLink, error)
	// ResetPassword sets the new password through the link, once: recovery.ErrLinkInvalid, or an
	// *idp.InputError for a password the rules refuse (the link stays usable).
	ResetPassword(ctx context.Context, b idp.Browser, token, password string) (string, error)
	// CancelPrompt and Cancel are a recovery's cancel link: recovery.ErrLinkInvalid when it is tampered, or the
	// recovery is cancelled or completed.
	CancelPrompt(ctx context.Context, token string) (recovery.CancelLink, error)
	Cancel(ctx context.Context, b idp.Browser, token string) error
}

var _ RecoveryService = (*recovery.Service)(nil)

// LostFactorFlow is the "I can't use my authenticator" part of a sign-in at its second-factor step (*login.MFA).
type LostFactorFlow interface {
	LostFactor(ctx context.Context, authRequestID string, b idp.Browser) (idp.LostFactor, error)
	// SendRecoveryCode mails a code for the next step: recovery.ErrNoVerifiedEmail, recovery.ErrRecoveryPending,
	// *idp.ThrottledError, channels.ErrSendFailed.
	SendRecoveryCode(ctx context.Context, authRequestID string, b idp.Browser) error
	// StartRecovery and CompleteRecovery take the emailed code: idp.ErrInvalidCode, *idp.ThrottledError, and
	// the recovery package's errors for a recovery in another state.
	StartRecovery(ctx context.Context, authRequestID string, b idp.Browser, code string) error
	CompleteRecovery(ctx context.Context, authRequestID string, b idp.Browser, code string) (idp.Step, error)
}

// GraceFlow is the enrollment grace's "Not now" (*login.MFA): idp.ErrGraceOver once the grace is over.
type GraceFlow interface {
	EnrollLater(ctx context.Context, authRequestID string, b idp.Browser) (idp.Step, error)
}

// Paths of the recovery pages.
const (
	forgotPath          = "/login/forgot-password"
	forgotSentPath      = "/login/forgot-password/sent"
	resetDonePath       = "/login/reset-password/done"
	cancelDonePath      = "/recovery/cancelled"
	lostPath            = "/login/lost"
	lostCodePath        = "/login/lost/code"
	recoveryStartPath   = "/login/recovery/start"
	recoveryCompletePth = "/login/recovery/complete"
	enrollLaterPath     = "/login/enroll/later"
)

// Messages of the recovery pages' role="alert" boxes.
const (
	msgEnterName         = "Enter your username or email address."
	msgResetNameTooLong  = "That is too long for a username or an email address."
	msgEnterNewPassword  = "Enter a new password."
	msgPasswordsDiffer2  = "The two passwords do not match. Type the new one twice."
	msgEnterRecoveryCode = "Enter the code we emailed you."
	msgWrongRecoveryCode = "That code is not right, or it has expired. Check the latest email, or send a new code."
	msgGraceOver         = "The time to put this off is over: set up two-step sign-in now."
)

// maxNameLen bounds the forgotten-password form's username or email.
const maxNameLen = 320

func (s *Server) recoveryRoutes(r chi.Router) {
	if s.recovery != nil {
		r.Get(forgotPath, s.handleForgotPage)
		r.Post(forgotPath, s.handleForgotSubmit)
		r.Get(forgotSentPath, s.handleForgotSent)
		r.Get(recovery.ResetPath, s.handleResetPage)
		r.Post(recovery.ResetPath, s.handleResetSubmit)
		r.Get(resetDonePath, s.handleResetDone)
		r.Get(recovery.CancelPath, s.handleCancelPage)
		r.Post(recovery.CancelPath, s.handleCancelSubmit)
		r.Get(cancelDonePath, s.handleCancelDone)
	}
	if s.lostFactor != nil {
		r.Get(lostPath, s.handleLostPage)
		r.Post(lostCodePath, s.handleLostSendCode)
		r.Post(recoveryStartPath, s.handleRecoveryStart)
		r.Post(recoveryCompletePth, s.handleRecoveryComplete)
	}
	if s.grace != nil {
		r.Post(enrollLaterPath, s.handleEnrollLater)
	}
}

// signInID is id when it can name a sign-in request, else "": the pages that keep a sign-in going pass it on.
func signInID(id string) string {
	if validFlowID(id) {
		return id
	}
	return ""
}

// noticePage is a page that says one thing: a link that does not work, a change done. Alert, when set, is the
// role="alert" box; Next is where its button leads.
type noticePage struct {
	Title    string
	Alert    string
	Message  string
	Hint     string
	Next     string
	NextText string
	NextID   string // the button's id, for scripted clients
}

func (s *Server) renderNotice(w http.ResponseWriter, r *http.Request, status int, p noticePage) {
	s.render(w, r, status, "notice", p)
}

// linkInvalid answers a reset or cancel link that does not work: 401, as a wrong or replayed secret.
func (s *Server) linkInvalid(w http.ResponseWriter, r *http.Request, what string) {
	p := noticePage{Title: "This link does not work", Alert: msgLinkInvalid, Next: "/", NextText: "Go to the start page"}
	switch what {
	case "reset":
		p.Message = "A password reset link works once, for 30 minutes, and only the latest ones you asked for work. Ask for a new one from the sign-in page of your application."
	case "cancel":
		p.Message = "The recovery it was for may have been cancelled or completed already. If you did not start a recovery, change your password: whoever did knows it."
	}
	s.renderNotice(w, r, http.StatusUnauthorized, p)
}

// forgotPage asks for a forgotten-password link.
type forgotPage struct {
	CSRFToken     string
	AuthRequestID string // the sign-in to go back to; ""
	Username      string
	Error         string
	Invalid       bool
}

func (s *Server) renderForgot(w http.ResponseWriter, r *http.Request, status int, p forgotPage) {
	p.CSRFToken = s.csrfToken(w, r)
	s.render(w, r, status, "forgot_password", p)
}

func (s *Server) handleForgotPage(w http.ResponseWriter, r *http.Request) {
	s.renderForgot(w, r, http.StatusOK, forgotPage{AuthRequestID: signInID(r.URL.Query().Get("id"))})
}

// handleForgotSubmit asks for the link. Whatever the name, the answer is the same page (after the same work):
// only the limits on requests, counted alike for every name, can refuse it.
func (s *Server) handleForgotSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	p := forgotPage{AuthRequestID: signInID(r.PostForm.Get("id")), Username: r.PostForm.Get("username")}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("forgotten-password form refused", "reason", err)
		p.Error = csrfMessage
		s.renderForgot(w, r, http.StatusForbidden, p)
		return
	}
	switch {
	case p.Username == "":
		p.Error, p.Invalid = msgEnterName, true
		s.renderForgot(w, r, http.StatusBadRequest, p)
		return
	case len(p.Username) > maxNameLen:
		p.Error, p.Invalid = msgResetNameTooLong, true
		s.renderForgot(w, r, http.StatusBadRequest, p)
		return
	}
	err := s.recovery.RequestPasswordReset(r.Context(), s.browser(r), p.Username, p.AuthRequestID)
	var throttled *idp.ThrottledError
	var inputErr *idp.InputError
	switch {
	case err == nil:
		target := forgotSentPath
		if p.AuthRequestID != "" {
			target += "?id=" + url.QueryEscape(p.AuthRequestID)
		}
		s.seeOther(w, r, target)
	case errors.As(err, &throttled):
		s.log(r.Context()).Info("forgotten-password request refused", "reason", "throttled", "retry_after", throttled.RetryAfter)
		p.Error = retryAfter(w, throttled.RetryAfter)
		s.renderForgot(w, r, http.StatusTooManyRequests, p)
	case errors.As(err, &inputErr):
		p.Error, p.Invalid = msgEnterName, true
		s.renderForgot(w, r, http.StatusBadRequest, p)
	default:
		s.flowError(w, r, err)
	}
}

func (s *Server) handleForgotSent(w http.ResponseWriter, r *http.Request) {
	p := noticePage{
		Title:   "Check your email",
		Message: "If an account matches what you typed and has a verified email address, we have sent it a link to choose a new password. The link works once, for 30 minutes.",
		Hint:    "No email after a few minutes? Check your spam folder, and that you typed the username or address you use here. Without a verified email address, ask your administrator.",
	}
	if id := signInID(r.URL.Query().Get("id")); id != "" {
		p.Next, p.NextText, p.NextID = loginURL(id), "Back to sign-in", "back-to-sign-in"
	}
	s.renderNotice(w, r, http.StatusOK, p)
}

// resetPage sets the new password through a reset link.
type resetPage struct {
	CSRFToken     string
	Token         string
	AuthRequestID string
	Username      string
	MinPassword   int
	Error         string
	ErrorField    string // password or password_confirm
}

// Invalid reports whether the alert is about field.
func (p resetPage) Invalid(field string) bool { return p.Error != "" && p.ErrorField == field }

func (s *Server) renderReset(w http.ResponseWriter, r *http.Request, status int, p resetPage) {
	p.CSRFToken, p.MinPassword = s.csrfToken(w, r), directory.MinPasswordLength
	s.render(w, r, status, "reset_password", p)
}

// handleResetPage shows the reset form of a live link; opening it uses nothing (mail scanners open links).
func (s *Server) handleResetPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	l, err := s.recovery.PasswordResetLink(r.Context(), q.Get("t"))
	if err != nil {
		s.resetError(w, r, err)
		return
	}
	s.renderReset(w, r, http.StatusOK, resetPage{Token: q.Get("t"), AuthRequestID: signInID(q.Get("id")), Username: l.Username})
}

func (s *Server) handleResetSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	f := r.PostForm
	p := resetPage{Token: f.Get("token"), AuthRequestID: signInID(f.Get("id"))}
	l, err := s.recovery.PasswordResetLink(r.Context(), p.Token)
	if err != nil {
		s.resetError(w, r, err)
		return
	}
	p.Username = l.Username
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("password reset form refused", "reason", err)
		p.Error = csrfMessage
		s.renderReset(w, r, http.StatusForbidden, p)
		return
	}
	password := f.Get("password")
	switch {
	case password == "":
		p.Error, p.ErrorField = msgEnterNewPassword, "password"
	case password != f.Get("password_confirm"):
		p.Error, p.ErrorField = msgPasswordsDiffer2, "password_confirm"
	}
	if p.Error != "" {
		s.renderReset(w, r, http.StatusBadRequest, p)
		return
	}
	_, err = s.recovery.ResetPassword(r.Context(), s.browser(r), p.Token, password)
	var inputErr *idp.InputError
	switch {
	case err == nil:
		s.log(r.Context()).Info("password reset through a link")
		target := resetDonePath
		if p.AuthRequestID != "" {
			target += "?id=" + url.QueryEscape(p.AuthRequestID)
		}
		s.seeOther(w, r, target)
	case errors.As(err, &inputErr):
		p.Error, p.ErrorField = accountInputMessage(inputErr), "password"
		s.renderReset(w, r, http.StatusBadRequest, p)
	case errors.Is(err, idp.ErrBusy):
		retryAfter(w, idp.BusyRetryAfter)
		p.Error = msgBusy
		s.renderReset(w, r, http.StatusServiceUnavailable, p)
	default:
		s.resetError(w, r, err)
	}
}

// resetError answers a reset link that does not work, or a failure.
func (s *Server) resetError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, recovery.ErrLinkInvalid) {
		s.log(r.Context()).Info("password reset refused", "reason", "link not valid")
		s.linkInvalid(w, r, "reset")
		return
	}
	s.flowError(w, r, err)
}

func (s *Server) handleResetDone(w http.ResponseWriter, r *http.Request) {
	p := noticePage{
		Title:   "Your password was changed",
		Message: "You were signed out everywhere, and apps you had signed in to must sign you in again. Sign in with your new password; if your account has two-step sign-in, you will still be asked for your second factor.",
	}
	if id := signInID(r.URL.Query().Get("id")); id != "" {
		p.Next, p.NextText, p.NextID = loginURL(id), "Continue signing in", "continue-sign-in"
	} else {
		p.Hint = "Go back to the application you were signing in to, and sign in again."
	}
	s.renderNotice(w, r, http.StatusOK, p)
}

// cancelPage confirms cancelling a recovery: a GET never cancels (mail scanners follow links).
type cancelPage struct {
	CSRFToken string
	Token     string
	StartedAt string
	ReadyAt   string
	Error     string
}

func (s *Server) renderCancel(w http.ResponseWriter, r *http.Request, status int, token string, l recovery.CancelLink, alert string) {
	s.render(w, r, status, "recovery_cancel", cancelPage{
		CSRFToken: s.csrfToken(w, r), Token: token, StartedAt: dateWords(l.StartedAt), ReadyAt: dateWords(l.ReadyAt), Error: alert,
	})
}

func (s *Server) handleCancelPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("t")
	l, err := s.recovery.CancelPrompt(r.Context(), token)
	if err != nil {
		s.cancelError(w, r, err)
		return
	}
	s.renderCancel(w, r, http.StatusOK, token, l, "")
}

func (s *Server) handleCancelSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	token := r.PostForm.Get("token")
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("recovery cancel form refused", "reason", err)
		l, perr := s.recovery.CancelPrompt(r.Context(), token)
		if perr != nil {
			s.cancelError(w, r, perr)
			return
		}
		s.renderCancel(w, r, http.StatusForbidden, token, l, csrfMessage)
		return
	}
	if err := s.recovery.Cancel(r.Context(), s.browser(r), token); err != nil {
		s.cancelError(w, r, err)
		return
	}
	s.log(r.Context()).Info("recovery cancelled through its link")
	s.seeOther(w, r, cancelDonePath)
}

func (s *Server) cancelError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, recovery.ErrLinkInvalid) {
		s.log(r.Context()).Info("recovery cancel refused", "reason", "link not valid")
		s.linkInvalid(w, r, "cancel")
		return
	}
	s.flowError(w, r, err)
}

func (s *Server) handleCancelDone(w http.ResponseWriter, r *http.Request) {
	s.renderNotice(w, r, http.StatusOK, noticePage{
		Title:   "The recovery was cancelled",
		Message: "Your second factors stay as they are, and the recovery can no longer be completed.",
		Hint:    "If you did not start it, someone knows your password: sign in and change it now.",
	})
}

// dateWords says t in UTC, unambiguously for every reader, as the mails do: "Saturday, 12 December 2026 at
// 14:03 UTC".
func dateWords(t time.Time) string { return t.UTC().Format("Monday, 2 January 2006 at 15:04 UTC") }

// durationWords says a recovery's wait: "24 hours", "2 days", "30 minutes".
func durationWords(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return plural(int(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	default:
		return plural(max(int(d/time.Minute), 1), "minute")
	}
}

// lostFactorPage is "I can't use my authenticator": a backup code first, else a recovery by email.
type lostFactorPage struct {
	CSRFToken     string
	AuthRequestID string
	idp.LostFactor
	ReadyAt string // the recovery's, in words
	Wait    string // a new recovery's wait, in words
	Sent    bool   // a code was just sent
	Started bool   // a recovery was just started
	Error   string
	Invalid bool // Error is about the code field
	// The code form of the next step: form#recovery-start or form#recovery-complete.
	CodeForm, CodeAction, CodeButton string
}

func (s *Server) renderLost(w http.ResponseWriter, r *http.Request, status int, id string, p lostFactorPage) {
	lf, err := s.lostFactor.LostFactor(r.Context(), id, s.browser(r))
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	p.CSRFToken, p.AuthRequestID, p.LostFactor, p.Wait = s.csrfToken(w, r), id, lf, durationWords(lf.Wait)
	p.CodeForm, p.CodeAction, p.CodeButton = "recovery-start", recoveryStartPath, "Start the recovery"
	if lf.Recovery != nil {
		p.ReadyAt = dateWords(lf.Recovery.ReadyAt)
		p.CodeForm, p.CodeAction, p.CodeButton = "recovery-complete", recoveryCompletePth, "Finish the recovery"
	}
	s.render(w, r, status, "lost_factor", p)
}

func (s *Server) handleLostPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("id")
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return
	}
	s.renderLost(w, r, http.StatusOK, id, lostFactorPage{Sent: q.Get("sent") == "1", Started: q.Get("started") == "1"})
}

// lostForm reads a POST of the lost-factor pages: its sign-in id, after the CSRF check (a refusal re-renders
// the page with the alert and reports false).
func (s *Server) lostForm(w http.ResponseWriter, r *http.Request, what string) (string, bool) {
	if !s.parseForm(w, r) {
		return "", false
	}
	id := r.PostForm.Get("id")
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return "", false
	}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("lost-factor form refused", "form", what, "reason", err)
		s.renderLost(w, r, http.StatusForbidden, id, lostFactorPage{Error: csrfMessage})
		return "", false
	}
	return id, true
}

func (s *Server) handleLostSendCode(w http.ResponseWriter, r *http.Request) {
	id, ok := s.lostForm(w, r, "send code")
	if !ok {
		return
	}
	err := s.lostFactor.SendRecoveryCode(r.Context(), id, s.browser(r))
	if err == nil {
		s.seeOther(w, r, lostPath+"?id="+url.QueryEscape(id)+"&sent=1")
		return
	}
	s.lostError(w, r, id, err, false)
}

func (s *Server) handleRecoveryStart(w http.ResponseWriter, r *http.Request) {
	s.handleRecoveryCode(w, r, "start")
}

func (s *Server) handleRecoveryComplete(w http.ResponseWriter, r *http.Request) {
	s.handleRecoveryCode(w, r, "complete")
}

// handleRecoveryCode checks the emailed code of form recovery-start or recovery-complete. The code is never
// logged.
func (s *Server) handleRecoveryCode(w http.ResponseWriter, r *http.Request, step string) {
	id, ok := s.lostForm(w, r, "recovery "+step)
	if !ok {
		return
	}
	code := r.PostForm.Get("code")
	switch {
	case code == "":
		s.renderLost(w, r, http.StatusBadRequest, id, lostFactorPage{Error: msgEnterRecoveryCode, Invalid: true})
		return
	case len(code) > maxCodeLen:
		s.renderLost(w, r, http.StatusBadRequest, id, lostFactorPage{Error: msgCodeTooLong, Invalid: true})
		return
	}
	if step == "start" {
		err := s.lostFactor.StartRecovery(r.Context(), id, s.browser(r), code)
		if err == nil || errors.Is(err, recovery.ErrRecoveryPending) {
			s.log(r.Context()).Info("lost-factor recovery started")
			s.seeOther(w, r, lostPath+"?id="+url.QueryEscape(id)+"&started=1")
			return
		}
		s.lostError(w, r, id, err, true)
		return
	}
	next, err := s.lostFactor.CompleteRecovery(r.Context(), id, s.browser(r), code)
	if err != nil {
		s.lostError(w, r, id, err, true)
		return
	}
	s.log(r.Context()).Info("lost-factor recovery completed")
	s.advance(w, r, id, next)
}

// lostError answers what the lost-factor steps refuse; code says the form had a code field.
func (s *Server) lostError(w http.ResponseWriter, r *http.Request, id string, err error, code bool) {
	var throttled *idp.ThrottledError
	p := lostFactorPage{}
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, idp.ErrInvalidCode):
		s.log(r.Context()).Info("recovery code refused", "reason", "invalid code")
		status, p.Error, p.Invalid = http.StatusUnauthorized, msgWrongRecoveryCode, true
	case errors.As(err, &throttled):
		s.log(r.Context()).Info("recovery step refused", "reason", "throttled", "retry_after", throttled.RetryAfter)
		status, p.Error = http.StatusTooManyRequests, retryAfter(w, throttled.RetryAfter)
	case errors.Is(err, channels.ErrSendFailed):
		s.log(r.Context()).Warn("recovery code not sent", "err", err)
		status, p.Error = http.StatusServiceUnavailable, "We could not send the email; please try again in a few minutes."
	case errors.Is(err, recovery.ErrNoVerifiedEmail):
		p.Error = "Your account has no verified email address, so it cannot be recovered here. Ask your administrator to reset your two-step sign-in."
	case errors.Is(err, recovery.ErrRecoveryPending), errors.Is(err, recovery.ErrRecoveryNotReady):
		p.Error = "Your recovery is waiting: it cannot be completed before the time shown below."
	case errors.Is(err, recovery.ErrNoRecovery):
		p.Error = "There is no recovery to complete: it was cancelled, or completed already."
	default:
		s.flowError(w, r, err)
		return
	}
	p.Invalid = p.Invalid && code
	s.renderLost(w, r, status, id, p)
}

// handleEnrollLater is the enrollment page's "Not now": within the grace the sign-in goes on without a second
// factor; after it, the page again, saying it is over.
func (s *Server) handleEnrollLater(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id := r.PostForm.Get("id")
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return
	}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("enroll-later form refused", "reason", err)
		s.enrollRejected(w, r, id, http.StatusForbidden, csrfMessage)
		return
	}
	step, err := s.grace.EnrollLater(r.Context(), id, s.browser(r))
	switch {
	case err == nil:
		s.log(r.Context()).Info("enrollment put off during the grace")
		s.advance(w, r, id, step)
	case errors.Is(err, idp.ErrGraceOver):
		s.log(r.Context()).Info("enrollment put off refused", "reason", "grace over")
		s.enrollRejected(w, r, id, http.StatusForbidden, msgGraceOver)
	default:
		s.flowError(w, r, err)
	}
}

// enrollRejected shows the enrollment page again with an alert; Resume decides what it offers.
func (s *Server) enrollRejected(w http.ResponseWriter, r *http.Request, id string, status int, alert string) {
	step, err := s.flow.Resume(r.Context(), id, s.browser(r))
	if err == nil {
		err = s.setSessionCookie(w, step.Session)
	}
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	if step.Kind != idp.StepEnroll {
		s.renderError(w, r, status, errorPage{Title: "Please try again", Message: alert + " " + msgStepMovedOn})
		return
	}
	p := s.enrollChoosePage(w, r, stepID(step, id), step)
	p.Error = alert
	s.render(w, r, status, "enroll_choose", p)
}
