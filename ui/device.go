package ui

import (
	"context"
	"errors"
	"net/http"

	"github.com/twofold-idp/twofold/idp"
)

// DeviceFlow is the browser side of the device authorization grant
// (RFC 8628): the person enters the device's user code, signs in through the
// normal login pages and approves. A provider that implements it gets the
// /device pages.
type DeviceFlow interface {
	// DeviceSignIn starts the sign-in for a user code and writes the 303 to
	// the login page; it writes nothing and returns idp.ErrDeviceCodeInvalid,
	// idp.ErrDeviceCodeExpired or *idp.ThrottledError when it refuses.
	DeviceSignIn(w http.ResponseWriter, r *http.Request, userCode string) error
	DeviceApproval(ctx context.Context, id string, b idp.Browser) (idp.DevicePrompt, error)
	DecideDevice(ctx context.Context, id string, b idp.Browser, allow bool) error
}

func (s *Server) mountDevice(d DeviceFlow) {
	s.router.Get("/device", s.handleDevicePage)
	s.router.Post("/device", s.handleDeviceSubmit(d))
	s.router.Get("/device/approve", s.handleDeviceApprovePage(d))
	s.router.Post("/device/approve", s.handleDeviceApproveSubmit(d))
	s.router.Get("/device/done", s.handleDeviceDone)
}

// devicePage asks for the code the device shows.
type devicePage struct {
	CSRFToken string
	UserCode  string
	Error     string
}

// maxUserCodeLen bounds what is echoed back into the form.
const maxUserCodeLen = 20

func (s *Server) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("user_code") // verification_uri_complete
	if len(code) > maxUserCodeLen {
		code = ""
	}
	s.render(w, r, http.StatusOK, "device", devicePage{CSRFToken: s.csrfToken(w, r), UserCode: code})
}

func (s *Server) handleDeviceSubmit(d DeviceFlow) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.parseForm(w, r) {
			return
		}
		code := r.PostForm.Get("user_code")
		p := devicePage{UserCode: code}
		if len(p.UserCode) > maxUserCodeLen {
			p.UserCode = ""
		}
		if err := s.checkCSRF(r); err != nil {
			s.log(r.Context()).Info("device form refused", "reason", err)
			p.Error, p.CSRFToken = csrfMessage, s.csrfToken(w, r)
			s.render(w, r, http.StatusForbidden, "device", p)
			return
		}
		r = r.WithContext(idp.WithClientIP(r.Context(), s.clientIP(r)))
		err := d.DeviceSignIn(w, r, code)
		var throttled *idp.ThrottledError
		switch {
		case err == nil:
		case errors.Is(err, idp.ErrDeviceCodeInvalid):
			// The code is not logged: it is a secret of the person's device.
			s.log(r.Context()).Info("device code refused", "reason", "unknown code")
			p.Error, p.CSRFToken = "That code is not valid. Check the code on your device and try again.", s.csrfToken(w, r)
			s.render(w, r, http.StatusUnauthorized, "device", p)
		case errors.As(err, &throttled):
			s.log(r.Context()).Info("device code refused", "reason", "throttled", "retry_after", throttled.RetryAfter)
			p.Error, p.CSRFToken = retryAfter(w, throttled.RetryAfter), s.csrfToken(w, r)
			s.render(w, r, http.StatusTooManyRequests, "device", p)
		case errors.Is(err, idp.ErrDeviceCodeExpired):
			s.deviceExpired(w, r)
		default:
			s.requestRefused(w, r, err)
		}
	}
}

// deviceExpired is the clear page for a code that expired or was used.
func (s *Server) deviceExpired(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusBadRequest, errorPage{
		Title:   "This code has expired",
		Message: "The code has expired or was already used. Start again on your device to get a new code.",
	})
}

// deviceApprovePage asks whether the device may have what it asks for.
type deviceApprovePage struct {
	CSRFToken     string
	AuthRequestID string
	ClientName    string
	Username      string
	Items         []string
	Error         string
}

func (s *Server) renderDeviceApproval(w http.ResponseWriter, r *http.Request, d DeviceFlow, id string, status int, alert string) {
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return
	}
	prompt, err := d.DeviceApproval(r.Context(), id, s.browser(r))
	if errors.Is(err, idp.ErrDeviceCodeExpired) {
		s.deviceExpired(w, r)
		return
	}
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	name := clientName(prompt.Client)
	s.render(w, r, status, "device_approve", deviceApprovePage{
		CSRFToken: s.csrfToken(w, r), AuthRequestID: id, ClientName: name, Username: prompt.Username,
		Items: consentItems(prompt.Scopes, name), Error: alert,
	})
}

func (s *Server) handleDeviceApprovePage(d DeviceFlow) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.renderDeviceApproval(w, r, d, r.URL.Query().Get("id"), http.StatusOK, "")
	}
}

func (s *Server) handleDeviceApproveSubmit(d DeviceFlow) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.parseForm(w, r) {
			return
		}
		id := r.PostForm.Get("id")
		if err := s.checkCSRF(r); err != nil {
			s.log(r.Context()).Info("device approval refused", "reason", err)
			s.renderDeviceApproval(w, r, d, id, http.StatusForbidden, csrfMessage)
			return
		}
		allow, ok := consentDecisions[r.PostForm.Get("decision")]
		if !ok {
			s.renderDeviceApproval(w, r, d, id, http.StatusBadRequest, "Choose Allow or Deny.")
			return
		}
		if !validFlowID(id) {
			s.badSignInLink(w, r)
			return
		}
		err := d.DecideDevice(r.Context(), id, s.browser(r), allow)
		switch {
		case err == nil:
		case errors.Is(err, idp.ErrDeviceCodeExpired):
			s.deviceExpired(w, r)
			return
		default:
			s.flowError(w, r, err)
			return
		}
		result := "approved"
		if !allow {
			result = "denied"
		}
		s.seeOther(w, r, "/device/done?result="+result)
	}
}

// deviceDonePage ends a device sign-in: the person goes back to the device.
type deviceDonePage struct {
	Result  string // approved, denied, unmet
	Title   string
	Message string
}

// handleDeviceDone says how a device sign-in ended: after the approval
// form, or where the login flow sends an error (denied, or a requirement
// the account cannot meet).
func (s *Server) handleDeviceDone(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := deviceDonePage{Result: "approved", Title: "Device connected", Message: "You can close this window and go back to your device."}
	switch {
	case q.Get("error") == "unmet_authentication_requirements":
		p = deviceDonePage{Result: "unmet", Title: "Sign-in not possible", Message: "Your account cannot meet the sign-in requirements of this application. Contact your administrator."}
	case q.Get("error") != "" || q.Get("result") == "denied":
		p = deviceDonePage{Result: "denied", Title: "Device not connected", Message: "The device was not given access. You can close this window."}
	case q.Get("result") != "approved":
		s.notFound(w, r)
		return
	}
	s.render(w, r, http.StatusOK, "device_done", p)
}
