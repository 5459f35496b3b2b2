package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// CSRF protection is a signed double submit: each browser gets a random secret in an HttpOnly cookie, and every
// form carries HMAC-SHA256(CSRFKey, secret). A cross-site attacker can make the browser send the cookie but can
// neither read it nor compute the MAC without the key. On top of that, state-changing requests announced as
// cross-site by Sec-Fetch-Site or by a foreign Origin are refused outright.

const (
	csrfFormField    = "csrf_token"
	csrfHeader       = "X-CSRF-Token" // for fetch() from our own scripts (webauthn.js), which post JSON
	csrfSecretLen    = 32
	csrfCookieSecure = "__Host-twofold_csrf"
	csrfCookiePlain  = "twofold_csrf"
)

// errCSRF is what checkCSRF's errors wrap; the text after it is for the log only.
var errCSRF = errors.New("csrf check failed")

// csrfMessage is shown in the role="alert" of a form refused by checkCSRF. It does not say which check failed.
const csrfMessage = "Your session expired or the form was submitted from elsewhere. Please try again."

// csrfCookieName has the __Host- prefix on https, which makes the browser refuse the cookie unless it is Secure,
// host-only and Path=/, so a sibling subdomain cannot plant its own secret (RFC 6265bis §4.1.3.2).
func (s *Server) csrfCookieName() string {
	if s.secure {
		return csrfCookieSecure
	}
	return csrfCookiePlain
}

// csrfCookie builds the cookie holding the per-browser secret. It is a session cookie: SameSite=Lax, not Strict,
// because a login page reached from a relying party's redirect must see it.
func (s *Server) csrfCookie(value string) *http.Cookie {
	return &http.Cookie{
		Name:     s.csrfCookieName(),
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// csrfToken returns the token to put in the hidden csrf_token field of a form, setting the secret cookie first
// if the browser has none (or a malformed one). Call it before writing the response.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	secret, ok := s.csrfSecret(r)
	if !ok {
		secret = make([]byte, csrfSecretLen)
		_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go 1.24+)
		http.SetCookie(w, s.csrfCookie(base64.RawURLEncoding.EncodeToString(secret)))
	}
	return base64.RawURLEncoding.EncodeToString(s.csrfMAC(secret))
}

// checkCSRF returns nil for safe methods and, for POST, PUT, PATCH and DELETE, verifies that the request is not
// announced as cross-site and carries the token matching the browser's secret (form field csrf_token, or the
// X-CSRF-Token header). The caller must have limited the request body before calling it: it parses the form.
func (s *Server) checkCSRF(r *http.Request) error {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil
	}
	// Fetch metadata (W3C Fetch Metadata Request Headers): browsers send it on every request; same-site and
	// same-origin pass on to the token check.
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return fmt.Errorf("%w: Sec-Fetch-Site is cross-site", errCSRF)
	}
	// A page served with Referrer-Policy: no-referrer makes the browser send
	// "Origin: null" on its own form POSTs (Fetch §3.2.5); Sec-Fetch-Site,
	// which only the browser sets, then tells a same-origin form apart from
	// an opaque origin (sandboxed frame) that is refused. The token is
	// checked either way.
	if o := r.Header.Get("Origin"); o != "" && !(o == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin") {
		// Any other "null" does not parse to an origin and is refused.
		u, err := url.Parse(o)
		origin, ok := "", false
		if err == nil {
			origin, ok = originOf(u)
		}
		if !ok || origin != s.issuerOrigin {
			return fmt.Errorf("%w: Origin is not the issuer's", errCSRF)
		}
	}
	secret, ok := s.csrfSecret(r)
	if !ok {
		return fmt.Errorf("%w: no secret cookie", errCSRF)
	}
	token := r.PostFormValue(csrfFormField)
	if token == "" {
		token = r.Header.Get(csrfHeader)
	}
	got, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: missing or malformed token", errCSRF)
	}
	if !hmac.Equal(got, s.csrfMAC(secret)) { // constant time
		return fmt.Errorf("%w: token does not match", errCSRF)
	}
	return nil
}

// csrfSecret reads the browser's secret from its cookie.
func (s *Server) csrfSecret(r *http.Request) ([]byte, bool) {
	c, err := r.Cookie(s.csrfCookieName())
	if err != nil {
		return nil, false
	}
	secret, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(secret) != csrfSecretLen {
		return nil, false
	}
	return secret, true
}

func (s *Server) csrfMAC(secret []byte) []byte {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write(secret)
	return m.Sum(nil)
}
