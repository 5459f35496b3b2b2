package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
)

// The pages of verified email and security notifications (issue 11): the account page's email section (send a
// code, verify it, change the address), the sign-in's verify-email step when a policy requires a verified
// address, the confirmation page of a verification link, and the "this wasn't me" page of a security
// notification. Links from mail never act on GET: mail scanners open them. A GET shows what the link would do and
// a form; the POST (CSRF-checked) does it.

// AccountEmailService is what the account page's email section needs from idp (*account.Service). Like
// AccountService, each finds the user from the Browser's session cookie and returns idp.ErrNotSignedIn without one.
type AccountEmailService interface {
	// AccountSendVerificationEmail mails a code and a link for the user's address. Errors: idp.ErrNoEmail, an
	// *idp.InputError (already verified), *idp.ThrottledError, channels.ErrSendFailed.
	AccountSendVerificationEmail(ctx context.Context, b idp.Browser) error
	// AccountVerifyEmail checks a typed code: idp.ErrInvalidCode (wrong), idp.ErrCodeExpired (none live), an
	// *idp.InputError (not a code).
	AccountVerifyEmail(ctx context.Context, b idp.Browser, code string) error
	// AccountChangeEmail sets a new, unverified address (a sensitive change: idp.ErrReauthRequired,
	// idp.ErrChangesBlocked); an *idp.InputError for an address that is not one or is the current one.
	AccountChangeEmail(ctx context.Context, b idp.Browser, email string) error
}

// EmailStepFlow is the sign-in's verify-email step (*login.MFA): a policy requires a verified address.
type EmailStepFlow interface {
	// SendEmailCode mails a code for the address of the user signing in. Errors: *idp.ThrottledError,
	// channels.ErrSendFailed.
	SendEmailCode(ctx context.Context, authRequestID string, b idp.Browser) error
	// SubmitEmailCode checks the code and moves the sign-in on: idp.ErrInvalidCode, idp.ErrCodeExpired, an
	// *idp.InputError.
	SubmitEmailCode(ctx context.Context, authRequestID string, b idp.Browser, code string) (idp.Step, error)
}

// EmailLinkService checks the link of a verification mail (*emailverify.Service). Neither needs a session:
// the token is the proof.
type EmailLinkService interface {
	// LinkAddress is the address a live link verifies, partly hidden; idp.ErrLinkInvalid otherwise. It changes
	// nothing.
	LinkAddress(ctx context.Context, token string) (string, error)
	// CheckLink verifies it, once; idp.ErrLinkInvalid for a token unknown, expired or used.
	CheckLink(ctx context.Context, token string) error
}

// NotMeService acts on the "this wasn't me" link of a security notification (*notices.Service).
type NotMeService interface {
	// CheckReport says whether the link is live (idp.ErrLinkInvalid otherwise); it changes nothing.
	CheckReport(ctx context.Context, token string) error
	// Report ends every session of the user, revokes their tokens and blocks changes to their sign-in methods
	// until a full sign-in; once per link (idp.ErrLinkInvalid after).
	Report(ctx context.Context, token string, b idp.Browser) error
}

// verifyOptions are the services of these pages, each optional (nil leaves its routes out).
type verifyOptions struct {
	accountEmail AccountEmailService
	emailStep    EmailStepFlow
	emailLinks   EmailLinkService
	notMe        NotMeService
}

func init() {
	// The pages of this file, parsed with the others at start.
	pageNames = append(pageNames, "verify_email", "verify_email_link", "not_me")
}

const (
	verifyLinkPath = "/verify-email"
	notMePath      = "/not-me"
	// maxLinkTokenLen bounds a token from a link; real ones are 43 characters.
	maxLinkTokenLen = 128
	// maxEmailLen is the longest address RFC 5321 §4.5.3.1 lets through (a path of 256 octets, minus the <>).
	maxEmailLen = 254
)

// Messages of these pages.
const (
	msgEnterVerificationCode = "Enter the code from the message we sent you."
	msgEmailCodeFormat       = "The code is the 8 digits in the message we sent you. Check it and try again."
	msgEmailCodeExpired      = "This code has expired, was already used or was replaced by a newer one. Send a new code."
	msgEmailCodeSent         = "We sent a code to your email address. It works for 10 minutes."
	msgEmailVerified         = "Your email address is verified."
	msgEmailChanged          = "Your email address was changed. We sent a code to the new address: enter it below to verify it."
	msgEnterEmail            = "Enter your new email address."
	msgEmailTooLong          = "That address is too long."
	msgNoEmail               = "Your account has no email address yet. Add one first."
	msgChangesBlocked        = "Changes to your sign-in methods, password and email address are blocked, because someone reported that a recent change was not theirs. Sign in again with your password and your second factor to lift the block."
	msgLinkInvalid           = "This link is not valid: it expired, was already used, or is incomplete. Nothing was changed."
)

// accountNotices of the email section (shown by GET /account?changed=…).
func init() {
	accountNotices["email-sent"] = msgEmailCodeSent
	accountNotices["email-verified"] = msgEmailVerified
	accountNotices["email-changed"] = msgEmailChanged
}

// sectionEmail is the account page's email section (alerts shown beside its forms).
const sectionEmail = "email"

func (s *Server) verifyRoutes(r chi.Router) {
	if s.verify.accountEmail != nil && s.account != nil {
		r.Post("/account/email", s.handleAccountChangeEmail)
		r.Post("/account/email/send", s.handleAccountSendEmail)
		r.Post("/account/email/verify", s.handleAccountVerifyEmail)
		r.Get("/account/confirm", s.handleAccountConfirm)
	}
	if s.verify.emailStep != nil && s.flow != nil {
		r.Post("/login/verify-email", s.handleVerifyEmailSubmit)
		r.Post("/login/verify-email/send", s.handleVerifyEmailSend)
	}
	if s.verify.emailLinks != nil {
		r.Get(verifyLinkPath, s.handleVerifyLinkPage)
		r.Post(verifyLinkPath, s.handleVerifyLinkSubmit)
	}
	if s.verify.notMe != nil {
		r.Get(notMePath, s.handleNotMePage)
		r.Post(notMePath, s.handleNotMeSubmit)
	}
}

// sendFailure answers a refused or failed send where the page can say so: the alert and its status (429 with
// Retry-After; 503 for a mail server that did not take the message). ok is false for any other error.
func sendFailure(w http.ResponseWriter, err error) (status int, alert string, ok bool) {
	var throttled *idp.ThrottledError
	switch {
	case errors.As(err, &throttled):
		return http.StatusTooManyRequests, retryAfter(w, throttled.RetryAfter), true
	case errors.Is(err, channels.ErrSendFailed):
		return http.StatusServiceUnavailable, "We could not send the message. Please try again in a few minutes.", true
	}
	return 0, "", false
}

// codeAlert is what a refused email code says and its status, or ok=false for an error that is not about the code.
func codeAlert(err error) (status int, alert string, ok bool) {
	var input *idp.InputError
	switch {
	case errors.Is(err, idp.ErrInvalidCode):
		return http.StatusUnauthorized, msgWrongCode, true
	case errors.Is(err, idp.ErrCodeExpired):
		return http.StatusUnauthorized, msgEmailCodeExpired, true
	case errors.As(err, &input):
		return http.StatusBadRequest, msgEmailCodeFormat, true
	}
	return 0, "", false
}

// The account page's email section.

func (s *Server) handleAccountSendEmail(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "send verification email") {
		return
	}
	err := s.verify.accountEmail.AccountSendVerificationEmail(r.Context(), s.browser(r))
	var input *idp.InputError
	switch {
	case err == nil:
		s.log(r.Context()).Info("verification email sent from the account page")
		s.seeOther(w, r, accountPath+"?changed=email-sent#email")
	case errors.Is(err, idp.ErrNoEmail):
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionEmail, Message: msgNoEmail})
	case errors.As(err, &input):
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionEmail, Message: accountInputMessage(input)})
	default:
		if status, alert, ok := sendFailure(w, err); ok {
			s.log(r.Context()).Info("verification email not sent", "status", status)
			s.showAccount(w, r, status, "", accountAlert{Section: sectionEmail, Message: alert})
			return
		}
		s.accountError(w, r, err)
	}
}

func (s *Server) handleAccountVerifyEmail(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "verify email") {
		return
	}
	code, ok := s.accountCode(w, r, sectionEmail, msgEnterVerificationCode)
	if !ok {
		return
	}
	err := s.verify.accountEmail.AccountVerifyEmail(r.Context(), s.browser(r), code)
	if err == nil {
		s.log(r.Context()).Info("email verified from the account page")
		s.seeOther(w, r, accountPath+"?changed=email-verified#email")
		return
	}
	if status, alert, ok := codeAlert(err); ok {
		s.log(r.Context()).Info("email code refused", "status", status)
		s.showAccount(w, r, status, "", accountAlert{Section: sectionEmail, Field: "code", Message: alert})
		return
	}
	s.accountError(w, r, err)
}

func (s *Server) handleAccountChangeEmail(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "change email") {
		return
	}
	email := r.PostForm.Get("email")
	switch {
	case email == "":
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionEmail, Field: "email", Message: msgEnterEmail})
		return
	case len(email) > maxEmailLen:
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionEmail, Field: "email", Message: msgEmailTooLong})
		return
	}
	err := s.verify.accountEmail.AccountChangeEmail(r.Context(), s.browser(r), email)
	var input *idp.InputError
	switch {
	case err == nil:
		s.log(r.Context()).Info("email changed from the account page")
		s.seeOther(w, r, accountPath+"?changed=email-changed#email")
	case errors.As(err, &input):
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionEmail, Field: "email", Message: accountInputMessage(input)})
	default:
		s.accountError(w, r, err)
	}
}

// handleAccountConfirm sends the browser to prove every factor again: what lifts the "this wasn't me" block, or
// makes the session fresh for a sensitive change. A GET that only redirects: it changes nothing by itself.
func (s *Server) handleAccountConfirm(w http.ResponseWriter, r *http.Request) {
	s.toAccountSignIn(w, r, true)
}

// blockedError answers idp.ErrChangesBlocked on the account page: the page with the reason and the way out (403).
func (s *Server) blockedError(w http.ResponseWriter, r *http.Request) {
	s.log(r.Context()).Info("account change refused", "reason", "changes blocked", "route", routeLabel(r))
	s.showAccount(w, r, http.StatusForbidden, "", accountAlert{Message: msgChangesBlocked})
}

// The sign-in's verify-email step.

// verifyEmailPage is the sign-in's verify-email step: send a code, type it.
type verifyEmailPage struct {
	CSRFToken     string
	AuthRequestID string
	Email         string // partly hidden
	Sent          bool   // a code was sent from this page: say so, and offer a new one
	Error         string // role="alert"
	Invalid       bool   // Error is about the code field
}

func (s *Server) renderVerifyEmailStep(w http.ResponseWriter, r *http.Request, status int, id string, step idp.Step, p verifyEmailPage) {
	if s.verify.emailStep == nil {
		s.flowError(w, r, fmt.Errorf("ui: the flow asked for step %q but the server has no EmailStepFlow", step.Kind))
		return
	}
	p.CSRFToken, p.AuthRequestID, p.Email = s.csrfToken(w, r), id, step.Email
	s.render(w, r, status, "verify_email", p)
}

// verifyEmailRejected re-renders the step with an alert, after asking the flow where the sign-in is (Resume,
// which proves nothing): a sign-in that moved on gets an error page instead.
func (s *Server) verifyEmailRejected(w http.ResponseWriter, r *http.Request, id string, status int, alert string, invalid bool) {
	step, err := s.flow.Resume(r.Context(), id, s.browser(r))
	if err == nil {
		err = s.setSessionCookie(w, step.Session)
	}
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	if step.Kind != idp.StepVerifyEmail {
		s.renderError(w, r, status, errorPage{
			Title:   "Please try again",
			Message: alert + " " + msgStepMovedOn + " Go back to the application and sign in again.",
		})
		return
	}
	s.renderVerifyEmailStep(w, r, status, stepID(step, id), step, verifyEmailPage{Error: alert, Invalid: invalid, Sent: true})
}

func (s *Server) handleVerifyEmailSend(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id := r.PostForm.Get("id")
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return
	}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("verify-email form refused", "reason", err)
		s.verifyEmailRejected(w, r, id, http.StatusForbidden, csrfMessage, false)
		return
	}
	err := s.verify.emailStep.SendEmailCode(r.Context(), id, s.browser(r))
	if err == nil {
		s.seeOther(w, r, loginURL(id)+"&sent=1")
		return
	}
	if status, alert, ok := sendFailure(w, err); ok {
		s.verifyEmailRejected(w, r, id, status, alert, false)
		return
	}
	s.flowError(w, r, err)
}

func (s *Server) handleVerifyEmailSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id, code := r.PostForm.Get("id"), r.PostForm.Get("code")
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return
	}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("verify-email form refused", "reason", err)
		s.verifyEmailRejected(w, r, id, http.StatusForbidden, csrfMessage, false)
		return
	}
	switch {
	case code == "":
		s.verifyEmailRejected(w, r, id, http.StatusBadRequest, msgEnterVerificationCode, true)
		return
	case len(code) > maxCodeLen:
		s.verifyEmailRejected(w, r, id, http.StatusBadRequest, msgCodeTooLong, true)
		return
	}
	step, err := s.verify.emailStep.SubmitEmailCode(r.Context(), id, s.browser(r), code)
	if err == nil {
		s.log(r.Context()).Info("email verified during sign-in")
		s.advance(w, r, id, step)
		return
	}
	if status, alert, ok := codeAlert(err); ok {
		s.log(r.Context()).Info("email code refused", "status", status)
		s.verifyEmailRejected(w, r, id, status, alert, true)
		return
	}
	s.flowError(w, r, err)
}

// The pages of links from mail.

// linkPage is the confirmation page of a link from mail (verify an address; "this wasn't me").
type linkPage struct {
	CSRFToken string
	Token     string
	Email     string // verify_email_link: the address, partly hidden
	Done      bool   // the link did what it is for
	Error     string // role="alert": the link is not valid (no form then)
}

// linkToken reads the token of a link; ok is false for one that cannot be a token (absent or oversized).
func linkToken(v url.Values) (string, bool) {
	t := v.Get("token")
	return t, t != "" && len(t) <= maxLinkTokenLen
}

// linkRefused shows page name saying the link is not valid: 400 for a malformed token, 401 for one that is
// unknown, expired or used (a wrong or replayed secret). Nothing was changed.
func (s *Server) linkRefused(w http.ResponseWriter, r *http.Request, name string, status int) {
	s.log(r.Context()).Info("link refused", "page", name, "status", status)
	s.render(w, r, status, name, linkPage{Error: msgLinkInvalid})
}

func (s *Server) handleVerifyLinkPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("done") == "1" {
		s.render(w, r, http.StatusOK, "verify_email_link", linkPage{Done: true})
		return
	}
	token, ok := linkToken(r.URL.Query())
	if !ok {
		s.linkRefused(w, r, "verify_email_link", http.StatusBadRequest)
		return
	}
	addr, err := s.verify.emailLinks.LinkAddress(r.Context(), token)
	switch {
	case errors.Is(err, idp.ErrLinkInvalid):
		s.linkRefused(w, r, "verify_email_link", http.StatusUnauthorized)
	case err != nil:
		s.flowError(w, r, err)
	default:
		s.render(w, r, http.StatusOK, "verify_email_link", linkPage{CSRFToken: s.csrfToken(w, r), Token: token, Email: addr})
	}
}

func (s *Server) handleVerifyLinkSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("verify-email link form refused", "reason", err)
		s.render(w, r, http.StatusForbidden, "verify_email_link", linkPage{Error: csrfMessage + " Open the link from the message again."})
		return
	}
	token, ok := linkToken(r.PostForm)
	if !ok {
		s.linkRefused(w, r, "verify_email_link", http.StatusBadRequest)
		return
	}
	err := s.verify.emailLinks.CheckLink(r.Context(), token)
	switch {
	case errors.Is(err, idp.ErrLinkInvalid):
		s.linkRefused(w, r, "verify_email_link", http.StatusUnauthorized)
	case err != nil:
		s.flowError(w, r, err)
	default:
		s.log(r.Context()).Info("email verified by link")
		s.seeOther(w, r, verifyLinkPath+"?done=1")
	}
}

func (s *Server) handleNotMePage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("done") == "1" {
		s.render(w, r, http.StatusOK, "not_me", linkPage{Done: true})
		return
	}
	token, ok := linkToken(r.URL.Query())
	if !ok {
		s.linkRefused(w, r, "not_me", http.StatusBadRequest)
		return
	}
	err := s.verify.notMe.CheckReport(r.Context(), token)
	switch {
	case errors.Is(err, idp.ErrLinkInvalid):
		s.linkRefused(w, r, "not_me", http.StatusUnauthorized)
	case err != nil:
		s.flowError(w, r, err)
	default:
		s.render(w, r, http.StatusOK, "not_me", linkPage{CSRFToken: s.csrfToken(w, r), Token: token})
	}
}

func (s *Server) handleNotMeSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("not-me form refused", "reason", err)
		s.render(w, r, http.StatusForbidden, "not_me", linkPage{Error: csrfMessage + " Open the link from the message again."})
		return
	}
	token, ok := linkToken(r.PostForm)
	if !ok {
		s.linkRefused(w, r, "not_me", http.StatusBadRequest)
		return
	}
	err := s.verify.notMe.Report(r.Context(), token, s.browser(r))
	switch {
	case errors.Is(err, idp.ErrLinkInvalid):
		s.linkRefused(w, r, "not_me", http.StatusUnauthorized)
	case err != nil:
		s.flowError(w, r, err)
	default:
		s.log(r.Context()).Warn("account reported as not the user's: sessions ended, changes blocked")
		s.seeOther(w, r, notMePath+"?done=1")
	}
}
