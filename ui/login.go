package ui

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twofold-idp/twofold/idp"
)

// LoginFlow is what the sign-in pages need from idp: the flow decides every step, the pages only show it and pass
// the browser's answers back. Every method takes the Browser so the flow can check the request belongs to it.
type LoginFlow interface {
	// Resume reports the step a sign-in request is at. It is what a GET may call: it never proves anything.
	Resume(ctx context.Context, authRequestID string, b idp.Browser) (idp.Step, error)
	// SubmitPassword checks the first factor. It returns idp.ErrInvalidCredentials for an unknown user, a wrong
	// password and a disabled account alike, and *idp.ThrottledError while too many attempts failed.
	SubmitPassword(ctx context.Context, authRequestID string, b idp.Browser, username, password string) (idp.Step, error)
	// SubmitConsent records the user's decision on the client's request.
	SubmitConsent(ctx context.Context, authRequestID string, b idp.Browser, allow bool) (idp.Step, error)
}

// LogoutFlow backs the confirmation of an RP-initiated logout.
type LogoutFlow interface {
	// LogoutPrompt describes an RP-initiated logout that needs confirmation; idp.ErrLogoutRequestInvalid when the
	// token is malformed or expired.
	LogoutPrompt(ctx context.Context, logoutToken string, b idp.Browser) (idp.LogoutPrompt, error)
	// ConfirmLogout ends the SSO session and says where the browser goes next.
	ConfirmLogout(ctx context.Context, logoutToken string, b idp.Browser) (idp.LogoutResult, error)
}

const (
	// maxAuthRequestIDLen bounds the id (and logout token) that reaches the flow; real ones are far shorter.
	maxAuthRequestIDLen = 512
	// maxUserAgentLen bounds what the flow stores about the browser.
	maxUserAgentLen = 256
)

// Outcomes counted by Metrics.LoginOutcome for the password form. A fixed set: each is a time series.
const (
	loginSuccess        = "success"
	loginBadCredentials = "bad_credentials"
	loginThrottled      = "throttled"
	loginBusy           = "busy"
	loginBadRequest     = "bad_request" // unreadable form, missing id or field, expired or foreign sign-in request
	loginCSRF           = "csrf"
	loginError          = "error" // the flow failed internally
)

// Messages of the role="alert" box on the password form.
const (
	msgInvalidCredentials = "The username or password is incorrect."
	msgBusy               = "Twofold is busy signing other people in. Try again in a few seconds."
	msgEnterBoth          = "Enter your username and password."
	msgEnterUsername      = "Enter your username."
	msgEnterPassword      = "Enter your password."
)

// loginPage is the password form. It never holds the password: a re-render asks for it again.
type loginPage struct {
	CSRFToken     string
	AuthRequestID string
	ClientName    string // "" when unknown (a re-render after a refused POST): the "to continue to" line is left out
	Username      string
	Error         string // shown in the role="alert" box above the form
	ErrorField    string // the field Error is about, if any: it gets aria-invalid and the focus
	Passkey       bool   // offer passkey sign-in (button#passkey-login); renderLogin sets it
	// ForgotPassword offers a#forgot-password, which keeps the sign-in request; renderLogin sets it.
	ForgotPassword bool
}

// Invalid reports whether the error is about field.
func (p loginPage) Invalid(field string) bool { return p.Error != "" && p.ErrorField == field }

// Autofocus puts the focus on the field the error is about, else on the password when the username is known
// (a login_hint or a re-render), else on the username; exactly one field gets it.
func (p loginPage) Autofocus(field string) bool {
	switch {
	case p.Invalid("username") || p.Invalid("password"):
		return p.Invalid(field)
	case p.Username != "":
		return field == "password"
	default:
		return field == "username"
	}
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, p loginPage) {
	p.Passkey = s.mfa != nil
	p.ForgotPassword = s.recovery != nil
	s.render(w, r, status, "login", p)
}

// browser is what the flow learns about the browser: its cookies, its address and the request id for the flow's
// logs. The address is the connection's peer: X-Forwarded-For is not trusted (see remoteIP).
func (s *Server) browser(r *http.Request) idp.Browser {
	return idp.Browser{
		SessionCookie: cookieValue(r, s.sessionCookieName()),
		BindingCookie: cookieValue(r, s.bindingCookieName()),
		DeviceCookie:  cookieValue(r, s.deviceCookieName()),
		IP:            s.clientIP(r),
		UserAgent:     truncateUTF8(r.UserAgent(), maxUserAgentLen),
		RequestID:     requestIDFrom(r.Context()),

		KnownDeviceCookie: cookieValue(r, idp.CookieName(idp.KnownDeviceCookieBase, s.secure)),
	}
}

// truncateUTF8 cuts s to at most n bytes without splitting a multi-byte character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for k := 0; k < utf8.UTFMax && i > 0 && !utf8.RuneStart(s[i]); k++ {
		i--
	}
	return s[:i]
}

// validFlowID accepts a non-empty, bounded auth request id or logout token; the flow judges the rest.
func validFlowID(id string) bool { return id != "" && len(id) <= maxAuthRequestIDLen }

// clientName is what the pages call the relying party: its display name, else its id, else "" (unknown).
func clientName(c idp.ClientInfo) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// stepID is the auth request id to carry on: the flow's, else the one the browser sent.
func stepID(step idp.Step, id string) string {
	if step.AuthRequestID != "" {
		return step.AuthRequestID
	}
	return id
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return
	}
	step, err := s.flow.Resume(r.Context(), id, s.browser(r))
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	if err := s.setSessionCookie(w, step.Session); err != nil {
		s.flowError(w, r, err)
		return
	}
	id = stepID(step, id)
	switch step.Kind {
	case idp.StepPassword:
		s.renderLogin(w, r, http.StatusOK, loginPage{
			CSRFToken:     s.csrfToken(w, r),
			AuthRequestID: id,
			ClientName:    clientName(step.Client),
			Username:      step.LoginHint,
		})
	case idp.StepConsent:
		s.renderConsent(w, r, http.StatusOK, newConsentPage(s.csrfToken(w, r), id, step, ""))
	case idp.StepRedirect:
		s.seeOtherStep(w, r, step)
	case idp.StepSecondFactor, idp.StepEnroll, idp.StepBackupCodes:
		s.renderMFAStep(w, r, id, step)
	case idp.StepVerifyEmail:
		s.renderVerifyEmailStep(w, r, http.StatusOK, id, step, verifyEmailPage{Sent: r.URL.Query().Get("sent") == "1"})
	default:
		s.flowError(w, r, fmt.Errorf("ui: the flow returned an unknown step %q", step.Kind))
	}
}

func (s *Server) handleLoginSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		s.metrics.LoginOutcome(loginBadRequest)
		return
	}
	p := loginPage{AuthRequestID: r.PostForm.Get("id"), Username: r.PostForm.Get("username")}
	password := r.PostForm.Get("password")
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("sign-in form refused", "reason", err)
		s.metrics.LoginOutcome(loginCSRF)
		p.Error, p.CSRFToken = csrfMessage, s.csrfToken(w, r)
		s.renderLogin(w, r, http.StatusForbidden, p)
		return
	}
	if !validFlowID(p.AuthRequestID) {
		s.metrics.LoginOutcome(loginBadRequest)
		s.badSignInLink(w, r)
		return
	}
	if p.Username == "" || password == "" {
		s.metrics.LoginOutcome(loginBadRequest)
		switch {
		case p.Username == "" && password == "":
			p.Error, p.ErrorField = msgEnterBoth, "username"
		case p.Username == "":
			p.Error, p.ErrorField = msgEnterUsername, "username"
		default:
			p.Error, p.ErrorField = msgEnterPassword, "password"
		}
		p.CSRFToken = s.csrfToken(w, r)
		s.renderLogin(w, r, http.StatusBadRequest, p)
		return
	}

	step, err := s.flow.SubmitPassword(r.Context(), p.AuthRequestID, s.browser(r), p.Username, password)
	var throttled *idp.ThrottledError
	switch {
	case err == nil:
		s.metrics.LoginOutcome(loginSuccess)
		s.advance(w, r, p.AuthRequestID, step)
	case errors.Is(err, idp.ErrInvalidCredentials):
		// The username is not logged: people type their password into it by mistake.
		s.log(r.Context()).Info("sign-in refused", "reason", "invalid credentials")
		s.metrics.LoginOutcome(loginBadCredentials)
		p.Error, p.ErrorField, p.CSRFToken = msgInvalidCredentials, "password", s.csrfToken(w, r)
		s.renderLogin(w, r, http.StatusUnauthorized, p)
	case errors.As(err, &throttled):
		s.log(r.Context()).Info("sign-in refused", "reason", "throttled", "retry_after", throttled.RetryAfter)
		s.metrics.LoginOutcome(loginThrottled)
		p.Error, p.CSRFToken = retryAfter(w, throttled.RetryAfter), s.csrfToken(w, r)
		s.renderLogin(w, r, http.StatusTooManyRequests, p)
	case errors.Is(err, idp.ErrBusy):
		s.log(r.Context()).Warn("sign-in refused", "reason", "too many password checks at once")
		s.metrics.LoginOutcome(loginBusy)
		retryAfter(w, idp.BusyRetryAfter)
		p.Error, p.CSRFToken = msgBusy, s.csrfToken(w, r)
		s.renderLogin(w, r, http.StatusServiceUnavailable, p)
	default:
		if errors.Is(err, idp.ErrAuthRequestNotFound) || errors.Is(err, idp.ErrWrongBrowser) {
			s.metrics.LoginOutcome(loginBadRequest)
		} else {
			s.metrics.LoginOutcome(loginError)
		}
		s.flowError(w, r, err)
	}
}

// advance answers a successful POST: the new session cookie if any, then always 303 (RFC 9700 §4.12: a 307 would
// replay the credentials to the next URL). A step that needs a page goes through GET /login (post/redirect/get),
// so a reload never resubmits the form.
func (s *Server) advance(w http.ResponseWriter, r *http.Request, id string, step idp.Step) {
	if err := s.setSessionCookie(w, step.Session); err != nil {
		s.flowError(w, r, err)
		return
	}
	if step.Kind == idp.StepRedirect {
		s.seeOtherStep(w, r, step)
		return
	}
	s.seeOther(w, r, loginURL(stepID(step, id)))
}

// loginURL is the page of sign-in request id: GET /login shows whatever step it is at.
func loginURL(id string) string { return "/login?id=" + url.QueryEscape(id) }

// seeOtherStep follows a StepRedirect; one without a URL is the flow's bug, not the visitor's.
func (s *Server) seeOtherStep(w http.ResponseWriter, r *http.Request, step idp.Step) {
	if step.RedirectURL == "" {
		s.flowError(w, r, errors.New("ui: the flow returned a redirect step without a URL"))
		return
	}
	s.seeOther(w, r, step.RedirectURL)
}

// seeOther redirects with 303, which makes the browser follow with a GET whatever the request was (RFC 9110
// §15.4.4). The redirect may carry a code or a session: never cached.
func (s *Server) seeOther(w http.ResponseWriter, r *http.Request, target string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// parseForm limits and parses a urlencoded body; an unreadable one gets the 400 page and false.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, errorPage{
			Title:   "Bad request",
			Message: "The form could not be read. Go back and try again.",
		})
		return false
	}
	return true
}

// retryAfter sets the Retry-After header in whole seconds, rounded up (RFC 9110 §10.2.3), and returns the alert
// that says the same in words.
func retryAfter(w http.ResponseWriter, d time.Duration) string {
	secs := max(int64(math.Ceil(d.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	switch {
	case secs == 1:
		return "Too many attempts. Try again in 1 second."
	case secs < 120:
		return fmt.Sprintf("Too many attempts. Try again in %d seconds.", secs)
	default:
		return fmt.Sprintf("Too many attempts. Try again in %d minutes.", (secs+59)/60)
	}
}

// badSignInLink answers a sign-in URL or form without a usable id.
func (s *Server) badSignInLink(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusBadRequest, errorPage{
		Title:   "Sign-in link not valid",
		Message: "This sign-in link is incomplete. Go back to the application and sign in again.",
	})
}

// flowError answers the errors every sign-in and sign-out page can get from the flow. The visitor sees what they
// can do about it; the cause of anything unexpected goes to the log (with the request id), never to the page.
func (s *Server) flowError(w http.ResponseWriter, r *http.Request, err error) {
	var throttled *idp.ThrottledError
	switch {
	case errors.Is(err, idp.ErrAuthRequestNotFound):
		s.renderError(w, r, http.StatusNotFound, errorPage{
			Title:   "Sign-in link expired",
			Message: "This sign-in link has expired or was already used. Go back to the application and sign in again.",
		})
	case errors.Is(err, idp.ErrWrongBrowser):
		s.renderError(w, r, http.StatusForbidden, errorPage{
			Title:   "Sign-in started elsewhere",
			Message: "This sign-in was started in another browser. Go back to the application and sign in again from here.",
		})
	case errors.Is(err, idp.ErrLogoutRequestInvalid):
		s.badLogoutLink(w, r)
	case errors.As(err, &throttled):
		s.renderError(w, r, http.StatusTooManyRequests, errorPage{
			Title:   "Too many attempts",
			Message: retryAfter(w, throttled.RetryAfter),
		})
	default:
		s.log(r.Context()).Error("sign-in flow", "method", r.Method, "route", routeLabel(r), "err", err)
		s.renderError(w, r, http.StatusInternalServerError, errorPage{
			Title:   "Something went wrong",
			Message: "An unexpected error stopped this sign-in. Please try again; if it keeps happening, give the reference below to your administrator.",
		})
	}
}
