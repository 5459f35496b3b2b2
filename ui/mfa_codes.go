package ui

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
)

// The email and SMS code challenges: the code is sent when the page is first shown for that method (GET
// /login?id=…&method=email) and again when the person asks for a new one (form#mfa-resend); it is typed into
// form#mfa-email or form#mfa-sms like any code. A send a limit refuses is a 429 with Retry-After and the form
// stays (the code sent before still works); a send that fails says so and offers to try again or to use another
// way: never a stuck flow.

// Messages of the code pages.
const (
	msgEnterEmailCode = "Enter the code we emailed you."
	msgEnterSMSCode   = "Enter the code we texted you."
	msgCodeResent     = "We sent you a new code. Codes sent before it no longer work."
	msgTooManySends   = "Too many codes were sent. Use the last one you received, or ask for a new one later."
)

// Outcomes counted by Metrics.LoginOutcome for the sends.
const (
	mfaCodeSent      = "mfa_code_sent"
	mfaSendThrottled = "mfa_send_throttled"
	mfaSendFailed    = "mfa_send_failed"
)

// renderCodeChallenge shows the email or SMS code page, sending the code first unless the one sent for this
// sign-in is still good.
func (s *Server) renderCodeChallenge(w http.ResponseWriter, r *http.Request, id, method string, step idp.Step) {
	p := newChallengePage(s.csrfToken(w, r), id, method, step)
	if r.URL.Query().Get("sent") == "1" {
		p.Notice = msgCodeResent
	}
	sent, err := s.mfa.SendCode(r.Context(), id, s.browser(r), method, false)
	if err == nil {
		if sent.Sent {
			s.metrics.LoginOutcome(mfaCodeSent)
		}
		p.SentTo = sent.To
		s.renderChallenge(w, r, http.StatusOK, p)
		return
	}
	status, alert, ok := s.sendRefused(w, r, method, err)
	if !ok {
		s.flowError(w, r, err)
		return
	}
	p.Error = alert
	s.renderChallenge(w, r, status, p)
}

// sendRefused turns a refused or failed send into the status and alert of the code page; ok is false for any
// other error.
func (s *Server) sendRefused(w http.ResponseWriter, r *http.Request, method string, err error) (status int, alert string, ok bool) {
	var throttled *idp.ThrottledError
	switch {
	case errors.As(err, &throttled):
		s.log(r.Context()).Info("code not sent", "method", method, "reason", "throttled", "retry_after", throttled.RetryAfter)
		s.metrics.LoginOutcome(mfaSendThrottled)
		retryAfter(w, throttled.RetryAfter) // sets Retry-After; the alert says it in words of its own
		return http.StatusTooManyRequests, msgTooManySends + " " + tryAgainIn(throttled), true
	case errors.Is(err, channels.ErrSendFailed):
		// The cause was logged by the channel; the person may try again or choose another way.
		s.log(r.Context()).Warn("code not sent", "method", method, "reason", "send failed")
		s.metrics.LoginOutcome(mfaSendFailed)
		return http.StatusServiceUnavailable, "We could not send the code. Ask for a new code in a few minutes, or choose another way below.", true
	}
	return 0, "", false
}

// tryAgainIn says when another code may be sent.
func tryAgainIn(t *idp.ThrottledError) string {
	secs := int64(t.RetryAfter.Seconds() + 0.999)
	switch {
	case secs <= 1:
		return "You can ask again in 1 second."
	case secs < 120:
		return "You can ask again in " + plural(int(secs), "second") + "."
	default:
		return "You can ask again in " + plural(int((secs+59)/60), "minute") + "."
	}
}

func (s *Server) handleEmailCodeSubmit(w http.ResponseWriter, r *http.Request) {
	s.handleCodeSubmit(w, r, idp.MethodEmail)
}

func (s *Server) handleSMSCodeSubmit(w http.ResponseWriter, r *http.Request) {
	s.handleCodeSubmit(w, r, idp.MethodSMS)
}

func (s *Server) handleEmailCodeResend(w http.ResponseWriter, r *http.Request) {
	s.handleCodeResend(w, r, idp.MethodEmail)
}

func (s *Server) handleSMSCodeResend(w http.ResponseWriter, r *http.Request) {
	s.handleCodeResend(w, r, idp.MethodSMS)
}

// handleCodeResend is "Send a new code": a new code replaces the one sent before, and the page is shown again
// (303, so that reloading it sends nothing more).
func (s *Server) handleCodeResend(w http.ResponseWriter, r *http.Request, method string) {
	if !s.parseForm(w, r) {
		s.metrics.LoginOutcome(mfaBadRequest)
		return
	}
	id := r.PostForm.Get("id")
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("send-a-new-code form refused", "method", method, "reason", err)
		s.metrics.LoginOutcome(mfaCSRF)
		s.challengeRejected(w, r, id, method, http.StatusForbidden, csrfMessage, false)
		return
	}
	if !validFlowID(id) {
		s.metrics.LoginOutcome(mfaBadRequest)
		s.badSignInLink(w, r)
		return
	}
	_, err := s.mfa.SendCode(r.Context(), id, s.browser(r), method, true)
	if err == nil {
		s.metrics.LoginOutcome(mfaCodeSent)
		s.seeOther(w, r, loginURL(id)+"&method="+url.QueryEscape(method)+"&sent=1")
		return
	}
	if status, alert, ok := s.sendRefused(w, r, method, err); ok {
		s.challengeRejected(w, r, id, method, status, alert, false)
		return
	}
	if errors.Is(err, idp.ErrAuthRequestNotFound) || errors.Is(err, idp.ErrWrongBrowser) {
		s.metrics.LoginOutcome(mfaBadRequest)
	} else {
		s.metrics.LoginOutcome(mfaError)
	}
	s.flowError(w, r, err)
}
