package webauthn

import (
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
)

// sentinel is an error value that can also claim a parent, so that a specific
// refusal (a wrong origin) still matches the general one (an invalid response)
// under errors.Is.
type sentinel struct {
	msg    string
	parent error
}

func (e *sentinel) Error() string { return e.msg }

func (e *sentinel) Is(target error) bool { return e.parent != nil && target == e.parent }

// Errors returned by New and the ceremonies. Every error from a Finish… method
// is a refusal; the ones below let the caller pick a message for the user and
// an audit event, anything else is a generic failure.
var (
	// ErrInvalidConfig: New refused the configuration.
	ErrInvalidConfig error = &sentinel{msg: "webauthn: invalid configuration"}
	// ErrInvalidUser: the User cannot take part in a ceremony (bad handle, no name).
	ErrInvalidUser error = &sentinel{msg: "webauthn: invalid user"}
	// ErrNoCredentials: BeginLogin for a user without credentials.
	ErrNoCredentials error = &sentinel{msg: "webauthn: user has no credentials"}

	// ErrInvalidSession: the session is malformed, of another ceremony, or of
	// another user.
	ErrInvalidSession error = &sentinel{msg: "webauthn: invalid session"}
	// ErrExpired: the session's timeout has passed (§5.4, §5.5 timeout, which
	// we enforce on the server as well).
	ErrExpired error = &sentinel{msg: "webauthn: ceremony expired"}

	// ErrInvalidResponse: the response is malformed or fails verification.
	// The more specific errors below also match it.
	ErrInvalidResponse error = &sentinel{msg: "webauthn: invalid response"}
	// ErrChallengeMismatch: the response answers another challenge (another
	// session's, or a replay of an old one).
	ErrChallengeMismatch error = &sentinel{msg: "webauthn: challenge mismatch", parent: ErrInvalidResponse}
	// ErrOriginMismatch: clientDataJSON.origin is not in the allow-list (phishing).
	ErrOriginMismatch error = &sentinel{msg: "webauthn: origin not allowed", parent: ErrInvalidResponse}
	// ErrRPIDMismatch: authenticatorData.rpIdHash is not the hash of our RP ID.
	ErrRPIDMismatch error = &sentinel{msg: "webauthn: rpIdHash mismatch", parent: ErrInvalidResponse}
	// ErrUserNotPresent: the UP flag is clear.
	ErrUserNotPresent error = &sentinel{msg: "webauthn: user presence flag not set", parent: ErrInvalidResponse}

	// ErrUserVerificationRequired: the ceremony required user verification and
	// the assertion's UV flag is clear (the user should use the PIN or
	// biometric of the authenticator).
	ErrUserVerificationRequired error = &sentinel{msg: "webauthn: user verification required"}
	// ErrUnknownCredential: the credential is not one of this user's (or, for a
	// passkey, the user handle resolves to no user or to a user not owning it).
	ErrUnknownCredential error = &sentinel{msg: "webauthn: unknown credential"}
	// ErrCredentialExists: registration returned a credential the user already has.
	ErrCredentialExists error = &sentinel{msg: "webauthn: credential already registered"}
	// ErrBackupEligibilityChanged: the BE flag differs from the one stored at
	// registration, or BS is set without BE (§6.1.3: BE never changes).
	ErrBackupEligibilityChanged error = &sentinel{msg: "webauthn: backup eligibility inconsistent with registration"}
	// ErrCloned: the signature counter did not advance (§6.1.1). FinishLogin
	// returns it together with an Assertion whose CloneWarning is true.
	ErrCloned error = &sentinel{msg: "webauthn: signature counter did not advance, credential may be cloned"}
)

// libError keeps a go-webauthn error for errors.As while putting its
// developer information (which says what failed) into the message.
type libError struct{ err error }

func (e *libError) Error() string {
	var pe *protocol.Error
	if errors.As(e.err, &pe) && pe.DevInfo != "" {
		return fmt.Sprintf("%s (%s)", e.err.Error(), pe.DevInfo)
	}
	return e.err.Error()
}

func (e *libError) Unwrap() error { return e.err }

// refuse wraps a go-webauthn error as kind.
func refuse(kind, err error) error {
	return fmt.Errorf("%w: %w", kind, &libError{err})
}
