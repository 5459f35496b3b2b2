package ui

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/twofold-idp/twofold/idp"
)

// The JSON API of webauthn.js. Each ceremony is two POSTs: begin returns the flow's options for
// navigator.credentials.create/get, finish hands the browser's answer back to the flow unchanged (the flow parses
// and verifies it; this layer never interprets a credential). Both carry the CSRF token in the X-CSRF-Token
// header, which a cross-site form cannot set, and answer JSON: {"redirect": URL} on success, {"error": message
// for people} otherwise.

// maxWebAuthnBody bounds a begin or finish body: an attestation with a certificate chain fits many times over.
const maxWebAuthnBody = 64 << 10

// Messages of the JSON API, shown by webauthn.js in the page's role="alert" region.
const (
	msgWebAuthnFailed   = "The security key or passkey check did not work. Try again, or choose another way."
	msgPasskeyUnknown   = "This passkey is not registered here. Sign in with your username and password."
	msgLinkExpired      = "This sign-in link has expired or was already used. Go back to the application and sign in again."
	msgOtherBrowser     = "This sign-in was started in another browser. Go back to the application and sign in again from here."
	msgRequestTooLarge  = "The request is too large."
	msgRequestNotJSON   = "The request must be JSON (Content-Type: application/json)."
	msgRequestMalformed = "The request could not be read. Reload the page and try again."
	msgInternal         = "Something went wrong. Please try again; if it keeps happening, give this reference to your administrator: "
)

// webauthnBegin serves POST …/begin: the id comes as a JSON body {"id": "…"} or as a form field.
func (s *Server) webauthnBegin(begin func(context.Context, string, idp.Browser) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxWebAuthnBody)
		if !s.apiCSRF(w, r) {
			return
		}
		var id string
		if isJSON(r) {
			body, ok := s.apiBody(w, r)
			if !ok {
				return
			}
			if id, ok = s.apiID(w, r, body); !ok {
				return
			}
		} else {
			// checkCSRF has parsed a urlencoded body already; anything else has no form and so no id.
			id = r.PostFormValue("id")
			if !validFlowID(id) {
				s.writeJSONError(w, http.StatusBadRequest, msgRequestMalformed)
				return
			}
		}
		options, err := begin(r.Context(), id, s.browser(r))
		if err != nil {
			s.apiFlowError(w, r, err)
			return
		}
		if !json.Valid(options) {
			s.apiFlowError(w, r, errors.New("ui: the flow's WebAuthn options are not JSON"))
			return
		}
		s.writeJSON(w, http.StatusOK, json.RawMessage(options))
	}
}

// webauthnFinish serves POST …/finish. The body ({"id", "session", "credential", optionally "name" and
// "remember_device"}) goes to the flow as it came; only "id" is read here, to know which sign-in it is for, and
// "remember_device", the challenge page's "Remember this device" box, which the second-factor route reads.
func (s *Server) webauthnFinish(finish func(context.Context, string, idp.Browser, []byte) (idp.Step, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxWebAuthnBody)
		if !s.apiCSRF(w, r) {
			return
		}
		if !isJSON(r) {
			s.writeJSONError(w, http.StatusUnsupportedMediaType, msgRequestNotJSON)
			return
		}
		body, ok := s.apiBody(w, r)
		if !ok {
			return
		}
		id, ok := s.apiID(w, r, body)
		if !ok {
			return
		}
		step, err := finish(r.Context(), id, s.browser(r), body)
		if err != nil {
			s.apiFlowError(w, r, err)
			return
		}
		if err := s.setSessionCookie(w, step.Session); err != nil {
			s.apiFlowError(w, r, err)
			return
		}
		s.rememberDevice(w, r, step)
		target := loginURL(stepID(step, id))
		if step.Kind == idp.StepRedirect {
			if step.RedirectURL == "" {
				s.apiFlowError(w, r, errors.New("ui: the flow returned a redirect step without a URL"))
				return
			}
			target = step.RedirectURL
		}
		s.writeJSON(w, http.StatusOK, struct {
			Redirect string `json:"redirect"`
		}{target})
	}
}

// apiCSRF runs the CSRF check (the X-CSRF-Token header, or a form's csrf_token) and answers 403 when it fails.
func (s *Server) apiCSRF(w http.ResponseWriter, r *http.Request) bool {
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("WebAuthn request refused", "route", routeLabel(r), "reason", err)
		s.writeJSONError(w, http.StatusForbidden, csrfMessage)
		return false
	}
	return true
}

// isJSON reports whether the request body is declared as application/json (parameters such as charset allowed).
func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// apiBody reads the (limited) body: 413 when it is over the limit.
func (s *Server) apiBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeJSONError(w, http.StatusRequestEntityTooLarge, msgRequestTooLarge)
		} else {
			s.writeJSONError(w, http.StatusBadRequest, msgRequestMalformed)
		}
		return nil, false
	}
	return body, true
}

// apiID reads the sign-in request id from a JSON object body: 400 when it is missing or the body is not one.
func (s *Server) apiID(w http.ResponseWriter, r *http.Request, body []byte) (string, bool) {
	var req struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &req); err != nil || !validFlowID(req.ID) {
		s.writeJSONError(w, http.StatusBadRequest, msgRequestMalformed)
		return "", false
	}
	return req.ID, true
}

// apiFlowError is flowError for the JSON API: the status the pages would answer, a message for people, the
// cause of anything unexpected in the log only.
func (s *Server) apiFlowError(w http.ResponseWriter, r *http.Request, err error) {
	var throttled *idp.ThrottledError
	switch {
	case errors.Is(err, idp.ErrWebAuthn):
		s.log(r.Context()).Info("WebAuthn ceremony refused", "route", routeLabel(r), "err", err)
		s.writeJSONError(w, http.StatusBadRequest, msgWebAuthnFailed)
	case errors.Is(err, idp.ErrInvalidCredentials):
		s.log(r.Context()).Info("passkey sign-in refused", "route", routeLabel(r), "reason", "invalid credentials")
		s.writeJSONError(w, http.StatusUnauthorized, msgPasskeyUnknown)
	case errors.Is(err, idp.ErrAuthRequestNotFound):
		s.writeJSONError(w, http.StatusNotFound, msgLinkExpired)
	case errors.Is(err, idp.ErrWrongBrowser):
		s.writeJSONError(w, http.StatusForbidden, msgOtherBrowser)
	case errors.As(err, &throttled):
		s.log(r.Context()).Info("WebAuthn request refused", "route", routeLabel(r), "reason", "throttled",
			"retry_after", throttled.RetryAfter)
		s.writeJSONError(w, http.StatusTooManyRequests, retryAfter(w, throttled.RetryAfter))
	default:
		s.log(r.Context()).Error("sign-in flow", "method", r.Method, "route", routeLabel(r), "err", err)
		s.writeJSONError(w, http.StatusInternalServerError, msgInternal+requestIDFrom(r.Context()))
	}
}

func (s *Server) writeJSONError(w http.ResponseWriter, status int, message string) {
	s.writeJSON(w, status, struct {
		Error string `json:"error"`
	}{message})
}

// writeJSON answers v as JSON. Never cached: the options carry a challenge, the answers a redirect with a code.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own structs and already-validated raw JSON get here
		status, b = http.StatusInternalServerError, []byte(`{"error":"Something went wrong."}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// webauthnFactorBegin and webauthnFactorFinish are the WebAuthn second factor through the flow's generic factor
// calls; finish passes the challenge page's "Remember this device" box (remember_device in the body) along.
func (s *Server) webauthnFactorBegin(ctx context.Context, id string, b idp.Browser) ([]byte, error) {
	return s.mfa.BeginFactor(ctx, id, b, idp.MethodWebAuthn)
}

func (s *Server) webauthnFactorFinish(ctx context.Context, id string, b idp.Browser, body []byte) (idp.Step, error) {
	var opts struct {
		RememberDevice bool `json:"remember_device"`
	}
	// apiID has read the body as a JSON object; a remember_device that is not a boolean stays false.
	_ = json.Unmarshal(body, &opts)
	return s.mfa.SubmitFactor(ctx, id, b, idp.MethodWebAuthn, body, opts.RememberDevice)
}
