package demo

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
)

// Options configure the demo relying party.
type Options struct {
	Issuer       string // the provider, e.g. http://localhost:8080
	ClientID     string
	ClientSecret string // empty: a public client (PKCE is used either way)
	// BaseURL is where the demo is mounted, e.g. http://localhost:8080/demo; its redirect URI is
	// RedirectURI(BaseURL) and its post-logout redirect URI PostLogoutRedirectURI(BaseURL).
	BaseURL    string
	CookieKey  []byte // 32 bytes: authenticates and encrypts the demo's own cookies
	Logger     *slog.Logger
	HTTPClient *http.Client // optional: for discovery, the token endpoint and the key set

	// Now is the clock for the demo's own checks and display (optional; time.Now). The rp package reads the
	// real clock for ID token verification.
	Now func() time.Time
}

// RedirectURI is the demo's redirect URI for a demo mounted at baseURL: register it for the demo client.
func RedirectURI(baseURL string) string { return strings.TrimRight(baseURL, "/") + "/callback" }

// PostLogoutRedirectURI is where the provider sends the browser back after sign-out: register it for the demo
// client.
func PostLogoutRedirectURI(baseURL string) string { return strings.TrimRight(baseURL, "/") + "/" }

// scopes the demo asks for: the ID token then carries preferred_username and email.
var scopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail}

// discoveryTimeout bounds one attempt to reach the provider's discovery document.
const discoveryTimeout = 5 * time.Second

// server is the demo: its pages, its OAuth client and its resource server.
type server struct {
	issuer    string
	clientID  string
	baseURL   string // without a trailing slash
	basePath  string // the path of baseURL, without a trailing slash ("" when mounted at the root)
	log       *slog.Logger
	now       func() time.Time
	secure    bool // https: cookies are Secure and __Secure- prefixed
	pages     *pages
	sessions  *sessionStore
	pending   *httphelper.CookieHandler // the sign-in in flight: state, nonce, PKCE verifier (10 minutes)
	signedIn  *httphelper.CookieHandler // the random id of the in-memory session
	relying   *lazyRP
	resources *resourceServer
}

// New returns the demo's handler. It serves the full paths under BaseURL's path (e.g. /demo/, /demo/login, …),
// so mount it as is: mux.Handle("/demo/", h) or chi's r.Mount("/demo", h). Paths already stripped of that prefix
// (http.StripPrefix("/demo", h)) are served too. The provider is contacted lazily, on the first request that needs
// it, and again after a failure, so New may run before the provider listens.
func New(opts Options) (http.Handler, error) {
	if opts.Issuer == "" || opts.ClientID == "" {
		return nil, errors.New("demo: Issuer and ClientID are required")
	}
	if len(opts.CookieKey) != 32 {
		return nil, fmt.Errorf("demo: CookieKey must be 32 bytes, got %d", len(opts.CookieKey))
	}
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("demo: BaseURL %q must be an absolute http(s) URL", opts.BaseURL)
	}
	if base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("demo: BaseURL %q must not have a query or fragment", opts.BaseURL)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 15 * time.Second}
	}
	pg, err := newPages()
	if err != nil {
		return nil, err
	}
	s := &server{
		issuer:   opts.Issuer,
		clientID: opts.ClientID,
		baseURL:  base.String(),
		basePath: strings.TrimRight(base.EscapedPath(), "/"),
		log:      log,
		now:      now,
		secure:   base.Scheme == "https",
		pages:    pg,
		sessions: newSessionStore(now),
	}
	hashKey, blockKey, err := cookieKeys(opts.CookieKey)
	if err != nil {
		return nil, err
	}
	cookieOpts := []httphelper.CookieHandlerOpt{httphelper.WithPath(s.basePath + "/"), httphelper.WithSameSite(http.SameSiteLaxMode)}
	if !s.secure {
		// Plain http only for localhost development: browsers and Go's cookie jar drop Secure cookies there.
		cookieOpts = append(cookieOpts, httphelper.WithUnsecure())
	}
	s.pending = httphelper.NewCookieHandler(hashKey, blockKey,
		append(cookieOpts, httphelper.WithMaxAge(int(pendingLifetime/time.Second)))...)
	s.signedIn = httphelper.NewCookieHandler(hashKey, blockKey,
		append(cookieOpts, httphelper.WithMaxAge(int(sessionLifetime/time.Second)))...)

	authStyle := oauth2.AuthStyleInHeader // client_secret_basic, the OIDC default
	if opts.ClientSecret == "" {
		authStyle = oauth2.AuthStyleInParams // a public client sends only client_id (and PKCE)
	}
	redirectURI := RedirectURI(s.baseURL)
	s.relying = &lazyRP{build: func(ctx context.Context) (rp.RelyingParty, error) {
		return rp.NewRelyingPartyOIDC(ctx, opts.Issuer, opts.ClientID, opts.ClientSecret, redirectURI, scopes,
			rp.WithHTTPClient(httpClient),
			rp.WithAuthStyle(authStyle),
			rp.WithVerifierOpts(rp.WithNonce(nonceFromContext)),
			rp.WithSigningAlgsFromDiscovery(),
		)
	}}
	s.resources = &resourceServer{
		issuer:   opts.Issuer,
		audience: opts.ClientID,
		now:      now,
		log:      log,
		keys: func(ctx context.Context) (oidc.KeySet, error) {
			r, err := s.relying.get(ctx)
			if err != nil {
				return nil, err
			}
			return r.IDTokenVerifier().KeySet, nil
		},
	}
	return s, nil
}

// cookieKeys derives the HMAC and AES keys of the demo's cookies from the one CookieKey, so that neither key is
// used for two purposes.
func cookieKeys(key []byte) (hashKey, blockKey []byte, err error) {
	if hashKey, err = hkdf.Key(sha256.New, key, nil, "twofold demo cookie hmac", 32); err != nil {
		return nil, nil, err
	}
	if blockKey, err = hkdf.Key(sha256.New, key, nil, "twofold demo cookie aes", 32); err != nil {
		return nil, nil, err
	}
	return hashKey, blockKey, nil
}

// cookieName prefixes the demo's cookie names with __Secure- over https (the cookies are scoped to the mount path,
// so __Host- is not possible).
func (s *server) cookieName(base string) string {
	if s.secure {
		return "__Secure-" + base
	}
	return base
}

// path is the absolute path of a demo route, e.g. path("/login") = "/demo/login".
func (s *server) path(route string) string { return s.basePath + route }

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the callback URL carries the code; sign-out links an ID token
	if h.Get("Content-Security-Policy") == "" {
		// Mounted behind the provider's middleware this is already set; standing alone the demo is as strict.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "+
			"base-uri 'none'; frame-ancestors 'none'")
	}

	route := r.URL.Path
	if s.basePath != "" {
		switch {
		case route == s.basePath || route == "":
			target := s.path("/")
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		case strings.HasPrefix(route, s.basePath+"/"):
			route = strings.TrimPrefix(route, s.basePath)
		}
	}

	if route == "/api/report" {
		s.resources.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if route != "/demo.css" {
		h.Set("Cache-Control", "no-store") // pages and redirects are per visitor and carry codes and tokens
	}
	switch route {
	case "/":
		s.handleHome(w, r)
	case "/login":
		s.handleLogin(w, r)
	case "/callback":
		s.handleCallback(w, r)
	case "/logout":
		s.handleLogout(w, r)
	case "/call-api":
		s.handleCallAPI(w, r)
	case "/demo.css":
		s.pages.serveStylesheet(w, r)
	default:
		http.NotFound(w, r)
	}
}

// lazyRP creates the relying party on first use: the provider usually runs in the same process and is not
// listening yet when New is called. A failed discovery is not cached, so the next request tries again.
type lazyRP struct {
	build func(context.Context) (rp.RelyingParty, error)

	mu sync.Mutex
	rp rp.RelyingParty
}

func (l *lazyRP) get(ctx context.Context) (rp.RelyingParty, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rp != nil {
		return l.rp, nil
	}
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	r, err := l.build(ctx)
	if err != nil {
		return nil, fmt.Errorf("demo: discover the provider: %w", err)
	}
	l.rp = r
	return r, nil
}

// nonceKey carries the nonce of the sign-in being completed to the ID token verifier, which is shared by all
// requests and asks the context for the value it must find.
type nonceKey struct{}

func nonceFromContext(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey{}).(string)
	return n
}
