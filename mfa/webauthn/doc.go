// Package webauthn owns the WebAuthn registration and assertion ceremonies
// (W3C WebAuthn Level 3): session data in, credential out. It has no storage.
package webauthn
