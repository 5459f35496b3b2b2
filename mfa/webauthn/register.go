package webauthn

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"
)

// credentialParameters are the algorithms we offer (§5.4 pubKeyCredParams,
// §5.8.5), most preferred first as the Level 3 recommendation lists them:
// EdDSA, ES256, RS256. Registration refuses a key of any other algorithm.
var credentialParameters = []protocol.CredentialParameter{
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgEdDSA},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgES256},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgRS256},
}

// registrationExtensions are the extensions a registration asks for: credProps
// (§10.1.3), whose rk output tells whether the authenticator made a passkey.
// go-webauthn refuses outputs of extensions the session did not request.
var registrationExtensions = protocol.AuthenticationExtensions{CredProps: true}

// BeginRegistration starts registering a new credential for u (§5.4, §7.1).
// It returns the PublicKeyCredentialCreationOptionsJSON to pass through
// PublicKeyCredential.parseCreationOptionsFromJSON (§5.1.8) to
// navigator.credentials.create, and the Session to store.
//
// Options: residentKey "preferred" (§5.4.6: platform authenticators then
// create passkeys, security keys need not spend a slot), userVerification
// "preferred" (§5.8.6), attestation "none" (§5.4.7), u's credentials in
// excludeCredentials (one registration per authenticator), the algorithms
// of credentialParameters, and the credProps extension (§10.1.3).
func (c *Ceremonies) BeginRegistration(u User) (optionsJSON []byte, s Session, err error) {
	if err := u.validate(); err != nil {
		return nil, Session{}, err
	}
	exclude := gowebauthn.Credentials(libUser{u}.WebAuthnCredentials()).CredentialDescriptors()
	creation, data, err := c.lib.BeginRegistration(libUser{u},
		gowebauthn.WithCredentialParameters(credentialParameters),
		gowebauthn.WithExclusions(exclude),
		gowebauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementPreferred,
			RequireResidentKey: protocol.ResidentKeyNotRequired(),
			UserVerification:   protocol.VerificationPreferred,
		}),
		gowebauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		gowebauthn.WithExtensions(gowebauthn.WithExtensionInputs(registrationExtensions)),
	)
	if err != nil {
		return nil, Session{}, fmt.Errorf("webauthn: begin registration: %w", err)
	}
	optionsJSON, err = json.Marshal(creation.Response)
	if err != nil {
		return nil, Session{}, fmt.Errorf("webauthn: begin registration: %w", err)
	}
	return optionsJSON, c.newSession(CeremonyRegistration, data), nil
}

// FinishRegistration verifies the browser's registration response (the JSON
// of the PublicKeyCredential, e.g. from its toJSON()) against s and returns
// the Credential to store (§7.1): type webauthn.create, the challenge of s,
// an allowed origin, our rpIdHash, UP set, an offered algorithm, a valid
// attestation statement, s not expired. The caller must still refuse a
// credential id registered to any user (§7.1) and consume s.
func (c *Ceremonies) FinishRegistration(u User, s Session, responseJSON []byte) (Credential, error) {
	if err := s.check(CeremonyRegistration, c.now()); err != nil {
		return Credential{}, err
	}
	if err := u.validate(); err != nil {
		return Credential{}, err
	}
	if !bytes.Equal(u.ID, s.UserID) {
		return Credential{}, fmt.Errorf("%w: session is for another user", ErrInvalidSession)
	}
	if len(responseJSON) > maxResponseBytes {
		return Credential{}, fmt.Errorf("%w: response of %d bytes", ErrInvalidResponse, len(responseJSON))
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(responseJSON)
	if err != nil {
		return Credential{}, refuse(ErrInvalidResponse, err)
	}
	if err := c.checkClientData(parsed.Response.CollectedClientData, protocol.CreateCeremony, s); err != nil {
		return Credential{}, err
	}
	if err := c.checkAuthData(parsed.Response.AttestationObject.AuthData, s.uvRequired()); err != nil {
		return Credential{}, err
	}
	if _, ok := u.credential(parsed.RawID); ok {
		return Credential{}, ErrCredentialExists
	}
	cred, err := c.lib.CreateCredential(libUser{u}, s.lib(c.lib.Config.RPID), parsed)
	if err != nil {
		return Credential{}, refuse(ErrInvalidResponse, err)
	}
	return fromLib(cred), nil
}
