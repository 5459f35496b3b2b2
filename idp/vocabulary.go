package idp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// ACR levels, weakest first (ARCHITECTURE.md "Claims").
const (
	ACRPassword          = policy.ACRPassword
	ACRMFA               = policy.ACRMFA
	ACRPhishingResistant = policy.ACRPhishingResistant
	ACRPAPEMultiFactor   = policy.ACRPAPEMultiFactor
	// ACRTwofoldPhishingResistant is our older name of phr, still accepted.
	ACRTwofoldPhishingResistant  = policy.ACRTwofoldPhishingResistant
	ACRPhishingResistantHardware = policy.ACRPhishingResistantHardware
)

// RandomToken returns n random bytes, base64url-encoded.
func RandomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret hashes a high-entropy bearer value (cookie, code, refresh
// token) for lookup. 256 random bits need no salt or stretching.
func HashSecret(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}

// DisplayName trims a user-given name (of a factor, a device) to at most
// 64 characters; an empty one becomes fallback.
func DisplayName(name, fallback string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return fallback
	}
	for utf8.RuneCountInString(name) > 64 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// AuditStore appends to the audit trail.
type AuditStore interface {
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

// Auditor records audit events. A failure is logged, not returned: the
// change an event describes has already happened.
type Auditor struct {
	Store AuditStore
	Log   *slog.Logger
}

// Record appends one event by actor.
func (a Auditor) Record(ctx context.Context, actor Actor, action, target string, details map[string]any) {
	e := &storage.AuditEvent{Actor: actor.ID, Action: action, Target: target, IP: actor.IP, RequestID: actor.RequestID, Details: actor.Details(details)}
	if err := a.Store.AppendAudit(ctx, e); err != nil {
		a.Log.ErrorContext(ctx, "audit event not recorded", "action", action, "target", target, "err", err)
	}
}

// UserActor is the actor for a change a user made themselves.
func UserActor(id string) Actor { return Actor{ID: id} }
