package idp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/mfa/backupcodes"
	"github.com/twofold-idp/twofold/mfa/webauthn"
	"github.com/twofold-idp/twofold/storage"
)

// ProviderConfig holds the provider's settings; zero durations take defaults.
type ProviderConfig struct {
	Issuer               string
	SessionIdleTimeout   time.Duration // default 12h
	SessionLifetime      time.Duration // default 14 days
	AccessTokenLifetime  time.Duration // default 15m
	RefreshTokenLifetime time.Duration // default 30 days
	IDTokenLifetime      time.Duration // default 1h
	AccessTokenAlg       string        // default ES256
	CORSAllowedOrigins   []string
	// BackupCodeParams are the argon2id costs of backup codes (zero: the
	// OWASP defaults; tests pass cheap ones).
	BackupCodeParams backupcodes.Params
}

// Lifetimes of the single-use steps of a login.
const (
	AuthRequestTTL = 30 * time.Minute
	CodeTTL        = 60 * time.Second
	logoutTokenTTL = 10 * time.Minute
)

func (c *ProviderConfig) applyDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.SessionIdleTimeout, 12*time.Hour)
	def(&c.SessionLifetime, 14*24*time.Hour)
	def(&c.AccessTokenLifetime, 15*time.Minute)
	def(&c.RefreshTokenLifetime, 30*24*time.Hour)
	def(&c.IDTokenLifetime, time.Hour)
	if c.AccessTokenAlg == "" {
		c.AccessTokenAlg = "ES256"
	}
}

// providerStore is the storage the provider and the login flow need.
type providerStore interface {
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)

	CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error
	GetAuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error)
	BindAuthRequest(ctx context.Context, id, browserHash string) error
	CompleteAuthRequest(ctx context.Context, id, userID, sessionID string, authTime time.Time, amr []string, acr string) error
	SetAuthRequestConsent(ctx context.Context, id string) error
	SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
	ConsumeAuthCode(ctx context.Context, codeHash string) (*storage.AuthRequest, error)

	CreateSession(ctx context.Context, s *storage.Session) error
	GetLiveSessionByCookieHash(ctx context.Context, cookieHash string) (*storage.Session, error)
	TouchSession(ctx context.Context, id string, idleExpiresAt time.Time) error
	EndSession(ctx context.Context, id string) error

	CreateAccessToken(ctx context.Context, t *storage.AccessToken) error
	GetAccessToken(ctx context.Context, id string) (*storage.AccessToken, error)
	RevokeAccessToken(ctx context.Context, id string) error
	CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error
	GetRefreshTokenByHash(ctx context.Context, hash string) (*storage.RefreshToken, error)
	RotateRefreshToken(ctx context.Context, oldHash string, next *storage.RefreshToken) (*storage.RefreshToken, error)
	RevokeRefreshFamily(ctx context.Context, familyID string) error
	RevokeAuthRequestTokens(ctx context.Context, authRequestID string) error
	AuthRequestRetracted(ctx context.Context, authRequestID string) (bool, error)
	RevokeSessionTokens(ctx context.Context, sessionID string) error

	GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error)
	SaveConsent(ctx context.Context, c *storage.Consent) error

	RecordFailure(ctx context.Context, key string, backoff func(failures int) time.Duration) (*storage.Throttle, error)
	GetThrottle(ctx context.Context, key string) (*storage.Throttle, error)
	ResetThrottle(ctx context.Context, key string) error

	UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt time.Time) error
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
	mfaStore
	accountStore
	CreateRememberedDevice(ctx context.Context, d *storage.RememberedDevice) error
	UseRememberedDevice(ctx context.Context, userID, tokenHash string) (*storage.RememberedDevice, error)
	ListRememberedDevices(ctx context.Context, userID string) ([]storage.RememberedDevice, error)
	ForgetRememberedDevice(ctx context.Context, userID, id string) error
	ForgetRememberedDevices(ctx context.Context, userID string) error
}

var _ providerStore = (*storage.Store)(nil)

// Provider is the OpenID provider: the op library's endpoints, our storage
// adapter, the login flow behind the hosted pages, and token minting.
type Provider struct {
	cfg    ProviderConfig
	store  providerStore
	dir    *Directory
	keys   *KeyManager
	ring   *secrets.Keyring
	log    *slog.Logger
	now    func() time.Time
	op     *op.Provider
	server *opServer
	secure bool // https issuer: __Host- cookies
	codes  *backupcodes.Hasher
	wa     *webauthn.Ceremonies // nil when the issuer's host cannot be a WebAuthn RP ID (an IP address)

	discovery []byte // precomputed /.well-known/openid-configuration
	handler   http.Handler
}

// NewProvider wires the provider. now may be nil.
func NewProvider(cfg ProviderConfig, store providerStore, dir *Directory, keys *KeyManager, ring *secrets.Keyring, logger *slog.Logger, now func() time.Time) (*Provider, error) {
	cfg.applyDefaults()
	if now == nil {
		now = time.Now
	}
	iu, err := url.Parse(cfg.Issuer)
	if err != nil || iu.Host == "" {
		return nil, fmt.Errorf("provider: issuer %q is not a URL", cfg.Issuer)
	}
	p := &Provider{cfg: cfg, store: store, dir: dir, keys: keys, ring: ring, log: logger, now: now, secure: iu.Scheme == "https"}
	params := cfg.BackupCodeParams
	if params == (backupcodes.Params{}) {
		params = backupcodes.DefaultParams
	}
	p.codes = backupcodes.NewHasher(ring.SubKey("backup-code-pepper"), params)
	// The WebAuthn relying party is the issuer's host; its origin is the
	// issuer's origin (ARCHITECTURE.md: never an IP address).
	p.wa, err = webauthn.New(webauthn.Config{
		RPID: iu.Hostname(), RPDisplayName: "Twofold", Origins: []string{iu.Scheme + "://" + iu.Host}, Now: now,
	})
	if err != nil {
		logger.Warn("WebAuthn is off: the issuer's host cannot be a WebAuthn relying party ID", "host", iu.Hostname(), "err", err)
		p.wa = nil
	}

	var cryptoKey [32]byte
	copy(cryptoKey[:], ring.SubKey("op-opaque-token"))
	opCfg := &op.Config{
		CryptoKey:               cryptoKey,
		CodeMethodS256:          true,
		AuthMethodPost:          true,
		AuthMethodPrivateKeyJWT: true,
		GrantTypeRefreshToken:   true,
		RequestObjectSupported:  false,
		SupportedClaims:         op.DefaultSupportedClaims,
	}
	algs := keys.Algorithms()
	opts := []op.Option{
		op.WithIDTokenHintVerifierOpts(op.WithSupportedIDTokenHintSigningAlgorithms(algs...)),
		op.WithAccessTokenVerifierOpts(op.WithSupportedAccessTokenSigningAlgorithms(algs...)),
	}
	if isLocalIssuer(iu) {
		// http is only acceptable for a development issuer on this machine.
		opts = append(opts, op.WithAllowInsecure())
	}
	adapter := &opStorage{p: p}
	p.op, err = op.NewProvider(opCfg, adapter, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	p.server = &opServer{LegacyServer: op.NewLegacyServer(p.op, endpoints), p: p}
	if p.discovery, err = p.buildDiscovery(); err != nil {
		return nil, err
	}
	p.handler = p.routes()
	return p, nil
}

func isLocalIssuer(u *url.URL) bool {
	return u.Scheme == "http" && isLoopbackHost(u.Hostname())
}

// endpoints are the op routes, named as ARCHITECTURE.md lists them.
var endpoints = op.Endpoints{
	Authorization: op.NewEndpoint("authorize"),
	Token:         op.NewEndpoint("token"),
	Introspection: op.NewEndpoint("introspect"),
	Userinfo:      op.NewEndpoint("userinfo"),
	Revocation:    op.NewEndpoint("revoke"),
	EndSession:    op.NewEndpoint("end_session"),
	JwksURI:       op.NewEndpoint("keys"),
}

// Paths lists every path the provider's Handler serves; the hosted pages
// mount it on exactly these.
func (p *Provider) Paths() []string {
	return []string{
		oidc.DiscoveryEndpoint, "/keys", "/authorize", "/token", "/introspect", "/userinfo", "/revoke", "/end_session",
	}
}

// Handler serves the OpenID endpoints.
func (p *Provider) Handler() http.Handler { return p.handler }

// hashSecret hashes a high-entropy bearer value (cookie, code, refresh
// token) for lookup. 256 random bits need no salt or stretching.
func hashSecret(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}

// audit records an event, logging (not returning) a failure.
func (p *Provider) audit(ctx context.Context, actor, action, target string, details map[string]any) {
	e := &storage.AuditEvent{Actor: actor, Action: action, Target: target, Details: details}
	if err := p.store.AppendAudit(ctx, e); err != nil {
		p.log.ErrorContext(ctx, "audit event not recorded", "action", action, "err", err)
	}
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
