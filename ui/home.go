package ui

import "net/http"

// homePage is the landing page at /; it shows nothing variable yet.
type homePage struct{}

func (s *Server) renderHome(w http.ResponseWriter, r *http.Request, status int, p homePage) {
	s.render(w, r, status, "home", p)
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	s.renderHome(w, r, http.StatusOK, homePage{})
}
