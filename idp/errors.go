package idp

import (
	"errors"
	"fmt"
)

// ErrSetupTokenInvalid is returned for a first-run setup token that is
// unknown, expired or already used. Callers show one generic message for all
// three so that the token space cannot be probed.
var ErrSetupTokenInvalid = errors.New("idp: setup token invalid or already used")

// ErrSetupDone is returned when first-run setup is attempted after an account
// already exists.
var ErrSetupDone = errors.New("idp: setup already completed")

// ErrNotFound is returned when a named user, client or policy does not exist.
var ErrNotFound = errors.New("idp: not found")

// ErrConflict is returned when a user, client or policy with the same name
// already exists.
var ErrConflict = errors.New("idp: already exists")

// InputError is a problem with a value a person or an admin supplied. Its
// message is safe to show to them: it names the field and says what is wrong,
// never echoing secrets.
type InputError struct {
	Field   string // the form field or config key, e.g. "password"
	Message string // e.g. "must be at least 8 characters"
}

func (e *InputError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

// InputErrorf builds an InputError for field.
func InputErrorf(field, format string, args ...any) error {
	return &InputError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrInvalidCredentials is the one answer for an unknown user, a wrong
// password and a disabled account, so that none can be told apart
// (SECURITY-RULES: no account enumeration).
var ErrInvalidCredentials = errors.New("idp: invalid username or password")

// ConflictError refuses a change that clashes with the current state (a
// name already taken, an object still in use). Its message is safe to show.
type ConflictError struct{ Reason string }

func (e *ConflictError) Error() string { return e.Reason }

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Conflictf builds a ConflictError.
func Conflictf(format string, args ...any) error {
	return &ConflictError{Reason: fmt.Sprintf(format, args...)}
}

// ErrPreconditionFailed: an edit named the version it was based on, and the
// object has changed since (or the version is not the current one).
var ErrPreconditionFailed = errors.New("idp: the object changed since it was read")

// Actor is who made a change, for the audit trail.
type Actor struct {
	ID        string // a user id, "client:ID" (a client's own token), or "cli", "config", "setup", "system"
	IP        string
	RequestID string
	UserAgent string // recorded in the event's details when set
}

// Details returns details with what the actor adds (the user agent).
func (a Actor) Details(details map[string]any) map[string]any {
	if a.UserAgent == "" {
		return details
	}
	if details == nil {
		details = map[string]any{}
	}
	details["user_agent"] = a.UserAgent
	return details
}

// Well-known actors.
var (
	ActorCLI    = Actor{ID: "cli"}
	ActorConfig = Actor{ID: "config"}
	ActorSetup  = Actor{ID: "setup"}
)
