package idp

import "errors"

// The device authorization grant (RFC 8628) as the hosted pages see it.
var (
	// ErrDeviceCodeInvalid: no device sign-in has this user code (a wrong
	// guess, counted against the address).
	ErrDeviceCodeInvalid = errors.New("idp: unknown user code")
	// ErrDeviceCodeExpired: the device sign-in expired or was already
	// approved or denied.
	ErrDeviceCodeExpired = errors.New("idp: device sign-in expired or already decided")
)

// DevicePrompt is what the approval page shows: which application, on a
// device, asks for what.
type DevicePrompt struct {
	Client   ClientInfo
	Scopes   []string
	Username string // who signed in, and would approve
}
