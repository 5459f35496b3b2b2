package storage

import (
	"context"
	"time"
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
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

// CreateClient registers a new client; a taken id → ErrConflict.
func (s *Store) CreateClient(ctx context.Context, c *Client) error {
	return translate("create client", s.db.WithContext(ctx).Create(c).Error)
}

// UpsertClient creates or replaces a client (static clients from the config
// file are applied this way at every start).
func (s *Store) UpsertClient(ctx context.Context, c *Client) error {
	return s.upsert(ctx, "upsert client", c, "id",
		"name", "secret_hash", "redirect_uris", "post_logout_redirect_uris", "grant_types", "skip_consent", "policy",
		"auth_method", "access_token_type", "id_token_signed_response_alg", "jwks")
}

// GetClient returns the client with id.
func (s *Store) GetClient(ctx context.Context, id string) (*Client, error) {
	var c Client
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, translate("get client", err)
	}
	return &c, nil
}

// ListClients returns every client by id.
func (s *Store) ListClients(ctx context.Context) ([]Client, error) {
	var cs []Client
	err := s.db.WithContext(ctx).Order("id").Find(&cs).Error
	return cs, translate("list clients", err)
}

// DeleteClient removes a client.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.deleteByKey(ctx, "delete client", &Client{}, "id", id)
}
