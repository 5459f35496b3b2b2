package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/twofold-idp/twofold/idp"
)

// fakeProvider refuses every /authorize and /end_session with the error it
// is given, recording the client address the pages passed on.
type fakeProvider struct {
	mu      sync.Mutex
	refusal error
	ips     []string
}

func (f *fakeProvider) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"error":"from the provider's handler"}`)
	})
}

func (f *fakeProvider) Paths() []string { return []string{"/authorize", "/end_session", "/token"} }

func (f *fakeProvider) refuse(r *http.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ips = append(f.ips, idp.ClientIP(r.Context()))
	return f.refusal
}

func (f *fakeProvider) Authorize(_ http.ResponseWriter, r *http.Request) error  { return f.refuse(r) }
func (f *fakeProvider) EndSession(_ http.ResponseWriter, r *http.Request) error { return f.refuse(r) }
func (f *fakeProvider) IssueCode(context.Context, string, idp.Browser) (idp.AuthResponse, error) {
	return idp.AuthResponse{}, idp.ErrAuthRequestNotFound
}

// ARCHITECTURE.md "Hosted pages": errors a person sees in a browser
// (unknown client, unregistered redirect URI, bad logout request) are HTML
// pages, never raw JSON.
// SECURITY-RULES: "Unknown client or unregistered redirect URI → an error page, never a redirect"
func TestProviderRefusalsAreHostedErrorPages(t *testing.T) {
	fp := &fakeProvider{}
	h := newHarness(t, harnessConfig{opts: func(o *Options) {
		o.Provider = fp
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	tests := []struct {
		name    string
		path    string
		refusal error
		status  int
		says    string
	}{
		{"an unknown client", "/authorize?client_id=nope", fmt.Errorf("wrapped: %w", idp.ErrUnknownClient), http.StatusBadRequest, "Unknown application"},
		{"an unregistered redirect URI", "/authorize?client_id=app", idp.ErrRedirectURIInvalid, http.StatusBadRequest, "has not registered"},
		{"an unreadable request", "/authorize", idp.ErrRequestInvalid, http.StatusBadRequest, "too large"},
		{"too many pending sign-ins", "/authorize", &idp.ThrottledError{RetryAfter: 300e9}, http.StatusTooManyRequests, "Too many"},
		{"a bad logout request", "/end_session?id_token_hint=x", idp.ErrLogoutRequestInvalid, http.StatusBadRequest, "Sign-out request not valid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fp.refusal = tc.refusal
			r := h.get(tc.path, "X-Forwarded-For", "198.51.100.7")
			wantStatus(t, r, tc.status)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Fatalf("Content-Type %q, want an HTML page", ct)
			}
			wantContains(t, r.body, `<main class="card">`, tc.says)
			if r.Header.Get("Location") != "" {
				t.Fatalf("redirected to %s", r.Header.Get("Location"))
			}
		})
	}
	t.Run("the provider gets the client's address from behind a trusted proxy", func(t *testing.T) {
		fp.mu.Lock()
		defer fp.mu.Unlock()
		for _, ip := range fp.ips {
			if ip != "198.51.100.7" {
				t.Fatalf("client addresses %v", fp.ips)
			}
		}
	})
	t.Run("the other endpoints are the provider's handler", func(t *testing.T) {
		r := h.get("/token")
		wantContains(t, r.body, "from the provider's handler")
	})
}
