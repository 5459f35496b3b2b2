package op

import (
	"context"
	"encoding/json"
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
	"github.com/twofold-idp/twofold/storage"
)

// RequestURIPrefix starts every request_uri /par hands out (RFC 9126 §2.2).
const RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// pushedRequestLifetime is how long a request_uri may be used: long enough
// to redirect the browser, short as RFC 9126 §2.2 advises (5 to 600 s).
const pushedRequestLifetime = 60 * time.Second

// clientAuthParams authenticate the client at /par; they are not part of
// the authorization request that is stored.
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// PushedAuthorize answers /par (RFC 9126 §2): the client authenticates as
// at /token, its authorization parameters are checked as /authorize checks
// them before anything reaches a browser (size, client, redirect URI,
// response type, PKCE), and stored under a single-use request_uri that
// lives pushedRequestLifetime. Errors are JSON (§2.3).
func (p *Provider) PushedAuthorize(w http.ResponseWriter, r *http.Request) {
	noStoreHeaders(w.Header())
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, http.StatusMethodNotAllowed, oidc.ErrInvalidRequest().WithDescription("Use POST."))
		return
	}
	r.URL.RawQuery = "" // §2.1: the parameters are in the body only
	form, err := readForm(w, r)
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("The request body is unreadable or too large."))
		return
	}
	ctx := op.ContextWithIssuer(r.Context(), p.cfg.Issuer)
	uri, err := p.push(ctx, r, form)
	if err != nil {
		var oe *oidc.Error
		if !errors.As(err, &oe) {
			p.log.ErrorContext(ctx, "pushed authorization request", "err", err)
			oe = oidc.ErrServerError()
		}
		status := http.StatusBadRequest
		switch oe.ErrorType {
		case oidc.InvalidClient:
			status = http.StatusUnauthorized
		case oidc.ServerError:
			status = http.StatusInternalServerError
		}
		writeOAuthError(w, status, oe)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"request_uri": uri, "expires_in": int(pushedRequestLifetime / time.Second)})
}

func (p *Provider) push(ctx context.Context, r *http.Request, form url.Values) (string, error) {
	cc, err := p.clientCredentials(r, form)
	if err != nil {
		return "", err
	}
	c, err := p.server.VerifyClient(ctx, &op.Request[op.ClientCredentials]{Method: r.Method, URL: r.URL, Header: r.Header, Form: form, Data: cc})
	if err != nil {
		var se op.StatusError
		if errors.As(err, &se) {
			return "", oidc.ErrInvalidClient().WithDescription("Client authentication failed.")
		}
		return "", err
	}
	client := c.(opClient)
	if id := form.Get("client_id"); id != "" && id != client.GetID() {
		return "", oidc.ErrInvalidRequest().WithDescription("client_id does not match the authenticated client.")
	}
	if form.Has("request_uri") {
		// §2.1: a pushed request cannot itself point elsewhere.
		return "", oidc.ErrInvalidRequest().WithDescription("request_uri is not allowed in a pushed authorization request.")
	}
	params := url.Values{}
	for k, v := range form {
		if !slices.Contains(clientAuthParams, k) {
			params[k] = v
		}
	}
	params.Set("client_id", client.GetID())
	if err := p.checkPushed(ctx, client, params); err != nil {
		return "", err
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return "", err
	}
	secret := idp.RandomToken(32)
	err = p.store.CreatePushedRequest(ctx, &storage.PushedRequest{
		ID: idp.HashSecret(secret), ClientID: client.GetID(), Params: string(raw), ExpiresAt: p.now().Add(pushedRequestLifetime),
	})
	if err != nil {
		return "", err
	}
	return RequestURIPrefix + secret, nil
}

// checkPushed refuses at /par what /authorize would refuse before it could
// redirect, and what it would refuse at once: the rest (scopes, prompt,
// id_token_hint, …) is checked when the request_uri is used, with the
// error sent to the (now verified) redirect URI.
func (p *Provider) checkPushed(ctx context.Context, client opClient, params url.Values) error {
	if desc := oversizedParam(params); desc != "" {
		return oidc.ErrInvalidRequest().WithDescription("%s", desc)
	}
	if _, err := p.authorizeClient(ctx, params); err != nil {
		return oidc.ErrInvalidRequest().WithDescription("redirect_uri is missing or not registered for the client.")
	}
	switch {
	case params.Get("response_type") != string(oidc.ResponseTypeCode):
		e := oidc.ErrInvalidRequest().WithDescription("Only response_type=code is supported.")
		e.ErrorType = "unsupported_response_type"
		return e
	case params.Get("request") != "":
		return oidc.ErrRequestNotSupported()
	case params.Get("code_challenge") != "" && params.Get("code_challenge_method") != string(oidc.CodeChallengeMethodS256):
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256.")
	case params.Get("code_challenge") == "" && client.public():
		return oidc.ErrInvalidRequest().WithDescription("PKCE with S256 is required for public clients.")
	}
	return nil
}

// clientCredentials reads the client's credentials as /token does: HTTP
// Basic or the form, never both (RFC 6749 §2.3).
func (p *Provider) clientCredentials(r *http.Request, form url.Values) (*op.ClientCredentials, error) {
	cc := &op.ClientCredentials{
		ClientID: form.Get("client_id"), ClientSecret: form.Get("client_secret"),
		ClientAssertion: form.Get("client_assertion"), ClientAssertionType: form.Get("client_assertion_type"),
	}
	if id, secret, ok := r.BasicAuth(); ok {
		if cc.ClientSecret != "" || cc.ClientAssertion != "" {
			return nil, oidc.ErrInvalidRequest().WithDescription("Use one client authentication method.")
		}
		var err1, err2 error
		cc.ClientID, err1 = url.QueryUnescape(id)
		cc.ClientSecret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("The Basic authorization header is malformed.")
		}
	}
	return cc, nil
}

// errPushedRequestInvalid: a request_uri that is not ours, expired, already
// used or pushed by another client. It is answered with an error page: the
// request carries no redirect URI that could be trusted.
var errPushedRequestInvalid = fmt.Errorf("%w: request_uri is unknown, expired, used or another client's", idp.ErrRequestInvalid)

// resolvePushed replaces an authorization request that names a request_uri
// with the parameters pushed for it, using the request_uri once (RFC 9126
// §4): only the pushed parameters count; client_id must be the pushing
// client's.
func (p *Provider) resolvePushed(ctx context.Context, form url.Values) (url.Values, error) {
	ru, clientID := form.Get("request_uri"), form.Get("client_id")
	secret, ok := strings.CutPrefix(ru, RequestURIPrefix)
	if !ok || secret == "" || len(secret) > 64 || clientID == "" || len(clientID) > paramLimit("client_id") {
		return nil, errPushedRequestInvalid
	}
	pr, err := p.store.ConsumePushedRequest(ctx, idp.HashSecret(secret), clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errPushedRequestInvalid
	}
	if err != nil {
		return nil, err
	}
	var params url.Values
	if err := json.Unmarshal([]byte(pr.Params), &params); err != nil {
		return nil, err
	}
	return params, nil
}

func writeOAuthError(w http.ResponseWriter, status int, e *oidc.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": string(e.ErrorType), "error_description": e.Description})
}
