package ui

import (
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/twofold-idp/twofold/idp"
)

// Kit is what the pages of a sub-package (ui/admin, the console) build on, so
// that they look and behave like the hosted pages: the layout and its
// error page, the CSRF double submit, the cookies' attributes, the client's
// address behind trusted proxies, the request's logger.
type Kit struct{ s *Server }

// Kit returns the server's page kit.
func (s *Server) Kit() *Kit { return &Kit{s} }

// Pages are page templates parsed with the hosted pages' layout: each file
// NAME.html of a Pages fills the layout's "title" and "content" blocks, and
// may define "main_class" to widen the card.
type Pages struct {
	k      *Kit
	fsys   fs.FS
	shared string
	funcs  template.FuncMap
	pages  map[string]*template.Template
}

// ParsePages parses every page of fsys named in names, each with the file
// shared (templates every page uses) and funcs, now: a broken template
// fails at start. Under the server's development AssetsDir the hosted
// pages' layout is re-read on every render, the sub-package's own pages
// are not.
func (k *Kit) ParsePages(fsys fs.FS, shared string, funcs template.FuncMap, names ...string) (*Pages, error) {
	p := &Pages{k: k, fsys: fsys, shared: shared, funcs: funcs, pages: make(map[string]*template.Template, len(names))}
	for _, name := range names {
		t, err := p.parse(name)
		if err != nil {
			return nil, err
		}
		p.pages[name] = t
	}
	return p, nil
}

func (p *Pages) parse(name string) (*template.Template, error) {
	t, err := template.New(name).Funcs(p.funcs).ParseFS(p.k.s.templates.fsys, "layout.html")
	if err == nil {
		t, err = t.ParseFS(p.fsys, p.shared, name+".html")
	}
	if err != nil {
		return nil, fmt.Errorf("ui: parse template %s: %w", name, err)
	}
	return t, nil
}

// Render writes page name with data, as the hosted pages are written
// (buffered, no-store).
func (p *Pages) Render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t, ok := p.pages[name]
	if !ok {
		p.k.s.log(r.Context()).Error("render page", "page", name, "err", "no such page")
		p.k.s.writeFallbackError(w, r)
		return
	}
	if p.k.s.templates.reload {
		var err error
		if t, err = p.parse(name); err != nil {
			p.k.s.log(r.Context()).Error("render page", "page", name, "err", err)
			p.k.s.writeFallbackError(w, r)
			return
		}
	}
	p.k.s.write(w, r, status, name, t, data)
}

// Error renders the hosted pages' error page.
func (k *Kit) Error(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	k.s.renderError(w, r, status, errorPage{Title: title, Message: message})
}

// NotFound answers the hosted pages' 404.
func (k *Kit) NotFound(w http.ResponseWriter, r *http.Request) { k.s.notFound(w, r) }

// CSRFToken is the value of the hidden csrf_token field of a form; call it
// before writing the response (it may set the secret's cookie).
func (k *Kit) CSRFToken(w http.ResponseWriter, r *http.Request) string { return k.s.csrfToken(w, r) }

// CSRFMessage is what a form refused by CheckForm shows in its alert.
const CSRFMessage = csrfMessage

// ParseForm limits and parses a urlencoded body; an unreadable one gets
// the 400 page and false.
func (k *Kit) ParseForm(w http.ResponseWriter, r *http.Request) bool { return k.s.parseForm(w, r) }

// CheckCSRF checks a parsed form's CSRF token and the request's origin.
func (k *Kit) CheckCSRF(r *http.Request) error { return k.s.checkCSRF(r) }

// Browser is what the browser carries for idp: its cookies, address, user
// agent and the request's id.
func (k *Kit) Browser(r *http.Request) idp.Browser { return k.s.browser(r) }

// SeeOther redirects with 303, uncached.
func (k *Kit) SeeOther(w http.ResponseWriter, r *http.Request, target string) {
	k.s.seeOther(w, r, target)
}

// Log is the request's logger.
func (k *Kit) Log(ctx context.Context) *slog.Logger { return k.s.log(ctx) }

// Now is the server's clock.
func (k *Kit) Now() time.Time { return k.s.now() }

// StrictCookie is a host-only, HttpOnly, SameSite=Strict cookie for the
// whole site (with the __Host- prefix and Secure on https, so that a
// sibling subdomain cannot plant it); maxAge 0 makes it a browser-session
// cookie, a negative one deletes it.
func (k *Kit) StrictCookie(base, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: idp.CookieName(base, k.s.secure), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: k.s.secure, SameSite: http.SameSiteStrictMode,
	}
}

// CookieValue reads the cookie StrictCookie(base, …) set.
func (k *Kit) CookieValue(r *http.Request, base string) string {
	return cookieValue(r, idp.CookieName(base, k.s.secure))
}

// SameOriginPath accepts "/…" but not "//host" or "/\host".
func SameOriginPath(u string) bool { return sameOriginPath(u) }
