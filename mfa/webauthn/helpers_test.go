package webauthn_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/twofold-idp/twofold/mfa/webauthn"
)

const (
	testRPID   = "localhost"
	testOrigin = "http://localhost:8080"
)

// clock is the fake clock of the tests; it starts at the wall clock because
// go-webauthn also checks the session expiry against time.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness drives real ceremonies between Ceremonies and a software
// authenticator, passing only JSON between them, as a browser would.
type harness struct {
	tb    testing.TB
	c     *webauthn.Ceremonies
	clock *clock
	// rp is what the "browser" claims: origin and RP ID it hashes.
	rp virtualwebauthn.RelyingParty
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	clk := newClock()
	c, err := webauthn.New(webauthn.Config{
		RPID:          testRPID,
		RPDisplayName: "Twofold",
		Origins:       []string{testOrigin},
		Now:           clk.Now,
	})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return &harness{
		tb:    tb,
		c:     c,
		clock: clk,
		rp:    virtualwebauthn.RelyingParty{ID: testRPID, Name: "Twofold", Origin: testOrigin},
	}
}

func newUser(tb testing.TB, name string) webauthn.User {
	tb.Helper()
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		tb.Fatal(err)
	}
	return webauthn.User{ID: id, Name: name, DisplayName: name + " Example"}
}

// newAuthenticator returns a software authenticator that returns u's handle
// (as a passkey does) with one fresh credential of keyType.
func newAuthenticator(u webauthn.User, opts virtualwebauthn.AuthenticatorOptions, keyType virtualwebauthn.KeyType) (*virtualwebauthn.Authenticator, virtualwebauthn.Credential) {
	opts.UserHandle = u.ID
	a := virtualwebauthn.NewAuthenticatorWithOptions(opts)
	return &a, newCredential(keyType)
}

// newCredential returns a fresh virtualwebauthn credential. virtualwebauthn
// v1.0.3 writes the EC2 coordinates with big.Int.Bytes, dropping leading zero
// bytes, and go-webauthn rightly refuses a COSE key whose x or y is not 32
// bytes: about one EC2 key in 128 would make a test fail at random. Real
// authenticators always send 32 bytes, so draw again until both are full.
func newCredential(keyType virtualwebauthn.KeyType) virtualwebauthn.Credential {
	for {
		cred := virtualwebauthn.NewCredential(keyType)
		if keyType != virtualwebauthn.KeyTypeEC2 {
			return cred
		}
		k, err := x509.ParsePKCS8PrivateKey(cred.Key.Data)
		if err != nil {
			panic(err)
		}
		pub, err := k.(*ecdsa.PrivateKey).PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			panic(err)
		}
		if x, y := pub[1:33], pub[33:]; x[0] != 0 && y[0] != 0 {
			return cred
		}
	}
}

// roundTrip stores and reloads a session as the caller's database would.
func roundTrip(tb testing.TB, s webauthn.Session) webauthn.Session {
	tb.Helper()
	b, err := s.Marshal()
	if err != nil {
		tb.Fatalf("Session.Marshal: %v", err)
	}
	s2, err := webauthn.UnmarshalSession(b)
	if err != nil {
		tb.Fatalf("UnmarshalSession: %v", err)
	}
	return s2
}

// beginRegistration starts a registration and returns the authenticator's
// response to it and the stored session.
func (h *harness) beginRegistration(u webauthn.User, a *virtualwebauthn.Authenticator, cred virtualwebauthn.Credential) ([]byte, webauthn.Session) {
	h.tb.Helper()
	opts, s, err := h.c.BeginRegistration(u)
	if err != nil {
		h.tb.Fatalf("BeginRegistration: %v", err)
	}
	ao, err := virtualwebauthn.ParseAttestationOptions(string(opts))
	if err != nil {
		h.tb.Fatalf("ParseAttestationOptions: %v", err)
	}
	return []byte(virtualwebauthn.CreateAttestationResponse(h.rp, *a, cred, *ao)), roundTrip(h.tb, s)
}

// register runs a whole registration, adds the credential to u (after a JSON
// round trip, as storage would) and to the authenticator.
func (h *harness) register(u *webauthn.User, a *virtualwebauthn.Authenticator, cred virtualwebauthn.Credential) webauthn.Credential {
	h.tb.Helper()
	resp, s := h.beginRegistration(*u, a, cred)
	c, err := h.c.FinishRegistration(*u, s, resp)
	if err != nil {
		h.tb.Fatalf("FinishRegistration: %v", err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		h.tb.Fatal(err)
	}
	var stored webauthn.Credential
	if err := json.Unmarshal(b, &stored); err != nil {
		h.tb.Fatal(err)
	}
	u.Credentials = append(u.Credentials, stored)
	a.AddCredential(cred)
	return stored
}

// respond is the authenticator answering the request options with cred.
func (h *harness) respond(opts []byte, a *virtualwebauthn.Authenticator, cred virtualwebauthn.Credential) []byte {
	h.tb.Helper()
	ao, err := virtualwebauthn.ParseAssertionOptions(string(opts))
	if err != nil {
		h.tb.Fatalf("ParseAssertionOptions: %v", err)
	}
	return []byte(virtualwebauthn.CreateAssertionResponse(h.rp, *a, cred, *ao))
}

// beginLogin starts a second-factor login for u and returns the
// authenticator's response and the stored session.
func (h *harness) beginLogin(u webauthn.User, requireUV bool, a *virtualwebauthn.Authenticator, cred virtualwebauthn.Credential) ([]byte, webauthn.Session) {
	h.tb.Helper()
	opts, s, err := h.c.BeginLogin(u, requireUV)
	if err != nil {
		h.tb.Fatalf("BeginLogin: %v", err)
	}
	return h.respond(opts, a, cred), roundTrip(h.tb, s)
}

// beginPasskey starts a discoverable login and returns the authenticator's
// response and the stored session.
func (h *harness) beginPasskey(a *virtualwebauthn.Authenticator, cred virtualwebauthn.Credential) ([]byte, webauthn.Session) {
	h.tb.Helper()
	opts, s, err := h.c.BeginDiscoverableLogin()
	if err != nil {
		h.tb.Fatalf("BeginDiscoverableLogin: %v", err)
	}
	return h.respond(opts, a, cred), roundTrip(h.tb, s)
}

// users is a lookup over a fixed set of users, as the caller's storage.
func users(us ...*webauthn.User) func([]byte) (webauthn.User, error) {
	return func(handle []byte) (webauthn.User, error) {
		for _, u := range us {
			if string(u.ID) == string(handle) {
				return *u, nil
			}
		}
		return webauthn.User{}, errNoSuchUser
	}
}

type testError string

func (e testError) Error() string { return string(e) }

const errNoSuchUser = testError("storage: no such user")
