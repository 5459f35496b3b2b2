package ui

import (
	"net/http"
	"slices"

	"github.com/twofold-idp/twofold/idp"
)

// consentPage asks the user whether the client may have what it asks for.
type consentPage struct {
	CSRFToken     string
	AuthRequestID string
	ClientName    string   // "" when the client has neither name nor id
	Items         []string // what the client asks for, in plain words
	Error         string   // shown in the role="alert" box
}

func (s *Server) renderConsent(w http.ResponseWriter, r *http.Request, status int, p consentPage) {
	s.render(w, r, status, "consent", p)
}

func newConsentPage(csrfToken, id string, step idp.Step, alert string) consentPage {
	name := clientName(step.Client)
	return consentPage{
		CSRFToken:     csrfToken,
		AuthRequestID: id,
		ClientName:    name,
		Items:         consentItems(step.Scopes, name),
		Error:         alert,
	}
}

// consentItems says what each requested scope gives the client, in the order asked, once each. Scopes without a
// description are shown by name: the user should see everything the client gets, even what we cannot explain.
func consentItems(scopes []string, client string) []string {
	if client == "" {
		client = "the application"
	}
	var items []string
	for i, sc := range scopes {
		if sc == "" || slices.Contains(scopes[:i], sc) {
			continue
		}
		switch sc {
		case "openid":
			items = append(items, "Confirm your identity")
		case "profile":
			items = append(items, "Your name and username")
		case "email":
			items = append(items, "Your email address")
		case "offline_access":
			items = append(items, "Stay signed in to "+client+" (refresh tokens)")
		default:
			items = append(items, sc)
		}
	}
	return items
}

// consentDecisions maps the decision buttons' values to SubmitConsent's allow.
var consentDecisions = map[string]bool{"allow": true, "deny": false}

func (s *Server) handleConsentSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id := r.PostForm.Get("id")
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("consent form refused", "reason", err)
		s.consentRejected(w, r, id, http.StatusForbidden, csrfMessage)
		return
	}
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return
	}
	allow, ok := consentDecisions[r.PostForm.Get("decision")]
	if !ok {
		s.consentRejected(w, r, id, http.StatusBadRequest, "Choose Allow or Deny.")
		return
	}
	step, err := s.flow.SubmitConsent(r.Context(), id, s.browser(r), allow)
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	s.advance(w, r, id, step)
}

// consentRejected re-renders the consent form with an alert. Unlike the password form it cannot be shown without
// the flow (a consent page without the list of what is asked would be a blank cheque), so it asks Resume, which
// proves and decides nothing: it is exactly what GET /login?id= does for anyone who has the link. SubmitConsent is
// never called for a rejected POST.
func (s *Server) consentRejected(w http.ResponseWriter, r *http.Request, id string, status int, alert string) {
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
	if step.Kind != idp.StepConsent {
		// The request moved on (or back) meanwhile: do not act on a refused POST, say what happened.
		s.renderError(w, r, status, errorPage{
			Title:   "Please try again",
			Message: alert + " Go back to the application and sign in again.",
		})
		return
	}
	s.renderConsent(w, r, status, newConsentPage(s.csrfToken(w, r), stepID(step, id), step, alert))
}
