package ui

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// embedded holds the templates and static files compiled into the binary. There is no CDN: every asset the pages
// use is here, which is also what lets the CSP say 'self'.
//
//go:embed static templates
var embedded embed.FS

// assetFS returns the static and template file systems: the embedded copies, or dir/static and dir/templates
// when dir is set (development: edit and reload without rebuilding).
func assetFS(dir string) (static, templates fs.FS, err error) {
	if dir == "" {
		static, _ = fs.Sub(embedded, "static")       // cannot fail: the directory is embedded
		templates, _ = fs.Sub(embedded, "templates") // likewise
		return static, templates, nil
	}
	for _, sub := range []string{"static", "templates"} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		if err != nil {
			return nil, nil, fmt.Errorf("ui: assets dir: %w", err)
		}
		if !fi.IsDir() {
			return nil, nil, fmt.Errorf("ui: assets dir: %s is not a directory", filepath.Join(dir, sub))
		}
	}
	return os.DirFS(filepath.Join(dir, "static")), os.DirFS(filepath.Join(dir, "templates")), nil
}

// staticCacheControl lets browsers keep assets for an hour; the names are not content-hashed, so not longer.
const staticCacheControl = "public, max-age=3600"

// handleStatic serves one file from the static file system. Unlike http.FileServer it never lists directories
// and answers anything it cannot serve with the branded 404.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	if name == "" || !fs.ValidPath(name) || strings.Contains(name, "\\") {
		s.notFound(w, r)
		return
	}
	f, err := s.static.Open(name)
	if err != nil {
		s.notFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		s.notFound(w, r)
		return
	}
	content, ok := f.(io.ReadSeeker)
	if !ok {
		// Every fs we use returns seekable files; this keeps an exotic one working rather than failing.
		b, err := io.ReadAll(f)
		if err != nil {
			s.log(r.Context()).Error("read static file", "name", name, "err", err)
			s.notFound(w, r)
			return
		}
		content = strings.NewReader(string(b))
	}
	w.Header().Set("Cache-Control", staticCacheControl)
	// Embedded files have no modification time; ServeContent then sends no Last-Modified, which is right.
	http.ServeContent(w, r, path.Base(name), fi.ModTime(), content)
}
