package op

import (
	"context"
	"errors"
	"time"

	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/storage"
)

// AccessToken is what a resource server inside Twofold (the admin API)
// learns from one of our live access tokens.
type AccessToken struct {
	ID       string
	ClientID string
	// ClientAllowedScopes are the privileged scopes the token's client is
	// registered with now: a scope taken away stops counting at once.
	ClientAllowedScopes []string
	UserID              string // "" for a client_credentials token
	Scopes              []string
	ACR                 string
	AMR                 []string
	AuthTime            *time.Time // when the user last actively authenticated
	ExpiresAt           time.Time
}

// ErrInvalidToken: not one of our access tokens, or expired, revoked, or
// issued to a client or user that can no longer use it.
var ErrInvalidToken = errors.New("op: the access token is invalid, expired or revoked")

// VerifyAccessToken checks a bearer access token exactly as /userinfo and
// /introspect do (an opaque token opened with AES-256-GCM, or a JWT
// verified against our keys, then the stored row: neither revoked nor
// expired) and says what it grants.
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (*AccessToken, error) {
	// The library's verifier reads the issuer from the context, which its
	// own handlers set; this is called from outside them.
	ctx = zop.ContextWithIssuer(ctx, p.cfg.Issuer)
	at, subject, err := p.server.liveToken(ctx, token)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, errTokenNotLive) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	want := at.ClientID
	if at.UserID != "" {
		want = at.UserID
	}
	if subject != want {
		return nil, ErrInvalidToken
	}
	client, err := p.store.GetClient(ctx, at.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidToken // a disabled client's tokens mean nothing
	}
	if err != nil {
		return nil, err
	}
	if at.UserID != "" {
		u, err := p.store.GetUser(ctx, at.UserID)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled) {
			return nil, ErrInvalidToken
		}
		if err != nil {
			return nil, err
		}
	}
	return &AccessToken{
		ID: at.ID, ClientID: at.ClientID, ClientAllowedScopes: client.AllowedScopes, UserID: at.UserID,
		Scopes: at.Scopes, ACR: at.ACR, AMR: at.AMR, AuthTime: at.AuthTime, ExpiresAt: at.ExpiresAt,
	}, nil
}
