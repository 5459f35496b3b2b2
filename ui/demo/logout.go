package demo

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"net/url"
)

// Cookie names (prefixed with __Secure- over https). All are HttpOnly, SameSite=Lax, scoped to the mount path,
// and authenticated and encrypted with keys derived from Options.CookieKey.
const (
	pendingCookie = "acme_login"   // the sign-in in flight
	sessionCookie = "acme_session" // the id of the in-memory session
	signOutCookie = "acme_signout" // the state of an RP-initiated logout in flight
)

// sessionID is the id in the request's session cookie, if it is authentic.
func (s *server) sessionID(r *http.Request) (string, bool) {
	id, err := s.signedIn.CheckCookie(r, s.cookieName(sessionCookie))
	return id, err == nil && id != ""
}

// currentSession is the request's demo session, if any.
func (s *server) currentSession(r *http.Request) (session, bool) {
	id, ok := s.sessionID(r)
	if !ok {
		return session{}, false
	}
	return s.sessions.get(id)
}

// handleLogout signs the browser out of the demo and then out of Twofold through RP-initiated logout (OpenID
// Connect RP-Initiated Logout 1.0 §2): id_token_hint, post_logout_redirect_uri and state.
func (s *server) handleLogout(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.currentSession(r)
	if !ok {
		s.signedIn.DeleteCookie(w, s.cookieName(sessionCookie))
		http.Redirect(w, r, s.path("/"), http.StatusSeeOther)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("t")), []byte(sess.signOut)) != 1 {
		// The link is a GET: the per-session secret keeps other sites from signing the visitor out.
		s.renderHome(w, r, http.StatusBadRequest, &alertView{
			Title: "This sign-out link is not for your session", Code: "invalid_request",
			Description: "Use the Sign out button on this page.",
		})
		return
	}
	s.sessions.delete(sess.id)
	s.signedIn.DeleteCookie(w, s.cookieName(sessionCookie))

	relying, err := s.relying.get(r.Context())
	if err != nil {
		s.log.ErrorContext(r.Context(), "demo: provider unreachable", "err", err)
		s.renderPage(w, r, http.StatusServiceUnavailable, s.homePage(nil, &alertView{
			Title: "Signed out of Acme Notes only", Code: "temporarily_unavailable",
			Description: "Twofold could not be reached, so your session there is still open.",
		}, ""))
		return
	}
	endSession := relying.GetEndSessionEndpoint()
	target, err := url.Parse(endSession)
	if endSession == "" || err != nil {
		s.log.WarnContext(r.Context(), "demo: the provider has no usable end_session_endpoint", "endpoint", endSession)
		http.Redirect(w, r, s.path("/"), http.StatusSeeOther)
		return
	}
	state := rand.Text()
	if err := s.pending.SetCookie(w, s.cookieName(signOutCookie), state); err != nil {
		s.log.ErrorContext(r.Context(), "demo: set sign-out cookie", "err", err)
	}
	q := target.Query()
	q.Set("id_token_hint", sess.idToken)
	q.Set("client_id", s.clientID)
	q.Set("post_logout_redirect_uri", PostLogoutRedirectURI(s.baseURL))
	q.Set("state", state)
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// signedOutNotice is the notice for a browser coming back from Twofold's end_session_endpoint with the state this
// browser sent (RP-Initiated Logout §3); it deletes the state cookie.
func (s *server) signedOutNotice(w http.ResponseWriter, r *http.Request) string {
	state := r.URL.Query().Get("state")
	if state == "" {
		return ""
	}
	name := s.cookieName(signOutCookie)
	want, err := s.pending.CheckCookie(r, name)
	if err != nil || subtle.ConstantTimeCompare([]byte(state), []byte(want)) != 1 {
		return ""
	}
	s.pending.DeleteCookie(w, name)
	return "You are signed out of Acme Notes and of Twofold."
}
