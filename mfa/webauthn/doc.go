// Package webauthn owns the WebAuthn registration and authentication
// ceremonies (W3C Web Authentication Level 3, §7.1 and §7.2) on top of
// github.com/go-webauthn/webauthn: session data in, credential or assertion
// out. It has no storage, no HTTP handlers and imports no project package.
//
// Every ceremony is two stateless calls. Begin… returns the options JSON for
// navigator.credentials.create / get (the PublicKeyCredential…OptionsJSON
// shape of §5.1.8 and §5.1.9) and a [Session] the caller stores server-side.
// Finish… takes that session and the JSON of the PublicKeyCredential the
// browser returned and either verifies it or refuses it with an error that
// matches one of the Err… sentinels under errors.Is.
//
// What this package cannot do and the caller must:
//   - Consume a session exactly once, atomically (one conditional UPDATE or
//     DELETE), before calling Finish…, and bind it to the browser session it was
//     issued to. A Session carries no "used" state: handed the same session
//     twice, Finish… verifies twice (§13.4.3 wants challenges single use).
//   - Refuse a new credential id already registered to any user (§7.1,
//     "verify that the credentialId is not yet registered for any user").
//   - Persist Credential.Flags byte for byte, update SignCount after each
//     accepted assertion, and on [ErrCloned] refuse the login, mark the
//     credential and record an audit event (§6.1.1).
//
// Error strings carry library diagnostics for logs; never show them to a user.
package webauthn
