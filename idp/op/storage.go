package op

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// opStorage is the op.Storage the library needs. Twofold overrides
// authorization, every grant and logout in opServer, so the methods for
// those paths refuse: reaching one would mean a route was not overridden.
type opStorage struct {
	p *Provider
}

var (
	_ op.Storage                  = (*opStorage)(nil)
	_ op.ClientCredentialsStorage = (*opStorage)(nil)
)

var errNotOurPath = errors.New("idp: this op path is handled by opServer")

func (s *opStorage) CreateAuthRequest(context.Context, *oidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, errNotOurPath
}
func (s *opStorage) AuthRequestByID(context.Context, string) (op.AuthRequest, error) {
	return nil, errNotOurPath
}
func (s *opStorage) AuthRequestByCode(context.Context, string) (op.AuthRequest, error) {
	return nil, errNotOurPath
}
func (s *opStorage) SaveAuthCode(context.Context, string, string) error { return errNotOurPath }
func (s *opStorage) DeleteAuthRequest(context.Context, string) error    { return errNotOurPath }
func (s *opStorage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return "", time.Time{}, errNotOurPath
}
func (s *opStorage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errNotOurPath
}
func (s *opStorage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errNotOurPath
}
func (s *opStorage) TerminateSession(context.Context, string, string) error { return errNotOurPath }
func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}
func (s *opStorage) ClientCredentialsTokenRequest(context.Context, string, []string) (op.TokenRequest, error) {
	return nil, errNotOurPath
}

// refreshTokenIDPrefix marks a refresh-token family in RevokeToken.
const refreshTokenIDPrefix = "refresh:"

// GetRefreshTokenInfo lets /revoke find a refresh token of this client.
func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	rt, err := s.p.store.GetRefreshTokenByHash(ctx, idp.HashSecret(token))
	if err != nil || rt.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.UserID, refreshTokenIDPrefix + rt.FamilyID, nil
}

// RevokeToken revokes a refresh token's family or one access token, if it
// belongs to clientID; unknown tokens are not an error (RFC 7009 §2.2).
func (s *opStorage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	if family, ok := strings.CutPrefix(tokenOrID, refreshTokenIDPrefix); ok {
		if err := s.p.store.RevokeRefreshFamily(ctx, family); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		return nil
	}
	at, err := s.p.store.GetAccessToken(ctx, tokenOrID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // unknown tokens are not an error (RFC 7009 §2.2)
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if at.ClientID != clientID {
		return oidc.ErrUnauthorizedClient().WithDescription("The token was issued to another client.")
	}
	if err := s.p.store.RevokeAccessToken(ctx, at.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

func (s *opStorage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return s.p.keys.SigningKey(ctx, "RS256")
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	var out []jose.SignatureAlgorithm
	for _, a := range s.p.keys.Algorithms() {
		out = append(out, jose.SignatureAlgorithm(a))
	}
	return out, nil
}

// KeySet verifies our own tokens (id_token_hint, access tokens at /userinfo).
func (s *opStorage) KeySet(ctx context.Context) ([]op.Key, error) {
	keys, err := s.p.keys.PublicKeys(ctx)
	out := make([]op.Key, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out, err
}

// notFoundError tells the library a lookup found nothing (not a server fault).
type notFoundError struct{ error }

func (notFoundError) IsNotFound() {}

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.p.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, notFoundError{errors.New("unknown client")}
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return opClient{row: c}, nil
}

// AuthorizeClientIDSecret compares the secret in constant time against
// its keyed hash.
func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if err := s.p.clients.VerifyClientSecret(ctx, id, secret); err != nil {
		if errors.Is(err, idp.ErrInvalidCredentials) || errors.Is(err, idp.ErrNotFound) {
			// An oidc error, not a plain one: the library turns plain errors
			// from the client_credentials path into server_error.
			return oidc.ErrInvalidClient().WithDescription("invalid client_id / client_secret")
		}
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

func (s *opStorage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if err := s.AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	return s.GetClientByClientID(ctx, id)
}

func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// liveAccessToken loads an access token that is neither revoked nor expired.
func (s *opStorage) liveAccessToken(ctx context.Context, id string) (*storage.AccessToken, error) {
	at, err := s.p.store.GetAccessToken(ctx, id)
	if err != nil {
		return nil, err
	}
	if at.RevokedAt != nil || !s.p.now().Before(at.ExpiresAt) {
		return nil, errTokenNotLive
	}
	return at, nil
}

var errTokenNotLive = errors.New("access token revoked or expired")

// SetUserinfoFromToken answers /userinfo, checking revocation.
func (s *opStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	at, err := s.liveAccessToken(ctx, tokenID)
	if err != nil {
		return err
	}
	if at.UserID == "" || at.UserID != subject {
		return errors.New("not a user's access token")
	}
	if !allowsBearer(at.DPoPJKT, dpopJKT(ctx)) {
		// A DPoP-bound token works only with a proof of its key (RFC 9449
		// §7.1), never as a bearer token.
		return errors.New("a DPoP-bound access token without a proof of its key")
	}
	u, err := s.p.store.GetUser(ctx, at.UserID)
	if err != nil || u.Disabled {
		return errors.New("user unavailable")
	}
	info.Subject = u.ID
	if slices.Contains(at.Scopes, oidc.ScopeProfile) {
		info.PreferredUsername = u.Username
	}
	if slices.Contains(at.Scopes, oidc.ScopeEmail) && u.Email != "" {
		info.Email = u.Email
		// True only while the address is the one the user proved they read
		// (storage clears EmailVerifiedAt whenever it changes).
		info.EmailVerified = oidc.Bool(u.EmailVerifiedAt != nil)
	}
	return nil
}

// SetIntrospectionFromToken answers /introspect for the token's client or
// audience; anything else is reported inactive.
func (s *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	at, err := s.liveAccessToken(ctx, tokenID)
	if err != nil {
		return err
	}
	return introspection(resp, at, subject, clientID, s.p.cfg.Issuer)
}

// introspection fills resp from a live token, for the token's client or
// audience only.
func introspection(resp *oidc.IntrospectionResponse, at *storage.AccessToken, subject, clientID, issuer string) error {
	if at.ClientID != clientID && !slices.Contains(at.Audience, clientID) {
		return errors.New("not the token's client or audience")
	}
	resp.Scope = oidc.SpaceDelimitedArray(at.Scopes)
	resp.ClientID = at.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(at.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(at.CreatedAt)
	resp.Subject = subject
	resp.Audience = oidc.Audience(at.Audience)
	resp.Issuer = issuer
	resp.JWTID = at.ID
	resp.AuthenticationMethodsReferences = oidc.AuthenticationMethodsReferences(at.AMR)
	if at.AuthTime != nil {
		resp.AuthTime = oidc.FromTime(*at.AuthTime)
	}
	if at.ACR != "" {
		resp.Claims = map[string]any{"acr": at.ACR}
	}
	if at.DPoPJKT != "" {
		resp.TokenType = "DPoP" // RFC 9449 §6.2
		if resp.Claims == nil {
			resp.Claims = map[string]any{}
		}
		resp.Claims["cnf.jkt"] = at.DPoPJKT
	}
	return nil
}

func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID finds a client's public key for private_key_jwt.
func (s *opStorage) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	c, err := s.p.store.GetClient(ctx, clientID)
	if err != nil || c.JWKS == "" {
		return nil, errors.New("client has no keys")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(c.JWKS), &set); err != nil {
		return nil, err
	}
	keys := set.Key(keyID)
	if len(keys) == 0 {
		return nil, errors.New("unknown key id")
	}
	return &keys[0], nil
}

func (s *opStorage) Health(ctx context.Context) error { return s.p.clients.Ready(ctx) }
