package idp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/storage"
)

// sessionUser returns the live session behind a cookie value and its
// (enabled) user, or nils when there is none.
func (p *Provider) sessionUser(ctx context.Context, cookie string) (*storage.Session, *storage.User, error) {
	if cookie == "" {
		return nil, nil, nil
	}
	s, err := p.store.GetLiveSessionByCookieHash(ctx, hashSecret(cookie))
	if isNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	u, err := p.store.GetUser(ctx, s.UserID)
	if isNotFound(err) || (err == nil && u.Disabled) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return s, u, nil
}

func (p *Provider) idleExpiry(s *storage.Session) time.Time {
	t := p.now().Add(p.cfg.SessionIdleTimeout)
	if t.After(s.ExpiresAt) {
		return s.ExpiresAt
	}
	return t
}

// startSession begins a new SSO session after a first factor. Whatever
// session the browser had ends: a new sign-in never inherits an old
// session's factors, and the cookie value is new (session fixation).
func (p *Provider) startSession(ctx context.Context, userID string, b Browser, f storage.SessionFactor) (*SessionCookie, error) {
	if old, _, err := p.sessionUser(ctx, b.SessionCookie); err == nil && old != nil {
		if err := p.store.EndSession(ctx, old.ID); err != nil && !isNotFound(err) {
			return nil, err
		}
	}
	now := p.now()
	value := randomToken(32)
	s := &storage.Session{
		ID: randomToken(16), CookieHash: hashSecret(value), UserID: userID,
		Factors: storage.SessionFactors{f}, AuthTime: f.At,
		CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(p.cfg.SessionIdleTimeout), ExpiresAt: now.Add(p.cfg.SessionLifetime),
		IP: b.IP, UserAgent: b.UserAgent,
	}
	if err := p.store.CreateSession(ctx, s); err != nil {
		return nil, err
	}
	return &SessionCookie{Value: value, Expires: s.ExpiresAt}, nil
}

// logoutRequest is what the confirmation link carries, sealed so it can
// be neither read nor forged.
type logoutRequest struct {
	ClientID    string    `json:"c,omitempty"`
	RedirectURI string    `json:"r,omitempty"` // with state already added
	Expires     time.Time `json:"e"`
}

const logoutPurpose = "logout-request"

// endSession handles /end_session. With an id_token_hint naming the
// current session it signs out at once; otherwise it asks for
// confirmation, so that a cross-site link cannot sign users out.
func (p *Provider) endSession(ctx context.Context, req *oidc.EndSessionRequest, h http.Header) (*op.Redirect, error) {
	clientID := req.ClientID
	var hintSID, hintSub string
	if req.IdTokenHint != "" {
		claims, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, req.IdTokenHint, p.op.IDTokenHintVerifier(ctx))
		if err != nil && !isExpiredHint(err) {
			return nil, oidc.ErrInvalidRequest().WithDescription("The id_token_hint is invalid.")
		}
		hintSID, hintSub = claims.SessionID, claims.Subject
		if clientID == "" && len(claims.Audience) > 0 {
			clientID = claims.Audience[0]
		} else if clientID != "" && !slices.Contains(claims.Audience, clientID) {
			return nil, oidc.ErrInvalidRequest().WithDescription("The id_token_hint was not issued to this client.")
		}
	}
	redirect := ""
	if req.PostLogoutRedirectURI != "" {
		if clientID == "" {
			return nil, oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri needs client_id or id_token_hint.")
		}
		c, err := p.store.GetClient(ctx, clientID)
		if err != nil || !slices.Contains(c.PostLogoutRedirectURIs, req.PostLogoutRedirectURI) {
			return nil, oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri is not registered for this client.")
		}
		u, _ := url.Parse(req.PostLogoutRedirectURI)
		if req.State != "" {
			q := u.Query()
			q.Set("state", req.State)
			u.RawQuery = q.Encode()
		}
		redirect = u.String()
	}
	sess, _, err := p.sessionUser(ctx, cookieFromHeader(h, CookieName(SessionCookieBase, p.secure)))
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if sess == nil && hintSub != "" {
		return p.signedOutRedirect(redirect), nil // nothing to end
	}
	if sess != nil && hintSID != "" && hintSID == sess.ID && hintSub == sess.UserID {
		if err := p.terminate(ctx, sess, "rp"); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		return p.signedOutRedirect(redirect), nil
	}
	token, err := p.sealLogout(logoutRequest{ClientID: clientID, RedirectURI: redirect, Expires: p.now().Add(logoutTokenTTL)})
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return op.NewRedirect("/logout?token=" + url.QueryEscape(token)), nil
}

func isExpiredHint(err error) bool {
	_, ok := err.(op.IDTokenHintExpiredError)
	return ok
}

// signedOutRedirect sends the browser to redirect (or our signed-out page)
// and clears the session cookie.
func (p *Provider) signedOutRedirect(redirect string) *op.Redirect {
	if redirect == "" {
		redirect = "/logout/done"
	}
	r := op.NewRedirect(redirect)
	c := &http.Cookie{Name: CookieName(SessionCookieBase, p.secure), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode}
	r.Header.Add("Set-Cookie", c.String())
	return r
}

// terminate ends a session and revokes the tokens issued from it.
func (p *Provider) terminate(ctx context.Context, s *storage.Session, via string) error {
	if err := p.store.EndSession(ctx, s.ID); err != nil && !isNotFound(err) {
		return err
	}
	if err := p.store.RevokeSessionTokens(ctx, s.ID); err != nil {
		return err
	}
	p.audit(ctx, s.UserID, "session.ended", s.UserID, map[string]any{"session_id": s.ID, "via": via})
	return nil
}

func (p *Provider) sealLogout(r logoutRequest) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	sealed, err := p.ring.Seal(logoutPurpose, b, nil)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

func (p *Provider) openLogout(token string) (logoutRequest, error) {
	var r logoutRequest
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return r, ErrLogoutRequestInvalid
	}
	b, err := p.ring.Open(logoutPurpose, raw, nil)
	if err != nil || json.Unmarshal(b, &r) != nil || p.now().After(r.Expires) {
		return r, ErrLogoutRequestInvalid
	}
	return r, nil
}

// LogoutPrompt says what the confirmation page shows.
func (p *Provider) LogoutPrompt(ctx context.Context, token string, b Browser) (LogoutPrompt, error) {
	r, err := p.openLogout(token)
	if err != nil {
		return LogoutPrompt{}, err
	}
	var prompt LogoutPrompt
	if r.ClientID != "" {
		if c, err := p.store.GetClient(ctx, r.ClientID); err == nil {
			prompt.ClientName = c.Name
		}
	}
	return prompt, nil
}

// ConfirmLogout ends the browser's session after the user confirmed.
func (p *Provider) ConfirmLogout(ctx context.Context, token string, b Browser) (LogoutResult, error) {
	r, err := p.openLogout(token)
	if err != nil {
		return LogoutResult{}, err
	}
	sess, _, err := p.sessionUser(ctx, b.SessionCookie)
	if err != nil {
		return LogoutResult{}, err
	}
	if sess != nil {
		if err := p.terminate(ctx, sess, "confirmed"); err != nil {
			return LogoutResult{}, err
		}
	}
	return LogoutResult{RedirectURL: r.RedirectURI, Session: &SessionCookie{}}, nil
}
