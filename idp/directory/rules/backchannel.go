package rules

import (
	"net/url"

	"github.com/twofold-idp/twofold/idp"
)

// validateBackchannelLogout checks a client's back-channel logout URI like
// a redirect URI (https, or http on a loopback host), and more: it must be
// http(s) — Twofold POSTs to it — and may carry a query but no fragment
// (OpenID Connect Back-Channel Logout 1.0 §2.2).
func validateBackchannelLogout(c ClientSpec) []error {
	if c.BackchannelLogoutURI == "" {
		if c.BackchannelLogoutSessionRequired {
			return []error{idp.InputErrorf("backchannel_logout_session_required", "needs a backchannel_logout_uri")}
		}
		return nil
	}
	if err := validateRedirectURI(c.BackchannelLogoutURI); err != nil {
		return []error{idp.InputErrorf("backchannel_logout_uri", "%s", err)}
	}
	if u, _ := url.Parse(c.BackchannelLogoutURI); u.Scheme != "https" && u.Scheme != "http" {
		return []error{idp.InputErrorf("backchannel_logout_uri", "must be an https URL (http only on a loopback host)")}
	}
	return nil
}
