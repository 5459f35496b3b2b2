package webauthn

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"
)

// Ceremony names the kind of ceremony a Session belongs to.
type Ceremony string

// The ceremonies.
const (
	CeremonyRegistration      Ceremony = "registration"       // §7.1
	CeremonyLogin             Ceremony = "login"              // §7.2, user known (second factor)
	CeremonyDiscoverableLogin Ceremony = "discoverable_login" // §7.2, passkey, user from the user handle
)

// Session is the server-side state of one ceremony, from Begin… to Finish….
// The caller stores it (database, never the browser), binds it to the browser
// session that started it, and consumes it exactly once: Finish… cannot tell a
// fresh session from a used one (§13.4.3). Treat the fields as read-only.
type Session struct {
	Ceremony Ceremony `json:"ceremony"`
	// Challenge is the base64url (unpadded) encoding of the 32 random bytes
	// sent to the browser (§13.4.3: at least 16). It is unique, so it can key
	// the stored session.
	Challenge string `json:"challenge"`
	// UserID is the user handle the ceremony is for; empty for a discoverable login.
	UserID []byte `json:"user_id,omitempty"`
	// AllowedCredentialIDs is the allowCredentials list of a login (§5.5).
	AllowedCredentialIDs [][]byte `json:"allowed_credential_ids,omitempty"`
	// UserVerification is "required" or "preferred" (§5.8.6); required is
	// enforced on the response's UV flag.
	UserVerification string `json:"user_verification"`
	// Expires is when the ceremony times out; the stored row can expire too.
	Expires time.Time `json:"expires"`
}

// Marshal encodes s as JSON for storage.
func (s Session) Marshal() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// UnmarshalSession decodes a stored session and checks it is well formed;
// failures match ErrInvalidSession.
func UnmarshalSession(b []byte) (Session, error) {
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return Session{}, fmt.Errorf("%w: %v", ErrInvalidSession, err)
	}
	if err := s.validate(); err != nil {
		return Session{}, err
	}
	return s, nil
}

func (s Session) validate() error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrInvalidSession, why) }
	switch s.Ceremony {
	case CeremonyRegistration:
		if len(s.UserID) == 0 {
			return bad("no user id")
		}
	case CeremonyLogin:
		if len(s.UserID) == 0 || len(s.AllowedCredentialIDs) == 0 {
			return bad("no user id or no allowed credentials")
		}
	case CeremonyDiscoverableLogin:
		if len(s.UserID) != 0 || len(s.AllowedCredentialIDs) != 0 {
			return bad("a discoverable login names no user")
		}
	default:
		return bad(fmt.Sprintf("unknown ceremony %q", s.Ceremony))
	}
	c, err := base64.RawURLEncoding.DecodeString(s.Challenge)
	if err != nil || len(c) < protocol.MinimumChallengeLength {
		return bad("challenge is not base64url of at least 16 bytes")
	}
	switch protocol.UserVerificationRequirement(s.UserVerification) {
	case protocol.VerificationRequired, protocol.VerificationPreferred:
	default:
		return bad(fmt.Sprintf("user verification %q", s.UserVerification))
	}
	if s.Expires.IsZero() {
		return bad("no expiry")
	}
	return nil
}

// check validates s for ceremony kind at now.
func (s Session) check(kind Ceremony, now time.Time) error {
	if err := s.validate(); err != nil {
		return err
	}
	if s.Ceremony != kind {
		return fmt.Errorf("%w: a %s session used for %s", ErrInvalidSession, s.Ceremony, kind)
	}
	if !now.Before(s.Expires) {
		return fmt.Errorf("%w at %s", ErrExpired, s.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

func (s Session) uvRequired() bool {
	return protocol.UserVerificationRequirement(s.UserVerification) == protocol.VerificationRequired
}

// newSession builds our session from go-webauthn's, with the expiry from our
// clock (go-webauthn's Begin… reads time.Now itself).
func (c *Ceremonies) newSession(kind Ceremony, lib *gowebauthn.SessionData) Session {
	return Session{
		Ceremony:             kind,
		Challenge:            lib.Challenge,
		UserID:               lib.UserID,
		AllowedCredentialIDs: lib.AllowedCredentialIDs,
		UserVerification:     string(lib.UserVerification),
		Expires:              c.now().Add(c.timeout),
	}
}

// lib rebuilds go-webauthn's session. Expires is passed on, so go-webauthn
// checks it against the wall clock as well.
func (s Session) lib(rpID string) gowebauthn.SessionData {
	d := gowebauthn.SessionData{
		Challenge:            s.Challenge,
		RelyingPartyID:       rpID,
		UserID:               s.UserID,
		AllowedCredentialIDs: s.AllowedCredentialIDs,
		Expires:              s.Expires,
		UserVerification:     protocol.UserVerificationRequirement(s.UserVerification),
	}
	if s.Ceremony == CeremonyRegistration {
		// §7.1: the credential's algorithm must be one we offered.
		d.CredParams = credentialParameters
		d.Extensions = registrationExtensions.Session()
	}
	return d
}
