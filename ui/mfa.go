package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/twofold-idp/twofold/idp"
)

// MFAFlow is what the second-factor pages need from idp; in production it is the same object as LoginFlow. Like
// LoginFlow, every method takes the Browser so the flow can check the sign-in request belongs to it.
type MFAFlow interface {
	// SubmitFactor checks a second factor of method (idp.MethodTOTP, idp.MethodBackupCode: the code as typed;
	// idp.MethodWebAuthn: webauthn.js's JSON body unchanged). Errors: idp.ErrInvalidCode for a wrong, malformed or
	// replayed code, *idp.ThrottledError while too many OTP attempts failed (even for the right code),
	// idp.ErrWebAuthn when the ceremony fails. With remember, the person asked to remember this browser: when the
	// policies allow it, Step.Device is the cookie to set.
	SubmitFactor(ctx context.Context, authRequestID string, b idp.Browser, method string, input []byte, remember bool) (idp.Step, error)
	// BeginFactor starts a challenge: for WebAuthn, the JSON the page's script passes to navigator.credentials.get
	// ({"session": "...", "publicKey": {...}}).
	BeginFactor(ctx context.Context, authRequestID string, b idp.Browser, method string) ([]byte, error)
	// SendCode sends the one-time code of idp.MethodEmail or idp.MethodSMS: when its page is first shown (resend
	// false: nothing is sent while the code sent for this sign-in is still good) and on "Send a new code". Errors:
	// *idp.ThrottledError when a sending limit refuses (nothing was sent), channels.ErrSendFailed when the message
	// could not be handed over.
	SendCode(ctx context.Context, authRequestID string, b idp.Browser, method string, resend bool) (idp.CodeSent, error)
	// BeginPasskey and FinishPasskey sign in with a discoverable credential from the login page: the first
	// factor, without a username.
	BeginPasskey(ctx context.Context, authRequestID string, b idp.Browser) ([]byte, error)
	FinishPasskey(ctx context.Context, authRequestID string, b idp.Browser, body []byte) (idp.Step, error)
	// StartTOTPEnrollment creates an authenticator that becomes active only after ConfirmTOTPEnrollment accepts
	// a code from it; TOTPEnrollment returns the same one again, to re-render the page after a wrong code.
	StartTOTPEnrollment(ctx context.Context, authRequestID string, b idp.Browser) (idp.TOTPEnrollment, error)
	TOTPEnrollment(ctx context.Context, authRequestID string, b idp.Browser, enrollmentID string) (idp.TOTPEnrollment, error)
	ConfirmTOTPEnrollment(ctx context.Context, authRequestID string, b idp.Browser, enrollmentID, code string) (idp.Step, error)
	// BeginWebAuthnRegistration returns {"session","publicKey"} for navigator.credentials.create;
	// FinishWebAuthnRegistration takes the script's JSON body unchanged.
	BeginWebAuthnRegistration(ctx context.Context, authRequestID string, b idp.Browser) ([]byte, error)
	FinishWebAuthnRegistration(ctx context.Context, authRequestID string, b idp.Browser, body []byte) (idp.Step, error)
}

// Outcomes counted by Metrics.LoginOutcome for the code forms (TOTP and backup code), apart from the password
// form's so that a burst of wrong codes is visible on its own.
const (
	mfaSuccess    = "mfa_success"
	mfaBadCode    = "mfa_bad_code"
	mfaThrottled  = "mfa_throttled"
	mfaBadRequest = "mfa_bad_request" // unreadable form, missing id or code, expired or foreign sign-in request
	mfaCSRF       = "mfa_csrf"
	mfaError      = "mfa_error" // the flow failed internally
)

// Messages of the role="alert" box on the code forms.
const (
	msgWrongCode   = "That code is not right. Try again."
	msgEnterTOTP   = "Enter the code from your authenticator app."
	msgEnterBackup = "Enter one of your backup codes."
	msgCodeTooLong = "That code is too long. Check it and try again."
	msgNeedsScript = "Using a security key or passkey needs JavaScript. Turn it on, or choose another way below."
	msgStepMovedOn = "This sign-in has moved on."
)

// maxCodeLen bounds a typed code: a TOTP or backup code with generous spacing is far shorter.
const maxCodeLen = 64

// challenge describes one second-factor page: its template, what the other pages' links call it, and, for the
// code forms, what the empty-field alert says.
type challenge struct {
	page       string
	switchText string
	enterMsg   string
	sends      bool // the code is sent to the user (email, SMS) when the page is first shown
}

var challenges = map[string]challenge{
	idp.MethodWebAuthn:   {page: "mfa_webauthn", switchText: "Use a security key or passkey instead"},
	idp.MethodTOTP:       {page: "mfa_totp", switchText: "Use your authenticator app instead", enterMsg: msgEnterTOTP},
	idp.MethodBackupCode: {page: "mfa_backup_code", switchText: "Use a backup code instead", enterMsg: msgEnterBackup},
	idp.MethodEmail:      {page: "mfa_email", switchText: "Email me a code instead", enterMsg: msgEnterEmailCode, sends: true},
	idp.MethodSMS:        {page: "mfa_sms", switchText: "Text me a code instead", enterMsg: msgEnterSMSCode, sends: true},
}

// challengePage is a second-factor challenge: the TOTP, backup-code or WebAuthn page, chosen by Method.
type challengePage struct {
	CSRFToken     string
	AuthRequestID string
	Method        string
	Reason        string // why a second factor is asked, in plain words; "" shows nothing
	RequireUV     bool   // the WebAuthn check must verify the user: say the key will ask for a PIN or biometric
	RememberFor   string // "30 days": offer input#remember-device, to skip the second factor that long; "" does not
	Remember      bool   // the box is ticked: the user ticked it before a refused submission
	Others        []methodLink
	Error         string // shown in the role="alert" box
	Invalid       bool   // Error is about the code field
	// The email and SMS code pages: where the code went ("" when the page does not know, after a refused
	// submission), and a note in a role="status" box ("a new code is on its way").
	SentTo string
	Notice string
	// LostFactor offers a#lost-factor ("I can't use my authenticator"); Recovery is the user's recovery that is
	// waiting (RecoveryReadyAt says until when) or ready to complete.
	LostFactor      bool
	Recovery        *idp.RecoveryStatus
	RecoveryReadyAt string
}

// withRecovery adds to p what the lost-factor pages offer for step.
func (s *Server) withRecovery(p challengePage, step idp.Step) challengePage {
	p.LostFactor = s.lostFactor != nil
	if p.LostFactor && step.Recovery != nil {
		p.Recovery, p.RecoveryReadyAt = step.Recovery, dateWords(step.Recovery.ReadyAt)
	}
	return p
}

// methodLink is one a[data-method] link to another second factor the user has.
type methodLink struct {
	Method string
	Text   string
}

func (s *Server) renderChallenge(w http.ResponseWriter, r *http.Request, status int, p challengePage) {
	s.render(w, r, status, challenges[p.Method].page, p)
}

// chooseMethod is the challenge to show: the one asked for with ?method= when the user has it, else the first
// one of methods (most phishing-resistant first) that has a page. Unknown methods, such as one a newer flow
// offers, are skipped rather than shown as a broken page.
func chooseMethod(requested string, methods []string) (string, bool) {
	if _, ok := challenges[requested]; ok && slices.Contains(methods, requested) {
		return requested, true
	}
	for _, m := range methods {
		if _, ok := challenges[m]; ok {
			return m, true
		}
	}
	return "", false
}

// newChallengePage builds the page of method for step, with links to every other method of step.Methods in the
// flow's order.
func newChallengePage(csrfToken, id, method string, step idp.Step) challengePage {
	p := challengePage{
		CSRFToken:     csrfToken,
		AuthRequestID: id,
		Method:        method,
		Reason:        step.Reason,
		RequireUV:     step.RequireUV,
		RememberFor:   rememberFor(step.RememberDevice),
	}
	for i, m := range step.Methods {
		c, ok := challenges[m]
		if !ok || m == method || slices.Contains(step.Methods[:i], m) {
			continue
		}
		p.Others = append(p.Others, methodLink{Method: m, Text: c.switchText})
	}
	return p
}

// rememberFor says how long a remembered device skips the second factor, in words: whole days, else whole hours,
// else minutes (rounded down: the page never promises more than the policy gives); "" when it is not offered.
func rememberFor(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d >= 24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d >= time.Hour:
		return plural(int(d/time.Hour), "hour")
	default:
		return plural(max(int(d/time.Minute), 1), "minute")
	}
}

// renderMFAStep shows the pages of the second-factor steps GET /login can land on.
func (s *Server) renderMFAStep(w http.ResponseWriter, r *http.Request, id string, step idp.Step) {
	if s.mfa == nil {
		s.flowError(w, r, fmt.Errorf("ui: the flow asked for step %q but the server has no MFAFlow", step.Kind))
		return
	}
	switch step.Kind {
	case idp.StepSecondFactor:
		method, ok := chooseMethod(r.URL.Query().Get("method"), step.Methods)
		if !ok {
			s.flowError(w, r, fmt.Errorf("ui: the flow asked for a second factor among %q, none of which has a page", step.Methods))
			return
		}
		if challenges[method].sends {
			s.renderCodeChallenge(w, r, id, method, step)
			return
		}
		s.renderChallenge(w, r, http.StatusOK, s.withRecovery(newChallengePage(s.csrfToken(w, r), id, method, step), step))
	case idp.StepEnroll:
		p := s.enrollChoosePage(w, r, id, step)
		if len(p.Choices) == 0 {
			s.flowError(w, r, fmt.Errorf("ui: the flow offered to enroll %q, none of which has a page", step.Methods))
			return
		}
		s.render(w, r, http.StatusOK, "enroll_choose", p)
	case idp.StepBackupCodes:
		s.renderBackupCodes(w, r, http.StatusOK, backupCodesPage{
			CSRFToken:     s.csrfToken(w, r),
			AuthRequestID: id,
			Codes:         step.BackupCodes,
		})
	}
}

func (s *Server) handleTOTPSubmit(w http.ResponseWriter, r *http.Request) {
	s.handleCodeSubmit(w, r, idp.MethodTOTP)
}

func (s *Server) handleBackupCodeSubmit(w http.ResponseWriter, r *http.Request) {
	s.handleCodeSubmit(w, r, idp.MethodBackupCode)
}

// handleCodeSubmit checks a TOTP, backup, email or SMS code. The code goes to the flow as typed: normalising it (spaces,
// dashes, case) is the flow's business, which knows the format. It is never logged.
func (s *Server) handleCodeSubmit(w http.ResponseWriter, r *http.Request, method string) {
	if !s.parseForm(w, r) {
		s.metrics.LoginOutcome(mfaBadRequest)
		return
	}
	id, code := r.PostForm.Get("id"), r.PostForm.Get("code")
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("second-factor form refused", "method", method, "reason", err)
		s.metrics.LoginOutcome(mfaCSRF)
		s.challengeRejected(w, r, id, method, http.StatusForbidden, csrfMessage, false)
		return
	}
	if !validFlowID(id) {
		s.metrics.LoginOutcome(mfaBadRequest)
		s.badSignInLink(w, r)
		return
	}
	switch {
	case code == "":
		s.metrics.LoginOutcome(mfaBadRequest)
		s.challengeRejected(w, r, id, method, http.StatusBadRequest, challenges[method].enterMsg, true)
		return
	case len(code) > maxCodeLen:
		s.metrics.LoginOutcome(mfaBadRequest)
		s.challengeRejected(w, r, id, method, http.StatusBadRequest, msgCodeTooLong, true)
		return
	}

	remember := r.PostForm.Get("remember_device") == "1"
	step, err := s.mfa.SubmitFactor(r.Context(), id, s.browser(r), method, []byte(code), remember)
	var throttled *idp.ThrottledError
	switch {
	case err == nil:
		s.metrics.LoginOutcome(mfaSuccess)
		s.rememberDevice(w, r, step)
		s.advance(w, r, id, step)
	case errors.Is(err, idp.ErrInvalidCode):
		s.log(r.Context()).Info("second factor refused", "method", method, "reason", "invalid code")
		s.metrics.LoginOutcome(mfaBadCode)
		s.challengeRejected(w, r, id, method, http.StatusUnauthorized, msgWrongCode, true)
	case errors.As(err, &throttled):
		s.log(r.Context()).Info("second factor refused", "method", method, "reason", "throttled",
			"retry_after", throttled.RetryAfter)
		s.metrics.LoginOutcome(mfaThrottled)
		s.challengeRejected(w, r, id, method, http.StatusTooManyRequests, retryAfter(w, throttled.RetryAfter), false)
	default:
		if errors.Is(err, idp.ErrAuthRequestNotFound) || errors.Is(err, idp.ErrWrongBrowser) {
			s.metrics.LoginOutcome(mfaBadRequest)
		} else {
			s.metrics.LoginOutcome(mfaError)
		}
		s.flowError(w, r, err)
	}
}

// rememberDevice sets the device cookie of a step whose factor the person asked to remember. A failure is logged
// and the sign-in goes on: the user is signed in, only asked for the second factor again next time.
func (s *Server) rememberDevice(w http.ResponseWriter, r *http.Request, step idp.Step) {
	if step.Device == nil {
		return
	}
	if err := s.setDeviceCookie(w, step.Device); err != nil {
		s.log(r.Context()).Warn("device not remembered", "route", routeLabel(r), "err", err)
		return
	}
	s.log(r.Context()).Info("device remembered", "route", routeLabel(r))
}

// handleWebAuthnNoScript answers the WebAuthn challenge form submitted without JavaScript (its button is
// type="button", so only a browser without the script gets here): the same page, saying what is missing.
func (s *Server) handleWebAuthnNoScript(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id := r.PostForm.Get("id")
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("second-factor form refused", "method", idp.MethodWebAuthn, "reason", err)
		s.challengeRejected(w, r, id, idp.MethodWebAuthn, http.StatusForbidden, csrfMessage, false)
		return
	}
	s.challengeRejected(w, r, id, idp.MethodWebAuthn, http.StatusBadRequest, msgNeedsScript, false)
}

// challengeRejected re-renders a challenge page with an alert. The links to the other methods come from the
// flow, so it asks Resume, which proves and decides nothing: it is what GET /login?id= does for anyone who has
// the link. The page shown is the method that was posted, even when the step no longer lists it (the user's
// last backup code was just used, say): a refused submission shows the same form again.
func (s *Server) challengeRejected(w http.ResponseWriter, r *http.Request, id, method string, status int, alert string, invalid bool) {
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return
	}
	step, err := s.flow.Resume(r.Context(), id, s.browser(r))
	if err == nil {
		err = s.setSessionCookie(w, step.Session)
	}
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	if step.Kind != idp.StepSecondFactor {
		// The request moved on (another tab finished it) or back: do not act on a refused POST, say what happened.
		s.renderError(w, r, status, errorPage{
			Title:   "Please try again",
			Message: alert + " " + msgStepMovedOn + " Go back to the application and sign in again.",
		})
		return
	}
	p := s.withRecovery(newChallengePage(s.csrfToken(w, r), stepID(step, id), method, step), step)
	p.Error, p.Invalid = alert, invalid
	p.Remember = p.RememberFor != "" && r.PostForm.Get("remember_device") == "1"
	s.renderChallenge(w, r, status, p)
}

// backupCodesPage shows freshly generated backup codes, once. Like every page it is sent with
// Cache-Control: no-store (NIST SP 800-63B §5.1.2: look-up secrets are shown once), so neither the back button
// nor a shared cache brings them back.
type backupCodesPage struct {
	CSRFToken     string
	AuthRequestID string   // the sign-in's; "" on the account page, which needs none
	Action        string   // where form#backup-codes-ack posts; "" is the sign-in's /login/backup-codes
	Codes         []string // empty on a re-render after a refused acknowledgement: they are not shown twice
	Replaced      bool     // the codes replace an earlier set, which no longer works
	Error         string
}

func (s *Server) renderBackupCodes(w http.ResponseWriter, r *http.Request, status int, p backupCodesPage) {
	if p.Action == "" {
		p.Action = "/login/backup-codes"
	}
	s.render(w, r, status, "backup_codes", p)
}

// handleBackupCodesAck continues the sign-in after the user saved the codes. It proves and changes nothing (the
// flow moved on when it showed the codes), but it is a POST like every form, so it gets the same CSRF check.
func (s *Server) handleBackupCodesAck(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id := r.PostForm.Get("id")
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return
	}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("backup codes acknowledgement refused", "reason", err)
		// The codes are not asked for again: they are shown once.
		s.renderBackupCodes(w, r, http.StatusForbidden, backupCodesPage{
			CSRFToken:     s.csrfToken(w, r),
			AuthRequestID: id,
			Error:         csrfMessage,
		})
		return
	}
	s.seeOther(w, r, loginURL(id))
}
