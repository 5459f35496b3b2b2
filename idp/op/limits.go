package op

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/twofold-idp/twofold/idp"
)

// Bounds on the requests anyone may send to /authorize and /end_session.
// An anonymous /authorize stores its parameters until the request expires,
// so the whole request and each parameter are bounded, and so is the
// number of pending requests per address (Config.MaxPendingAuthRequests).
const (
	// maxRequestBytes bounds the query and a form body together.
	maxRequestBytes = 64 << 10
	// maxParamBytes bounds every parameter paramLimits does not name.
	maxParamBytes = 2 << 10
	// maxFormBytes bounds a form posted to the other endpoints (/token,
	// /revoke, /introspect).
	maxFormBytes = 64 << 10
)

// paramLimits are the parameters allowed more than maxParamBytes, or held
// to less.
var paramLimits = map[string]int{
	"claims":         8 << 10,         // a JSON object (OIDC Core §5.5)
	"id_token_hint":  8 << 10,         // a signed JWT
	"request":        maxRequestBytes, // refused as request_not_supported whatever its size
	"client_id":      256,
	"code_challenge": 128, // RFC 7636 §4.1: at most 128 characters
}

// knownParams are the names an error description may mention: never a
// name the request made up (SECURITY-RULES: error_description never echoes
// raw input).
var knownParams = []string{
	"state", "nonce", "claims", "id_token_hint", "client_id", "redirect_uri", "scope", "response_type",
	"response_mode", "code_challenge", "code_challenge_method", "login_hint", "acr_values", "ui_locales",
	"prompt", "max_age", "display", "request_uri", "post_logout_redirect_uri", "logout_hint",
}

func paramLimit(name string) int {
	if n, ok := paramLimits[name]; ok {
		return n
	}
	return maxParamBytes
}

// oversizedParam names the first parameter (every value of it) over its
// limit: its own name when it is a known one, "a" otherwise; "" when all
// fit.
func oversizedParam(form url.Values) string {
	for name, values := range form {
		for _, v := range values {
			if len(v) > paramLimit(name) {
				for _, k := range knownParams {
					if k == name {
						return "The " + k + " parameter is too long."
					}
				}
				return "A parameter is too long."
			}
		}
	}
	return ""
}

// readForm parses the query and a form body of at most maxRequestBytes
// together; anything larger, or unreadable, is idp.ErrRequestInvalid.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if len(r.URL.RawQuery) > maxRequestBytes {
		return nil, fmt.Errorf("%w: query of %d bytes", idp.ErrRequestInvalid, len(r.URL.RawQuery))
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, int64(maxRequestBytes-len(r.URL.RawQuery)))
	}
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("%w: %w", idp.ErrRequestInvalid, err)
	}
	return r.Form, nil
}

// limitForms bounds the form body of every other POST to the provider: the
// library would read up to 10 MB.
func limitForms(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// requestAddress is the client's address for the per-address limit: the one
// the hosted pages put in the context (they know the trusted proxies), else
// the peer's. An IPv6 client is counted by its /64, which one host usually
// has to itself.
func requestAddress(r *http.Request) string {
	ip := idp.ClientIP(r.Context())
	if ip == "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip = host
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		prefix, _ := a.Prefix(64)
		return prefix.String()
	}
	return a.String()
}
