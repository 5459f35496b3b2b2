package ui

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

var wantSecurityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
	"X-Frame-Options":            "DENY",
	"X-Content-Type-Options":     "nosniff",
	"Referrer-Policy":            "no-referrer",
	"Cross-Origin-Opener-Policy": "same-origin",
}

func checkSecurityHeaders(t *testing.T, h http.Header, wantHSTS bool) {
	t.Helper()
	for k, v := range wantSecurityHeaders {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "form-action"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP contains %s: %q", bad, csp)
		}
	}
	hsts := h.Get("Strict-Transport-Security")
	switch {
	case wantHSTS && hsts != "max-age=31536000":
		t.Errorf("Strict-Transport-Security = %q, want max-age=31536000", hsts)
	case !wantHSTS && hsts != "":
		t.Errorf("Strict-Transport-Security = %q on an http issuer, want none", hsts)
	}
}

// SECURITY-RULES: "CSP with nonces or no inline script, `object-src 'none'`, `base-uri 'none'`, `frame-ancestors
// 'none'`, plus `X-Frame-Options: DENY`, `nosniff`, `Referrer-Policy: no-referrer`"
func TestEveryResponseCarriesTheSecurityHeaders(t *testing.T) {
	h := newHarness(t, harnessConfig{routes: func(r chi.Router) {
		r.Get("/test/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	}})
	tests := []struct {
		name   string
		method string
		path   string
		status int
	}{
		{"a page", http.MethodGet, "/", http.StatusOK},
		{"the setup form", http.MethodGet, "/setup?token=good-token", http.StatusOK},
		{"a 404", http.MethodGet, "/no/such/page", http.StatusNotFound},
		{"a 405", http.MethodDelete, "/", http.StatusMethodNotAllowed},
		{"a static file", http.MethodGet, "/static/style.css", http.StatusOK},
		{"a missing static file", http.MethodGet, "/static/missing.css", http.StatusNotFound},
		{"the liveness probe", http.MethodGet, "/healthz", http.StatusOK},
		{"the readiness probe", http.MethodGet, "/readyz", http.StatusOK},
		{"the metrics", http.MethodGet, "/metrics", http.StatusOK},
		{"a panic", http.MethodGet, "/test/panic", http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, h.ts.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := h.do(h.client, req)
			wantStatus(t, r, tt.status)
			checkSecurityHeaders(t, r.Header, false)
		})
	}
}

func TestAnHTTPSIssuerAddsHSTSEverywhere(t *testing.T) {
	srv, err := New(Options{Issuer: "https://id.example.com", CSRFKey: testCSRFKey, Setup: newFakeSetup()})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/nope", "/static/style.css", "/healthz"} {
		t.Run(path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://id.example.com"+path, nil))
			checkSecurityHeaders(t, rec.Header(), true)
		})
	}
}

func TestPagesAreHTMLAndNeverCached(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	for _, path := range []string{"/", "/no/such/page", "/setup?token=good-token", "/setup?token=bad", "/setup/done"} {
		t.Run(path, func(t *testing.T) {
			r := h.get(path)
			if got := r.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			wantContains(t, r.body, `<html lang="en">`, `<link rel="stylesheet" href="/static/style.css">`, ">Twofold</a>")
		})
	}
}

func TestTheLandingPageNamesTheProduct(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.get("/")
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, "Twofold identity provider")
}

func TestAnUnknownPathGetsTheBrandedNotFoundPage(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.get("/no/such/page")
	wantStatus(t, r, http.StatusNotFound)
	wantContains(t, r.body, "Page not found", "Reference: <code>"+r.Header.Get("X-Request-Id")+"</code>")
}

func TestAWrongMethodGets405WithAllowAndTheBrandedPage(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/healthz", nil)
	r := h.do(h.client, req)
	wantStatus(t, r, http.StatusMethodNotAllowed)
	if got := r.Header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow = %q, want GET, HEAD", got)
	}
	wantContains(t, r.body, "Method not allowed", ">Twofold</a>")
}

func TestRequestID(t *testing.T) {
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name     string
		incoming string
		echoed   bool
	}{
		{"a well-formed incoming id is echoed", "abc-123_X.y", true},
		{"a 64-character id is echoed", strings.Repeat("a", 64), true},
		{"a 65-character id is replaced", strings.Repeat("a", 65), false},
		{"an id with a space is replaced", "abc def", false},
		{"an id with a slash is replaced", "abc/def", false},
		{"an id with a quote is replaced", `abc"def`, false},
		{"a missing id is generated", "", false},
	}
	h := newHarness(t, harnessConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r response
			if tt.incoming == "" {
				r = h.get("/healthz")
			} else {
				r = h.get("/healthz", "X-Request-Id", tt.incoming)
			}
			got := r.Header.Get("X-Request-Id")
			switch {
			case tt.echoed && got != tt.incoming:
				t.Errorf("X-Request-Id = %q, want %q echoed", got, tt.incoming)
			case !tt.echoed && !generated.MatchString(got):
				t.Errorf("X-Request-Id = %q, want 32 generated hex characters", got)
			}
			h.logs.waitForRecord(t, func(rec map[string]any) bool {
				return rec["msg"] == "http request" && rec["request_id"] == got
			})
		})
	}
}

func TestProbes(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		ready      func(context.Context) error
		wantStatus int
		wantBody   string
	}{
		{"healthz answers ok without asking the database", "/healthz",
			func(context.Context) error { return errors.New("database down") }, http.StatusOK, "ok"},
		{"readyz answers ready when the database is", "/readyz",
			func(context.Context) error { return nil }, http.StatusOK, `{"status":"ready"}`},
		{"readyz answers unavailable when the database is not", "/readyz",
			func(context.Context) error { return errors.New("dial tcp db.internal:5432: connection refused") },
			http.StatusServiceUnavailable, `{"status":"unavailable"}`},
		{"readyz answers unavailable when the check outlives its second", "/readyz",
			func(ctx context.Context) error {
				deadline, ok := ctx.Deadline()
				if !ok || time.Until(deadline) > time.Second {
					return nil // would wrongly pass: the test then fails on the status
				}
				<-ctx.Done()
				return ctx.Err()
			}, http.StatusServiceUnavailable, `{"status":"unavailable"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{opts: func(o *Options) { o.Ready = tt.ready }})
			r := h.get(tt.path)
			wantStatus(t, r, tt.wantStatus)
			if r.body != tt.wantBody {
				t.Errorf("body = %q, want %q", r.body, tt.wantBody)
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})
	}
	t.Run("the cause of unreadiness is logged, not shown", func(t *testing.T) {
		h := newHarness(t, harnessConfig{opts: func(o *Options) {
			o.Ready = func(context.Context) error { return errors.New("connection refused") }
		}})
		r := h.get("/readyz")
		wantNotContains(t, r.body, "refused")
		h.logs.waitForRecord(t, func(rec map[string]any) bool {
			return rec["msg"] == "not ready" && rec["err"] == "connection refused"
		})
	})
}

// scrapeUntil polls /metrics until it contains all of want: a request's metrics are recorded as its handler
// returns, which may be just after the client has its response.
func scrapeUntil(t *testing.T, h *harness, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := h.get("/metrics")
		missing := false
		for _, w := range want {
			missing = missing || !strings.Contains(r.body, w)
		}
		if !missing {
			return r.body
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q:\n%s", want, r.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetricsLabelRequestsByRoutePatternNeverByPath(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	h.get("/healthz")
	h.get("/static/style.css")
	h.get("/no/such/page-12345")
	h.srv.Metrics().LoginOutcome("success")
	h.srv.Metrics().LoginOutcome("bad_credentials")
	h.srv.Metrics().LoginOutcome("bad_credentials")
	body := scrapeUntil(t, h,
		`twofold_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`twofold_http_requests_total{code="200",method="GET",route="/static/*"} 1`,
		`twofold_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`twofold_http_request_duration_seconds_count{method="GET",route="/healthz"} 1`,
		`twofold_logins_total{outcome="success"} 1`,
		`twofold_logins_total{outcome="bad_credentials"} 2`,
	)
	wantNotContains(t, body, "page-12345", "style.css")
}

func TestANilMetricsIgnoresLoginOutcomes(t *testing.T) {
	var m *Metrics
	m.LoginOutcome("success") // must not panic
}

func TestTwoServersCannotShareARegistry(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	_, err := New(Options{Issuer: h.issuer, CSRFKey: testCSRFKey, Registry: h.srv.registry})
	if err == nil {
		t.Fatal("New with an already used registry succeeded")
	}
}

func TestAPanickingHandler(t *testing.T) {
	h := newHarness(t, harnessConfig{routes: func(r chi.Router) {
		r.Get("/test/panic", func(w http.ResponseWriter, _ *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "half_done", Value: "x"})
			w.Header().Set("Content-Type", "application/json")
			panic("kaboom: internal detail")
		})
		r.Get("/test/panic-after-write", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic("late kaboom")
		})
	}})

	t.Run("gets the branded 500 page with the request id and nothing internal", func(t *testing.T) {
		r := h.get("/test/panic")
		wantStatus(t, r, http.StatusInternalServerError)
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			t.Fatal("no X-Request-Id")
		}
		wantContains(t, r.body, ">Twofold</a>", "Something went wrong", "<code>"+id+"</code>")
		wantNotContains(t, r.body, "kaboom", "goroutine", ".go:")
		if got := r.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
			t.Errorf("Content-Type = %q", got)
		}
		if got := r.Header.Values("Set-Cookie"); len(got) != 0 {
			t.Errorf("the 500 carries the panicking handler's cookies: %q", got)
		}
		checkSecurityHeaders(t, r.Header, false)
		h.logs.waitForRecord(t, func(rec map[string]any) bool {
			stack, _ := rec["stack"].(string)
			return rec["level"] == "ERROR" && rec["panic"] == "kaboom: internal detail" &&
				rec["request_id"] == id && strings.Contains(stack, "server_test.go")
		})
		h.logs.waitForRecord(t, func(rec map[string]any) bool {
			return rec["msg"] == "http request" && rec["request_id"] == id && rec["status"] == float64(500)
		})
	})

	t.Run("after the headers went out aborts the response instead of faking a complete one", func(t *testing.T) {
		resp, err := h.client.Get(h.ts.URL + "/test/panic-after-write")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Fatal("the response looked complete")
		}
	})

	t.Run("leaves the server serving", func(t *testing.T) {
		wantStatus(t, h.get("/healthz"), http.StatusOK)
	})

	t.Run("is counted as a 500", func(t *testing.T) {
		scrapeUntil(t, h, `twofold_http_requests_total{code="500",method="GET",route="/test/panic"} 1`)
	})
}

// SECURITY-RULES: "Logs never contain passwords, codes, backup codes, tokens or secrets"
func TestTheAccessLogHasThePathButNeverTheQuery(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.get("/setup?token=SECRET-SETUP-TOKEN&code=SECRET-CODE")
	wantStatus(t, r, http.StatusNotFound)
	rec := h.logs.waitForRecord(t, func(rec map[string]any) bool {
		return rec["msg"] == "http request" && rec["path"] == "/setup"
	})
	want := map[string]any{
		"level": "INFO", "method": "GET", "route": "/setup", "status": float64(404),
		"request_id": r.Header.Get("X-Request-Id"), "remote_ip": "127.0.0.1",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("access log %s = %v, want %v", k, rec[k], v)
		}
	}
	for _, k := range []string{"bytes", "duration_ms"} {
		if _, ok := rec[k].(float64); !ok {
			t.Errorf("access log %s = %v, want a number", k, rec[k])
		}
	}
	wantNotContains(t, h.logs.String(), "SECRET")
}

func TestStaticFiles(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	tests := []struct {
		name        string
		path        string
		status      int
		contentType string
	}{
		{"the stylesheet is served as CSS and cached for an hour", "/static/style.css", http.StatusOK, "text/css; charset=utf-8"},
		{"the icon is served as SVG", "/static/favicon.svg", http.StatusOK, "image/svg+xml"},
		{"the directory is not listed", "/static/", http.StatusNotFound, "text/html; charset=utf-8"},
		{"a missing file is the branded 404", "/static/nope.js", http.StatusNotFound, "text/html; charset=utf-8"},
		{"templates are not static files", "/static/../templates/layout.html", http.StatusNotFound, "text/html; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A recorder, so that ".." reaches the handler as sent.
			rec := httptest.NewRecorder()
			h.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			wantCache := "no-store"
			if tt.status == http.StatusOK {
				wantCache = "public, max-age=3600"
			}
			if got := rec.Header().Get("Cache-Control"); got != wantCache {
				t.Errorf("Cache-Control = %q, want %q", got, wantCache)
			}
		})
	}
}

func TestTemplatesAndStaticFilesHaveNoInlineStyleOrScript(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<style|\sstyle=|<script(\s[^>]*)?>\s*[^<\s]|\son[a-z]+=|javascript:`)
	err := fs.WalkDir(embedded, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".html") {
			return err
		}
		b, err := fs.ReadFile(embedded, path)
		if err != nil {
			return err
		}
		if m := inline.Find(b); m != nil {
			t.Errorf("%s has inline style or script: %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAssetsDirOverridesTheEmbeddedCopy(t *testing.T) {
	dir := t.TempDir()
	err := fs.WalkDir(embedded, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, path), 0o755)
		}
		b, err := fs.ReadFile(embedded, path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, path), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "static", "style.css"), []byte("/* from disk */"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessConfig{opts: func(o *Options) { o.AssetsDir = dir }})

	if r := h.get("/static/style.css"); r.body != "/* from disk */" {
		t.Errorf("style.css = %q, want the file on disk", r.body)
	}
	// Templates are re-read on every render, so an edit shows without a restart.
	home := filepath.Join(dir, "templates", "home.html")
	edited := `{{define "title"}}Dev{{end}}{{define "content"}}<h1>Edited on disk</h1>{{end}}`
	if err := os.WriteFile(home, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	wantContains(t, h.get("/").body, "Edited on disk")

	t.Run("a broken template is a 500, not half a page", func(t *testing.T) {
		if err := os.WriteFile(home, []byte(`{{define "content"}}{{.Nope}}{{end}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		r := h.get("/")
		wantStatus(t, r, http.StatusInternalServerError)
		wantContains(t, r.body, r.Header.Get("X-Request-Id"))
	})
}

func TestNewRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no issuer", Options{CSRFKey: testCSRFKey}},
		{"an issuer that is not http or https", Options{Issuer: "ftp://id.example.com", CSRFKey: testCSRFKey}},
		{"an issuer without a host", Options{Issuer: "https://", CSRFKey: testCSRFKey}},
		{"an issuer with a query", Options{Issuer: "https://id.example.com/?a=b", CSRFKey: testCSRFKey}},
		{"no CSRF key", Options{Issuer: "https://id.example.com"}},
		{"a short CSRF key", Options{Issuer: "https://id.example.com", CSRFKey: make([]byte, 16)}},
		{"a missing assets dir", Options{Issuer: "https://id.example.com", CSRFKey: testCSRFKey, AssetsDir: "/nonexistent/twofold"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.opts); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}
