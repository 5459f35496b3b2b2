package storage_test

import (
	"testing"

	"github.com/twofold-idp/twofold/storage/storagetest"
)

// SECURITY-RULES: "WebAuthn: ≥ 16-byte server challenges, stored server-side, single use, expiring"
// SECURITY-RULES: "WebAuthn: … a credential id registered to anyone else is refused"
// SECURITY-RULES: "WebAuthn: … a sign-count regression is treated as a clone"
// SECURITY-RULES: "TOTP: … a code of a step at or before the last accepted one is refused, also across sessions and
// replicas"
// SECURITY-RULES: "TOTP: … enrollment activates only after one valid code"
// SECURITY-RULES: "Backup codes: … single use"
// SECURITY-RULES: "Backup codes: … regenerating invalidates the old set"
// — storagetest cases "a WebAuthn ceremony is consumed once, for its purpose, before it expires", "a credential id
// registered to one user cannot be registered by another", "a credential marked possibly cloned cannot be used", "a
// TOTP step is accepted once and an older step after a newer one is a replay", "of 20 concurrent uses of one TOTP
// step exactly one wins" (replicas share the row), "a TOTP authenticator is created unconfirmed", "a backup code is
// found by its tag while unused and used once", "replacing backup codes invalidates the previous set".
func TestConformance(t *testing.T) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) { storagetest.Run(t, newStore) })
	}
}
