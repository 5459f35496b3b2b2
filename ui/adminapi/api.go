package adminapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/account"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/idempotency"
	"github.com/twofold-idp/twofold/idp/keys"
	"github.com/twofold-idp/twofold/idp/login"
	"github.com/twofold-idp/twofold/idp/op"
)

// Prefix is where the API is mounted.
const Prefix = "/api/admin/v1"

// TokenVerifier checks our own access tokens as /userinfo does (*op.Provider).
type TokenVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (*op.AccessToken, error)
}

// Simulator answers what a sign-in would ask, by the login flow's own
// decision (*login.Flow).
type Simulator interface {
	Simulate(ctx context.Context, sim login.Simulation) (login.SimulationResult, error)
}

// Auditor records an event (idp.Auditor).
type Auditor interface {
	Record(ctx context.Context, actor idp.Actor, action, target string, details map[string]any)
}

// Options are what the API is built from; every field but Logger and Now
// is required.
type Options struct {
	Tokens      TokenVerifier
	Directory   *directory.Directory
	Accounts    *account.Service
	Keys        *keys.Manager
	Idempotency *idempotency.Service
	Audit       Auditor
	Simulator   Simulator
	// ClientIP is the client's address as the hosted pages see it (trusted
	// proxies applied).
	ClientIP func(*http.Request) string
	// RequestID is the request's id, for audit events and problems.
	RequestID func(context.Context) string
	Logger    *slog.Logger
	Now       func() time.Time
}

// API is the admin API's handler.
type API struct {
	tokens TokenVerifier
	dir    *directory.Directory
	acc    *account.Service
	keys   *keys.Manager
	idem   *idempotency.Service
	audit  Auditor
	sim    Simulator
	ip     func(*http.Request) string
	reqID  func(context.Context) string
	log    *slog.Logger
	now    func() time.Time
	router chi.Router
}

// New builds the API.
func New(o Options) (*API, error) {
	if o.Tokens == nil || o.Directory == nil || o.Accounts == nil || o.Keys == nil || o.Idempotency == nil || o.Audit == nil ||
		o.Simulator == nil || o.ClientIP == nil {
		return nil, errors.New("adminapi: Tokens, Directory, Accounts, Keys, Idempotency, Audit, Simulator and ClientIP are required")
	}
	a := &API{
		tokens: o.Tokens, dir: o.Directory, acc: o.Accounts, keys: o.Keys, idem: o.Idempotency, audit: o.Audit,
		sim: o.Simulator, ip: o.ClientIP, reqID: o.RequestID, log: o.Logger, now: o.Now,
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.reqID == nil {
		a.reqID = func(context.Context) string { return "" }
	}
	a.router = a.routes()
	return a, nil
}

// Handler serves the API; mount it at Prefix.
func (a *API) Handler() http.Handler { return a.router }

// route is one documented operation.
type route struct {
	method, pattern string
	h               handler
	kind            routeKind
}

type routeKind int

const (
	read    routeKind = iota // GET
	create                   // POST that creates: Idempotency-Key honoured
	edit                     // changes a versioned resource: If-Match required
	command                  // an action on something unversioned (end a session)
	stream                   // GET that streams (exports)
)

// Routes lists every operation as "METHOD /pattern" (the OpenAPI test
// compares it with the document).
func Routes() []string {
	var a *API // the table only names the handlers
	var out []string
	for _, rt := range a.table() {
		out = append(out, rt.method+" "+rt.pattern)
	}
	return append(out, "GET /openapi.json")
}

func (a *API) table() []route {
	return []route{
		{"GET", "/policies", a.listPolicies, read},
		{"POST", "/policies", a.createPolicy, create},
		{"GET", "/policies/{name}", a.getPolicy, read},
		{"PUT", "/policies/{name}", a.updatePolicy, edit},
		{"DELETE", "/policies/{name}", a.deletePolicy, edit},
		{"POST", "/policies/{name}/preview", a.previewPolicy, command},
		{"GET", "/default-policy", a.getDefaultPolicy, read},
		{"PUT", "/default-policy", a.setDefaultPolicy, edit},

		{"GET", "/groups", a.listGroups, read},
		{"POST", "/groups", a.createGroup, create},
		{"GET", "/groups/{name}", a.getGroup, read},
		{"PUT", "/groups/{name}", a.updateGroup, edit},
		{"DELETE", "/groups/{name}", a.deleteGroup, edit},

		{"GET", "/clients", a.listClients, read},
		{"POST", "/clients", a.createClient, create},
		{"GET", "/clients/{id}", a.getClient, read},
		{"PUT", "/clients/{id}", a.updateClient, edit},
		{"DELETE", "/clients/{id}", a.deleteClient, edit},
		{"POST", "/clients/{id}/secret", a.rotateClientSecret, edit},

		{"GET", "/users", a.listUsers, read},
		{"POST", "/users", a.createUser, create},
		{"GET", "/users/{id}", a.getUser, read},
		{"POST", "/users/{id}/disable", a.disableUser, edit},
		{"POST", "/users/{id}/enable", a.enableUser, edit},
		{"PUT", "/users/{id}/groups", a.setUserGroups, edit},
		{"GET", "/users/{id}/factors", a.userFactors, read},
		{"POST", "/users/{id}/reset-mfa", a.resetMFA, command},
		{"POST", "/users/{id}/force-reenrollment", a.forceReenrollment, command},
		{"POST", "/users/{id}/unlock", a.unlockUser, command},
		{"GET", "/users/{id}/sessions", a.userSessions, read},
		{"POST", "/users/{id}/sessions/end-all", a.endUserSessions, command},
		{"POST", "/users/{id}/sessions/{sid}/end", a.endUserSession, command},
		{"GET", "/users/{id}/devices", a.userDevices, read},
		{"POST", "/users/{id}/devices/forget-all", a.forgetUserDevices, command},
		{"POST", "/users/{id}/devices/{did}/forget", a.forgetUserDevice, command},

		{"GET", "/keys", a.listKeys, read},
		{"POST", "/keys/rotate", a.rotateKey, command},

		{"POST", "/simulate", a.simulate, command},

		{"GET", "/audit", a.listAudit, read},
		{"GET", "/audit/export", a.exportAudit, stream},
	}
}

func (a *API) routes() chi.Router {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		a.problem(w, r, &problem{Status: http.StatusNotFound, Type: "not-found", Title: "No such resource"})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		a.problem(w, r, &problem{Status: http.StatusMethodNotAllowed, Type: "method-not-allowed", Title: "Method not allowed"})
	})
	r.Get("/openapi.json", serveOpenAPI)
	r.Group(func(r chi.Router) {
		r.Use(a.authenticate)
		for _, rt := range a.table() {
			r.Method(rt.method, rt.pattern, a.serve(rt))
		}
	})
	return r
}
