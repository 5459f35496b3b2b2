package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/twofold-idp/twofold/idp"
)

// OpenIDProvider is the protocol side that the pages sit beside: its
// endpoints are mounted on Paths, and the callback page asks it for the
// authorization response. The two endpoints a person's browser visits,
// /authorize and /end_session, are served through Authorize and EndSession:
// they write a redirect, or return what they refused for the pages to show.
type OpenIDProvider interface {
	Handler() http.Handler
	Paths() []string
	Authorize(w http.ResponseWriter, r *http.Request) error
	EndSession(w http.ResponseWriter, r *http.Request) error
	IssueCode(ctx context.Context, authRequestID string, b idp.Browser) (idp.AuthResponse, error)
}

// mountProvider routes the provider's endpoints (every method: the library
// answers the ones it does not serve) and the authorization callback.
func (s *Server) mountProvider(p OpenIDProvider) {
	h := p.Handler()
	for _, path := range p.Paths() {
		switch path {
		case "/authorize":
			s.router.Handle(path, s.browserEndpoint(p.Authorize))
		case "/end_session":
			s.router.Handle(path, s.browserEndpoint(p.EndSession))
		default:
			s.router.Handle(path, h)
		}
	}
	s.router.Get("/authorize/callback", s.handleCallback)
	if d, ok := p.(DeviceFlow); ok {
		s.mountDevice(d) // RFC 8628 (device.go)
	}
}

// browserEndpoint serves /authorize or /end_session: the provider answers,
// with the client's address (behind trusted proxies) in the context, and a
// refusal is an error page in the hosted-page design, never JSON
// (ARCHITECTURE.md "Hosted pages").
func (s *Server) browserEndpoint(serve func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
			s.methodNotAllowed(w, r)
			return
		}
		r = r.WithContext(idp.WithClientIP(r.Context(), s.clientIP(r)))
		if err := serve(w, r); err != nil {
			s.requestRefused(w, r, err)
		}
	}
}

// requestRefused shows why /authorize or /end_session refused a request.
func (s *Server) requestRefused(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, idp.ErrUnknownClient):
		s.renderError(w, r, http.StatusBadRequest, errorPage{
			Title:   "Unknown application",
			Message: "The application that sent you here is not registered with this sign-in service. Go back and contact its administrator.",
		})
	case errors.Is(err, idp.ErrRedirectURIInvalid):
		s.renderError(w, r, http.StatusBadRequest, errorPage{
			Title:   "Sign-in request not valid",
			Message: "The application that sent you here asked to return to an address it has not registered, so you cannot be sent back to it. Contact its administrator.",
		})
	case errors.Is(err, idp.ErrRequestInvalid):
		s.renderError(w, r, http.StatusBadRequest, errorPage{
			Title:   "Sign-in request not valid",
			Message: "The sign-in request could not be read: it is malformed or too large. Go back to the application and try again.",
		})
	case errors.Is(err, idp.ErrLogoutRequestInvalid):
		s.log(r.Context()).Info("logout request refused", "err", err)
		s.renderError(w, r, http.StatusBadRequest, errorPage{
			Title:   "Sign-out request not valid",
			Message: "The application's sign-out request could not be honoured. Go back to the application, or close your browser to end your session.",
		})
	default:
		s.flowError(w, r, err)
	}
}

// formPostPage auto-submits the authorization response to the client
// (OAuth 2.0 Form Post Response Mode) with an external script, as the CSP
// allows no inline one.
type formPostPage struct {
	Action string
	Fields []formField
}

type formField struct{ Name, Value string }

// handleCallback delivers the code of a completed sign-in to the client.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if id == "" || len(id) > maxAuthRequestIDLen {
		s.badSignInLink(w, r)
		return
	}
	resp, err := s.provider.IssueCode(r.Context(), id, s.browser(r))
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	if resp.FormPost {
		p := formPostPage{Action: resp.RedirectURI}
		for name, values := range resp.Params {
			for _, v := range values {
				p.Fields = append(p.Fields, formField{name, v})
			}
		}
		s.render(w, r, http.StatusOK, "form_post", p)
		return
	}
	u, err := url.Parse(resp.RedirectURI)
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	q := u.Query()
	for name, values := range resp.Params {
		q[name] = values
	}
	u.RawQuery = q.Encode()
	s.seeOther(w, r, u.String())
}
