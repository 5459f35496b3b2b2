package ui

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIPBehindTrustedProxies(t *testing.T) {
	s := &Server{trustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	tests := []struct {
		name, peer, xff, want string
	}{
		{"a direct client is its peer address", "203.0.113.7:5000", "", "203.0.113.7"},
		{"a direct client cannot claim another address", "203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
		{"behind a trusted proxy the forwarded address counts", "10.0.0.2:443", "198.51.100.1", "198.51.100.1"},
		{"entries the client wrote before the proxy's are ignored", "10.0.0.2:443", "1.2.3.4, 198.51.100.1", "198.51.100.1"},
		{"a chain of trusted proxies is walked from the right", "10.0.0.2:443", "198.51.100.1, 10.0.0.9", "198.51.100.1"},
		{"several header lines are one list", "10.0.0.2:443", "", "10.0.0.2"},
		{"a malformed forwarded entry falls back to the proxy", "10.0.0.2:443", "not-an-ip", "10.0.0.2"},
		{"an IPv6 trusted proxy", "[::1]:443", "2001:db8::5", "2001:db8::5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := s.clientIP(r); got != tc.want {
				t.Fatalf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}
