package ui

import (
	"context"
	"net/http"
	"net/url"

	"github.com/twofold-idp/twofold/idp"
)

// OpenIDProvider is the protocol side that the pages sit beside: its
// endpoints are mounted on Paths, and the callback page asks it for the
// authorization response.
type OpenIDProvider interface {
	Handler() http.Handler
	Paths() []string
	IssueCode(ctx context.Context, authRequestID string, b idp.Browser) (idp.AuthResponse, error)
}

// mountProvider routes the provider's endpoints (every method: the library
// answers the ones it does not serve) and the authorization callback.
func (s *Server) mountProvider(p OpenIDProvider) {
	h := p.Handler()
	for _, path := range p.Paths() {
		s.router.Handle(path, h)
	}
	s.router.Get("/authorize/callback", s.handleCallback)
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
