package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/twofold-idp/twofold/idp"
)

// fakeSetup is an in-memory SetupService: this package's tests cover the HTTP layer, not idp.
type fakeSetup struct {
	mu          sync.Mutex
	tokens      map[string]bool // unused tokens
	done        bool
	completeErr error // when set, CompleteSetup returns it
	calls       int   // CompleteSetup calls
	created     []idp.NewUser
}

var _ SetupService = (*fakeSetup)(nil)

func newFakeSetup(tokens ...string) *fakeSetup {
	f := &fakeSetup{tokens: map[string]bool{}}
	for _, t := range tokens {
		f.tokens[t] = true
	}
	return f
}

func (f *fakeSetup) CheckSetupToken(_ context.Context, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.done:
		return idp.ErrSetupDone
	case !f.tokens[token]:
		return idp.ErrSetupTokenInvalid
	}
	return nil
}

func (f *fakeSetup) CompleteSetup(_ context.Context, token string, u idp.NewUser) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch {
	case f.completeErr != nil:
		return f.completeErr
	case f.done:
		return idp.ErrSetupDone
	case !f.tokens[token]:
		return idp.ErrSetupTokenInvalid
	case len(u.Password) < 8:
		return &idp.InputError{Field: "password", Message: "must be at least 8 characters"}
	}
	delete(f.tokens, token)
	f.done = true
	f.created = append(f.created, u)
	return nil
}

func (f *fakeSetup) completeCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// lockedBuffer collects log output written by server goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records returns the JSON log records written so far.
func (b *lockedBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// waitForRecord polls the log until a record satisfies match: the access log is written after the response went
// out, so it may trail the client by a moment.
func (b *lockedBuffer) waitForRecord(t *testing.T, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		for _, rec := range b.records(t) {
			if match(rec) {
				return rec
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching log record in:\n%s", b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var testCSRFKey = bytes.Repeat([]byte{0x42}, 32)

type harness struct {
	t      *testing.T
	srv    *Server
	ts     *httptest.Server
	client *http.Client
	logs   *lockedBuffer
	setup  *fakeSetup
	issuer string
}

type harnessConfig struct {
	opts   func(*Options)
	routes func(chi.Router)
}

// newHarness starts the real handler on an httptest server whose URL is the issuer, with a client that keeps
// cookies and does not follow redirects (tests look at each 303).
func newHarness(t *testing.T, cfg harnessConfig) *harness {
	t.Helper()
	h := &harness{t: t, logs: &lockedBuffer{}, setup: newFakeSetup("good-token")}
	h.ts = httptest.NewUnstartedServer(nil)
	h.issuer = "http://" + h.ts.Listener.Addr().String()
	opts := Options{
		Issuer:   h.issuer,
		Logger:   slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: prometheus.NewRegistry(),
		Setup:    h.setup,
		CSRFKey:  testCSRFKey,
	}
	if cfg.opts != nil {
		cfg.opts(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if cfg.routes != nil {
		cfg.routes(srv.Router())
	}
	h.srv = srv
	h.ts.Config.Handler = srv.Handler()
	h.ts.Start()
	t.Cleanup(h.ts.Close)
	h.client = h.newClient()
	return h
}

// newClient is a fresh browser: its own cookie jar.
func (h *harness) newClient() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type response struct {
	*http.Response
	body string
}

func (h *harness) do(c *http.Client, req *http.Request) response {
	h.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return response{Response: resp, body: string(b)}
}

func (h *harness) get(path string, header ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.ts.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return h.do(h.client, req)
}

func (h *harness) post(c *http.Client, path string, form url.Values, header http.Header) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return h.do(c, req)
}

var csrfFieldRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// csrfTokenIn returns the hidden csrf_token of the page, failing the test when there is none.
func csrfTokenIn(t *testing.T, body string) string {
	t.Helper()
	m := csrfFieldRE.FindStringSubmatch(body)
	if m == nil || m[1] == "" {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return m[1]
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
}

func wantContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("body lacks %q:\n%s", s, body)
		}
	}
}

func wantNotContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(body, s) {
			t.Errorf("body contains %q but must not:\n%s", s, body)
		}
	}
}
