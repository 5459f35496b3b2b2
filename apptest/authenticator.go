package apptest

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/descope/virtualwebauthn"
)

// Authenticator is a software WebAuthn authenticator (security key or
// platform passkey) that answers the options the server's pages hand to
// navigator.credentials, exactly as a browser would pass them on.
type Authenticator struct {
	t    testing.TB
	rp   virtualwebauthn.RelyingParty
	a    virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

// NewAuthenticator makes an authenticator for the server's origin. userID
// is the handle it returns in assertions (a passkey's owner); uv says
// whether it verifies the user (PIN, biometric).
func NewAuthenticator(t testing.TB, s *Server, userID string, uv bool) *Authenticator {
	u, _ := url.Parse(s.URL)
	return &Authenticator{
		t:    t,
		rp:   virtualwebauthn.RelyingParty{ID: u.Hostname(), Name: "Twofold", Origin: s.URL},
		a:    virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(userID), UserNotVerified: !uv}),
		cred: newEC2Credential(),
	}
}

// newEC2Credential draws an ES256 key whose coordinates are full length:
// virtualwebauthn v1.0.3 drops leading zero bytes, which go-webauthn
// rightly refuses (about one key in 128).
func newEC2Credential() virtualwebauthn.Credential {
	for {
		cred := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
		k, err := x509.ParsePKCS8PrivateKey(cred.Key.Data)
		if err != nil {
			panic(err)
		}
		pub, err := k.(*ecdsa.PrivateKey).PublicKey.Bytes()
		if err != nil {
			panic(err)
		}
		if pub[1] != 0 && pub[33] != 0 {
			return cred
		}
	}
}

// ceremony is what a Begin endpoint returns.
type ceremony struct {
	Session   string          `json:"session"`
	PublicKey json.RawMessage `json:"publicKey"`
}

func (a *Authenticator) parse(begin []byte) ceremony {
	a.t.Helper()
	var c ceremony
	if err := json.Unmarshal(begin, &c); err != nil || c.Session == "" {
		a.t.Fatalf("not a ceremony start: %s", begin)
	}
	return c
}

// Register answers a registration Begin and returns the Finish body.
func (a *Authenticator) Register(begin []byte, authRequestID, name string) []byte {
	a.t.Helper()
	c := a.parse(begin)
	opts, err := virtualwebauthn.ParseAttestationOptions(string(c.PublicKey))
	if err != nil {
		a.t.Fatalf("attestation options: %v\n%s", err, c.PublicKey)
	}
	resp := virtualwebauthn.CreateAttestationResponse(a.rp, a.a, a.cred, *opts)
	a.a.AddCredential(a.cred)
	return finishBody(a.t, authRequestID, c.Session, name, resp)
}

// Assert answers a login Begin and returns the Finish body.
func (a *Authenticator) Assert(begin []byte, authRequestID string) []byte {
	a.t.Helper()
	c := a.parse(begin)
	opts, err := virtualwebauthn.ParseAssertionOptions(string(c.PublicKey))
	if err != nil {
		a.t.Fatalf("assertion options: %v\n%s", err, c.PublicKey)
	}
	return finishBody(a.t, authRequestID, c.Session, "", virtualwebauthn.CreateAssertionResponse(a.rp, a.a, a.cred, *opts))
}

func finishBody(t testing.TB, id, session, name, credential string) []byte {
	b, err := json.Marshal(map[string]any{"id": id, "session": session, "name": name, "credential": json.RawMessage(credential)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
