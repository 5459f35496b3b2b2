package op

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/storage"
)

// opServer embeds the library's LegacyServer and overrides what Twofold
// decides itself: client authentication, every token grant, introspection
// and userinfo. /authorize and /end_session do not reach the library at all
// (see Provider.Authorize and Provider.EndSession).
type opServer struct {
	*op.LegacyServer
	p        *Provider
	verified verifiedTokens
}

// VerifyClient authenticates the client at the token, introspection and
// revocation endpoints (grants Twofold does not offer were refused before,
// see refuseGrants). A failed authentication is 401 invalid_client
// (RFC 6749 §5.2).
func (s *opServer) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	c, err := s.authenticateClient(ctx, r)
	var oe *oidc.Error
	if errors.As(err, &oe) && oe.ErrorType == oidc.InvalidClient {
		return nil, op.NewStatusError(oe, http.StatusUnauthorized)
	}
	return c, err
}

// authenticateClient checks the client's credentials. A client assertion
// (private_key_jwt, RFC 7523 §3) is checked first, for every grant, and its
// jti may be used once.
func (s *opServer) authenticateClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	if r.Data.ClientAssertion == "" {
		return s.LegacyServer.VerifyClient(ctx, r)
	}
	if r.Data.ClientAssertionType != oidc.ClientAssertionTypeJWTAssertion {
		return nil, oidc.ErrInvalidClient().WithDescription("Unsupported client_assertion_type.")
	}
	if _, err := jose.ParseSignedCompact(r.Data.ClientAssertion, assertionJOSEAlgs()); err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("The client assertion is not signed with an accepted algorithm.")
	}
	exchanger, ok := s.Provider().(op.JWTAuthorizationGrantExchanger)
	if !ok {
		return nil, oidc.ErrInvalidClient().WithDescription("private_key_jwt is not supported.")
	}
	c, err := op.AuthorizePrivateJWTKey(ctx, r.Data.ClientAssertion, exchanger)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("The client assertion is invalid.").WithParent(err)
	}
	if r.Data.ClientID != "" && r.Data.ClientID != c.GetID() {
		return nil, oidc.ErrInvalidClient().WithDescription("client_id does not match the client assertion.")
	}
	if err := s.p.useAssertion(ctx, c.GetID(), r.Data.ClientAssertion); err != nil {
		return nil, err
	}
	return c, nil
}

// assertionAlgs are the algorithms a client assertion may be signed with
// (SECURITY-RULES: an allow-list, none refused), as discovery publishes
// them. They are the ones the library's assertion check accepts; checking
// them here first keeps the list ours if that default changes.
var assertionAlgs = []string{string(jose.RS256), string(jose.PS256), string(jose.ES256)}

func assertionJOSEAlgs() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(assertionAlgs))
	for i, a := range assertionAlgs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}

// CodeExchange redeems an authorization code (RFC 6749 §4.1.3).
func (s *opServer) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	tc, err := dpopTokenClient(ctx, r.Client)
	if err != nil {
		return nil, err
	}
	resp, err := s.p.tokens.ExchangeCode(ctx, tc, r.Data)
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// RefreshToken rotates a refresh token (RFC 9700 §4.14).
func (s *opServer) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	tc, err := dpopTokenClient(ctx, r.Client)
	if err != nil {
		return nil, err
	}
	resp, err := s.p.tokens.Refresh(ctx, tc, r.Data)
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// ClientCredentialsExchange issues an access token to a confidential client.
func (s *opServer) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	tc, err := dpopTokenClient(ctx, r.Client)
	if err != nil {
		return nil, err
	}
	resp, err := s.p.tokens.ClientCredentials(ctx, tc, r.Data)
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

// JWTProfile: the JWT-bearer grant is not offered (no client is configured
// for it), so it is refused rather than half-supported.
func (s *opServer) JWTProfile(context.Context, *op.Request[oidc.JWTProfileGrantRequest]) (*op.Response, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("The JWT bearer grant is not supported.")
}

// TokenExchange is not offered.
func (s *opServer) TokenExchange(context.Context, *op.ClientRequest[oidc.TokenExchangeRequest]) (*op.Response, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("Token exchange is not supported.")
}

// Introspect answers RFC 7662 for a confidential client. The library's own
// version authenticates resource servers apart from VerifyClient (an
// assertion's jti could be replayed there) and answers a failed
// authentication with unauthorized_client; this one authenticates through
// VerifyClient (401 invalid_client, RFC 7662 §2.3).
func (s *opServer) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	cr := &op.Request[op.ClientCredentials]{Method: r.Method, URL: r.URL, Header: r.Header, Form: r.Form, Data: r.Data.ClientCredentials}
	client, err := s.VerifyClient(ctx, cr)
	if err != nil {
		return nil, err
	}
	if client.AuthMethod() == oidc.AuthMethodNone {
		e := oidc.ErrInvalidClient().WithDescription("Only confidential clients may introspect tokens.")
		return nil, op.NewStatusError(e, http.StatusUnauthorized)
	}
	resp := new(oidc.IntrospectionResponse)
	at, subject, err := s.liveToken(ctx, r.Data.Token)
	if err == nil && introspection(resp, at, subject, client.GetID(), s.p.cfg.Issuer) == nil {
		resp.Active = true
	} else {
		resp = new(oidc.IntrospectionResponse) // inactive says nothing more (RFC 7662 §2.2)
	}
	return op.NewResponse(plainIntrospection(resp)), nil
}

// introspectionJSON is an RFC 7662 response with the members Twofold sets,
// encoded by encoding/json directly: the library's type merges its claims
// map by marshalling three times, a tenth of an introspection's CPU.
type introspectionJSON struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	CNF       *cnfJSON `json:"cnf,omitempty"`
}

// cnfJSON is a DPoP-bound token's confirmation (RFC 9449 §6.2).
type cnfJSON struct {
	JKT string `json:"jkt"`
}

func plainIntrospection(r *oidc.IntrospectionResponse) introspectionJSON {
	out := introspectionJSON{
		Active: r.Active, Scope: strings.Join(r.Scope, " "), ClientID: r.ClientID, TokenType: r.TokenType,
		Exp: int64(r.Expiration), Iat: int64(r.IssuedAt), Sub: r.Subject, Aud: r.Audience, Iss: r.Issuer, JTI: r.JWTID,
		AMR: r.AuthenticationMethodsReferences, AuthTime: int64(r.AuthTime),
	}
	out.ACR, _ = r.Claims["acr"].(string)
	if jkt, _ := r.Claims["cnf.jkt"].(string); jkt != "" {
		out.CNF = &cnfJSON{JKT: jkt}
	}
	return out
}

// readToken reads one of our access tokens, opaque or JWT, as the library
// does for userinfo: its id and subject, and for a client_credentials JWT
// its claims.
//
// Opaque tokens are opened with AES-256-GCM only: the library's own crypto
// falls back to AES-CFB, under which any string "decrypts", and even then
// the result counts only when it has the shape of our ids.
func (s *opServer) readToken(ctx context.Context, token string) (verifiedToken, bool) {
	if plain, err := s.p.opaque.Decrypt(token); err == nil {
		id, subject, ok := strings.Cut(plain, ":")
		if ok && tokenIDRE.MatchString(id) && subjectRE.MatchString(subject) {
			return verifiedToken{id: id, subject: subject}, true
		}
	}
	now := time.Now()
	if v, ok := s.verified.get(token, now); ok {
		return v, true
	}
	claims, err := op.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, token, s.Provider().AccessTokenVerifier(ctx))
	if err != nil {
		return verifiedToken{}, false
	}
	v := verifiedToken{id: claims.JWTID, subject: claims.Subject, expires: claims.GetExpiration()}
	if claims.Subject == claims.ClientID && claims.AuthTime == 0 {
		v.stateless = &storage.AccessToken{
			ID: claims.JWTID, ClientID: claims.ClientID, Scopes: storage.Strings(claims.Scopes),
			Audience: storage.Strings(claims.Audience), CreatedAt: claims.GetIssuedAt(), ExpiresAt: claims.GetExpiration(),
		}
	}
	s.verified.put(token, v)
	return v, true
}

// liveToken is the record of a live access token: its stored row, or for a
// client_credentials JWT (never stored) its claims — unless revoked one by
// one (a stored row, revoked) or with all its client's tokens (the client's
// mark), or its client is gone; and the token's subject.
func (s *opServer) liveToken(ctx context.Context, token string) (*storage.AccessToken, string, error) {
	v, ok := s.readToken(ctx, token)
	if !ok {
		return nil, "", errTokenNotLive
	}
	st := &opStorage{p: s.p}
	at, err := st.liveAccessToken(ctx, v.id)
	if !errors.Is(err, storage.ErrNotFound) || v.stateless == nil {
		return at, v.subject, err
	}
	at = v.stateless
	if !s.p.now().Before(at.ExpiresAt) {
		return nil, "", errTokenNotLive
	}
	c, err := s.p.store.GetClient(ctx, at.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", errTokenNotLive
	}
	if err != nil {
		return nil, "", err
	}
	// iat has whole seconds: a token of the same second as the mark is
	// taken as revoked. One issued before its client was created is a
	// deleted client's, whose id was taken again.
	if (c.TokensRevokedAt != nil && !at.CreatedAt.After(*c.TokensRevokedAt)) || at.CreatedAt.Before(c.CreatedAt.Truncate(time.Second)) {
		return nil, "", errTokenNotLive
	}
	return at, v.subject, nil
}

// Shapes of what an opaque access token seals: our random ids (base64url)
// and a subject (a user id or a client id).
var (
	tokenIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)
	subjectRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)
)

// Revocation answers RFC 7009. It looks the token up as what it is,
// whatever the hint (§2.1: a wrong hint only widens the search): a refresh
// token by its hash first, then one of our access tokens. The library's own
// version, given the hint access_token, "decrypts" a refresh token as an
// opaque access token and revokes whatever id falls out.
func (s *opServer) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	st := s.Provider().Storage()
	clientID := r.Client.GetID()
	userID, tokenID, err := st.GetRefreshTokenInfo(ctx, clientID, r.Data.Token)
	switch {
	case err == nil:
	case errors.Is(err, op.ErrInvalidRefreshToken):
		v, ok := s.readToken(ctx, r.Data.Token)
		if !ok {
			return op.NewResponse(nil), nil // unknown tokens are not an error (§2.2)
		}
		if v.stateless != nil {
			return s.revokeStateless(ctx, v.stateless, clientID)
		}
		tokenID, userID = v.id, v.subject
	default:
		return nil, op.RevocationError(oidc.ErrServerError().WithParent(err))
	}
	if err := st.RevokeToken(ctx, tokenID, userID, clientID); err != nil {
		return nil, op.RevocationError(err)
	}
	return op.NewResponse(nil), nil
}

// revokeStateless revokes a client_credentials JWT, which has no row until
// then: it gets one, revoked (one stored before such tokens stopped being
// stored is revoked in place).
func (s *opServer) revokeStateless(ctx context.Context, at *storage.AccessToken, clientID string) (*op.Response, error) {
	if at.ClientID != clientID {
		return nil, op.RevocationError(oidc.ErrUnauthorizedClient().WithDescription("The token was issued to another client."))
	}
	err := s.p.store.RevokeAccessToken(ctx, at.ID)
	if errors.Is(err, storage.ErrNotFound) {
		row := *at
		err = s.p.store.RecordRevokedAccessToken(ctx, &row)
	}
	if err != nil {
		return nil, op.RevocationError(oidc.ErrServerError().WithParent(err))
	}
	return op.NewResponse(nil), nil
}

// UserInfo answers like the library but with 401 for a bad token
// (RFC 6750 §3.1), and checks revocation and a DPoP binding through
// SetUserinfoFromToken.
func (s *opServer) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	resp, err := s.LegacyServer.UserInfo(ctx, r)
	if err != nil {
		var se op.StatusError
		if errors.As(err, &se) {
			e := oidc.ErrAccessDenied().WithDescription("The access token is invalid, expired or revoked.")
			e.ErrorType = "invalid_token"
			return nil, op.NewStatusError(e, http.StatusUnauthorized)
		}
		return nil, err
	}
	return resp, nil
}

// useAssertion records a client assertion's jti until it expires; a second
// use is a replay.
func (p *Provider) useAssertion(ctx context.Context, clientID, assertion string) error {
	var claims struct {
		JTI string    `json:"jti"`
		Exp oidc.Time `json:"exp"`
	}
	if _, err := oidc.ParseToken(assertion, &claims); err != nil || claims.JTI == "" {
		return oidc.ErrInvalidClient().WithDescription("The client assertion needs a jti.")
	}
	exp := claims.Exp.AsTime()
	if exp.IsZero() || exp.After(p.now().Add(time.Hour)) {
		exp = p.now().Add(time.Hour)
	}
	if err := p.store.UseClientAssertion(ctx, clientID, claims.JTI, exp); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return oidc.ErrInvalidClient().WithDescription("The client assertion was already used.")
		}
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}
