package idp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func cookieFromHeader(h http.Header, name string) string {
	r := http.Request{Header: h}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// startAuthRequest stores a validated authorization request, binds it to
// the browser, and sends the browser to the login page — or, for
// prompt=none, answers at once without showing any page (OIDC Core
// §3.1.2.6).
func (p *Provider) startAuthRequest(ctx context.Context, client opClient, req *oidc.AuthRequest, claims, hintSubject string, h http.Header) (*op.Redirect, error) {
	redirect := op.NewRedirect("")
	bindingName := CookieName(BindingCookieBase, p.secure)
	binding := cookieFromHeader(h, bindingName)
	if len(binding) < 32 {
		binding = randomToken(32)
		c := &http.Cookie{Name: bindingName, Value: binding, Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode}
		redirect.Header.Add("Set-Cookie", c.String())
	}
	now := p.now()
	locales := make([]string, len(req.UILocales))
	for i, l := range req.UILocales {
		locales[i] = l.String()
	}
	row := &storage.AuthRequest{
		ID: randomToken(16), ClientID: client.GetID(), RedirectURI: req.RedirectURI,
		ResponseType: string(req.ResponseType), ResponseMode: string(req.ResponseMode),
		State: req.State, Nonce: req.Nonce, CodeChallenge: req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod), LoginHint: req.LoginHint,
		IDTokenHintSubject: hintSubject, Claims: claims,
		Scopes: storage.Strings(req.Scopes), Prompt: storage.Strings(req.Prompt), UILocales: locales,
		ACRValues:   storage.Strings(req.ACRValues),
		BrowserHash: hashSecret(binding), CreatedAt: now, ExpiresAt: now.Add(AuthRequestTTL),
	}
	if req.MaxAge != nil {
		v := int64(*req.MaxAge)
		row.MaxAgeSeconds = &v
	}
	if err := p.store.CreateAuthRequest(ctx, row); err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		b := Browser{
			SessionCookie: cookieFromHeader(h, CookieName(SessionCookieBase, p.secure)),
			DeviceCookie:  cookieFromHeader(h, CookieName(DeviceCookieBase, p.secure)),
			BindingCookie: binding,
		}
		step, err := p.next(ctx, row, b, false)
		if err != nil {
			return nil, err
		}
		redirect.URL = step.RedirectURL
		return redirect, nil
	}
	redirect.URL = client.LoginURL(row.ID)
	return redirect, nil
}

// loadAuthRequest finds a live request and checks it belongs to b.
func (p *Provider) loadAuthRequest(ctx context.Context, id string, b Browser) (*storage.AuthRequest, error) {
	ar, err := p.store.GetAuthRequest(ctx, id)
	if isNotFound(err) {
		return nil, ErrAuthRequestNotFound
	}
	if err != nil {
		return nil, err
	}
	if b.BindingCookie == "" {
		return nil, ErrWrongBrowser
	}
	h := hashSecret(b.BindingCookie)
	if ar.BrowserHash == "" {
		if err := p.store.BindAuthRequest(ctx, id, h); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return nil, ErrWrongBrowser
			}
			return nil, err
		}
		ar.BrowserHash = h
	}
	if subtle.ConstantTimeCompare([]byte(ar.BrowserHash), []byte(h)) != 1 {
		return nil, ErrWrongBrowser
	}
	return ar, nil
}

// Resume decides the next step of a login when the browser (re)opens the
// login page: a live session that satisfies the request completes it
// silently (SSO); otherwise a page is shown.
func (p *Provider) Resume(ctx context.Context, id string, b Browser) (Step, error) {
	ar, err := p.loadAuthRequest(ctx, id, b)
	if err != nil {
		return Step{}, err
	}
	if ar.Done {
		return Step{Kind: StepRedirect, AuthRequestID: id, RedirectURL: p.callbackURL(id)}, nil
	}
	step, err := p.next(ctx, ar, b, true)
	if err == nil && step.Kind == StepBackupCodes {
		// Made here, on the page view that shows them: shown exactly once.
		sess, user, err := p.sessionUser(ctx, b.SessionCookie)
		if err != nil || sess == nil {
			return Step{}, ErrAuthRequestNotFound
		}
		if step.BackupCodes, err = p.issueBackupCodes(ctx, user.ID); err != nil {
			return Step{}, err
		}
	}
	return step, err
}

func (p *Provider) callbackURL(id string) string {
	return p.cfg.Issuer + "/authorize/callback?id=" + url.QueryEscape(id)
}

// next is the login state machine: from the request, the browser's
// session and the step-up policy it decides what must still happen.
// interactive=false is prompt=none: any needed page becomes an error.
func (p *Provider) next(ctx context.Context, ar *storage.AuthRequest, b Browser, interactive bool) (Step, error) {
	client, err := p.store.GetClient(ctx, ar.ClientID)
	if err != nil {
		return Step{}, err
	}
	step := Step{AuthRequestID: ar.ID, Client: ClientInfo{ID: client.ID, Name: client.Name}}
	sess, user, err := p.sessionUser(ctx, b.SessionCookie)
	if err != nil {
		return Step{}, err
	}
	if sess != nil && ar.IDTokenHintSubject != "" && sess.UserID != ar.IDTokenHintSubject {
		sess = nil // the relying party expects another user
	}
	if sess != nil && interactive && slices.Contains(ar.Prompt, oidc.PromptSelectAccount) && sess.AuthTime.Before(ar.CreatedAt) {
		sess = nil // let the person choose (sign in) again
	}
	login := func() (Step, error) {
		if !interactive {
			return Step{}, oidc.ErrLoginRequired().WithDescription("The user must sign in.")
		}
		step.Kind, step.LoginHint = StepPassword, ar.LoginHint
		return step, nil
	}
	if sess == nil {
		return login()
	}
	d, counts, err := p.decide(ctx, ar, client, user, sess, b)
	if err != nil {
		return Step{}, err
	}
	if d.Need != policy.NeedNothing || d.Target > policy.LevelPassword {
		p.audit(ctx, user.ID, "policy.decision", user.ID, map[string]any{
			"client_id": ar.ClientID, "need": d.Need.String(), "level": d.Level.String(), "target": d.Target.String(), "reason": d.Reason,
		})
	}
	switch d.Need {
	case policy.NeedFirstFactor:
		return login()
	case policy.NeedImpossible:
		return unmet(ar, p.cfg.Issuer, d.Reason, interactive)
	case policy.NeedSecondFactor, policy.NeedEnrollment:
		if !interactive {
			return Step{}, oidc.ErrInteractionRequired().WithDescription("The user must prove a second factor.")
		}
		step.RequireUV, step.Reason = d.RequireUV, userReason(d)
		enrolled := enrolledMethods(counts)
		switch {
		case d.Need == policy.NeedSecondFactor:
			step.Kind, step.Methods, step.RememberDevice = StepSecondFactor, methodNames(d.Methods), d.RememberFor
		case len(enrolled) > 0 && !freshSecondFactor(sess, p.now(), freshProof):
			// Adding a factor needs a fresh proof of one the user has.
			step.Kind, step.Methods, step.RequireUV = StepSecondFactor, methodNames(enrolled), false
		default:
			step.Kind, step.Methods = StepEnroll, methodNames(d.Methods)
		}
		return step, nil
	}
	// A user with a second factor but no backup codes gets a set now —
	// recovery must never be a dead end — shown once by the next page.
	if interactive && counts.BackupCodes == 0 && counts.TOTP+counts.WebAuthn > 0 && freshSecondFactor(sess, p.now(), freshProof) {
		step.Kind = StepBackupCodes
		return step, nil
	}
	if !ar.ConsentGiven {
		need, err := p.needsConsent(ctx, ar, client, user.ID)
		if err != nil {
			return Step{}, err
		}
		if need {
			if !interactive {
				e := oidc.ErrInteractionRequired().WithDescription("The user must consent.")
				e.ErrorType = "consent_required"
				return Step{}, e
			}
			step.Kind, step.Scopes = StepConsent, ar.Scopes
			return step, nil
		}
	}
	amr, acr := sessionAMR(sess, d, p), d.Level.ACR()
	if err := p.store.CompleteAuthRequest(ctx, ar.ID, user.ID, sess.ID, sess.AuthTime, amr, acr); err != nil && !isNotFound(err) {
		return Step{}, err
	}
	if err := p.store.TouchSession(ctx, sess.ID, p.idleExpiry(sess)); err != nil && !isNotFound(err) {
		p.log.WarnContext(ctx, "touch session", "err", err)
	}
	step.Kind, step.RedirectURL = StepRedirect, p.callbackURL(ar.ID)
	return step, nil
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
func (p *Provider) needsConsent(ctx context.Context, ar *storage.AuthRequest, client *storage.Client, userID string) (bool, error) {
	if slices.Contains(ar.Prompt, oidc.PromptConsent) {
		return true, nil
	}
	if client.SkipConsent {
		return false, nil
	}
	c, err := p.store.GetConsent(ctx, userID, client.ID)
	if isNotFound(err) {
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

// SubmitPassword checks a password for the login of request id.
func (p *Provider) SubmitPassword(ctx context.Context, id string, b Browser, username, password string) (Step, error) {
	ar, err := p.loadAuthRequest(ctx, id, b)
	if err != nil {
		return Step{}, err
	}
	keys := []string{"login:name:" + storage.NormalizeUsername(username), "login:ip:" + b.IP}
	if wait, err := p.throttled(ctx, keys); err != nil {
		return Step{}, err
	} else if wait > 0 {
		p.audit(ctx, "anonymous", "login.throttled", "", map[string]any{"ip": b.IP})
		return Step{}, &ThrottledError{RetryAfter: wait}
	}
	user, err := p.dir.Authenticate(ctx, username, password)
	if errors.Is(err, ErrInvalidCredentials) {
		p.recordLoginFailure(ctx, keys)
		p.audit(ctx, "anonymous", "login.failed", "", map[string]any{"ip": b.IP, "client_id": ar.ClientID})
		return Step{}, ErrInvalidCredentials
	}
	if err != nil {
		return Step{}, err
	}
	if err := p.store.ResetThrottle(ctx, keys[0]); err != nil {
		p.log.WarnContext(ctx, "reset throttle", "err", err)
	}
	cookie, err := p.startSession(ctx, user.ID, b, storage.SessionFactor{Method: "pwd", At: p.now(), AMR: []string{"pwd"}})
	if err != nil {
		return Step{}, err
	}
	p.audit(ctx, user.ID, "login.password", user.ID, map[string]any{"ip": b.IP, "client_id": ar.ClientID})
	b.SessionCookie = cookie.Value
	step, err := p.next(ctx, ar, b, true)
	step.Session = cookie
	return step, err
}

// SubmitConsent records the user's decision for request id.
func (p *Provider) SubmitConsent(ctx context.Context, id string, b Browser, allow bool) (Step, error) {
	ar, err := p.loadAuthRequest(ctx, id, b)
	if err != nil {
		return Step{}, err
	}
	sess, _, err := p.sessionUser(ctx, b.SessionCookie)
	if err != nil {
		return Step{}, err
	}
	if sess == nil {
		return p.next(ctx, ar, b, true) // signed out meanwhile: sign in again
	}
	if !allow {
		p.audit(ctx, sess.UserID, "consent.denied", ar.ClientID, nil)
		return Step{Kind: StepRedirect, AuthRequestID: id, RedirectURL: errorRedirect(ar, p.cfg.Issuer, "access_denied", "The user denied the request.")}, nil
	}
	scopes := slices.Clone([]string(ar.Scopes))
	if prev, err := p.store.GetConsent(ctx, sess.UserID, ar.ClientID); err == nil {
		for _, s := range prev.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	if err := p.store.SaveConsent(ctx, &storage.Consent{UserID: sess.UserID, ClientID: ar.ClientID, Scopes: scopes, GrantedAt: p.now()}); err != nil {
		return Step{}, err
	}
	if err := p.store.SetAuthRequestConsent(ctx, id); err != nil {
		return Step{}, err
	}
	ar.ConsentGiven = true
	p.audit(ctx, sess.UserID, "consent.granted", ar.ClientID, map[string]any{"scopes": ar.Scopes})
	return p.next(ctx, ar, b, true)
}

// errorRedirect builds an error response to the client (RFC 6749 §4.1.2.1)
// with iss (RFC 9207).
func errorRedirect(ar *storage.AuthRequest, issuer, code, description string) string {
	u, _ := url.Parse(ar.RedirectURI) // validated when the request was made
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", description)
	if ar.State != "" {
		q.Set("state", ar.State)
	}
	q.Set("iss", issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// AuthResponse is the successful authorization response the callback page
// delivers to the client: a redirect with Params in the query, or an
// auto-submitted form (response_mode=form_post).
type AuthResponse struct {
	RedirectURI string
	Params      url.Values
	FormPost    bool
}

// IssueCode is the callback: it issues the single-use code of a completed
// request, once, to the browser the request belongs to.
func (p *Provider) IssueCode(ctx context.Context, id string, b Browser) (AuthResponse, error) {
	ar, err := p.loadAuthRequest(ctx, id, b)
	if err != nil {
		return AuthResponse{}, err
	}
	if !ar.Done {
		return AuthResponse{}, ErrAuthRequestNotFound
	}
	code := randomToken(32)
	if err := p.store.SaveAuthCode(ctx, id, hashSecret(code), p.now().Add(CodeTTL)); err != nil {
		if isNotFound(err) || errors.Is(err, storage.ErrConflict) {
			return AuthResponse{}, ErrAuthRequestNotFound
		}
		return AuthResponse{}, err
	}
	params := url.Values{"code": {code}, "iss": {p.cfg.Issuer}}
	if ar.State != "" {
		params.Set("state", ar.State)
	}
	return AuthResponse{RedirectURI: ar.RedirectURI, Params: params, FormPost: ar.ResponseMode == string(oidc.ResponseModeFormPost)}, nil
}

// throttled returns how long the busiest of keys is still locked.
func (p *Provider) throttled(ctx context.Context, keys []string) (time.Duration, error) {
	var wait time.Duration
	for _, k := range keys {
		t, err := p.store.GetThrottle(ctx, k)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if t.LockedUntil != nil {
			wait = max(wait, t.LockedUntil.Sub(p.now()))
		}
	}
	return wait, nil
}

// Login throttling: an account (by name, so unknown names behave like
// known ones) locks after 5 consecutive failures, an address after 20; the
// lock doubles with every further failure, capped at 15 minutes, so a
// stranger can slow an account down but never lock it out for good.
const (
	accountFailureThreshold = 5
	ipFailureThreshold      = 20
	maxLock                 = 15 * time.Minute
)

func backoff(threshold int) func(int) time.Duration {
	return func(failures int) time.Duration {
		if failures < threshold {
			return 0
		}
		return min(time.Second<<min(failures-threshold, 20), maxLock)
	}
}

func (p *Provider) recordLoginFailure(ctx context.Context, keys []string) {
	for i, k := range keys {
		threshold := accountFailureThreshold
		if i > 0 {
			threshold = ipFailureThreshold
		}
		if _, err := p.store.RecordFailure(ctx, k, backoff(threshold)); err != nil {
			p.log.ErrorContext(ctx, "record login failure", "err", err)
		}
	}
}
