package rules

import (
	"strings"
	"testing"
)

func TestBackchannelLogoutURIIsValidatedLikeARedirectURI(t *testing.T) {
	tests := []struct {
		name, uri string
		session   bool
		wantField string // "" valid
	}{
		{"an https URL is accepted", "https://app.example.com/logout", true, ""},
		{"an https URL with a query is accepted", "https://app.example.com/logout?tenant=a", false, ""},
		{"http on a loopback host is accepted", "http://127.0.0.1:9000/logout", false, ""},
		{"no URI and no session requirement is accepted", "", false, ""},
		{"http on a public host is refused", "http://app.example.com/logout", false, "backchannel_logout_uri"},
		{"a fragment is refused", "https://app.example.com/logout#x", false, "backchannel_logout_uri"},
		{"a private-use scheme is refused", "com.example.app:/logout", false, "backchannel_logout_uri"},
		{"a relative URL is refused", "/logout", false, "backchannel_logout_uri"},
		{"a session requirement without a URI is refused", "", true, "backchannel_logout_session_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateClientSpec(ClientSpec{ID: "app", GenerateSecret: true, RedirectURIs: []string{"https://app.example.com/cb"},
				BackchannelLogoutURI: tt.uri, BackchannelLogoutSessionRequired: tt.session})
			switch {
			case tt.wantField == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantField != "" && (err == nil || !strings.Contains(err.Error(), tt.wantField)):
				t.Fatalf("error %v, want one about %s", err, tt.wantField)
			}
		})
	}
}
