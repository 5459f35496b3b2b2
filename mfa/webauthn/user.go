package webauthn

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"
)

// User is what a ceremony needs to know about an account.
type User struct {
	// ID is the user handle (§5.4.3): a stable, opaque, random byte string of
	// 1 to 64 bytes, never a user name or e-mail address (authenticators may
	// disclose it). Passkey sign-in resolves it back to the account.
	ID []byte
	// Name is the account identifier the authenticator shows (e.g. the user
	// name); DisplayName a friendlier name, Name when empty.
	Name, DisplayName string
	// Credentials are all of the user's registered credentials.
	Credentials []Credential
}

// Credential is what the caller persists per registered authenticator: the
// parts of the credential record (§4 Terminology, "credential record") that
// the ceremonies read. Store every field byte for byte.
type Credential struct {
	// ID is the credential id (at most 1023 bytes). It identifies the
	// credential across all users: keep it unique in storage.
	ID []byte
	// PublicKey is the credentialPublicKey, a COSE_Key (§6.5.1).
	PublicKey []byte
	// AAGUID is the authenticator model (16 bytes, zero when not disclosed).
	AAGUID []byte
	// SignCount is the signature counter last seen (§6.1.1).
	SignCount uint32
	// Transports are the hints of AuthenticatorAttestationResponse.getTransports().
	Transports []string
	// Flags is the authenticator data flags byte of the registration (§6.1):
	// UP 0x01, UV 0x04, BE 0x08, BS 0x10, AT 0x40, ED 0x80. BE is checked
	// against every assertion, so it must round-trip exactly.
	Flags byte
	// Discoverable: the client reported a client-side discoverable
	// credential, i.e. a passkey (credProps rk = true, §10.1.3). False also
	// when the client did not say; a passkey sign-in does not depend on it.
	Discoverable bool
	// AttestationType is the attestation type verified at registration, in
	// FIDO metadata terms: "none", "basic_surrogate" (self attestation, §6.5.3),
	// "basic_full", "attca", ….
	AttestationType string
}

// Flag bits of the authenticator data (§6.1).
const (
	FlagUserPresent    = byte(protocol.FlagUserPresent)
	FlagUserVerified   = byte(protocol.FlagUserVerified)
	FlagBackupEligible = byte(protocol.FlagBackupEligible)
	FlagBackupState    = byte(protocol.FlagBackupState)
)

// libUser adapts User to go-webauthn's User interface.
type libUser struct{ u User }

var _ gowebauthn.User = libUser{}

func (l libUser) WebAuthnID() []byte          { return l.u.ID }
func (l libUser) WebAuthnName() string        { return l.u.Name }
func (l libUser) WebAuthnDisplayName() string { return l.u.displayName() }

func (l libUser) WebAuthnCredentials() []gowebauthn.Credential {
	out := make([]gowebauthn.Credential, len(l.u.Credentials))
	for i, c := range l.u.Credentials {
		out[i] = c.toLib()
	}
	return out
}

func (u User) displayName() string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Name
}

func (u User) validate() error {
	if n := len(u.ID); n < protocol.MinimumUserHandleLength || n > protocol.MaximumUserHandleLength {
		return fmt.Errorf("%w: user handle of %d bytes, want 1 to 64", ErrInvalidUser, n)
	}
	if strings.TrimSpace(u.Name) == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidUser)
	}
	return nil
}

// credential returns the user's credential with the given id.
func (u User) credential(id []byte) (Credential, bool) {
	for _, c := range u.Credentials {
		if bytes.Equal(c.ID, id) {
			return c, true
		}
	}
	return Credential{}, false
}

// toLib builds go-webauthn's credential record. The flags go through
// NewCredentialFlags so that its BE comparison sees the stored byte (a
// CredentialFlags literal would leave the raw byte zero).
func (c Credential) toLib() gowebauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return gowebauthn.Credential{
		ID:              c.ID,
		PublicKey:       c.PublicKey,
		AttestationType: c.AttestationType,
		Transport:       transports,
		Flags:           gowebauthn.NewCredentialFlags(protocol.AuthenticatorFlags(c.Flags)),
		Authenticator: gowebauthn.Authenticator{
			AAGUID:    c.AAGUID,
			SignCount: c.SignCount,
		},
	}
}

// fromLib is the Credential to persist after a verified registration.
func fromLib(c *gowebauthn.Credential) Credential {
	transports := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		transports[i] = string(t)
	}
	return Credential{
		ID:              bytes.Clone(c.ID),
		PublicKey:       bytes.Clone(c.PublicKey),
		AAGUID:          bytes.Clone(c.Authenticator.AAGUID),
		SignCount:       c.Authenticator.SignCount,
		Transports:      transports,
		Flags:           byte(c.Flags.ProtocolValue()),
		Discoverable:    c.Extensions.RK != nil && *c.Extensions.RK,
		AttestationType: c.AttestationType,
	}
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }
