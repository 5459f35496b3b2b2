package op

import (
	"net/http/httptest"
	"testing"

	"github.com/twofold-idp/twofold/idp"
)

func TestRequestAddressCountsAnIPv6ClientByItsSlash64(t *testing.T) {
	tests := []struct{ name, fromPages, peer, want string }{
		{"the address the pages worked out wins over the peer", "198.51.100.7", "10.0.0.2:443", "198.51.100.7"},
		{"without the pages, the peer's address", "", "203.0.113.9:5000", "203.0.113.9"},
		{"an IPv6 client is its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "", "2001:db8:1:2::/64"},
		{"another host of the same /64 counts the same", "2001:db8:1:2::1", "", "2001:db8:1:2::/64"},
		{"an IPv4-mapped address is IPv4", "::ffff:192.0.2.1", "", "192.0.2.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/authorize", nil)
			if tc.peer != "" {
				r.RemoteAddr = tc.peer
			}
			if tc.fromPages != "" {
				r = r.WithContext(idp.WithClientIP(r.Context(), tc.fromPages))
			}
			if got := requestAddress(r); got != tc.want {
				t.Fatalf("requestAddress = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOversizedParamNeverNamesAParameterTheRequestMadeUp(t *testing.T) {
	// SECURITY-RULES: "`error_description` never echoes raw input"
	long := string(make([]byte, maxParamBytes+1))
	if got := oversizedParam(map[string][]string{`evil"\name`: {long}}); got != "A parameter is too long." {
		t.Fatalf("unknown name: %q", got)
	}
	if got := oversizedParam(map[string][]string{"state": {long}}); got != "The state parameter is too long." {
		t.Fatalf("state: %q", got)
	}
	if got := oversizedParam(map[string][]string{"claims": {long}}); got != "" {
		t.Fatalf("claims within its 8 KB: %q", got)
	}
}
