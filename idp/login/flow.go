package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/factors"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/idp/session"
	"github.com/twofold-idp/twofold/idp/throttle"
	"github.com/twofold-idp/twofold/storage"
)

// Store is what the login flow keeps in the database.
type Store interface {
	directory.PolicyStore
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error
	GetAuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error)
	DeleteAuthRequest(ctx context.Context, id string) error
	BindAuthRequest(ctx context.Context, id, browserHash string) error
	SwapAuthRequestDecision(ctx context.Context, id, decision string) (bool, error)
	CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string, acr string) error
	// The enrollment grace.
	CountGraceSignIn(ctx context.Context, userID string) (time.Time, int, error)
	SkipEnrollment(ctx context.Context, sessionID string) error
	SetAuthRequestConsent(ctx context.Context, id string) error
	SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
	GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error)
	SaveConsent(ctx context.Context, c *storage.Consent) error
	CreateRememberedDevice(ctx context.Context, d *storage.RememberedDevice) error
	UseRememberedDevice(ctx context.Context, userID, tokenHash string) (*storage.RememberedDevice, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error

	// Issue 11: known devices (new-device notifications) and lifting the
	// "this wasn't me" block.
	SeeKnownDevice(ctx context.Context, userID, tokenHash string, expiresAt time.Time) (isNew, hadOthers bool, err error)
	SetChangesBlocked(ctx context.Context, userID string, at *time.Time) error
}

var _ Store = (*storage.Store)(nil)

// Authenticator checks a username and password.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (directory.User, error)
}

// Lifetimes of the single-use steps of a login.
const (
	AuthRequestTTL = 30 * time.Minute
	CodeTTL        = 60 * time.Second
)

// Flow runs logins.
type Flow struct {
	issuer   string
	store    Store
	users    Authenticator
	sessions *session.Service
	factors  *factors.Registry
	throttle *throttle.Limiter
	audit    idp.Auditor
	log      *slog.Logger
	now      func() time.Time
	out      Outbound
	// recovery is the lost-factor recovery (nil: off; see WithRecovery).
	recovery Recoveries
}

// Option tunes a Flow.
type Option func(*Flow)

// New wires the login flow. now may be nil (time.Now).
func New(issuer string, store Store, users Authenticator, sessions *session.Service, reg *factors.Registry, limiter *throttle.Limiter, logger *slog.Logger, now func() time.Time, opts ...Option) *Flow {
	if now == nil {
		now = time.Now
	}
	f := &Flow{
		issuer: issuer, store: store, users: users, sessions: sessions, factors: reg, throttle: limiter,
		audit: idp.Auditor{Store: store, Log: logger}, log: logger, now: now,
	}
	for _, o := range opts {
		o(f)
	}
	return f
}

// Start stores a validated authorization request (bound to the browser by
// row.BrowserHash) and answers where the browser goes: the login page, or —
// for prompt=none — the answer itself, without showing any page (OIDC Core
// §3.1.2.6).
func (f *Flow) Start(ctx context.Context, row *storage.AuthRequest, b idp.Browser) (string, error) {
	now := f.now()
	row.ID, row.CreatedAt, row.ExpiresAt = idp.RandomToken(16), now, now.Add(AuthRequestTTL)
	if err := f.store.CreateAuthRequest(ctx, row); err != nil {
		return "", oidc.ErrServerError().WithParent(err)
	}
	if slices.Contains(row.Prompt, oidc.PromptNone) {
		step, err := f.next(ctx, row, b, false)
		if err != nil {
			// Answered at the client: nothing resumes this request, and it
			// must not count against its address's pending sign-ins (a
			// silent renewal polling while signed out would use them up).
			if derr := f.store.DeleteAuthRequest(ctx, row.ID); derr != nil {
				f.log.WarnContext(ctx, "delete a refused prompt=none request", "err", derr)
			}
			return "", err
		}
		return step.RedirectURL, nil
	}
	return "/login?id=" + url.QueryEscape(row.ID), nil
}

// loadAuthRequest finds a live request and checks it belongs to b.
func (f *Flow) loadAuthRequest(ctx context.Context, id string, b idp.Browser) (*storage.AuthRequest, error) {
	ar, err := f.store.GetAuthRequest(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, idp.ErrAuthRequestNotFound
	}
	if err != nil {
		return nil, err
	}
	if b.BindingCookie == "" {
		return nil, idp.ErrWrongBrowser
	}
	h := idp.HashSecret(b.BindingCookie)
	if ar.BrowserHash == "" {
		if err := f.store.BindAuthRequest(ctx, id, h); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return nil, idp.ErrWrongBrowser
			}
			return nil, err
		}
		ar.BrowserHash = h
	}
	if subtle.ConstantTimeCompare([]byte(ar.BrowserHash), []byte(h)) != 1 {
		return nil, idp.ErrWrongBrowser
	}
	return ar, nil
}

// Resume decides the next step of a login when the browser (re)opens the
// login page: a live session that satisfies the request completes it
// silently (SSO); otherwise a page is shown.
func (f *Flow) Resume(ctx context.Context, id string, b idp.Browser) (idp.Step, error) {
	ar, err := f.loadAuthRequest(ctx, id, b)
	if err != nil {
		return idp.Step{}, err
	}
	if ar.Done {
		return idp.Step{Kind: idp.StepRedirect, AuthRequestID: id, RedirectURL: f.callbackURL(id)}, nil
	}
	step, err := f.next(ctx, ar, b, true)
	if err == nil && step.Kind == idp.StepBackupCodes {
		// Made here, on the page view that shows them: shown exactly once.
		sess, _, err := f.sessions.LoadFor(ctx, b.SessionCookie, id)
		if err != nil || sess == nil {
			return idp.Step{}, idp.ErrAuthRequestNotFound
		}
		if step.BackupCodes, err = factors.Find[*factors.BackupCodes](f.factors).Issue(ctx, sess.UserID); err != nil {
			return idp.Step{}, err
		}
	}
	return step, err
}

func (f *Flow) callbackURL(id string) string {
	return f.issuer + "/authorize/callback?id=" + url.QueryEscape(id)
}

// next is the login state machine: from the request, the browser's
// session and the step-up policy it decides what must still happen.
// interactive=false is prompt=none: any needed page becomes an error.
func (f *Flow) next(ctx context.Context, ar *storage.AuthRequest, b idp.Browser, interactive bool) (idp.Step, error) {
	client, err := f.store.GetClient(ctx, ar.ClientID)
	if err != nil {
		return idp.Step{}, err
	}
	step := idp.Step{AuthRequestID: ar.ID, Client: idp.ClientInfo{ID: client.ID, Name: client.Name}}
	sess, user, err := f.sessions.LoadFor(ctx, b.SessionCookie, ar.ID)
	if err != nil {
		return idp.Step{}, err
	}
	sess = usableSession(ar, sess, interactive)
	login := func() (idp.Step, error) {
		if !interactive {
			return idp.Step{}, oidc.ErrLoginRequired().WithDescription("The user must sign in.")
		}
		step.Kind, step.LoginHint = idp.StepPassword, ar.LoginHint
		return step, nil
	}
	if sess == nil {
		return login()
	}
	dd, err := f.decide(ctx, ar, client, user, sess, b)
	if err != nil {
		return idp.Step{}, err
	}
	f.recordDecision(ctx, ar, user.ID, dd)
	d, enrolled := dd.Decision, dd.enrolled
	switch a := f.ask(d, enrolled, sess); a.kind {
	case askSignIn:
		return login()
	case askUnmet:
		return unmet(ar, f.issuer, interactive)
	case askSecondFactor, askEnroll:
		if !interactive {
			return idp.Step{}, oidc.ErrInteractionRequired().WithDescription("The user must prove a second factor.")
		}
		step.Reason = userReason(d)
		step.Kind, step.Methods, step.RequireUV, step.RememberDevice = idp.StepSecondFactor, methodNames(a.methods), a.uv, a.remember
		if a.kind == askEnroll {
			step.Kind = idp.StepEnroll
			if d.Grace != nil {
				step.EnrollLater = d.Grace.Words()
			}
		} else if step.Recovery, err = f.recoveryStatus(ctx, user.ID); err != nil {
			return idp.Step{}, err
		}
		return step, nil
	}
	// The policy is met; one may also require a verified email first.
	if s, asked, err := f.emailGate(ctx, ar, user, dd.in.Policies, step, interactive); asked || err != nil {
		return s, err
	}
	// The session is one for everything from now on, whatever the rest of
	// this sign-in (backup codes, consent) brings.
	completed := sess.PendingRequest != nil
	if err := f.sessions.Complete(ctx, sess); err != nil {
		return idp.Step{}, err
	}
	f.signedIn(ctx, user, sess, enrolled, b, completed)
	// A user with a second factor but no backup codes gets a set now —
	// recovery must never be a dead end — shown once by the next page.
	if interactive && !enrolled.Has(policy.BackupCode) && enrolled.Managed > 0 && session.FreshSecondFactor(sess, f.now(), session.FreshProof) {
		step.Kind = idp.StepBackupCodes
		return step, nil
	}
	if !ar.ConsentGiven {
		need, err := f.needsConsent(ctx, ar, client, user.ID)
		if err != nil {
			return idp.Step{}, err
		}
		if need {
			if !interactive {
				e := oidc.ErrInteractionRequired().WithDescription("The user must consent.")
				e.ErrorType = "consent_required"
				return idp.Step{}, e
			}
			step.Kind, step.Scopes = idp.StepConsent, ar.Scopes
			return step, nil
		}
	}
	amr := session.AMR(sess, d, f.now())
	if err := f.store.CompleteAuthRequest(ctx, ar.ID, user.ID, sess.ID, sess.AuthTime, amr, d.ACR); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return idp.Step{}, err
	}
	f.sessions.Touch(ctx, sess)
	step.Kind, step.RedirectURL = idp.StepRedirect, f.callbackURL(ar.ID)
	return step, nil
}

// usableSession is sess as the sign-in of ar may use it: none when the
// relying party expects another user (id_token_hint), or when the person is
// to choose the account again (prompt=select_account).
func usableSession(ar *storage.AuthRequest, sess *storage.Session, interactive bool) *storage.Session {
	if sess != nil && ar.IDTokenHintSubject != "" && sess.UserID != ar.IDTokenHintSubject {
		return nil // the relying party expects another user
	}
	if sess != nil && interactive && slices.Contains(ar.Prompt, oidc.PromptSelectAccount) && sess.AuthTime.Before(ar.CreatedAt) {
		return nil // let the person choose (sign in) again
	}
	return sess
}

type askKind int

const (
	askNothing      askKind = iota // the policy is met
	askSignIn                      // the first factor
	askSecondFactor                // one of methods
	askEnroll                      // enroll one of methods
	askUnmet                       // unmet_authentication_requirements
)

// asked is what the person is asked after a decision.
type asked struct {
	kind     askKind
	methods  []policy.Method
	uv       bool          // WebAuthn must verify the user
	remember time.Duration // askSecondFactor: how long the device may be remembered (0: not offered)
}

// ask turns decision d for sess into what the person is asked: the one
// mapping real sign-ins (next) and the simulator share.
func (f *Flow) ask(d policy.Decision, enrolled factors.Enrollment, sess *storage.Session) asked {
	switch d.Need {
	case policy.NeedFirstFactor:
		return asked{kind: askSignIn}
	case policy.NeedImpossible:
		return asked{kind: askUnmet}
	case policy.NeedSecondFactor, policy.NeedEnrollment:
		if methods, uv := f.challenge(d, enrolled, sess); methods != nil {
			a := asked{kind: askSecondFactor, methods: methods, uv: uv}
			if d.Need == policy.NeedSecondFactor {
				a.remember = d.RememberFor
			}
			return a
		}
		return asked{kind: askEnroll, methods: d.Methods, uv: d.RequireUV}
	}
	return asked{kind: askNothing}
}

// challenge says which second factors the flow asks for now (nil: none, so
// enrollment) and whether WebAuthn must verify the user: the ones the
// decision names, or — before enrolling another factor — a fresh proof of
// one the user has, so a stolen password cannot plant an authenticator.
func (f *Flow) challenge(d policy.Decision, enrolled factors.Enrollment, sess *storage.Session) ([]policy.Method, bool) {
	switch {
	case d.Need == policy.NeedSecondFactor:
		return d.Methods, d.RequireUV
	case d.Need == policy.NeedEnrollment && len(proofMethods(d, enrolled)) > 0 && !session.FreshSecondFactor(sess, f.now(), session.FreshProof):
		return proofMethods(d, enrolled), false
	}
	return nil, false
}

// proofMethods are the factors the user has that may prove it is them
// before enrolling another: any they have, whether this sign-in's policies
// allow it or not, except an opt-in one (email, sms codes) those policies
// do not list — a code to an address is no proof where the administrator
// did not turn it on.
func proofMethods(d policy.Decision, enrolled factors.Enrollment) []policy.Method {
	var out []policy.Method
	for _, m := range enrolled.Methods {
		if !m.OptIn() || slices.Contains(d.Allowed, m) {
			out = append(out, m)
		}
	}
	return out
}

func methodNames(ms []policy.Method) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

// userReason says why a second factor is asked, for the person signing in.
func userReason(d policy.Decision) string {
	switch {
	case d.Target >= policy.LevelPhishingResistant:
		return "This application requires a passkey or security key."
	case d.Need == policy.NeedEnrollment:
		return "Two-step sign-in is required here. Set up a second way to confirm it is you; it takes a minute."
	}
	return "This sign-in needs a second step to confirm it is you."
}

// needsConsent: prompt=consent always asks; a first-party client never
// asks otherwise; others ask unless an earlier consent covers every scope.
func (f *Flow) needsConsent(ctx context.Context, ar *storage.AuthRequest, client *storage.Client, userID string) (bool, error) {
	if slices.Contains(ar.Prompt, oidc.PromptConsent) {
		return true, nil
	}
	if client.SkipConsent {
		return false, nil
	}
	c, err := f.store.GetConsent(ctx, userID, client.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, s := range ar.Scopes {
		if !slices.Contains(c.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

// SubmitConsent records the user's decision for request id.
func (f *Flow) SubmitConsent(ctx context.Context, id string, b idp.Browser, allow bool) (idp.Step, error) {
	ar, err := f.loadAuthRequest(ctx, id, b)
	if err != nil {
		return idp.Step{}, err
	}
	sess, _, err := f.sessions.LoadFor(ctx, b.SessionCookie, id)
	if err != nil {
		return idp.Step{}, err
	}
	if sess == nil {
		return f.next(ctx, ar, b, true) // signed out meanwhile: sign in again
	}
	actor := idp.UserActor(sess.UserID)
	if !allow {
		f.audit.Record(ctx, actor, "consent.denied", ar.ClientID, nil)
		return idp.Step{Kind: idp.StepRedirect, AuthRequestID: id, RedirectURL: ErrorRedirect(ar.RedirectURI, ar.State, f.issuer, "access_denied", "The user denied the request.")}, nil
	}
	scopes := slices.Clone([]string(ar.Scopes))
	if prev, err := f.store.GetConsent(ctx, sess.UserID, ar.ClientID); err == nil {
		for _, s := range prev.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	if err := f.store.SaveConsent(ctx, &storage.Consent{UserID: sess.UserID, ClientID: ar.ClientID, Scopes: scopes, GrantedAt: f.now()}); err != nil {
		return idp.Step{}, err
	}
	if err := f.store.SetAuthRequestConsent(ctx, id); err != nil {
		return idp.Step{}, err
	}
	ar.ConsentGiven = true
	f.audit.Record(ctx, actor, "consent.granted", ar.ClientID, map[string]any{"scopes": ar.Scopes})
	return f.next(ctx, ar, b, true)
}

// ErrorRedirect builds an error response to the client (RFC 6749
// §4.1.2.1) with iss (RFC 9207).
func ErrorRedirect(redirectURI, state, issuer, code, description string) string {
	u, _ := url.Parse(redirectURI) // validated when the request was made
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", description)
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// unmet ends a login the policy cannot satisfy at the relying party, never
// on a dead-end page (ARCHITECTURE.md "Policy"); the reason is in the audit
// trail, not in the redirect (no raw text to the client).
func unmet(ar *storage.AuthRequest, issuer string, interactive bool) (idp.Step, error) {
	desc := "The required authentication level cannot be met."
	if !interactive {
		e := oidc.ErrInteractionRequired().WithDescription("%s", desc)
		e.ErrorType = "unmet_authentication_requirements"
		return idp.Step{}, e
	}
	return idp.Step{Kind: idp.StepRedirect, AuthRequestID: ar.ID, RedirectURL: ErrorRedirect(ar.RedirectURI, ar.State, issuer, "unmet_authentication_requirements", desc)}, nil
}

// IssueCode is the callback: it issues the single-use code of a completed
// request, once, to the browser the request belongs to.
func (f *Flow) IssueCode(ctx context.Context, id string, b idp.Browser) (idp.AuthResponse, error) {
	ar, err := f.loadAuthRequest(ctx, id, b)
	if err != nil {
		return idp.AuthResponse{}, err
	}
	if !ar.Done {
		return idp.AuthResponse{}, idp.ErrAuthRequestNotFound
	}
	code := idp.RandomToken(32)
	if err := f.store.SaveAuthCode(ctx, id, idp.HashSecret(code), f.now().Add(CodeTTL)); err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
			return idp.AuthResponse{}, idp.ErrAuthRequestNotFound
		}
		return idp.AuthResponse{}, err
	}
	params := url.Values{"code": {code}, "iss": {f.issuer}}
	if ar.State != "" {
		params.Set("state", ar.State)
	}
	return idp.AuthResponse{RedirectURI: ar.RedirectURI, Params: params, FormPost: ar.ResponseMode == string(oidc.ResponseModeFormPost)}, nil
}
