package ui

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Server. Issuer and CSRFKey are required; everything else has a safe default.
type Options struct {
	// Issuer is the public base URL, e.g. http://localhost:8080 or https://id.example.com. An https issuer turns
	// on Secure cookies with the __Host- prefix and HSTS.
	Issuer string
	// Logger receives the access log, panics and internal errors. nil discards them.
	Logger *slog.Logger
	// Registry is where the HTTP and login metrics are registered and what /metrics serves. It is never the
	// global default registry; nil means a fresh registry of its own.
	Registry *prometheus.Registry
	// Ready reports readiness (the database is reachable) for /readyz. nil means ready whenever the process is up.
	Ready func(ctx context.Context) error
	// Setup backs the first-run setup page. nil leaves /setup unrouted.
	Setup SetupService
	// Flow backs the sign-in pages (/login, /consent). nil leaves them unrouted.
	Flow LoginFlow
	// Logout backs the logout confirmation (/logout). nil leaves it unrouted.
	Logout LogoutFlow
	// MFA backs the second-factor pages: the challenges, enrollment during sign-in, the backup codes and the
	// WebAuthn JSON API, and the passkey button on the login page. It is usually the same object as Flow. nil (or
	// a nil Flow) leaves them unrouted and the login page without the passkey button.
	MFA MFAFlow
	// Account backs the self-service pages under /account: second factors, backup codes, password, sessions.
	// nil leaves them unrouted.
	Account AccountService
	// Recovery backs the forgotten-password pages (the login page's a#forgot-password) and the cancel links of
	// lost-factor recoveries. nil leaves them unrouted. The lost-factor pages of a sign-in and the enrollment
	// grace's "Not now" come with an MFA that implements LostFactorFlow and GraceFlow (login.MFA does).
	Recovery RecoveryService
	// Provider is the OpenID provider whose endpoints are mounted beside the pages, with the authorization
	// callback page. nil leaves them out.
	Provider OpenIDProvider
	// TrustedProxies are the load balancers in front of Twofold: from them
	// the client's address is read from X-Forwarded-For (see clientIP).
	TrustedProxies []netip.Prefix
	// CSRFKey is the HMAC key for CSRF tokens (at least 32 bytes), derived by the caller from the master key.
	CSRFKey []byte
	// AssetsDir, when set, serves templates/ and static/ from this directory instead of the embedded copy, and
	// re-reads templates on every render, for development.
	AssetsDir string
	// Now is the clock for later pages (sessions, throttling); nil means time.Now. Durations in logs and metrics
	// use the monotonic clock instead.
	Now func() time.Time

	// Verified email and security notifications (issue 11; verify.go), each optional: nil leaves its pages out.
	// AccountEmail backs the account page's email section (usually the same object as Account); EmailStep the
	// sign-in's verify-email step (usually MFA); EmailLinks the links of verification mails; NotMe the "this
	// wasn't me" links of security notifications.
	AccountEmail AccountEmailService
	EmailStep    EmailStepFlow
	EmailLinks   EmailLinkService
	NotMe        NotMeService
}

// Server is the HTTP front of Twofold: the router, its middleware and the hosted pages.
type Server struct {
	issuerOrigin   string // scheme://host[:port] of the issuer, lower case, default port removed
	secure         bool   // issuer is https
	logger         *slog.Logger
	registry       *prometheus.Registry
	metrics        *Metrics
	ready          func(ctx context.Context) error
	setup          SetupService
	flow           LoginFlow
	logout         LogoutFlow
	mfa            MFAFlow // nil when Flow is nil
	account        AccountService
	recovery       RecoveryService
	lostFactor     LostFactorFlow // nil: the challenge pages offer no a#lost-factor
	grace          GraceFlow      // nil: the enrollment page offers no "Not now"
	provider       OpenIDProvider
	trustedProxies []netip.Prefix
	csrfKey        []byte
	static         fs.FS
	templates      *templates
	now            func() time.Time
	router         *chi.Mux
	verify         verifyOptions
}

// minCSRFKeyLen is the HMAC-SHA256 key length we insist on: a shorter key would be the weakest link.
const minCSRFKeyLen = 32

// New checks opts and builds the router with every middleware and the pages of this package.
func New(opts Options) (*Server, error) {
	origin, secure, err := issuerOrigin(opts.Issuer)
	if err != nil {
		return nil, err
	}
	if len(opts.CSRFKey) < minCSRFKeyLen {
		return nil, fmt.Errorf("ui: CSRF key must be at least %d bytes, got %d", minCSRFKeyLen, len(opts.CSRFKey))
	}
	s := &Server{
		issuerOrigin:   origin,
		secure:         secure,
		logger:         opts.Logger,
		registry:       opts.Registry,
		ready:          opts.Ready,
		setup:          opts.Setup,
		flow:           opts.Flow,
		logout:         opts.Logout,
		mfa:            opts.MFA,
		account:        opts.Account,
		recovery:       opts.Recovery,
		provider:       opts.Provider,
		trustedProxies: opts.TrustedProxies,
		csrfKey:        append([]byte(nil), opts.CSRFKey...),
		now:            opts.Now,
		verify: verifyOptions{accountEmail: opts.AccountEmail, emailStep: opts.EmailStep,
			emailLinks: opts.EmailLinks, notMe: opts.NotMe},
	}
	if s.flow == nil {
		s.mfa = nil // the second-factor pages re-render through Flow.Resume
	}
	s.lostFactor, _ = s.mfa.(LostFactorFlow)
	s.grace, _ = s.mfa.(GraceFlow)
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.metrics, err = newMetrics(s.registry); err != nil {
		return nil, err
	}
	staticFS, templatesFS, err := assetFS(opts.AssetsDir)
	if err != nil {
		return nil, err
	}
	s.static = staticFS
	// Parse once now so that a broken template fails at start, not on the first visitor.
	if s.templates, err = newTemplates(templatesFS, opts.AssetsDir != ""); err != nil {
		return nil, err
	}
	s.router = s.routes()
	if s.provider != nil {
		s.mountProvider(s.provider)
	}
	return s, nil
}

// Handler is the whole router including middleware.
func (s *Server) Handler() http.Handler { return s.router }

// Router lets later code (the OIDC provider, the admin console) mount more routes; they get the same middleware.
// Add routes before Handler starts serving: chi routers are not safe for concurrent modification.
func (s *Server) Router() chi.Router { return s.router }

// Metrics exposes the counters that login handlers update, such as LoginOutcome.
func (s *Server) Metrics() *Metrics { return s.metrics }

func (s *Server) routes() *chi.Mux {
	r := chi.NewRouter()
	// Outermost first. Security headers are set before anything can write; the recoverer sets them again after
	// it clears whatever a panicking handler had put in the header map.
	r.Use(s.requestID, s.securityHeaders, s.recoverer, s.accessLog, s.instrument, middleware.GetHead)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)

	r.Get("/", s.handleHome)
	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	r.Method(http.MethodGet, "/metrics", s.metricsHandler())
	r.Get("/static/*", s.handleStatic)
	if s.setup != nil {
		r.Get("/setup", s.handleSetupForm)
		r.Post("/setup", s.handleSetupSubmit)
		r.Get("/setup/done", s.handleSetupDone)
	}
	if s.flow != nil {
		r.Get("/login", s.handleLoginPage)
		r.Post("/login", s.handleLoginSubmit)
		r.Post("/consent", s.handleConsentSubmit)
	}
	if s.logout != nil {
		r.Get("/logout", s.handleLogoutPrompt)
		r.Post("/logout", s.handleLogoutSubmit)
	}
	if s.flow != nil || s.logout != nil || s.account != nil {
		r.Get("/logout/done", s.handleSignedOut) // where signing out lands
	}
	if s.mfa != nil {
		r.Post("/login/mfa/totp", s.handleTOTPSubmit)
		r.Post("/login/mfa/backup-code", s.handleBackupCodeSubmit)
		r.Post("/login/mfa/webauthn", s.handleWebAuthnNoScript)
		r.Post("/login/mfa/email", s.handleEmailCodeSubmit)
		r.Post("/login/mfa/sms", s.handleSMSCodeSubmit)
		r.Post("/login/mfa/email/resend", s.handleEmailCodeResend)
		r.Post("/login/mfa/sms/resend", s.handleSMSCodeResend)
		r.Post("/login/backup-codes", s.handleBackupCodesAck)
		r.Get("/login/enroll/totp", s.handleEnrollTOTPPage)
		r.Post("/login/enroll/totp", s.handleEnrollTOTPSubmit)
		r.Get("/login/enroll/webauthn", s.handleEnrollWebAuthnPage)
		r.Post("/login/webauthn/begin", s.webauthnBegin(s.webauthnFactorBegin))
		r.Post("/login/webauthn/finish", s.webauthnFinish(s.webauthnFactorFinish))
		r.Post("/login/webauthn/register/begin", s.webauthnBegin(s.mfa.BeginWebAuthnRegistration))
		r.Post("/login/webauthn/register/finish", s.webauthnFinish(s.mfa.FinishWebAuthnRegistration))
		r.Post("/login/passkey/begin", s.webauthnBegin(s.mfa.BeginPasskey))
		r.Post("/login/passkey/finish", s.webauthnFinish(s.mfa.FinishPasskey))
	}
	s.recoveryRoutes(r)
	if s.account != nil {
		r.Get("/account", s.handleAccountPage)
		r.Post("/account", s.handleAccountBackupCodesAck) // the backup codes page's "I have saved these codes"
		r.Get("/account/callback", s.handleAccountCallback)
		r.Post("/account/totp", s.handleAccountStartTOTP)
		r.Post("/account/totp/confirm", s.handleAccountConfirmTOTP)
		r.Post("/account/webauthn/register/begin", s.handleAccountWebAuthnBegin)
		r.Post("/account/webauthn/register/finish", s.handleAccountWebAuthnFinish)
		r.Post("/account/factors/remove", s.handleAccountRemoveFactor)
		r.Post("/account/factors/rename", s.handleAccountRenameFactor)
		r.Post("/account/backup-codes", s.handleAccountBackupCodes)
		r.Post("/account/password", s.handleAccountPassword)
		r.Post("/account/sessions/end", s.handleAccountEndSession)
		r.Post("/account/sessions/end-all", s.handleAccountEndAllSessions)
		r.Post("/account/devices/forget", s.handleAccountForgetDevice)
		r.Post("/account/phone", s.handleAccountAddPhone)
		r.Post("/account/phone/verify", s.handleAccountConfirmPhone)
		r.Post("/account/phone/resend", s.handleAccountResendPhoneCode)
		r.Post("/account/phone/remove", s.handleAccountRemovePhone)
	}
	s.verifyRoutes(r)
	return r
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusNotFound, errorPage{
		Title:   "Page not found",
		Message: "There is nothing at this address. Check the link, or start again from the application you came from.",
	})
}

// methodNotAllowed answers 405 with the Allow header RFC 9110 §15.5.6 requires; chi gives a custom handler no list
// of allowed methods, so it is rebuilt by matching the path against each method.
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions} {
		if s.router.Match(chi.NewRouteContext(), m, path) || (m == http.MethodHead && slices.Contains(allowed, http.MethodGet)) {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
	}
	s.renderError(w, r, http.StatusMethodNotAllowed, errorPage{
		Title:   "Method not allowed",
		Message: "This address cannot be used that way.",
	})
}

// issuerOrigin returns the RFC 6454 origin of the issuer (for comparing with the Origin header) and whether it is
// https.
func issuerOrigin(issuer string) (origin string, secure bool, err error) {
	if issuer == "" {
		return "", false, errors.New("ui: issuer is required")
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return "", false, fmt.Errorf("ui: issuer %q: %w", issuer, err)
	}
	origin, ok := originOf(u)
	if !ok || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", false, fmt.Errorf("ui: issuer %q must be an http or https URL without user info, query or fragment", issuer)
	}
	return origin, strings.EqualFold(u.Scheme, "https"), nil
}

// originOf serialises u's origin as scheme://host[:port] in lower case with the scheme's default port left out,
// so that https://ID.example.com:443 and https://id.example.com compare equal.
func originOf(u *url.URL) (string, bool) {
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Hostname() == "" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}
