package webauthn_test

import (
	"testing"

	"github.com/descope/virtualwebauthn"
)

// BenchmarkFinishLogin measures verifying one ES256 assertion: parsing,
// the client and authenticator data checks and the signature.
func BenchmarkFinishLogin(b *testing.B) {
	h := newHarness(b)
	u := newUser(b, "alice")
	a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
	h.register(&u, a, cred)
	resp, s := h.beginLogin(u, false, a, cred)

	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.c.FinishLogin(u, s, resp); err != nil {
			b.Fatal(err)
		}
	}
}
