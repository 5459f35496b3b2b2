package webauthn_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/twofold-idp/twofold/mfa/webauthn"
)

const flagAT = 0x40 // attested credential data included (§6.1)

func TestRegistrationAndLoginRoundTrip(t *testing.T) {
	for _, kt := range []virtualwebauthn.KeyType{virtualwebauthn.KeyTypeEC2, virtualwebauthn.KeyTypeRSA} {
		t.Run("with a "+string(kt)+" key the credential registers and then signs in", func(t *testing.T) {
			h := newHarness(t)
			u := newUser(t, "alice")
			a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, kt)

			c := h.register(&u, a, cred)
			if !bytes.Equal(c.ID, cred.ID) {
				t.Errorf("credential id = %x, want %x", c.ID, cred.ID)
			}
			if !bytes.Equal(c.AAGUID, a.Aaguid[:]) {
				t.Errorf("AAGUID = %x, want %x", c.AAGUID, a.Aaguid)
			}
			if len(c.PublicKey) == 0 || c.SignCount != 0 {
				t.Errorf("public key %d bytes, sign count %d", len(c.PublicKey), c.SignCount)
			}
			if want := webauthn.FlagUserPresent | webauthn.FlagUserVerified | flagAT; c.Flags != want {
				t.Errorf("flags = %#02x, want %#02x", c.Flags, want)
			}
			// virtualwebauthn sends a packed self attestation although we
			// asked for none; it is verified all the same, and go-webauthn
			// names self attestation by its FIDO metadata name.
			if c.AttestationType != "basic_surrogate" {
				t.Errorf("attestation type = %q, want basic_surrogate", c.AttestationType)
			}

			for _, requireUV := range []bool{false, true} {
				resp, s := h.beginLogin(u, requireUV, a, cred)
				got, err := h.c.FinishLogin(u, s, resp)
				if err != nil {
					t.Fatalf("FinishLogin(requireUV=%t): %v", requireUV, err)
				}
				want := webauthn.Assertion{
					CredentialID: cred.ID, UserHandle: u.ID, SignCount: 0,
					Flags:       webauthn.FlagUserPresent | webauthn.FlagUserVerified,
					UserPresent: true, UserVerified: true,
				}
				if !assertionEqual(got, want) {
					t.Errorf("assertion = %+v, want %+v", got, want)
				}
			}
		})
	}
}

func assertionEqual(a, b webauthn.Assertion) bool {
	return bytes.Equal(a.CredentialID, b.CredentialID) && bytes.Equal(a.UserHandle, b.UserHandle) &&
		a.SignCount == b.SignCount && a.Flags == b.Flags && a.UserPresent == b.UserPresent &&
		a.UserVerified == b.UserVerified && a.BackupEligible == b.BackupEligible &&
		a.BackupState == b.BackupState && a.CloneWarning == b.CloneWarning
}

func TestCreationOptions(t *testing.T) {
	h := newHarness(t)
	u := newUser(t, "alice")
	a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
	first := h.register(&u, a, cred)

	opts, s, err := h.c.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		RP        struct{ ID, Name string }
		User      struct{ ID, Name, DisplayName string }
		Challenge string
		Params    []struct {
			Type string
			Alg  int
		} `json:"pubKeyCredParams"`
		Timeout int
		Exclude []struct{ ID string } `json:"excludeCredentials"`
		Sel     struct {
			ResidentKey        string
			RequireResidentKey *bool
			UserVerification   string
		} `json:"authenticatorSelection"`
		Attestation string
		Extensions  map[string]any
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatalf("options %s: %v", opts, err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	challenge, _ := base64.RawURLEncoding.DecodeString(o.Challenge)
	var algs []int
	for _, p := range o.Params {
		algs = append(algs, p.Alg)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"rp is localhost, Twofold", o.RP.ID == testRPID && o.RP.Name == "Twofold"},
		{"user id is the base64url handle", o.User.ID == b64(u.ID) && o.User.Name == "alice" && o.User.DisplayName == "alice Example"},
		// SECURITY-RULES: "WebAuthn: ≥ 16-byte server challenges, stored server-side, single use, expiring"
		{"challenge has at least 16 bytes and is the session's", len(challenge) >= 16 && o.Challenge == s.Challenge},
		{"algorithms are EdDSA, ES256, RS256", slices.Equal(algs, []int{-8, -7, -257})},
		{"timeout is 5 minutes", o.Timeout == 300000},
		{"existing credentials are excluded", len(o.Exclude) == 1 && o.Exclude[0].ID == b64(first.ID)},
		{"resident key preferred", o.Sel.ResidentKey == "preferred" && o.Sel.RequireResidentKey != nil && !*o.Sel.RequireResidentKey},
		{"user verification preferred", o.Sel.UserVerification == "preferred"},
		{"attestation none", o.Attestation == "none"},
		{"credProps requested", len(o.Extensions) == 1 && o.Extensions["credProps"] == true},
		{"session expires after the timeout", s.Expires.Equal(h.clock.Now().Add(5 * time.Minute))},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: options %s", c.name, opts)
		}
	}
}

func TestDiscoverable(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name    string
		outputs string
		want    bool
	}{
		{"a client reporting credProps rk=true made a passkey", `{"credProps":{"rk":true}}`, true},
		{"a client reporting credProps rk=false made a server-side credential", `{"credProps":{"rk":false}}`, false},
		{"a client reporting nothing is not known to have made a passkey", `{}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser(t, "alice")
			a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
			resp, s := h.beginRegistration(u, a, cred)
			resp = withExtensionOutputs(t, resp, tc.outputs)
			c, err := h.c.FinishRegistration(u, s, resp)
			if err != nil || c.Discoverable != tc.want {
				t.Errorf("Discoverable = %t, err %v; want %t", c.Discoverable, err, tc.want)
			}
		})
	}
	t.Run("an extension output we did not ask for is refused", func(t *testing.T) {
		u := newUser(t, "alice")
		a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
		resp, s := h.beginRegistration(u, a, cred)
		resp = withExtensionOutputs(t, resp, `{"prf":{"enabled":true}}`)
		if _, err := h.c.FinishRegistration(u, s, resp); !errors.Is(err, webauthn.ErrInvalidResponse) {
			t.Errorf("err = %v, want ErrInvalidResponse", err)
		}
	})
}

// withExtensionOutputs sets clientExtensionResults, which the client reports
// unsigned next to the response.
func withExtensionOutputs(t *testing.T, resp []byte, outputs string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(resp, &m); err != nil {
		t.Fatal(err)
	}
	m["clientExtensionResults"] = json.RawMessage(outputs)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRequestOptions(t *testing.T) {
	h := newHarness(t)
	u := newUser(t, "alice")
	a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
	c := h.register(&u, a, cred)

	type options struct {
		Challenge string
		RPID      string                `json:"rpId"`
		Allow     []struct{ ID string } `json:"allowCredentials"`
		UV        string                `json:"userVerification"`
		Timeout   int
	}
	parse := func(b []byte) options {
		var o options
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatalf("options %s: %v", b, err)
		}
		return o
	}
	for _, tc := range []struct {
		name      string
		begin     func() ([]byte, webauthn.Session, error)
		wantUV    string
		wantAllow int
	}{
		{"a second factor lists the user's credentials and prefers UV", func() ([]byte, webauthn.Session, error) { return h.c.BeginLogin(u, false) }, "preferred", 1},
		// SECURITY-RULES: "WebAuthn: … UV enforced server-side when the level needs it"
		{"a phishing-resistant second factor requires UV", func() ([]byte, webauthn.Session, error) { return h.c.BeginLogin(u, true) }, "required", 1},
		{"a passkey sign-in lists no credentials and requires UV", h.c.BeginDiscoverableLogin, "required", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, s, err := tc.begin()
			if err != nil {
				t.Fatal(err)
			}
			o := parse(b)
			if o.RPID != testRPID || o.UV != tc.wantUV || len(o.Allow) != tc.wantAllow || o.Timeout != 300000 || o.Challenge != s.Challenge {
				t.Errorf("options %s", b)
			}
			if tc.wantAllow == 1 && o.Allow[0].ID != base64.RawURLEncoding.EncodeToString(c.ID) {
				t.Errorf("allowCredentials %s", b)
			}
			if s.UserVerification != tc.wantUV {
				t.Errorf("session UV %q, want %q", s.UserVerification, tc.wantUV)
			}
		})
	}

	t.Run("a user without credentials cannot begin a login", func(t *testing.T) {
		if _, _, err := h.c.BeginLogin(newUser(t, "bob"), false); !errors.Is(err, webauthn.ErrNoCredentials) {
			t.Errorf("err = %v, want ErrNoCredentials", err)
		}
	})
}

func TestPasskeyLogin(t *testing.T) {
	h := newHarness(t)
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	a, cred := newAuthenticator(alice, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
	h.register(&alice, a, cred)
	b, bcred := newAuthenticator(bob, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
	h.register(&bob, b, bcred)

	t.Run("the user handle resolves to the user who owns the passkey", func(t *testing.T) {
		resp, s := h.beginPasskey(a, cred)
		u, got, err := h.c.FinishDiscoverableLogin(s, resp, users(&alice, &bob))
		if err != nil {
			t.Fatalf("FinishDiscoverableLogin: %v", err)
		}
		if u.Name != "alice" || !bytes.Equal(got.UserHandle, alice.ID) || !bytes.Equal(got.CredentialID, cred.ID) || !got.UserVerified {
			t.Errorf("user %q, assertion %+v", u.Name, got)
		}
	})

	refusals := []struct {
		name   string
		auth   virtualwebauthn.AuthenticatorOptions
		lookup func([]byte) (webauthn.User, error)
		want   error
	}{
		{"alice's credential claiming bob's handle is refused", virtualwebauthn.AuthenticatorOptions{UserHandle: bob.ID}, users(&alice, &bob), webauthn.ErrUnknownCredential},
		{"an unknown user handle is refused", virtualwebauthn.AuthenticatorOptions{UserHandle: []byte("nobody")}, users(&alice, &bob), errNoSuchUser},
		{"a lookup returning another user than the handle names is refused", virtualwebauthn.AuthenticatorOptions{UserHandle: alice.ID},
			func([]byte) (webauthn.User, error) { return bob, nil }, webauthn.ErrUnknownCredential},
		{"a credential without a user handle is refused", virtualwebauthn.AuthenticatorOptions{}, users(&alice, &bob), webauthn.ErrUnknownCredential},
		{"a passkey without user verification is refused", virtualwebauthn.AuthenticatorOptions{UserHandle: alice.ID, UserNotVerified: true}, users(&alice, &bob), webauthn.ErrUserVerificationRequired},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			auth := virtualwebauthn.NewAuthenticatorWithOptions(tc.auth)
			auth.Aaguid = a.Aaguid
			resp, s := h.beginPasskey(&auth, cred)
			if _, _, err := h.c.FinishDiscoverableLogin(s, resp, tc.lookup); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// SECURITY-RULES: "WebAuthn: … origin in an exact allow-list; `rpIdHash` matches; UP set"
func TestRefusals(t *testing.T) {
	h := newHarness(t)
	u := newUser(t, "alice")
	a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
	h.register(&u, a, cred)

	// browser returns the harness with the "browser" claiming another origin
	// or RP ID than ours.
	browser := func(origin, rpID string) *harness {
		b := *h
		b.rp = virtualwebauthn.RelyingParty{ID: rpID, Name: "Twofold", Origin: origin}
		return &b
	}
	for _, tc := range []struct {
		name string
		h    *harness
		want error
	}{
		{"another port is another origin", browser("http://localhost:8081", testRPID), webauthn.ErrOriginMismatch},
		{"a phishing site's origin is refused", browser("https://twofold.example", testRPID), webauthn.ErrOriginMismatch},
		{"https is another origin than http", browser("https://localhost:8080", testRPID), webauthn.ErrOriginMismatch},
		{"an origin with a path is not an origin", browser(testOrigin+"/login", testRPID), webauthn.ErrOriginMismatch},
		{"an origin with user info is not an origin", browser("http://evil@localhost:8080", testRPID), webauthn.ErrOriginMismatch},
		{"another RP ID is refused", browser(testOrigin, "example.com"), webauthn.ErrRPIDMismatch},
	} {
		t.Run("login: "+tc.name, func(t *testing.T) {
			resp, s := tc.h.beginLogin(u, false, a, cred)
			_, err := h.c.FinishLogin(u, s, resp)
			if !errors.Is(err, tc.want) || !errors.Is(err, webauthn.ErrInvalidResponse) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
		t.Run("registration: "+tc.name, func(t *testing.T) {
			nu := newUser(t, "carol")
			na, ncred := newAuthenticator(nu, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
			resp, s := tc.h.beginRegistration(nu, na, ncred)
			if _, err := h.c.FinishRegistration(nu, s, resp); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}

	// SECURITY-RULES: "WebAuthn: ≥ 16-byte server challenges, stored server-side, single use, expiring"
	t.Run("a response to another session's challenge is refused", func(t *testing.T) {
		resp1, _ := h.beginLogin(u, false, a, cred)
		_, s2 := h.beginLogin(u, false, a, cred)
		if _, err := h.c.FinishLogin(u, s2, resp1); !errors.Is(err, webauthn.ErrChallengeMismatch) {
			t.Errorf("err = %v, want ErrChallengeMismatch", err)
		}
		regResp, _ := h.beginRegistration(u, a, newCredential(virtualwebauthn.KeyTypeEC2))
		_, regS := h.beginRegistration(u, a, newCredential(virtualwebauthn.KeyTypeEC2))
		if _, err := h.c.FinishRegistration(u, regS, regResp); !errors.Is(err, webauthn.ErrChallengeMismatch) {
			t.Errorf("registration err = %v, want ErrChallengeMismatch", err)
		}
	})

	t.Run("a registration response is not a login response", func(t *testing.T) {
		_, s := h.beginLogin(u, false, a, cred)
		resp, _ := h.beginRegistration(u, a, newCredential(virtualwebauthn.KeyTypeEC2))
		if _, err := h.c.FinishLogin(u, s, resp); !errors.Is(err, webauthn.ErrInvalidResponse) {
			t.Errorf("err = %v, want ErrInvalidResponse", err)
		}
	})

	t.Run("a forged signature is refused", func(t *testing.T) {
		resp, s := h.beginLogin(u, false, a, cred)
		forged := editResponse(t, resp, func(r map[string]any) {
			sig, _ := base64.RawURLEncoding.DecodeString(r["signature"].(string))
			sig[len(sig)-1] ^= 1
			r["signature"] = base64.RawURLEncoding.EncodeToString(sig)
		})
		_, err := h.c.FinishLogin(u, s, forged)
		if !errors.Is(err, webauthn.ErrInvalidResponse) {
			t.Errorf("err = %v, want ErrInvalidResponse", err)
		}
		if _, err := h.c.FinishLogin(u, s, resp); err != nil {
			t.Errorf("the genuine response after the forged one: %v", err)
		}
	})

	t.Run("a credential of another authenticator is refused", func(t *testing.T) {
		other, ocred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
		opts, s, err := h.c.BeginLogin(u, false)
		if err != nil {
			t.Fatal(err)
		}
		ao, _ := virtualwebauthn.ParseAssertionOptions(string(opts))
		resp := virtualwebauthn.CreateAssertionResponse(h.rp, *other, ocred, *ao)
		if _, err := h.c.FinishLogin(u, s, []byte(resp)); !errors.Is(err, webauthn.ErrUnknownCredential) {
			t.Errorf("err = %v, want ErrUnknownCredential", err)
		}
	})

	t.Run("a user's credential used for another user's session is refused", func(t *testing.T) {
		bob := newUser(t, "bob")
		ba, bcred := newAuthenticator(bob, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
		h.register(&bob, ba, bcred)
		resp, s := h.beginLogin(u, false, a, cred)
		if _, err := h.c.FinishLogin(bob, s, resp); !errors.Is(err, webauthn.ErrInvalidSession) {
			t.Errorf("err = %v, want ErrInvalidSession", err)
		}
		opts, s, err := h.c.BeginLogin(u, false)
		if err != nil {
			t.Fatal(err)
		}
		ao, _ := virtualwebauthn.ParseAssertionOptions(string(opts))
		resp = []byte(virtualwebauthn.CreateAssertionResponse(h.rp, *ba, bcred, *ao))
		if _, err := h.c.FinishLogin(u, s, resp); !errors.Is(err, webauthn.ErrUnknownCredential) {
			t.Errorf("bob's credential for alice: err = %v, want ErrUnknownCredential", err)
		}
	})

	t.Run("a response without user presence is refused", func(t *testing.T) {
		np := *a
		np.Options.UserNotPresent = true
		resp, s := h.beginLogin(u, false, &np, cred)
		if _, err := h.c.FinishLogin(u, s, resp); !errors.Is(err, webauthn.ErrUserNotPresent) {
			t.Errorf("err = %v, want ErrUserNotPresent", err)
		}
	})

	t.Run("a session of another ceremony is refused", func(t *testing.T) {
		resp, _ := h.beginLogin(u, false, a, cred)
		_, reg := h.beginRegistration(u, a, cred)
		if _, err := h.c.FinishLogin(u, reg, resp); !errors.Is(err, webauthn.ErrInvalidSession) {
			t.Errorf("registration session: err = %v, want ErrInvalidSession", err)
		}
		_, login := h.beginLogin(u, false, a, cred)
		if _, _, err := h.c.FinishDiscoverableLogin(login, resp, users(&u)); !errors.Is(err, webauthn.ErrInvalidSession) {
			t.Errorf("login session for a passkey: err = %v, want ErrInvalidSession", err)
		}
	})

	t.Run("registering a credential the user already has is refused", func(t *testing.T) {
		opts, s, err := h.c.BeginRegistration(u)
		if err != nil {
			t.Fatal(err)
		}
		ao, _ := virtualwebauthn.ParseAttestationOptions(string(opts))
		if !cred.IsExcludedForAttestation(*ao) {
			t.Fatal("the registered credential is not in excludeCredentials")
		}
		// A real authenticator would refuse; ours answers anyway.
		resp := virtualwebauthn.CreateAttestationResponse(h.rp, *a, cred, *ao)
		if _, err := h.c.FinishRegistration(u, s, []byte(resp)); !errors.Is(err, webauthn.ErrCredentialExists) {
			t.Errorf("err = %v, want ErrCredentialExists", err)
		}
	})
}

// editResponse changes fields of the "response" member of a credential JSON.
func editResponse(t *testing.T, resp []byte, edit func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(resp, &m); err != nil {
		t.Fatal(err)
	}
	edit(m["response"].(map[string]any))
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SECURITY-RULES: "WebAuthn: … UV enforced server-side when the level needs it"
func TestUserVerification(t *testing.T) {
	h := newHarness(t)
	u := newUser(t, "alice")
	// A security key without PIN: presence only.
	a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{UserNotVerified: true}, virtualwebauthn.KeyTypeEC2)
	c := h.register(&u, a, cred)
	if c.Flags&webauthn.FlagUserVerified != 0 {
		t.Fatalf("registered flags %#02x claim UV", c.Flags)
	}

	t.Run("without UV the assertion passes when UV is only preferred", func(t *testing.T) {
		resp, s := h.beginLogin(u, false, a, cred)
		got, err := h.c.FinishLogin(u, s, resp)
		if err != nil || got.UserVerified {
			t.Errorf("assertion %+v, err %v", got, err)
		}
	})
	t.Run("without UV the assertion is refused when UV is required", func(t *testing.T) {
		resp, s := h.beginLogin(u, true, a, cred)
		if _, err := h.c.FinishLogin(u, s, resp); !errors.Is(err, webauthn.ErrUserVerificationRequired) {
			t.Errorf("err = %v, want ErrUserVerificationRequired", err)
		}
	})
	t.Run("UV is judged from this assertion, not from the registration", func(t *testing.T) {
		withPIN := *a
		withPIN.Options.UserNotVerified = false
		resp, s := h.beginLogin(u, true, &withPIN, cred)
		got, err := h.c.FinishLogin(u, s, resp)
		if err != nil || !got.UserVerified {
			t.Errorf("assertion %+v, err %v", got, err)
		}
	})
}

// SECURITY-RULES: "WebAuthn: … a sign-count regression is treated as a clone"
func TestSignCount(t *testing.T) {
	h := newHarness(t)
	u := newUser(t, "alice")
	a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
	cred.Counter = 5
	c := h.register(&u, a, cred)
	if c.SignCount != 5 {
		t.Fatalf("registered sign count %d, want 5", c.SignCount)
	}

	login := func(counter uint32) (webauthn.Assertion, error) {
		cred := cred
		cred.Counter = counter
		resp, s := h.beginLogin(u, false, a, cred)
		return h.c.FinishLogin(u, s, resp)
	}

	got, err := login(6)
	if err != nil || got.SignCount != 6 || got.CloneWarning {
		t.Fatalf("counter 5 → 6: assertion %+v, err %v", got, err)
	}
	u.Credentials[0].SignCount = got.SignCount // the caller stores it

	for _, counter := range []uint32{6, 3, 0} {
		got, err := login(counter)
		if !errors.Is(err, webauthn.ErrCloned) || !got.CloneWarning || got.SignCount != counter {
			t.Errorf("counter 6 → %d: assertion %+v, err %v; want CloneWarning and ErrCloned", counter, got, err)
		}
	}

	t.Run("an authenticator without a counter never warns", func(t *testing.T) {
		u := newUser(t, "bob")
		a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
		h.register(&u, a, cred)
		for range 2 {
			resp, s := h.beginLogin(u, false, a, cred)
			if got, err := h.c.FinishLogin(u, s, resp); err != nil || got.CloneWarning {
				t.Errorf("assertion %+v, err %v", got, err)
			}
		}
	})
}

// SECURITY-RULES: "WebAuthn: ≥ 16-byte server challenges, stored server-side, single use, expiring"
func TestExpiry(t *testing.T) {
	h := newHarness(t)
	u := newUser(t, "alice")
	a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
	h.register(&u, a, cred)

	t.Run("a login finished just before the timeout passes", func(t *testing.T) {
		resp, s := h.beginLogin(u, false, a, cred)
		h.clock.Advance(webauthn.DefaultTimeout - time.Second)
		if _, err := h.c.FinishLogin(u, s, resp); err != nil {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a login finished at the timeout is expired", func(t *testing.T) {
		resp, s := h.beginLogin(u, false, a, cred)
		h.clock.Advance(webauthn.DefaultTimeout)
		if _, err := h.c.FinishLogin(u, s, resp); !errors.Is(err, webauthn.ErrExpired) {
			t.Errorf("err = %v, want ErrExpired", err)
		}
	})
	t.Run("an expired passkey login is refused", func(t *testing.T) {
		resp, s := h.beginPasskey(a, cred)
		h.clock.Advance(webauthn.DefaultTimeout + time.Second)
		if _, _, err := h.c.FinishDiscoverableLogin(s, resp, users(&u)); !errors.Is(err, webauthn.ErrExpired) {
			t.Errorf("err = %v, want ErrExpired", err)
		}
	})
	t.Run("an expired registration is refused", func(t *testing.T) {
		nu := newUser(t, "bob")
		na, ncred := newAuthenticator(nu, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
		resp, s := h.beginRegistration(nu, na, ncred)
		h.clock.Advance(webauthn.DefaultTimeout + time.Second)
		if _, err := h.c.FinishRegistration(nu, s, resp); !errors.Is(err, webauthn.ErrExpired) {
			t.Errorf("err = %v, want ErrExpired", err)
		}
	})
}

// SECURITY-RULES: "WebAuthn: … BE/BS consistent with what was stored"
func TestBackupFlags(t *testing.T) {
	h := newHarness(t)

	t.Run("BE and BS of a synced passkey round-trip through storage and assertions", func(t *testing.T) {
		u := newUser(t, "alice")
		a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{BackupEligible: true, BackupState: true}, virtualwebauthn.KeyTypeEC2)
		c := h.register(&u, a, cred) // stored through JSON
		want := webauthn.FlagUserPresent | webauthn.FlagUserVerified | webauthn.FlagBackupEligible | webauthn.FlagBackupState | flagAT
		if c.Flags != want {
			t.Fatalf("stored flags %#02x, want %#02x", c.Flags, want)
		}
		resp, s := h.beginPasskey(a, cred)
		_, got, err := h.c.FinishDiscoverableLogin(s, resp, users(&u))
		if err != nil || !got.BackupEligible || !got.BackupState {
			t.Fatalf("assertion %+v, err %v", got, err)
		}
		// BS may change: the passkey is no longer backed up.
		a.Options.BackupState = false
		resp, s = h.beginLogin(u, false, a, cred)
		got, err = h.c.FinishLogin(u, s, resp)
		if err != nil || !got.BackupEligible || got.BackupState {
			t.Fatalf("assertion %+v, err %v", got, err)
		}
		// BE may not: a device-bound credential now claiming BE=0.
		a.Options.BackupEligible = false
		resp, s = h.beginLogin(u, false, a, cred)
		if _, err := h.c.FinishLogin(u, s, resp); !errors.Is(err, webauthn.ErrBackupEligibilityChanged) {
			t.Errorf("BE 1 → 0: err = %v, want ErrBackupEligibilityChanged", err)
		}
	})

	t.Run("a device-bound credential that later claims BE is refused", func(t *testing.T) {
		u := newUser(t, "bob")
		a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)
		c := h.register(&u, a, cred)
		if c.Flags&webauthn.FlagBackupEligible != 0 {
			t.Fatalf("stored flags %#02x claim BE", c.Flags)
		}
		a.Options.BackupEligible = true
		resp, s := h.beginLogin(u, false, a, cred)
		if _, err := h.c.FinishLogin(u, s, resp); !errors.Is(err, webauthn.ErrBackupEligibilityChanged) {
			t.Errorf("second factor: err = %v, want ErrBackupEligibilityChanged", err)
		}
		resp, s = h.beginPasskey(a, cred)
		if _, _, err := h.c.FinishDiscoverableLogin(s, resp, users(&u)); !errors.Is(err, webauthn.ErrBackupEligibilityChanged) {
			t.Errorf("passkey: err = %v, want ErrBackupEligibilityChanged", err)
		}
	})

	t.Run("BS without BE is refused at registration and login", func(t *testing.T) {
		u := newUser(t, "carol")
		a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{BackupState: true}, virtualwebauthn.KeyTypeEC2)
		resp, s := h.beginRegistration(u, a, cred)
		if _, err := h.c.FinishRegistration(u, s, resp); !errors.Is(err, webauthn.ErrBackupEligibilityChanged) {
			t.Errorf("registration: err = %v, want ErrBackupEligibilityChanged", err)
		}
		a.Options.BackupState = false
		h.register(&u, a, cred)
		a.Options.BackupState = true
		resp, s = h.beginLogin(u, false, a, cred)
		if _, err := h.c.FinishLogin(u, s, resp); !errors.Is(err, webauthn.ErrBackupEligibilityChanged) {
			t.Errorf("login: err = %v, want ErrBackupEligibilityChanged", err)
		}
	})
}
