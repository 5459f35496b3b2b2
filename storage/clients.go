package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Client is a registered relying party. A zero AccessTokenType or
// IDTokenAlg means the column default (jwt, RS256), on create and upsert
// alike.
type Client struct {
	ID                     string `gorm:"primaryKey"`
	Name                   string
	SecretHash             string  // empty: public client
	RedirectURIs           Strings `gorm:"column:redirect_uris"`
	PostLogoutRedirectURIs Strings `gorm:"column:post_logout_redirect_uris"`
	GrantTypes             Strings
	SkipConsent            bool
	Policy                 *string
	AuthMethod             string // client_secret_basic | client_secret_post | private_key_jwt | none; "": none if public, else client_secret_basic
	AccessTokenType        string `gorm:"default:jwt"` // jwt | opaque
	IDTokenAlg             string `gorm:"column:id_token_signed_response_alg;default:RS256"`
	JWKS                   string `gorm:"column:jwks"` // public JWK set (JSON) for private_key_jwt
	// AllowedScopes are the scopes beyond the standard ones the client may be granted (twofold:admin).
	AllowedScopes Strings
	// BackchannelLogoutURI receives a logout token when an SSO session in
	// which the client got tokens ends ("" none; OpenID Connect Back-Channel
	// Logout 1.0 §2.2); BackchannelLogoutSessionRequired: it needs the sid.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// RequirePushedAuthorizationRequests: /authorize accepts only a
	// request_uri from /par (RFC 9126 §6).
	RequirePushedAuthorizationRequests bool
	// Disabled: the configuration file no longer declares the client. GetClient does not find it.
	Disabled bool
	// ManagedBy is who may change the client: ManagedByDatabase (the zero value's column default),
	// ManagedByConfig, ManagedByDemo or ManagedByLegacy.
	ManagedBy string `gorm:"default:database"`
	// TokensRevokedAt: every client_credentials token of the client issued at
	// or before it is revoked (RevokeClientTokens sets it; those tokens are
	// not stored one by one).
	TokensRevokedAt *time.Time
	// DPoPBoundAccessTokens: every token request must carry a DPoP proof
	// (RFC 9449 §5.2 dpop_bound_access_tokens).
	DPoPBoundAccessTokens bool `gorm:"column:dpop_bound_access_tokens"`
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// CreateClient registers a new client; a taken id → ErrConflict.
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	defer s.clients.invalidate()
	return translate("create client", s.db.WithContext(ctx).Create(c).Error)
}

// UpsertClient creates or replaces a client (static clients from the config
// file are applied this way at every start), including whether it is
// disabled and who manages it.
func (s *Store) UpsertClient(ctx context.Context, c *Client) error {
	defer s.clients.invalidate()
	return s.upsert(ctx, "upsert client", c, "id",
		"name", "secret_hash", "redirect_uris", "post_logout_redirect_uris", "grant_types", "skip_consent", "policy",
		"auth_method", "access_token_type", "id_token_signed_response_alg", "jwks", "allowed_scopes", "disabled", "managed_by",
		"dpop_bound_access_tokens", "backchannel_logout_uri", "backchannel_logout_session_required", "require_pushed_authorization_requests")
}

// GetClient returns the enabled client with id; a disabled client is
// ErrNotFound, so that every path that looks a client up by id — /authorize,
// /token, client authentication, logout, the login flow — treats it as
// unknown. ListClients shows disabled clients too. It answers from a
// short-lived cache (see clientTTL); the caller gets its own copy.
func (s *Store) GetClient(ctx context.Context, id string) (*Client, error) {
	if s.inTx { // the transaction's own view, which the cache does not hold
		return s.getClient(ctx, id)
	}
	now := time.Now() // the wall clock, not s.now: a test's fixed clock must not make entries immortal
	c, gen := s.clients.get(id, now)
	if c != nil {
		return c, nil
	}
	c, err := s.getClient(ctx, id)
	if err != nil {
		return nil, err
	}
	s.clients.put(c, gen, now)
	return c, nil
}

func (s *Store) getClient(ctx context.Context, id string) (*Client, error) {
	var c Client
	if err := s.db.WithContext(ctx).Where("id = ? AND NOT disabled", id).Take(&c).Error; err != nil {
		return nil, translate("get client", err)
	}
	return &c, nil
}

// SetClientDisabled disables or re-enables a client.
func (s *Store) SetClientDisabled(ctx context.Context, id string, disabled bool) error {
	defer s.clients.invalidate()
	res := s.db.WithContext(ctx).Model(&Client{}).Where("id = ?", id).
		Updates(map[string]any{"disabled": disabled, "updated_at": s.clock()})
	if res.Error != nil {
		return translate("set client disabled", res.Error)
	}
	if res.RowsAffected == 0 {
		return translate("set client disabled", gorm.ErrRecordNotFound)
	}
	return nil
}

// ListClients returns every client by id, disabled ones included.
func (s *Store) ListClients(ctx context.Context) ([]Client, error) {
	var cs []Client
	err := s.db.WithContext(ctx).Order("id").Find(&cs).Error
	return cs, translate("list clients", err)
}

// DeleteClient removes a client.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	defer s.clients.invalidate()
	return s.deleteByKey(ctx, "delete client", &Client{}, "id", id)
}
