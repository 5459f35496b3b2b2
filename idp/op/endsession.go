package op

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/session"
	"github.com/twofold-idp/twofold/storage"
)

// EndSession answers /end_session (OIDC RP-Initiated Logout 1.0) with a
// redirect and returns nil, or — for a request it cannot honour (an invalid
// id_token_hint, an unregistered post_logout_redirect_uri, an unreadable
// request) — writes nothing and returns idp.ErrLogoutRequestInvalid (or an
// internal error) for the hosted pages to show as an error page.
func (p *Provider) EndSession(w http.ResponseWriter, r *http.Request) error {
	noStoreHeaders(w.Header())
	form, err := readForm(w, r)
	if err != nil {
		return fmt.Errorf("%w: %w", idp.ErrLogoutRequestInvalid, err)
	}
	if desc := oversizedParam(form); desc != "" {
		return fmt.Errorf("%w: %s", idp.ErrLogoutRequestInvalid, desc)
	}
	req := new(oidc.EndSessionRequest)
	if err := p.op.Decoder().Decode(req, form); err != nil {
		return fmt.Errorf("%w: %w", idp.ErrLogoutRequestInvalid, err)
	}
	redirect, err := p.endSession(op.ContextWithIssuer(r.Context(), p.cfg.Issuer), req, r.Header)
	if err != nil {
		return err
	}
	for k, v := range redirect.Header {
		w.Header()[k] = v
	}
	http.Redirect(w, r, redirect.URL, http.StatusFound)
	return nil
}

func logoutRefused(reason string) error {
	return fmt.Errorf("%w: %s", idp.ErrLogoutRequestInvalid, reason)
}

// endSession decides a logout. With an id_token_hint naming the browser's
// session it signs out at once. Without the browser's session cookie (a
// relying party's server calling) a hint's session is ended by its sid, and
// without a hint nothing can be ended there and then: the answer is the
// confirmation page, never a "signed out" that ended nothing. Otherwise it
// asks for confirmation, so that a cross-site link cannot sign users out.
func (p *Provider) endSession(ctx context.Context, req *oidc.EndSessionRequest, h http.Header) (*op.Redirect, error) {
	clientID := req.ClientID
	var hintSID, hintSub string
	if req.IdTokenHint != "" {
		claims, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, req.IdTokenHint, p.op.IDTokenHintVerifier(ctx))
		if err != nil && !isExpiredHint(err) {
			return nil, logoutRefused("invalid id_token_hint")
		}
		hintSID, hintSub = claims.SessionID, claims.Subject
		if clientID == "" && len(claims.Audience) > 0 {
			clientID = claims.Audience[0]
		} else if clientID != "" && !slices.Contains(claims.Audience, clientID) {
			return nil, logoutRefused("id_token_hint issued to another client")
		}
	}
	var client *storage.Client
	if clientID != "" {
		c, err := p.store.GetClient(ctx, clientID)
		switch {
		case err == nil:
			client = c
		case !errors.Is(err, storage.ErrNotFound):
			return nil, err
		}
	}
	redirect := ""
	switch {
	case req.PostLogoutRedirectURI == "":
	case clientID == "":
		// Nothing says whose URI this is (the GitLab OmniAuth strategy sends
		// it alone), so it cannot be verified: it is left out, and the
		// confirmation page ends at our signed-out page.
	case client == nil || !slices.Contains(client.PostLogoutRedirectURIs, req.PostLogoutRedirectURI):
		return nil, logoutRefused("post_logout_redirect_uri not registered for the client")
	default:
		u, err := url.Parse(req.PostLogoutRedirectURI)
		if err != nil {
			return nil, logoutRefused("post_logout_redirect_uri does not parse")
		}
		if req.State != "" {
			q := u.Query()
			q.Set("state", req.State)
			u.RawQuery = q.Encode()
		}
		redirect = u.String()
	}
	sess, _, err := p.sessions.Load(ctx, cookieFromHeader(h, idp.CookieName(idp.SessionCookieBase, p.secure)))
	if err != nil {
		return nil, err
	}
	switch {
	case sess != nil && hintSID != "" && hintSID == sess.ID && hintSub == sess.UserID:
		if err := p.sessions.Terminate(ctx, sess, "rp"); err != nil {
			return nil, err
		}
		return p.signedOutRedirect(redirect), nil
	case sess == nil && hintSub != "":
		if err := p.endHintedSession(ctx, hintSID, hintSub); err != nil {
			return nil, err
		}
		return p.signedOutRedirect(redirect), nil
	}
	clientName := ""
	if client != nil {
		clientName = client.Name
	}
	token, err := p.logouts.Seal(session.LogoutRequest{ClientName: clientName, RedirectURI: redirect, Expires: p.now().Add(logoutTokenTTL)})
	if err != nil {
		return nil, err
	}
	return op.NewRedirect("/logout?token=" + url.QueryEscape(token)), nil
}

// endHintedSession ends the session an id_token_hint names (its sid) when
// the request came without the browser's cookie: a relying party's server
// signing its user out. A session already over needs nothing more; a hint
// without a sid, or whose sid is another user's session, is refused rather
// than answered "signed out" with nothing ended.
func (p *Provider) endHintedSession(ctx context.Context, sid, sub string) error {
	if sid == "" {
		return logoutRefused("id_token_hint without sid and no session cookie")
	}
	sess, err := p.store.GetSession(ctx, sid)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil // ended and purged
	case err != nil:
		return err
	case sess.UserID != sub:
		return logoutRefused("id_token_hint sid names another user's session")
	case !sess.LiveAt(p.now()):
		return nil
	}
	return p.sessions.Terminate(ctx, sess, "rp")
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
