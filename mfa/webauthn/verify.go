package webauthn

import (
	"crypto/subtle"
	"fmt"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
)

// maxResponseBytes bounds a response body. Responses are a few KiB even with
// an attestation certificate chain; the HTTP handler should cap the body too.
const maxResponseBytes = 64 << 10

// The checks below repeat some of go-webauthn's so that each refusal has its
// own error (go-webauthn returns one generic error type) and so that the
// origin is compared exactly. They run before the signature is verified, so a
// specific error does not prove the rest of the response was genuine; all of
// them are refusals either way. go-webauthn then verifies everything again.

// checkClientData applies §7.1 steps "C.type", "C.challenge", "C.origin" and
// the cross-origin rule (§7.2 likewise) to the collected client data.
func (c *Ceremonies) checkClientData(cd protocol.CollectedClientData, want protocol.CeremonyType, s Session) error {
	if cd.Type != want {
		return fmt.Errorf("%w: client data type %q, want %q", ErrInvalidResponse, cd.Type, want)
	}
	if subtle.ConstantTimeCompare([]byte(cd.Challenge), []byte(s.Challenge)) != 1 {
		return ErrChallengeMismatch
	}
	// Exact comparison with the normalised allow-list: go-webauthn compares
	// only scheme and host and ignores any path, query or user info.
	if !slices.Contains(c.origins, cd.Origin) {
		return fmt.Errorf("%w: %q", ErrOriginMismatch, cd.Origin)
	}
	if cd.CrossOrigin || cd.TopOrigin != "" {
		return fmt.Errorf("%w: cross-origin ceremony", ErrOriginMismatch)
	}
	return nil
}

// checkAuthData applies the rpIdHash, UP and UV steps of §7.1 / §7.2 to the
// authenticator data.
func (c *Ceremonies) checkAuthData(ad protocol.AuthenticatorData, uvRequired bool) error {
	if subtle.ConstantTimeCompare(ad.RPIDHash, c.rpIDHash[:]) != 1 {
		return ErrRPIDMismatch
	}
	if !ad.Flags.HasUserPresent() {
		return ErrUserNotPresent
	}
	if uvRequired && !ad.Flags.HasUserVerified() {
		return ErrUserVerificationRequired
	}
	// §6.1: BS may only be set on a backup eligible credential.
	if ad.Flags.HasBackupState() && !ad.Flags.HasBackupEligible() {
		return fmt.Errorf("%w: BS set without BE", ErrBackupEligibilityChanged)
	}
	return nil
}

// checkBackupEligible applies §7.2's backup eligibility step: BE is fixed at
// credential creation (§6.1.3), so an assertion must carry the BE stored at
// registration.
func checkBackupEligible(stored Credential, ad protocol.AuthenticatorData) error {
	storedBE := stored.Flags&FlagBackupEligible != 0
	if storedBE != ad.Flags.HasBackupEligible() {
		return fmt.Errorf("%w: registered with BE=%t, asserted BE=%t", ErrBackupEligibilityChanged, storedBE, !storedBE)
	}
	return nil
}
