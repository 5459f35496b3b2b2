package ui

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
)

// pageNames lists every page template; each is parsed together with layout.html, which it fills through the
// "title" and "content" blocks.
var pageNames = []string{"home", "error", "setup", "setup_done", "login", "consent", "logout", "signed_out", "form_post",
	"mfa_totp", "mfa_backup_code", "mfa_webauthn", "enroll_choose", "enroll_totp", "enroll_webauthn", "backup_codes",
	"account", "mfa_email", "mfa_sms", "device", "device_approve", "device_done",
	// The ways back in (recovery.go).
	"notice", "forgot_password", "reset_password", "recovery_cancel", "lost_factor"}

// templates holds the parsed pages, or re-parses them on every render when the files come from a directory under
// development.
type templates struct {
	fsys   fs.FS
	reload bool
	pages  map[string]*template.Template
}

func newTemplates(fsys fs.FS, reload bool) (*templates, error) {
	t := &templates{fsys: fsys, reload: reload, pages: make(map[string]*template.Template, len(pageNames))}
	for _, name := range pageNames {
		p, err := parsePage(fsys, name)
		if err != nil {
			return nil, err
		}
		t.pages[name] = p
	}
	return t, nil
}

func parsePage(fsys fs.FS, name string) (*template.Template, error) {
	p, err := template.New(name).ParseFS(fsys, "layout.html", name+".html")
	if err != nil {
		return nil, fmt.Errorf("ui: parse template %s: %w", name, err)
	}
	return p, nil
}

func (t *templates) page(name string) (*template.Template, error) {
	if t.reload {
		return parsePage(t.fsys, name)
	}
	p, ok := t.pages[name]
	if !ok {
		return nil, fmt.Errorf("ui: no template %q", name)
	}
	return p, nil
}

// render executes a page into a buffer first, so that a template error becomes a clean 500 instead of half a page
// after a 200, then writes it with the headers every page has: hosted pages carry per-visitor content (CSRF
// tokens, setup tokens, later login state) and must never be cached.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	p, err := s.templates.page(name)
	if err != nil {
		s.log(r.Context()).Error("render page", "page", name, "err", err)
		s.writeFallbackError(w, r)
		return
	}
	s.write(w, r, status, name, p, data)
}

// write executes page p (named name) with data and writes it.
func (s *Server) write(w http.ResponseWriter, r *http.Request, status int, name string, p *template.Template, data any) {
	var buf bytes.Buffer
	if err := p.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log(r.Context()).Error("render page", "page", name, "err", err)
		s.writeFallbackError(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a failed write means the client went away; nothing to do
}

// writeFallbackError answers 500 without templates, for when rendering itself failed.
func (s *Server) writeFallbackError(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error · Twofold</title>"+
		"<link rel=\"stylesheet\" href=\"/static/style.css\"></head><body><main class=\"card\"><h1>Something went wrong</h1>"+
		"<p>Please try again later.</p><p class=\"reference\">Reference: <code>%s</code></p></main></body></html>\n",
		html.EscapeString(requestIDFrom(r.Context())))
}

// errorPage is the branded page for every error a visitor can meet: unknown page, bad link, internal failure.
type errorPage struct {
	Title     string
	Message   string
	RequestID string // shown so a visitor can quote it; renderError fills it in when empty
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, p errorPage) {
	if p.RequestID == "" {
		p.RequestID = requestIDFrom(r.Context())
	}
	s.render(w, r, status, "error", p)
}
