package webauthn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"
)

// Assertion is a verified authentication assertion (§7.2).
type Assertion struct {
	// CredentialID is the credential that signed.
	CredentialID []byte
	// UserHandle is the user the credential belongs to: for a passkey login
	// the user it resolved to, for a second factor the given user's ID.
	UserHandle []byte
	// SignCount is the assertion's signature counter: store it on success.
	SignCount uint32
	// Flags is this assertion's authenticator data flags byte (§6.1).
	Flags byte
	// UserPresent and UserVerified are this assertion's UP and UV flags —
	// not the stored credential's — so UserVerified says whether the user
	// gave a PIN or biometric this time.
	UserPresent, UserVerified bool
	// BackupEligible and BackupState are this assertion's BE and BS (§6.1.3);
	// BS may change over a credential's life (e.g. a passkey gets synced).
	BackupEligible, BackupState bool
	// CloneWarning: the signature counter did not advance (§6.1.1); the
	// error is then ErrCloned.
	CloneWarning bool
}

// BeginLogin starts an authentication ceremony for a known user, as a second
// factor (§5.5, §7.2): allowCredentials lists u's credentials; with requireUV
// userVerification is "required" (for the phishing-resistant level) and
// enforced on the response, else "preferred" (§5.8.6).
func (c *Ceremonies) BeginLogin(u User, requireUV bool) (optionsJSON []byte, s Session, err error) {
	if n := len(u.ID); n < protocol.MinimumUserHandleLength || n > protocol.MaximumUserHandleLength {
		return nil, Session{}, fmt.Errorf("%w: user handle of %d bytes, want 1 to 64", ErrInvalidUser, n)
	}
	if len(u.Credentials) == 0 {
		return nil, Session{}, ErrNoCredentials
	}
	uv := protocol.VerificationPreferred
	if requireUV {
		uv = protocol.VerificationRequired
	}
	assertion, data, err := c.lib.BeginLogin(libUser{u}, gowebauthn.WithUserVerification(uv))
	if err != nil {
		return nil, Session{}, fmt.Errorf("webauthn: begin login: %w", err)
	}
	return c.requestOptions(CeremonyLogin, assertion, data)
}

// BeginDiscoverableLogin starts a passkey sign-in without a user name (§5.5
// with an empty allowCredentials, so the authenticator offers its
// discoverable credentials): userVerification "required", because a passkey
// with user verification stands for two factors on its own.
func (c *Ceremonies) BeginDiscoverableLogin() (optionsJSON []byte, s Session, err error) {
	assertion, data, err := c.lib.BeginDiscoverableLogin(gowebauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, Session{}, fmt.Errorf("webauthn: begin discoverable login: %w", err)
	}
	return c.requestOptions(CeremonyDiscoverableLogin, assertion, data)
}

// requestOptions returns the PublicKeyCredentialRequestOptionsJSON for
// PublicKeyCredential.parseRequestOptionsFromJSON (§5.1.9) and our session.
func (c *Ceremonies) requestOptions(kind Ceremony, a *protocol.CredentialAssertion, data *gowebauthn.SessionData) ([]byte, Session, error) {
	b, err := json.Marshal(a.Response)
	if err != nil {
		return nil, Session{}, fmt.Errorf("webauthn: begin %s: %w", kind, err)
	}
	return b, c.newSession(kind, data), nil
}

// FinishLogin verifies an assertion by one of u's credentials against s
// (§7.2): type webauthn.get, the challenge of s, an allowed origin, our
// rpIdHash, UP, UV when s requires it, a credential from allowCredentials
// owned by u, BE as registered, the signature, s not expired. A counter that
// did not advance returns the Assertion with CloneWarning and ErrCloned: the
// caller refuses it. The caller must consume s whatever the outcome.
func (c *Ceremonies) FinishLogin(u User, s Session, responseJSON []byte) (Assertion, error) {
	if err := s.check(CeremonyLogin, c.now()); err != nil {
		return Assertion{}, err
	}
	if !bytes.Equal(u.ID, s.UserID) {
		return Assertion{}, fmt.Errorf("%w: session is for another user", ErrInvalidSession)
	}
	for _, id := range s.AllowedCredentialIDs {
		if _, ok := u.credential(id); !ok {
			// go-webauthn refuses this too (§7.2 step "allowCredentials").
			return Assertion{}, fmt.Errorf("%w: the user's credentials changed during the ceremony", ErrInvalidSession)
		}
	}
	parsed, err := c.parseAssertion(s, responseJSON)
	if err != nil {
		return Assertion{}, err
	}
	if !slices.ContainsFunc(s.AllowedCredentialIDs, func(id []byte) bool { return bytes.Equal(id, parsed.RawID) }) {
		return Assertion{}, fmt.Errorf("%w: not in allowCredentials", ErrUnknownCredential)
	}
	cred, ok := u.credential(parsed.RawID)
	if !ok {
		return Assertion{}, fmt.Errorf("%w: not the user's", ErrUnknownCredential)
	}
	// §7.2: a userHandle, when returned, must be the credential owner's.
	if h := parsed.Response.UserHandle; len(h) != 0 && !bytes.Equal(h, u.ID) {
		return Assertion{}, fmt.Errorf("%w: user handle of another user", ErrUnknownCredential)
	}
	if err := checkBackupEligible(cred, parsed.Response.AuthenticatorData); err != nil {
		return Assertion{}, err
	}
	verified, err := c.lib.ValidateLogin(libUser{u}, s.lib(c.lib.Config.RPID), parsed)
	if err != nil {
		return Assertion{}, refuse(ErrInvalidResponse, err)
	}
	return assertionOf(u.ID, cred, parsed, verified)
}

// FinishDiscoverableLogin verifies a passkey assertion against s (§7.2). The
// user handle in the response is resolved with lookup (the caller loads the
// user and all their credentials from storage; an error refuses the login
// with ErrUnknownCredential wrapping it). The resolved user must have that
// user handle and own the credential that signed: a credential registered to
// anyone else is refused. Otherwise as FinishLogin, with UV always required.
func (c *Ceremonies) FinishDiscoverableLogin(s Session, responseJSON []byte, lookup func(userHandle []byte) (User, error)) (User, Assertion, error) {
	if err := s.check(CeremonyDiscoverableLogin, c.now()); err != nil {
		return User{}, Assertion{}, err
	}
	parsed, err := c.parseAssertion(s, responseJSON)
	if err != nil {
		return User{}, Assertion{}, err
	}
	handle := parsed.Response.UserHandle
	if len(handle) == 0 {
		// §7.2: required for a discoverable login; a server-side credential
		// (e.g. a security key registered without a resident key) has none.
		return User{}, Assertion{}, fmt.Errorf("%w: no user handle (not a discoverable credential)", ErrUnknownCredential)
	}
	u, err := lookup(bytes.Clone(handle))
	if err != nil {
		return User{}, Assertion{}, fmt.Errorf("%w: %w", ErrUnknownCredential, err)
	}
	if !bytes.Equal(u.ID, handle) {
		return User{}, Assertion{}, fmt.Errorf("%w: lookup returned a user with another handle", ErrUnknownCredential)
	}
	cred, ok := u.credential(parsed.RawID)
	if !ok {
		return User{}, Assertion{}, fmt.Errorf("%w: not the credential of the user its handle names", ErrUnknownCredential)
	}
	if err := checkBackupEligible(cred, parsed.Response.AuthenticatorData); err != nil {
		return User{}, Assertion{}, err
	}
	resolve := func(_, _ []byte) (gowebauthn.User, error) { return libUser{u}, nil }
	_, verified, err := c.lib.ValidatePasskeyLogin(resolve, s.lib(c.lib.Config.RPID), parsed)
	if err != nil {
		return User{}, Assertion{}, refuse(ErrInvalidResponse, err)
	}
	a, err := assertionOf(u.ID, cred, parsed, verified)
	return u, a, err
}

// parseAssertion parses the response and applies the checks that need no
// stored credential.
func (c *Ceremonies) parseAssertion(s Session, responseJSON []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if len(responseJSON) > maxResponseBytes {
		return nil, fmt.Errorf("%w: response of %d bytes", ErrInvalidResponse, len(responseJSON))
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(responseJSON)
	if err != nil {
		return nil, refuse(ErrInvalidResponse, err)
	}
	if err := c.checkClientData(parsed.Response.CollectedClientData, protocol.AssertCeremony, s); err != nil {
		return nil, err
	}
	if err := c.checkAuthData(parsed.Response.AuthenticatorData, s.uvRequired()); err != nil {
		return nil, err
	}
	return parsed, nil
}

// assertionOf reports a verified assertion, judging the flags from this
// assertion's authenticator data and the counter as §6.1.1 and §7.2 say.
func assertionOf(userID []byte, stored Credential, p *protocol.ParsedCredentialAssertionData, verified *gowebauthn.Credential) (Assertion, error) {
	ad := p.Response.AuthenticatorData
	a := Assertion{
		CredentialID:   bytes.Clone(p.RawID),
		UserHandle:     bytes.Clone(userID),
		SignCount:      ad.Counter,
		Flags:          byte(ad.Flags),
		UserPresent:    ad.Flags.HasUserPresent(),
		UserVerified:   ad.Flags.HasUserVerified(),
		BackupEligible: ad.Flags.HasBackupEligible(),
		BackupState:    ad.Flags.HasBackupState(),
		// go-webauthn only flags it (counter ≤ stored unless both are 0).
		CloneWarning: verified.Authenticator.CloneWarning,
	}
	if a.CloneWarning {
		return a, fmt.Errorf("%w (stored %d, asserted %d)", ErrCloned, stored.SignCount, ad.Counter)
	}
	return a, nil
}
