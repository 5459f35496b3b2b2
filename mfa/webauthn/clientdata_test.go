package webauthn_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"
)

// retype replaces the ceremony type in a response's clientDataJSON; with a
// key it signs the result again as the authenticator would, so that only
// the type is wrong.
func retype(t *testing.T, resp []byte, from, to string, key *virtualwebauthn.Key) []byte {
	t.Helper()
	return editResponse(t, resp, func(r map[string]any) {
		cd, err := base64.RawURLEncoding.DecodeString(r["clientDataJSON"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(cd), `"type":"`+from+`"`) {
			t.Fatalf("clientDataJSON %s has no type %s", cd, from)
		}
		cd = []byte(strings.Replace(string(cd), `"type":"`+from+`"`, `"type":"`+to+`"`, 1))
		r["clientDataJSON"] = base64.RawURLEncoding.EncodeToString(cd)
		if key == nil {
			return
		}
		authData, err := base64.RawURLEncoding.DecodeString(r["authenticatorData"].(string))
		if err != nil {
			t.Fatal(err)
		}
		cdHash := sha256.Sum256(cd)
		digest := sha256.Sum256(append(authData, cdHash[:]...))
		sig, err := key.Sign(digest[:])
		if err != nil {
			t.Fatal(err)
		}
		r["signature"] = base64.RawURLEncoding.EncodeToString(sig)
	})
}

// asNoneAttestation rewrites a registration response's packed attestation
// object as fmt "none" (what Twofold asks for), keeping its authData.
func asNoneAttestation(t *testing.T, resp []byte) []byte {
	t.Helper()
	return editResponse(t, resp, func(r map[string]any) {
		obj, err := base64.RawURLEncoding.DecodeString(r["attestationObject"].(string))
		if err != nil {
			t.Fatal(err)
		}
		key := append([]byte{0x68}, "authData"...) // CBOR text string "authData"
		i := bytes.Index(obj, key)
		if i < 0 {
			t.Fatal("no authData in the attestation object")
		}
		i += len(key)
		var n, hdr int
		switch obj[i] {
		case 0x58:
			n, hdr = int(obj[i+1]), 2
		case 0x59:
			n, hdr = int(binary.BigEndian.Uint16(obj[i+1:])), 3
		default:
			t.Fatalf("authData header %#x", obj[i])
		}
		authData := obj[i : i+hdr+n] // header and bytes, as they are
		none := []byte{0xa3, 0x63}
		none = append(none, "fmt"...)
		none = append(none, 0x64)
		none = append(none, "none"...)
		none = append(none, 0x67)
		none = append(none, "attStmt"...)
		none = append(none, 0xa0)
		none = append(none, key...)
		none = append(none, authData...)
		r["attestationObject"] = base64.RawURLEncoding.EncodeToString(none)
	})
}

// SECURITY-RULES: "WebAuthn: … `type` is `webauthn.create` / `webauthn.get`" (WebAuthn Level 3 §7.1 step 7,
// §7.2 step 11): a response whose client data names the other ceremony is refused, even when everything else
// (challenge, origin, signature) is right.
func TestAClientDataTypeOfTheOtherCeremonyIsRefused(t *testing.T) {
	h := newHarness(t)
	u := newUser(t, "alice")
	a, cred := newAuthenticator(u, virtualwebauthn.AuthenticatorOptions{}, virtualwebauthn.KeyTypeEC2)

	t.Run("a registration whose client data says webauthn.get", func(t *testing.T) {
		resp, s := h.beginRegistration(u, a, cred)
		resp = asNoneAttestation(t, resp) // no attestation signature over the client data to break
		for _, to := range []string{"webauthn.get", "payment.get", ""} {
			if _, err := h.c.FinishRegistration(u, s, retype(t, resp, "webauthn.create", to, nil)); err == nil {
				t.Errorf("a registration with client data type %q was accepted", to)
			}
		}
		// The same response with the type kept registers: the refusals above are the type's.
		if _, err := h.c.FinishRegistration(u, s, retype(t, resp, "webauthn.create", "webauthn.create", nil)); err != nil {
			t.Fatalf("the genuine registration: %v", err)
		}
	})

	h.register(&u, a, cred)
	t.Run("an assertion whose client data says webauthn.create, signed", func(t *testing.T) {
		resp, s := h.beginLogin(u, false, a, cred)
		for _, to := range []string{"webauthn.create", "payment.get"} {
			if _, err := h.c.FinishLogin(u, s, retype(t, resp, "webauthn.get", to, cred.Key)); err == nil {
				t.Errorf("an assertion with client data type %q was accepted", to)
			}
		}
		// Re-signed with the type kept, the same edit passes: the refusal above is the type's.
		if _, err := h.c.FinishLogin(u, s, retype(t, resp, "webauthn.get", "webauthn.get", cred.Key)); err != nil {
			t.Fatalf("the re-signed genuine assertion: %v", err)
		}
	})
}
