package op

import (
	"context"
	"net/http"
	"net/url"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/session"
)

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
	redirect, clientName := "", ""
	if clientID != "" {
		if c, err := p.store.GetClient(ctx, clientID); err == nil {
			clientName = c.Name
		}
	}
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
	sess, _, err := p.sessions.Load(ctx, cookieFromHeader(h, idp.CookieName(idp.SessionCookieBase, p.secure)))
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if sess == nil && hintSub != "" {
		return p.signedOutRedirect(redirect), nil // nothing to end
	}
	if sess != nil && hintSID != "" && hintSID == sess.ID && hintSub == sess.UserID {
		if err := p.sessions.Terminate(ctx, sess, "rp"); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		return p.signedOutRedirect(redirect), nil
	}
	token, err := p.logouts.Seal(session.LogoutRequest{ClientID: clientID, ClientName: clientName, RedirectURI: redirect, Expires: p.now().Add(logoutTokenTTL)})
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
	c := &http.Cookie{Name: idp.CookieName(idp.SessionCookieBase, p.secure), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode}
	r.Header.Add("Set-Cookie", c.String())
	return r
}
