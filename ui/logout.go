package ui

import "net/http"

// The provider sends the browser to GET /logout?token=… when an RP-initiated logout cannot be trusted without
// asking: no id_token_hint, or one that does not match the current session (OIDC RP-Initiated Logout §2, §6).
// Signing out on a GET alone would let any page log the user out, so the page asks and the POST does it.

// logoutPage asks the user to confirm signing out.
type logoutPage struct {
	CSRFToken  string
	Token      string // the logout request, carried in a hidden field
	ClientName string // the relying party that asked, "" when unknown
	Error      string // shown in the role="alert" box
}

func (s *Server) renderLogout(w http.ResponseWriter, r *http.Request, status int, p logoutPage) {
	s.render(w, r, status, "logout", p)
}

// signedOutPage is shown after a logout that has nowhere to send the browser back to.
type signedOutPage struct{}

func (s *Server) renderSignedOut(w http.ResponseWriter, r *http.Request, status int, p signedOutPage) {
	s.render(w, r, status, "signed_out", p)
}

func (s *Server) handleLogoutPrompt(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if !validFlowID(token) {
		s.badLogoutLink(w, r)
		return
	}
	prompt, err := s.logout.LogoutPrompt(r.Context(), token, s.browser(r))
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	s.renderLogout(w, r, http.StatusOK, logoutPage{
		CSRFToken:  s.csrfToken(w, r),
		Token:      token,
		ClientName: prompt.ClientName,
	})
}

func (s *Server) handleLogoutSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	p := logoutPage{Token: r.PostForm.Get("token")}
	if err := s.checkCSRF(r); err != nil {
		// Re-rendered without asking the flow: the page reads fine without the client's name.
		s.log(r.Context()).Info("logout form refused", "reason", err)
		p.Error, p.CSRFToken = csrfMessage, s.csrfToken(w, r)
		s.renderLogout(w, r, http.StatusForbidden, p)
		return
	}
	if !validFlowID(p.Token) {
		s.badLogoutLink(w, r)
		return
	}
	res, err := s.logout.ConfirmLogout(r.Context(), p.Token, s.browser(r))
	if err == nil {
		err = s.setSessionCookie(w, res.Session)
	}
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	s.log(r.Context()).Info("signed out")
	if res.RedirectURL == "" {
		s.seeOther(w, r, "/logout/done")
		return
	}
	s.seeOther(w, r, res.RedirectURL)
}

func (s *Server) handleSignedOut(w http.ResponseWriter, r *http.Request) {
	s.renderSignedOut(w, r, http.StatusOK, signedOutPage{})
}

// badLogoutLink answers a sign-out URL or form without a usable token.
func (s *Server) badLogoutLink(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusBadRequest, errorPage{
		Title:   "Sign-out link not valid",
		Message: "This sign-out link is invalid or has expired. Go back to the application and sign out again.",
	})
}
