package op

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/login"
	"github.com/twofold-idp/twofold/storage"
)

// Authorize answers /authorize (GET or POST). When the request can be
// answered at the client it writes a redirect — to the login page, or an
// authorization response to the client with iss (RFC 9207) — and returns
// nil. A request with no client to answer (unknown client, missing or
// unregistered redirect_uri, an unreadable or oversized request) or one
// refused for its address (too many pending sign-ins) writes nothing and
// returns the reason (idp.ErrUnknownClient, idp.ErrRedirectURIInvalid,
// idp.ErrRequestInvalid, *idp.ThrottledError), for the hosted pages to show
// as an error page: never a redirect (RFC 6749 §4.1.2.1), never JSON.
func (p *Provider) Authorize(w http.ResponseWriter, r *http.Request) error {
	noStoreHeaders(w.Header())
	form, err := readForm(w, r)
	if err != nil {
		return err
	}
	ctx := op.ContextWithIssuer(r.Context(), p.cfg.Issuer)
	// Only /par's own URNs are resolved; any other request_uri is refused
	// at the client (request_uri_not_supported, see authorize).
	pushed := strings.HasPrefix(form.Get("request_uri"), RequestURIPrefix)
	if pushed {
		// RFC 9126 §4: the pushed parameters, used once (par.go).
		if form, err = p.resolvePushed(ctx, form); err != nil {
			return err
		}
	}
	client, err := p.authorizeClient(ctx, form)
	if err != nil {
		return err
	}
	res := authResponse{redirectURI: form.Get("redirect_uri"), mode: oidc.ResponseMode(form.Get("response_mode"))}
	if s := form.Get("state"); len(s) <= paramLimit("state") {
		res.state = s // an oversized state is not sent back
	}
	var redirect *op.Redirect
	if client.row.RequirePushedAuthorizationRequests && !pushed {
		// RFC 9126 §6: this client's requests must come through /par.
		err = oidc.ErrInvalidRequest().WithDescription("This client must push its authorization requests to /par first.")
	} else {
		redirect, err = p.authorize(ctx, client, form, r.Header, requestAddress(r))
	}
	var throttled *idp.ThrottledError
	switch {
	case errors.As(err, &throttled):
		return err
	case err != nil:
		redirect = op.NewRedirect(p.errorURL(ctx, res, err))
	}
	for k, v := range redirect.Header {
		w.Header()[k] = v
	}
	http.Redirect(w, r, redirect.URL, http.StatusFound)
	return nil
}

// authorizeClient finds the client and checks the redirect URI: until both
// are known good, nothing may be sent to the redirect URI.
func (p *Provider) authorizeClient(ctx context.Context, form url.Values) (opClient, error) {
	id := form.Get("client_id")
	if id == "" || len(id) > paramLimit("client_id") {
		return opClient{}, idp.ErrUnknownClient
	}
	row, err := p.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return opClient{}, idp.ErrUnknownClient
	}
	if err != nil {
		return opClient{}, err
	}
	client := opClient{row: row}
	uri := form.Get("redirect_uri")
	// Checked as for a code response whatever response_type says: the
	// type is refused afterwards, at the client, once the URI is known to
	// be the client's (the library would refuse an http URI for an
	// implicit type here, with a page instead of unsupported_response_type).
	if uri == "" || op.ValidateAuthReqRedirectURI(client, uri, oidc.ResponseTypeCode) != nil {
		return opClient{}, idp.ErrRedirectURIInvalid
	}
	return client, nil
}

// authorize validates the rest of the request and starts the login. Its
// errors are answered at the client's redirect URI, except a
// *idp.ThrottledError.
func (p *Provider) authorize(ctx context.Context, client opClient, form url.Values, h http.Header, addr string) (*op.Redirect, error) {
	if desc := oversizedParam(form); desc != "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("%s", desc)
	}
	req := new(oidc.AuthRequest)
	if err := p.op.Decoder().Decode(req, form); err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("A parameter of the request is malformed.").WithParent(err)
	}
	switch {
	case req.ResponseType == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("The response_type parameter is missing.")
	case req.ResponseType != oidc.ResponseTypeCode:
		// Implicit and hybrid flows leak tokens through the browser (RFC 9700 §2.1.2).
		e := oidc.ErrInvalidRequest().WithDescription("Only response_type=code is supported.")
		e.ErrorType = "unsupported_response_type"
		return nil, e
	case req.RequestParam != "":
		return nil, oidc.ErrRequestNotSupported()
	case form.Get("request_uri") != "":
		e := oidc.ErrInvalidRequest().WithDescription("The request_uri parameter is not supported.")
		e.ErrorType = "request_uri_not_supported"
		return nil, e
	case req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery && req.ResponseMode != oidc.ResponseModeFormPost:
		return nil, oidc.ErrInvalidRequest().WithDescription("Only response_mode query and form_post are supported.")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		// plain (also the default when the method is omitted) is refused.
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256.")
	case req.CodeChallenge == "" && client.public():
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with S256 is required for public clients.")
	}
	var err error
	if req.MaxAge, err = op.ValidateAuthReqPrompt(req.Prompt, req.MaxAge); err != nil {
		return nil, err
	}
	if req.Scopes, err = op.ValidateAuthReqScopes(client, req.Scopes); err != nil {
		return nil, err
	}
	claims := form.Get("claims")
	if login.CheckClaims(claims) != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("The claims parameter is not a JSON object.")
	}
	hintSubject, err := op.ValidateAuthReqIDTokenHint(ctx, req.IDTokenHint, p.op.IDTokenHintVerifier(ctx))
	if err != nil {
		return nil, err
	}
	// A prompt=none request never stays pending (it is answered at once,
	// and a refused one is deleted), and must never get a page.
	if !slices.Contains(req.Prompt, oidc.PromptNone) {
		if err := p.checkPending(ctx, addr); err != nil {
			return nil, err
		}
	}
	return p.startAuthRequest(ctx, client, req, claims, hintSubject, addr, h)
}

// checkPending refuses a new sign-in from an address that already has
// cfg.MaxPendingAuthRequests of them open: every request stores a row until
// it expires, and anyone may start one. The count and the insert are two
// statements, so parallel requests may overshoot the limit by their number;
// it bounds storage, it is not a security boundary.
func (p *Provider) checkPending(ctx context.Context, addr string) error {
	n, err := p.store.CountPendingAuthRequests(ctx, addr)
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if n >= int64(p.cfg.MaxPendingAuthRequests) {
		p.log.WarnContext(ctx, "too many pending sign-ins from one address", "address", addr, "pending", n)
		return &idp.ThrottledError{RetryAfter: pendingRetryAfter}
	}
	return nil
}

// pendingRetryAfter is what a refused address is told to wait: pending
// requests expire after login.AuthRequestTTL, abandoned ones first.
const pendingRetryAfter = 5 * time.Minute

// authResponse is where an authorization error goes: the redirect URI, in
// the response mode asked for, with the state.
type authResponse struct {
	redirectURI string
	mode        oidc.ResponseMode
	state       string
}

// errorURL answers err at the client with iss (RFC 9207 §2) beside the
// other parameters: in the fragment when the fragment was asked for, else
// in the query (also for form_post: the error carries nothing secret). A
// server error is logged and answered as server_error without its cause.
func (p *Provider) errorURL(ctx context.Context, a authResponse, err error) string {
	var e *oidc.Error
	if !errors.As(err, &e) {
		e = oidc.ErrServerError().WithParent(err)
	}
	if e.ErrorType == oidc.ServerError {
		p.log.ErrorContext(ctx, "authorize", "err", err)
		e = oidc.ErrServerError().WithDescription("The request could not be completed.")
	}
	params := url.Values{"error": {string(e.ErrorType)}, "iss": {p.cfg.Issuer}}
	if e.Description != "" {
		params.Set("error_description", e.Description)
	}
	if a.state != "" {
		params.Set("state", a.state)
	}
	u, _ := url.Parse(a.redirectURI) // registered, so it parses
	if a.mode == oidc.ResponseModeFragment {
		// Encoded once, as the client's script decodes location.hash.
		u.Fragment = ""
		return u.String() + "#" + params.Encode()
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}

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
func (p *Provider) startAuthRequest(ctx context.Context, client opClient, req *oidc.AuthRequest, claims, hintSubject, addr string, h http.Header) (*op.Redirect, error) {
	redirect, _, err := p.startAuthRequestWith(ctx, client, req, claims, hintSubject, addr, h, false)
	return redirect, err
}

// startAuthRequestWith is startAuthRequest that also answers the new
// request's id; consented marks the request as consented to already (a
// device sign-in asks on its own approval page).
func (p *Provider) startAuthRequestWith(ctx context.Context, client opClient, req *oidc.AuthRequest, claims, hintSubject, addr string, h http.Header, consented bool) (*op.Redirect, string, error) {
	redirect := op.NewRedirect("")
	bindingName := idp.CookieName(idp.BindingCookieBase, p.secure)
	binding := cookieFromHeader(h, bindingName)
	if len(binding) < 32 {
		binding = idp.RandomToken(32)
		c := &http.Cookie{Name: bindingName, Value: binding, Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode}
		redirect.Header.Add("Set-Cookie", c.String())
	}
	known := p.knownDeviceCookie(h, redirect.Header)
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
		ACRValues:     storage.Strings(req.ACRValues),
		BrowserHash:   idp.HashSecret(binding),
		ClientAddress: addr,
		ConsentGiven:  consented,
	}
	if req.MaxAge != nil {
		v := int64(*req.MaxAge)
		row.MaxAgeSeconds = &v
	}
	b := idp.Browser{
		SessionCookie: cookieFromHeader(h, idp.CookieName(idp.SessionCookieBase, p.secure)),
		DeviceCookie:  cookieFromHeader(h, idp.CookieName(idp.DeviceCookieBase, p.secure)),
		BindingCookie: binding,

		KnownDeviceCookie: known,
	}
	u, err := p.flow.Start(ctx, row, b)
	if err != nil {
		return nil, "", err
	}
	redirect.URL = u
	return redirect, row.ID, nil
}

// KnownDeviceTTL is how long the known-device cookie lasts: the longest
// lifetime browsers grant a cookie (RFC 6265bis §5.5: 400 days).
const KnownDeviceTTL = login.KnownDeviceTTL

// knownDeviceCookie returns the browser's known-device cookie, giving it one
// (a Set-Cookie in out) when it has none: every sign-in starts here, so a
// browser that finishes one has it. It tells the browser apart from the
// others its users sign in from (a new device is a security notification)
// and proves nothing.
func (p *Provider) knownDeviceCookie(h, out http.Header) string {
	name := idp.CookieName(idp.KnownDeviceCookieBase, p.secure)
	v := cookieFromHeader(h, name)
	if len(v) >= 32 && len(v) <= 64 {
		return v
	}
	v = idp.RandomToken(32)
	c := &http.Cookie{Name: name, Value: v, Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
		Expires: p.now().Add(KnownDeviceTTL).UTC()}
	out.Add("Set-Cookie", c.String())
	return v
}

// writeRefusal is what Handler answers for an Authorize or EndSession
// refusal when no hosted pages are in front of it (the pages render their
// own): a minimal HTML page, never JSON.
func writeRefusal(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	var throttled *idp.ThrottledError
	switch {
	case errors.As(err, &throttled):
		status = http.StatusTooManyRequests
	case !errors.Is(err, idp.ErrUnknownClient) && !errors.Is(err, idp.ErrRedirectURIInvalid) &&
		!errors.Is(err, idp.ErrRequestInvalid) && !errors.Is(err, idp.ErrLogoutRequestInvalid):
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<title>Error</title>\n<p>%s</p>\n", http.StatusText(status))
}
