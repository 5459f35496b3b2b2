package op

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/keys"
	"github.com/twofold-idp/twofold/idp/login"
	"github.com/twofold-idp/twofold/idp/op/tokens"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/idp/session"
	"github.com/twofold-idp/twofold/idp/throttle"
	"github.com/twofold-idp/twofold/storage"
)

// Config holds the provider's settings; zero durations take defaults.
type Config struct {
	Issuer             string
	CORSAllowedOrigins []string
	// MaxPendingAuthRequests is how many sign-ins one client address (an
	// IPv6 /64) may have started and not finished; default 100.
	MaxPendingAuthRequests int
}

const logoutTokenTTL = 10 * time.Minute

func (c *Config) applyDefaults() {
	if c.MaxPendingAuthRequests <= 0 {
		c.MaxPendingAuthRequests = 100
	}
}

// Store is the storage of codes, tokens and client assertions.
type Store interface {
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetSession(ctx context.Context, id string) (*storage.Session, error)
	CountPendingAuthRequests(ctx context.Context, clientAddress string) (int64, error)
	GetAccessToken(ctx context.Context, id string) (*storage.AccessToken, error)
	RevokeAccessToken(ctx context.Context, id string) error
	RecordRevokedAccessToken(ctx context.Context, t *storage.AccessToken) error
	GetRefreshTokenByHash(ctx context.Context, hash string) (*storage.RefreshToken, error)
	RevokeRefreshFamily(ctx context.Context, familyID string) error
	UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt time.Time) error
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
	deviceStore // the device authorization grant (device.go)
	dpopStore   // DPoP proofs (dpop.go)
	// Pushed authorization requests (par.go).
	CreatePushedRequest(ctx context.Context, r *storage.PushedRequest) error
	ConsumePushedRequest(ctx context.Context, id, clientID string) (*storage.PushedRequest, error)
}

var _ Store = (*storage.Store)(nil)

// Clients authenticates clients and reports readiness.
type Clients interface {
	VerifyClientSecret(ctx context.Context, clientID, secret string) error
	Ready(ctx context.Context) error
}

// Provider is the OpenID provider: the op library's endpoints, our storage
// adapter, and token minting.
type Provider struct {
	cfg      Config
	store    Store
	clients  Clients
	keys     *keys.Manager
	flow     *login.Flow
	sessions *session.Service
	logouts  *session.Logouts
	audit    idp.Auditor
	log      *slog.Logger
	now      func() time.Time
	tokens   *tokens.Service
	opaque   op.Crypto // opens opaque access tokens (AES-256-GCM only)
	op       *op.Provider
	server   *opServer
	secure   bool // https issuer: __Host- cookies

	guesses     *throttle.Limiter // user-code guesses at /device
	userCodeKey []byte            // keys the stored hashes of user codes

	dpopNonceKey []byte // MACs the DPoP server nonces

	discovery []byte // precomputed /.well-known/openid-configuration
	handler   http.Handler
}

// New wires the provider. now may be nil.
func New(cfg Config, store Store, clients Clients, km *keys.Manager, tok *tokens.Service, flow *login.Flow, sessions *session.Service, logouts *session.Logouts, ring *secrets.Keyring, logger *slog.Logger, now func() time.Time) (*Provider, error) {
	cfg.applyDefaults()
	if now == nil {
		now = time.Now
	}
	iu, err := url.Parse(cfg.Issuer)
	if err != nil || iu.Host == "" {
		return nil, fmt.Errorf("provider: issuer %q is not a URL", cfg.Issuer)
	}
	p := &Provider{
		cfg: cfg, store: store, clients: clients, keys: km, tokens: tok, opaque: tokens.OpaqueTokenCrypto(ring), flow: flow, sessions: sessions, logouts: logouts,
		audit: idp.Auditor{Store: store, Log: logger}, log: logger, now: now, secure: iu.Scheme == "https",
		guesses: throttle.New(store, logger, now), userCodeKey: ring.SubKey("device-user-code"),
		dpopNonceKey: ring.SubKey("dpop-nonce"),
	}
	opCfg := &op.Config{
		CryptoKey:               tokens.OpaqueTokenKey(ring),
		CodeMethodS256:          true,
		AuthMethodPost:          true,
		AuthMethodPrivateKeyJWT: true,
		GrantTypeRefreshToken:   true,
		RequestObjectSupported:  false,
		SupportedClaims:         op.DefaultSupportedClaims,
	}
	algs := km.Algorithms()
	opts := []op.Option{
		op.WithIDTokenHintVerifierOpts(op.WithSupportedIDTokenHintSigningAlgorithms(algs...)),
		op.WithAccessTokenVerifierOpts(op.WithSupportedAccessTokenSigningAlgorithms(algs...)),
	}
	if iu.Scheme == "http" && directory.IsLoopbackHost(iu.Hostname()) {
		// http is only acceptable for a development issuer on this machine.
		opts = append(opts, op.WithAllowInsecure())
	}
	p.op, err = op.NewProvider(opCfg, &opStorage{p: p}, op.StaticIssuer(cfg.Issuer), opts...)
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

// endpoints are the op routes, named as ARCHITECTURE.md lists them.
var endpoints = op.Endpoints{
	Authorization: op.NewEndpoint("authorize"),
	Token:         op.NewEndpoint("token"),
	Introspection: op.NewEndpoint("introspect"),
	Userinfo:      op.NewEndpoint("userinfo"),
	Revocation:    op.NewEndpoint("revoke"),
	EndSession:    op.NewEndpoint("end_session"),
	JwksURI:       op.NewEndpoint("keys"),
	// RFC 8628 §3.1 (device.go).
	DeviceAuthorization: op.NewEndpoint("device_authorization"),
}

// Paths lists every path the provider's Handler serves; the hosted pages
// mount it on exactly these.
func (p *Provider) Paths() []string {
	return []string{
		oidc.DiscoveryEndpoint, "/keys", "/authorize", "/token", "/introspect", "/userinfo", "/revoke", "/end_session",
		"/device_authorization",
		"/par",
	}
}

// Handler serves the OpenID endpoints.
func (p *Provider) Handler() http.Handler { return p.handler }

// IssueCode is the authorization callback: the login flow issues the code
// of a completed sign-in to the browser it belongs to.
func (p *Provider) IssueCode(ctx context.Context, id string, b idp.Browser) (idp.AuthResponse, error) {
	// A device sign-in gets no code: it goes on to its approval page.
	if resp, ok, err := p.deviceCallback(ctx, id); ok || err != nil {
		return resp, err
	}
	return p.flow.IssueCode(ctx, id, b)
}
