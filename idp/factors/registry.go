package factors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/idp/throttle"
	"github.com/twofold-idp/twofold/storage"
)

// Factor is one second-factor method.
type Factor interface {
	// Method is the name policies, pages and the audit trail use.
	Method() policy.Method
	// Enrolled says how many of this factor the user has, from the counts
	// the registry reads once for all factors.
	Enrolled(c storage.FactorCounts) int
	// Begin starts a challenge: the JSON the page's script needs (WebAuthn),
	// or nil for a factor that needs none (codes).
	Begin(ctx context.Context, user *storage.User, c Challenge) ([]byte, error)
	// Verify checks what the person gave — a code, or the script's JSON —
	// in the challenge c, and returns the factor proven, with its amr.
	// idp.ErrInvalidCode or idp.ErrWebAuthn when it fails.
	Verify(ctx context.Context, user *storage.User, c Challenge, input []byte) (storage.SessionFactor, error)
	// OneTimeCode: failures count toward the throttle that the one-time-code
	// factors share (NIST SP 800-63B §5.2.2).
	OneTimeCode() bool
	// Enrollable: a user may enroll it on its own (backup codes come with
	// another factor).
	Enrollable() bool
	// PhishingResistant: proven with user verification, it reaches phr.
	PhishingResistant() bool
}

// Challenge is what the level being reached demands of a challenge, and
// what the challenge is for.
type Challenge struct {
	RequireUV          bool // the authenticator must verify the user (phr)
	RequireDeviceBound bool // only device-bound credentials (phrh)
	// For is the sign-in (authorization request id) the challenge belongs
	// to: a code sent for it proves nothing in another one.
	For string
	// ClientIP is the address of the browser, which the sending limits count
	// (idp.Browser.IP).
	ClientIP string
}

// Sender is a factor whose one-time code Twofold sends to the user (by
// mail, by SMS): its challenge starts with a send.
type Sender interface {
	Factor
	// Send sends a new code for the sign-in c.For, which replaces any code
	// sent before — unless resend is false and the code sent earlier for
	// that sign-in is still good: then it sends nothing. Errors: an
	// *idp.ThrottledError when a sending limit refuses (nothing was sent,
	// the earlier code still works), channels.ErrSendFailed when the mail
	// server or the SMS gateway did not take it.
	Send(ctx context.Context, user *storage.User, c Challenge, resend bool) (idp.CodeSent, error)
}

// Managed is a factor the user adds, names and removes on the account
// pages (backup codes are a set, not a managed factor).
type Managed interface {
	Factor
	List(ctx context.Context, userID string) ([]idp.FactorView, error)
	Rename(ctx context.Context, userID, id, name string) error
	Remove(ctx context.Context, userID, id string) error
}

// Store counts a user's factors.
type Store interface {
	CountSecondFactors(ctx context.Context, userID string) (storage.FactorCounts, error)
}

// OTP-type factors (TOTP, backup codes and the email and SMS codes together,
// NIST SP 800-63B §5.2.2) share one counter per user: 5 attempts, then one more every 15
// minutes; a success forgets them. Counted before the code is checked.
var otpRule = throttle.Rule{Burst: 5, Every: 15 * time.Minute, ForgetOnSuccess: true}

// Registry holds every factor, most phishing-resistant first.
type Registry struct {
	factors  []Factor
	store    Store
	throttle *throttle.Limiter
	audit    idp.Auditor
}

// NewRegistry holds factors in the order given (most phishing-resistant
// first: the order pages offer them in).
func NewRegistry(store Store, limiter *throttle.Limiter, audit idp.AuditStore, logger *slog.Logger, factors ...Factor) *Registry {
	return &Registry{factors: factors, store: store, throttle: limiter, audit: idp.Auditor{Store: audit, Log: logger}}
}

// Get returns the factor of method m.
func (r *Registry) Get(m policy.Method) (Factor, bool) {
	for _, f := range r.factors {
		if f.Method() == m {
			return f, true
		}
	}
	return nil, false
}

// Find returns the registered factor of type T (nil when there is none):
// the way to a factor's own steps beyond Factor — enrolling an
// authenticator app, a passkey sign-in, issuing backup codes.
func Find[T Factor](r *Registry) T {
	var zero T
	for _, f := range r.factors {
		if t, ok := f.(T); ok {
			return t
		}
	}
	return zero
}

// Managed lists the factors users manage on the account pages.
func (r *Registry) Managed() []Managed {
	var out []Managed
	for _, f := range r.factors {
		if m, ok := f.(Managed); ok {
			out = append(out, m)
		}
	}
	return out
}

// Methods describes the registered factors to policy.Decide.
func (r *Registry) Methods() policy.Methods {
	var m policy.Methods
	for _, f := range r.factors {
		if f.Enrollable() {
			m.Enrollable = append(m.Enrollable, f.Method())
		}
		if f.PhishingResistant() {
			m.PhishingResistant = append(m.PhishingResistant, f.Method())
		}
	}
	return m
}

// Enrollment is what a user has enrolled.
type Enrollment struct {
	Methods []policy.Method // usable now, most phishing-resistant first
	Managed int             // how many managed factors (not counting backup codes)
	Counts  storage.FactorCounts
}

// Has reports whether m is among the enrolled methods.
func (e Enrollment) Has(m policy.Method) bool {
	for _, x := range e.Methods {
		if x == m {
			return true
		}
	}
	return false
}

// Enrolled reads what the user has, in one query.
func (r *Registry) Enrolled(ctx context.Context, userID string) (Enrollment, error) {
	c, err := r.store.CountSecondFactors(ctx, userID)
	if err != nil {
		return Enrollment{}, err
	}
	e := Enrollment{Counts: c}
	for _, f := range r.factors {
		n := f.Enrolled(c)
		if n == 0 {
			continue
		}
		e.Methods = append(e.Methods, f.Method())
		if _, ok := f.(Managed); ok {
			e.Managed += n
		}
	}
	return e, nil
}

// ErrUnknownMethod: no factor of that name.
var ErrUnknownMethod = errors.New("factors: unknown method")

// Verify checks input for method m. One-time-code factors run under the
// per-user throttle they share: while locked, even the right code is
// refused.
func (r *Registry) Verify(ctx context.Context, user *storage.User, m policy.Method, c Challenge, input []byte) (storage.SessionFactor, error) {
	f, ok := r.Get(m)
	if !ok {
		return storage.SessionFactor{}, ErrUnknownMethod
	}
	if !f.OneTimeCode() {
		return f.Verify(ctx, user, c, input)
	}
	var proof storage.SessionFactor
	err := r.CheckOTP(ctx, user.ID, m, func() error {
		var err error
		proof, err = f.Verify(ctx, user, c, input)
		return err
	})
	return proof, err
}

// OTPThrottleKey is the key under which failed one-time codes (TOTP, backup
// codes, email and SMS codes together) of the user with id are counted.
func OTPThrottleKey(userID string) string { return "otp:user:" + userID }

// CheckOTP runs verify under the per-user throttle of the one-time-code
// factors: the attempt is counted first, and verify runs only if the
// counter admits it.
func (r *Registry) CheckOTP(ctx context.Context, userID string, m policy.Method, verify func() error) error {
	actor := idp.UserActor(userID)
	attempt, err := r.throttle.Begin(ctx, throttle.Limit{Key: OTPThrottleKey(userID), Rule: otpRule})
	var throttled *idp.ThrottledError
	if errors.As(err, &throttled) {
		r.audit.Record(ctx, actor, "mfa.throttled", userID, map[string]any{"method": m})
	}
	if err != nil {
		return err
	}
	err = verify()
	switch {
	case errors.Is(err, idp.ErrInvalidCode): // the attempt stays counted
		r.audit.Record(ctx, actor, "mfa.failed", userID, map[string]any{"method": m})
	case err == nil:
		attempt.Succeeded(ctx)
		r.audit.Record(ctx, actor, "mfa.used", userID, map[string]any{"method": m})
	default:
		attempt.Release(ctx)
	}
	return err
}

// proof is a proven factor at a time.
func proof(m policy.Method, at time.Time, amr ...string) storage.SessionFactor {
	return storage.SessionFactor{Method: string(m), At: at, AMR: amr}
}
