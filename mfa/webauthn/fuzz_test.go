package webauthn_test

import (
	"bytes"
	"testing"

	"github.com/descope/virtualwebauthn"
)

// FuzzFinishLogin feeds arbitrary bytes to FinishLogin as the browser's
// response: it must never panic, and anything it accepts must be the
// registered credential of the session's user.
func FuzzFinishLogin(f *testing.F) {
	h := newHarness(f)
	u := newUser(f, "alice")
	a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
	h.register(&u, a, cred)
	resp, s := h.beginLogin(u, false, a, cred)

	f.Add(resp)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`))
	f.Add(bytes.Replace(resp, []byte(`"type":"public-key"`), []byte(`"type":"public-key","clientExtensionResults":{"appid":true}`), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := h.c.FinishLogin(u, s, data)
		if err == nil && (!bytes.Equal(got.CredentialID, cred.ID) || !bytes.Equal(got.UserHandle, u.ID)) {
			t.Fatalf("accepted %q as %+v", data, got)
		}
	})
}

// FuzzFinishRegistration does the same for registration responses.
func FuzzFinishRegistration(f *testing.F) {
	h := newHarness(f)
	u := newUser(f, "alice")
	a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
	resp, s := h.beginRegistration(u, a, cred)

	f.Add(resp)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := h.c.FinishRegistration(u, s, data)
		if err == nil && len(got.PublicKey) == 0 {
			t.Fatalf("accepted %q without a public key", data)
		}
	})
}
