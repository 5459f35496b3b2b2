package op

import (
	"context"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

func cookieFromHeader(h http.Header, name string) string {
	r := http.Request{Header: h}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// startAuthRequest binds a validated authorization request to the browser
// (a cookie set here, checked at every later step) and hands it to the
// login flow.
func (p *Provider) startAuthRequest(ctx context.Context, client opClient, req *oidc.AuthRequest, claims, hintSubject string, h http.Header) (*op.Redirect, error) {
	redirect := op.NewRedirect("")
	bindingName := idp.CookieName(idp.BindingCookieBase, p.secure)
	binding := cookieFromHeader(h, bindingName)
	if len(binding) < 32 {
		binding = idp.RandomToken(32)
		c := &http.Cookie{Name: bindingName, Value: binding, Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode}
		redirect.Header.Add("Set-Cookie", c.String())
	}
	locales := make([]string, len(req.UILocales))
	for i, l := range req.UILocales {
		locales[i] = l.String()
	}
	row := &storage.AuthRequest{
		ClientID: client.GetID(), RedirectURI: req.RedirectURI,
		ResponseType: string(req.ResponseType), ResponseMode: string(req.ResponseMode),
		State: req.State, Nonce: req.Nonce, CodeChallenge: req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod), LoginHint: req.LoginHint,
		IDTokenHintSubject: hintSubject, Claims: claims,
		Scopes: storage.Strings(req.Scopes), Prompt: storage.Strings(req.Prompt), UILocales: locales,
		ACRValues:   storage.Strings(req.ACRValues),
		BrowserHash: idp.HashSecret(binding),
	}
	if req.MaxAge != nil {
		v := int64(*req.MaxAge)
		row.MaxAgeSeconds = &v
	}
	b := idp.Browser{
		SessionCookie: cookieFromHeader(h, idp.CookieName(idp.SessionCookieBase, p.secure)),
		DeviceCookie:  cookieFromHeader(h, idp.CookieName(idp.DeviceCookieBase, p.secure)),
		BindingCookie: binding,
	}
	u, err := p.flow.Start(ctx, row, b)
	if err != nil {
		return nil, err
	}
	redirect.URL = u
	return redirect, nil
}
