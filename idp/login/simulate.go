package login

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/idp/session"
	"github.com/twofold-idp/twofold/storage"
)

// Simulation is a sign-in to simulate: who signs in where, what the
// application asks, and what the browser brings. It is what the admin
// console and API post, and what `twofold policy explain` builds from its
// flags.
type Simulation struct {
	// User is the user's id or username.
	User string `json:"user"`
	// ClientID is the client (relying party) signed in to.
	ClientID string `json:"client_id"`
	// ACRValues is the acr_values request parameter, split at spaces.
	ACRValues []string `json:"acr_values,omitempty"`
	// Claims is the claims request parameter, JSON as the application sends
	// it (OIDC Core §5.5); checked as /authorize checks it.
	Claims string `json:"claims,omitempty"`
	// MaxAge is the max_age request parameter in seconds; nil: not sent.
	MaxAge *int64 `json:"max_age,omitempty"`
	// Prompt is the prompt request parameter, split at spaces (none,
	// login, consent, select_account).
	Prompt []string `json:"prompt,omitempty"`
	// RememberedDeviceAge is how long ago the remembered-device cookie the
	// browser presents was set, in seconds; nil: the browser presents none.
	RememberedDeviceAge *int64 `json:"remembered_device_age,omitempty"`
	// Session lists the factors the browser's SSO session has proven; empty:
	// the browser has no session.
	Session []SimulatedFactor `json:"session,omitempty"`
}

// SimulatedFactor is a factor the simulated session proved.
type SimulatedFactor struct {
	// Method is pwd, passkey (a passkey sign-in), or a second factor
	// (totp, webauthn, backup_code, email, sms).
	Method string `json:"method"`
	// Age is how long ago it was proven, in seconds. An age of 0 is "during
	// this request": it already satisfies prompt=login and max_age.
	Age int64 `json:"age"`
	// UserVerified: WebAuthn with user verification (a passkey sign-in is).
	UserVerified bool `json:"user_verified,omitempty"`
	// DeviceBound: a device-bound WebAuthn credential (phrh).
	DeviceBound bool `json:"device_bound,omitempty"`
}

// Outcome is what a simulated sign-in ends with.
type Outcome string

const (
	// OutcomeNone: nothing more is asked (after the sign-in, when SignIn);
	// the code is issued with the acr in SimulationResult.ACR.
	OutcomeNone Outcome = "none"
	// OutcomeSecondFactor: the person proves one of Methods.
	OutcomeSecondFactor Outcome = "second_factor"
	// OutcomeEnrollment: the person is sent to enroll one of Methods.
	OutcomeEnrollment Outcome = "enrollment"
	// OutcomeUnmet: the application gets unmet_authentication_requirements.
	OutcomeUnmet Outcome = "unmet_authentication_requirements"
	// OutcomeLoginRequired and OutcomeInteractionRequired: prompt=none,
	// and a page would be needed (OIDC Core §3.1.2.6).
	OutcomeLoginRequired       Outcome = "login_required"
	OutcomeInteractionRequired Outcome = "interaction_required"
)

// SimulationResult is what a simulated sign-in would do, and why.
type SimulationResult struct {
	User   SimulatedUser   `json:"user"`
	Client SimulatedClient `json:"client"`
	// Policies are the effective policies, each with where it is attached.
	Policies []EffectivePolicy `json:"policies"`
	// SignIn: the person is first asked to sign in (password or passkey);
	// SignInReason and SignInRules say why. The rest of the result is what
	// follows a password sign-in now.
	SignIn       bool          `json:"sign_in"`
	SignInReason string        `json:"sign_in_reason,omitempty"`
	SignInRules  []policy.Rule `json:"sign_in_rules,omitempty"`
	// Rules are every rule that contributed to the decision.
	Rules []policy.Rule `json:"rules"`
	// LevelReached is what the session proves (after the sign-in, when
	// SignIn), counting only the factors the policies allow; LevelRequired
	// what the sign-in must reach. acr values.
	LevelReached  string `json:"level_reached"`
	LevelRequired string `json:"level_required"`
	// MethodsAllowed are the second factors every applicable policy allows
	// (the intersection): only these count.
	MethodsAllowed []string `json:"methods_allowed"`
	Outcome        Outcome  `json:"outcome"`
	// Methods: OutcomeSecondFactor, the factors offered; OutcomeEnrollment,
	// the factors that may be enrolled.
	Methods []string `json:"methods,omitempty"`
	// EnrollAfter: the person proves a factor they have (Methods) before
	// enrolling one of these, which the policies require.
	EnrollAfter []string `json:"enroll_after,omitempty"`
	// RequireUserVerification: the WebAuthn check must verify the user.
	RequireUserVerification bool `json:"require_user_verification,omitempty"`
	// ACR is the acr claim of the ID token (OutcomeNone).
	ACR string `json:"acr,omitempty"`
	// RememberedDeviceUsed: the remembered device stood in for the second
	// factor.
	RememberedDeviceUsed bool `json:"remembered_device_used,omitempty"`
	// EnrollLater: OutcomeEnrollment, the user's enrollment grace lets them
	// put it off ("Not now"): what is left of it, in words.
	EnrollLater string `json:"enroll_later,omitempty"`
	// Reason is the decision's reason, in an admin's words.
	Reason string `json:"reason"`
	// Summary says in one sentence what the person would be asked.
	Summary string `json:"summary"`
	// Explanation is the compact form the audit trail keeps for a real
	// sign-in.
	Explanation []string `json:"explanation"`
}

// SimulatedUser is the user simulated.
type SimulatedUser struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
	// Enrolled are the second factors the user has.
	Enrolled []string `json:"enrolled"`
}

// SimulatedClient is the client simulated.
type SimulatedClient struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// EffectivePolicy is one applicable policy and where it is attached.
type EffectivePolicy struct {
	Name           string            `json:"name"`
	Via            policy.Attachment `json:"via"`
	RequireMFA     string            `json:"require_mfa"`
	MinLevel       string            `json:"min_level,omitempty"`
	Methods        []string          `json:"methods"`
	MFAMaxAge      int64             `json:"mfa_max_age"`     // seconds, 0: none
	RememberDevice int64             `json:"remember_device"` // seconds, 0: off
	Enrollment     string            `json:"enrollment"`
	Clients        []string          `json:"clients,omitempty"`
	// The enrollment grace: seconds (0: none by time) and sign-ins (0: none by count).
	EnrollmentGrace        int64 `json:"enrollment_grace,omitempty"`
	EnrollmentGraceSignIns int   `json:"enrollment_grace_sign_ins,omitempty"`
}

// maxSimulatedAge bounds the ages a simulation takes (ten years).
const maxSimulatedAge = 10 * 365 * 24 * 3600

// Simulate says what a sign-in would ask and why, without signing anyone
// in: it runs the lookups and the decision code of real sign-ins (the
// effective policies, the factor registry, policy.Decide through
// policy.Explain, the mapping to pages) on a synthetic request, session
// and remembered device, and writes nothing — no audit event, no device
// use, no request row. The simulated session is taken as live (idle and
// absolute session lifetimes are not simulated), and the pages that do not
// depend on the policy (consent, backup codes shown once) are left out.
// Input problems are *idp.InputError naming the field (user, client_id,
// claims, max_age, prompt, session[i].method, …).
func (f *Flow) Simulate(ctx context.Context, sim Simulation) (SimulationResult, error) {
	user, client, err := f.simulated(ctx, sim)
	if err != nil {
		return SimulationResult{}, err
	}
	now := f.now()
	ar, err := simulatedRequest(sim, client.ID, now)
	if err != nil {
		return SimulationResult{}, err
	}
	sess, err := simulatedSession(sim.Session, user.ID, now)
	if err != nil {
		return SimulationResult{}, err
	}
	var rememberedAt *time.Time
	if a := sim.RememberedDeviceAge; a != nil {
		if *a < 0 || *a > maxSimulatedAge {
			return SimulationResult{}, idp.InputErrorf("remembered_device_age", "must be between 0 and %d seconds", maxSimulatedAge)
		}
		t := now.Add(-time.Duration(*a) * time.Second)
		rememberedAt = &t
	}
	in, enrolled, err := f.policyInput(ctx, client, user)
	if err != nil {
		return SimulationResult{}, err
	}
	in.Now, in.RememberedAt = now, rememberedAt
	explain := func(sess *storage.Session) policy.Explanation {
		in := in
		in.Request, in.Session = policyRequest(ar, sess), session.PolicyView(sess)
		return policy.Explain(in)
	}

	res := SimulationResult{
		User:   SimulatedUser{ID: user.ID, Username: user.Username, Groups: nonNil(user.Groups), Enrolled: methodNames(enrolled.Methods)},
		Client: SimulatedClient{ID: client.ID, Name: client.Name}, Policies: []EffectivePolicy{},
	}
	for _, n := range in.Policies {
		res.Policies = append(res.Policies, effectivePolicy(n))
	}
	interactive := !slices.Contains(ar.Prompt, oidc.PromptNone)
	presented := sess
	sess = usableSession(ar, sess, interactive)
	ex := explain(sess)
	if ex.Decision.Need == policy.NeedFirstFactor {
		res.SignInReason = ex.Decision.Reason
		if presented != nil && sess == nil {
			res.SignInReason = "the application asked to choose the account again (prompt=select_account)"
		}
		for _, r := range ex.Rules {
			if r.Source == policy.SourceRequest || r.Source == policy.SourceSession {
				res.SignInRules = append(res.SignInRules, r)
			}
		}
		if !interactive {
			res.fill(ex, asked{kind: askSignIn}, false)
			return res, nil
		}
		// What a password sign-in now leads to: a new session, as
		// SubmitPassword starts one, that never inherits the old factors.
		res.SignIn = true
		sess = &storage.Session{UserID: user.ID, AuthTime: now, CreatedAt: now,
			Factors: storage.SessionFactors{{Method: policy.FactorPassword, At: now, AMR: []string{"pwd"}}}}
		ex = explain(sess)
	}
	res.fill(ex, f.ask(ex.Decision, enrolled, sess), interactive)
	if v := voluntaryACR(ar.Claims); len(v) > 0 {
		// Said, so that an admin does not expect it to count.
		res.Rules = append(res.Rules, policy.Rule{Source: policy.SourceRequest, Field: "acr_claim", Value: strings.Join(v, " "),
			Effect: "not acted on: sign-ins read acr_values and an essential acr claim, not a voluntary acr claim"})
	}
	return res, nil
}

// simulated loads the user and the client a simulation names.
func (f *Flow) simulated(ctx context.Context, sim Simulation) (*storage.User, *storage.Client, error) {
	name := strings.TrimSpace(sim.User)
	if name == "" {
		return nil, nil, idp.InputErrorf("user", "must name a user (id or username)")
	}
	user, err := f.store.GetUser(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		user, err = f.store.GetUserByUsername(ctx, name)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, idp.InputErrorf("user", "no user has the id or username %q", name)
	}
	if err != nil {
		return nil, nil, err
	}
	if user.Disabled {
		return nil, nil, idp.InputErrorf("user", "%s is disabled: every sign-in is refused", user.Username)
	}
	id := strings.TrimSpace(sim.ClientID)
	if id == "" {
		return nil, nil, idp.InputErrorf("client_id", "must name a client")
	}
	client, err := f.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, idp.InputErrorf("client_id", "no enabled client has the id %q", id)
	}
	if err != nil {
		return nil, nil, err
	}
	return user, client, nil
}

// simulatedRequest is the authorization request /authorize would store
// for sim's parameters, checked as /authorize checks them.
func simulatedRequest(sim Simulation, clientID string, now time.Time) (*storage.AuthRequest, error) {
	for i, v := range sim.ACRValues {
		if v == "" || strings.ContainsAny(v, " \t\n") {
			return nil, idp.InputErrorf(fmt.Sprintf("acr_values[%d]", i), "must be one value without spaces")
		}
	}
	if CheckClaims(sim.Claims) != nil {
		return nil, idp.InputErrorf("claims", "is not a JSON object")
	}
	for i, p := range sim.Prompt {
		switch p {
		case oidc.PromptNone, oidc.PromptLogin, oidc.PromptConsent, oidc.PromptSelectAccount:
		default:
			return nil, idp.InputErrorf(fmt.Sprintf("prompt[%d]", i), "%q is not none, login, consent or select_account", p)
		}
	}
	var maxAge *uint
	if sim.MaxAge != nil {
		if *sim.MaxAge < 0 || *sim.MaxAge > maxSimulatedAge {
			return nil, idp.InputErrorf("max_age", "must be between 0 and %d seconds", maxSimulatedAge)
		}
		m := uint(*sim.MaxAge)
		maxAge = &m
	}
	// The library call /authorize makes: prompt=none alone, and
	// prompt=login as max_age=0.
	maxAge, err := op.ValidateAuthReqPrompt(sim.Prompt, maxAge)
	if err != nil {
		return nil, idp.InputErrorf("prompt", "none must be the only value")
	}
	ar := &storage.AuthRequest{
		ClientID: clientID, Claims: sim.Claims, ACRValues: storage.Strings(sim.ACRValues), Prompt: storage.Strings(sim.Prompt),
		CreatedAt: now,
	}
	if maxAge != nil {
		v := int64(*maxAge)
		ar.MaxAgeSeconds = &v
	}
	return ar, nil
}

// simulatedSession is a session that proved factors (nil: none).
func simulatedSession(fs []SimulatedFactor, userID string, now time.Time) (*storage.Session, error) {
	if len(fs) == 0 {
		return nil, nil
	}
	sess := &storage.Session{UserID: userID}
	first := false
	for i, sf := range fs {
		field := fmt.Sprintf("session[%d]", i)
		switch policy.Method(sf.Method) {
		case policy.FactorPassword, policy.FactorPasskey:
			first = true
		case policy.TOTP, policy.BackupCode, policy.Email, policy.SMS:
			if sf.UserVerified || sf.DeviceBound {
				return nil, idp.InputErrorf(field+".user_verified", "only WebAuthn verifies the user")
			}
		case policy.WebAuthn:
			first = first || sf.UserVerified // itself two factors
		default:
			return nil, idp.InputErrorf(field+".method", "%q is not pwd, passkey, totp, webauthn, backup_code, email or sms", sf.Method)
		}
		if sf.Age < 0 || sf.Age > maxSimulatedAge {
			return nil, idp.InputErrorf(field+".age", "must be between 0 and %d seconds", maxSimulatedAge)
		}
		at := now.Add(-time.Duration(sf.Age) * time.Second)
		uv := sf.UserVerified || sf.Method == policy.FactorPasskey
		sess.Factors = append(sess.Factors, storage.SessionFactor{Method: sf.Method, At: at, UserVerified: uv, DeviceBound: sf.DeviceBound})
		if at.After(sess.AuthTime) {
			sess.AuthTime = at
		}
		if sess.CreatedAt.IsZero() || at.Before(sess.CreatedAt) {
			sess.CreatedAt = at
		}
	}
	if !first {
		// Every session starts with a first factor (SubmitPassword, passkey sign-in).
		return nil, idp.InputErrorf("session", "must hold a first factor (pwd or passkey)")
	}
	return sess, nil
}

// fill records explanation ex and what the person is asked (a).
func (r *SimulationResult) fill(ex policy.Explanation, a asked, interactive bool) {
	d := ex.Decision
	r.Rules, r.Explanation = ex.Rules, ex.Compact()
	r.LevelReached, r.LevelRequired = d.Level.String(), d.Target.String()
	r.MethodsAllowed = nonNil(methodNames(ex.Allowed))
	r.Reason = d.Reason
	switch a.kind {
	case askNothing:
		r.Outcome, r.ACR, r.RememberedDeviceUsed = OutcomeNone, d.ACR, d.DeviceUsed
		r.LevelRequired = d.Target.String()
	case askSignIn:
		r.Outcome = OutcomeLoginRequired // only without interaction: otherwise Simulate signs in
	case askUnmet:
		r.Outcome = OutcomeUnmet
	case askSecondFactor, askEnroll:
		r.Outcome, r.Methods, r.RequireUserVerification = OutcomeSecondFactor, methodNames(a.methods), a.uv
		if a.kind == askEnroll {
			r.Outcome = OutcomeEnrollment
			if d.Grace != nil {
				r.EnrollLater = d.Grace.Words()
			}
		} else if d.Need == policy.NeedEnrollment {
			r.EnrollAfter = methodNames(d.Methods)
		}
		if !interactive {
			// No page is shown: the application gets the error.
			r.Outcome, r.Methods, r.EnrollAfter, r.RequireUserVerification, r.EnrollLater = OutcomeInteractionRequired, nil, nil, false, ""
		}
	}
	r.Summary = r.summary()
}

func (r *SimulationResult) summary() string {
	var b strings.Builder
	if r.SignIn {
		fmt.Fprintf(&b, "Asked to sign in (%s), then ", r.SignInReason)
	}
	switch r.Outcome {
	case OutcomeNone:
		if r.SignIn {
			b.WriteString("nothing more")
		} else {
			b.WriteString("Nothing is asked (silent sign-in)")
		}
		fmt.Fprintf(&b, ": the application gets acr %s", r.ACR)
		if r.RememberedDeviceUsed {
			b.WriteString("; the remembered device stands in for the second factor")
		}
	case OutcomeSecondFactor:
		fmt.Fprintf(&b, "a second factor: one of %s", strings.Join(r.Methods, ", "))
		if r.RequireUserVerification {
			b.WriteString(" with user verification")
		}
		if len(r.EnrollAfter) > 0 {
			fmt.Fprintf(&b, ", to prove it is them before enrolling one of %s", strings.Join(r.EnrollAfter, ", "))
		}
	case OutcomeEnrollment:
		fmt.Fprintf(&b, "sent to enroll a second factor: one of %s", strings.Join(r.Methods, ", "))
		if r.EnrollLater != "" {
			fmt.Fprintf(&b, ", which the enrollment grace lets them put off (%s)", r.EnrollLater)
		}
	case OutcomeUnmet:
		fmt.Fprintf(&b, "the application gets unmet_authentication_requirements: %s", r.Reason)
	case OutcomeLoginRequired:
		fmt.Fprintf(&b, "The application gets login_required (prompt=none): %s", r.SignInReason)
	case OutcomeInteractionRequired:
		fmt.Fprintf(&b, "The application gets interaction_required (prompt=none): %s", r.Reason)
	}
	s := b.String()
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

func effectivePolicy(n policy.Named) EffectivePolicy {
	p := n.Policy.WithDefaults()
	ep := EffectivePolicy{
		Name: p.Name, Via: n.Via, RequireMFA: string(p.RequireMFA), Methods: methodNames(p.Methods),
		MFAMaxAge: int64(p.MFAMaxAge / time.Second), RememberDevice: int64(p.RememberDevice / time.Second),
		Enrollment: string(p.Enrollment), Clients: p.Clients,
		EnrollmentGrace: int64(p.EnrollmentGrace / time.Second), EnrollmentGraceSignIns: p.EnrollmentGraceSignIns,
	}
	if p.MinLevel > policy.LevelNone {
		ep.MinLevel = p.MinLevel.String()
	}
	return ep
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
