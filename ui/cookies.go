package ui

import (
	"fmt"
	"net/http"

	"github.com/twofold-idp/twofold/idp"
)

// The SSO session cookie, the browser-binding cookie and the remembered-device cookie belong to idp: it chooses
// their values and lifetimes. The pages only carry them between the browser and the flow, with the attributes
// SECURITY-RULES asks for.

// sessionCookieName, bindingCookieName and deviceCookieName carry the __Host- prefix on https, like the CSRF
// cookie: the browser then insists on Secure, Path=/ and no Domain, so a sibling subdomain cannot plant a session
// or a remembered device (RFC 6265bis §4.1.3.2).
func (s *Server) sessionCookieName() string { return idp.CookieName(idp.SessionCookieBase, s.secure) }

func (s *Server) bindingCookieName() string { return idp.CookieName(idp.BindingCookieBase, s.secure) }

func (s *Server) deviceCookieName() string { return idp.CookieName(idp.DeviceCookieBase, s.secure) }

// cookieValue is the value of the named cookie the request carries, or "".
func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// flowCookie builds the Set-Cookie named name for a value the flow returned. SameSite=Lax, not Strict: a relying
// party's redirect to /authorize is a cross-site top-level navigation that must carry the session (for SSO) and
// the remembered device (to skip the second factor). An empty value deletes the cookie; a zero Expires makes it a
// browser-session cookie.
func (s *Server) flowCookie(name string, v idp.SessionCookie) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    v.Value,
		Path:     "/",
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	}
	switch {
	case v.Value == "":
		c.MaxAge = -1 // sent as Max-Age=0: the browser drops the cookie at once
	case !v.Expires.IsZero():
		c.Expires = v.Expires.UTC()
	}
	return c
}

// setSessionCookie sets the session cookie when the flow returned a value (nil means "leave it as it is").
func (s *Server) setSessionCookie(w http.ResponseWriter, v *idp.SessionCookie) error {
	return s.setFlowCookie(w, s.sessionCookieName(), v)
}

// setDeviceCookie sets the remembered-device cookie when the flow returned a value.
func (s *Server) setDeviceCookie(w http.ResponseWriter, v *idp.SessionCookie) error {
	return s.setFlowCookie(w, s.deviceCookieName(), v)
}

// setFlowCookie sets cookie name to v, unless v is nil. A value the browser could not store is an error rather
// than a silently dropped header: the user would otherwise be sent on without the session the flow just created.
func (s *Server) setFlowCookie(w http.ResponseWriter, name string, v *idp.SessionCookie) error {
	if v == nil {
		return nil
	}
	c := s.flowCookie(name, *v)
	if err := c.Valid(); err != nil {
		return fmt.Errorf("ui: cookie %s from the flow: %w", name, err)
	}
	http.SetCookie(w, c)
	return nil
}
