package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/account"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/keys"
	"github.com/twofold-idp/twofold/idp/login"
	"github.com/twofold-idp/twofold/ui"
)

// Prefix is where the console is mounted.
const Prefix = "/admin"

//go:embed templates/*.html
var templateFS embed.FS

// pageNames lists the console's pages (templates/NAME.html); each is parsed
// with the hosted pages' layout and templates/console.html (the shared
// parts: navigation, alerts, the hidden fields of every form).
var pageNames = []string{
	"home", "policies", "policy", "simulate", "users", "user", "groups", "group", "clients", "client", "client_secret",
	"keys", "audit",
}

// Simulator answers what a sign-in would ask, by the login flow's own
// decision (*login.Flow).
type Simulator interface {
	Simulate(ctx context.Context, sim login.Simulation) (login.SimulationResult, error)
}

// Options are what the console is built from; all are required.
type Options struct {
	Kit       *ui.Kit
	Console   *account.Console
	Directory *directory.Directory
	Accounts  *account.Service
	Keys      *keys.Manager
	Simulator Simulator
	// Key signs the cookie that binds the console to the browser's session
	// (at least 32 bytes).
	Key []byte
}

// Console is the admin console's handler.
type Console struct {
	kit     *ui.Kit
	access  *account.Console
	dir     *directory.Directory
	acc     *account.Service
	keys    *keys.Manager
	sim     Simulator
	key     []byte
	pages   *ui.Pages
	handler http.Handler
}

// New builds the console.
func New(o Options) (*Console, error) {
	if o.Kit == nil || o.Console == nil || o.Directory == nil || o.Accounts == nil || o.Keys == nil || o.Simulator == nil || len(o.Key) < 32 {
		return nil, errors.New("admin: Kit, Console, Directory, Accounts, Keys, Simulator and a 32-byte Key are required")
	}
	c := &Console{kit: o.Kit, access: o.Console, dir: o.Directory, acc: o.Accounts, keys: o.Keys, sim: o.Simulator, key: o.Key}
	sub, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, err
	}
	if c.pages, err = o.Kit.ParsePages(sub, "console.html", funcs, pageNames...); err != nil {
		return nil, err
	}
	c.handler = c.routes()
	return c, nil
}

// Handler serves the console; mount it at Prefix.
func (c *Console) Handler() http.Handler { return c.handler }

func (c *Console) routes() http.Handler {
	r := chi.NewRouter()
	r.NotFound(c.kit.NotFound)
	r.Get("/callback", c.handleCallback)
	r.Group(func(r chi.Router) {
		r.Use(c.authorize)
		r.Get("/", c.handleHome)
		c.policyRoutes(r)
		c.simulateRoutes(r)
		c.userRoutes(r)
		c.groupRoutes(r)
		c.clientRoutes(r)
		c.keyRoutes(r)
		c.auditRoutes(r)
	})
	return r
}

// The console's two cookies, both host-only and SameSite=Strict: a request
// another site starts never carries them, so it never acts as the
// administrator (SECURITY-RULES: strict cookies).
const (
	// bindingCookie binds the console to the browser's SSO session: an
	// HMAC of the session cookie, set when the console's sign-in comes back.
	bindingCookie = "twofold_admin"
	// stateCookie carries the sign-in's state and where to return.
	stateCookie = "twofold_admin_state"
	stateMaxAge = 10 * 60
)

func (c *Console) binding(sessionCookie string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("admin-console\x00" + sessionCookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// bound says whether the browser's console cookie belongs to its session.
func (c *Console) bound(r *http.Request, b idp.Browser) bool {
	got := c.kit.CookieValue(r, bindingCookie)
	return b.SessionCookie != "" && got != "" && hmac.Equal([]byte(got), []byte(c.binding(b.SessionCookie)))
}

type adminKey struct{}

func withAdmin(ctx context.Context, a account.Admin) context.Context {
	return context.WithValue(ctx, adminKey{}, a)
}

// adminFrom is the administrator authorize admitted.
func adminFrom(ctx context.Context) account.Admin {
	a, _ := ctx.Value(adminKey{}).(account.Admin)
	return a
}

// authorize admits administrators. Every request checks the console's level
// (account.Console.Admin); a form also needs its CSRF token and a second
// factor within the last 15 minutes, else the administrator confirms it is
// them and comes back to the page the form was on.
func (c *Console) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write := r.Method != http.MethodGet && r.Method != http.MethodHead
		if write {
			if !c.kit.ParseForm(w, r) {
				return
			}
			if err := c.kit.CheckCSRF(r); err != nil {
				c.kit.Log(r.Context()).Info("console form refused", "path", r.URL.Path, "reason", err)
				c.kit.Error(w, r, http.StatusForbidden, "Please try again", ui.CSRFMessage)
				return
			}
		}
		b := c.kit.Browser(r)
		a, err := c.access.Admin(r.Context(), b, write)
		if err == nil && !c.bound(r, b) {
			// The session may be the administrator's, but this browser did not
			// come through the console's sign-in with it (or a request another
			// site started does not carry the console's cookie): sign in, which
			// completes silently when the session suffices, and binds it.
			err = idp.ErrNotSignedIn
		}
		switch {
		case errors.Is(err, idp.ErrNotSignedIn):
			c.toSignIn(w, r, false)
		case errors.Is(err, idp.ErrReauthRequired):
			c.kit.Log(r.Context()).Info("console change needs a fresh second factor", "path", r.URL.Path)
			c.toSignIn(w, r, true)
		case errors.Is(err, account.ErrNotAdmin):
			c.kit.Log(r.Context()).Info("console refused: not an administrator")
			c.kit.Error(w, r, http.StatusForbidden, "Administrators only",
				"Your account is not a member of the administrators’ group. Ask an administrator to add you, or sign out and sign in as an administrator.")
		case err != nil:
			c.internal(w, r, err)
		default:
			next.ServeHTTP(w, r.WithContext(withAdmin(r.Context(), a)))
		}
	})
}

// returnPath is where to come back after signing in: the page itself, or
// for a form the page it was on (its hidden "back" field).
func returnPath(r *http.Request) string {
	back := r.URL.RequestURI()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		back = r.PostFormValue("back")
	}
	if !ui.SameOriginPath(back) || !strings.HasPrefix(back, Prefix) || len(back) > 1024 {
		return Prefix + "/"
	}
	return back
}

// toSignIn sends the browser through the console's sign-in.
func (c *Console) toSignIn(w http.ResponseWriter, r *http.Request, reauth bool) {
	state := idp.RandomToken(16)
	http.SetCookie(w, c.kit.StrictCookie(stateCookie, state+"."+base64.RawURLEncoding.EncodeToString([]byte(returnPath(r))), stateMaxAge))
	c.kit.SeeOther(w, r, c.access.SignInURL(state, reauth))
}

// handleCallback is where the console's sign-in comes back: the state must
// be the one this browser was sent with. The code is never redeemed: the
// session cookie the sign-in set is what the console uses, bound to it here.
func (c *Console) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	saved := c.kit.CookieValue(r, stateCookie)
	state, back64, _ := strings.Cut(saved, ".")
	backBytes, err := base64.RawURLEncoding.DecodeString(back64)
	back := string(backBytes)
	if err != nil || !ui.SameOriginPath(back) || !strings.HasPrefix(back, Prefix) {
		back = Prefix + "/"
	}
	http.SetCookie(w, c.kit.StrictCookie(stateCookie, "", -1))
	if state == "" || !hmac.Equal([]byte(state), []byte(q.Get("state"))) {
		c.kit.Log(r.Context()).Info("console sign-in came back without its state")
		c.kit.Error(w, r, http.StatusBadRequest, "Sign-in did not complete",
			"This sign-in link was not started by this browser, or it has expired. Open the admin console again.")
		return
	}
	if e := q.Get("error"); e != "" {
		c.kit.Log(r.Context()).Info("console sign-in did not complete", "error", e)
		msg := "You were not signed in to the admin console. Open it again to retry."
		if e == "unmet_authentication_requirements" {
			msg = "The admin console needs a second factor that your account cannot provide. Set one up on your account page, or ask another administrator."
		}
		c.kit.Error(w, r, http.StatusForbidden, "Sign-in did not complete", msg)
		return
	}
	b := c.kit.Browser(r)
	if b.SessionCookie == "" {
		c.kit.Error(w, r, http.StatusBadRequest, "Sign-in did not complete", "Your browser did not keep the session cookie. Allow cookies for this site and open the admin console again.")
		return
	}
	http.SetCookie(w, c.kit.StrictCookie(bindingCookie, c.binding(b.SessionCookie), 0))
	c.kit.SeeOther(w, r, back)
}

// internal logs an unexpected error and shows the generic page.
func (c *Console) internal(w http.ResponseWriter, r *http.Request, err error) {
	c.kit.Log(r.Context()).Error("console", "method", r.Method, "path", r.URL.Path, "err", err)
	c.kit.Error(w, r, http.StatusInternalServerError, "Something went wrong",
		"An unexpected error stopped this page. Nothing was changed unless the page says so. Try again; if it keeps happening, give the reference below to your operator.")
}

// fail answers a domain error of a page that has no form to show it beside:
// missing → 404, anything else unexpected → 500.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, idp.ErrNotFound) {
		c.kit.Error(w, r, http.StatusNotFound, "Not found", "It does not exist, or someone removed it a moment ago. Go back to the list.")
		return
	}
	c.internal(w, r, err)
}

// outcome is how a refused change is shown beside its form: the status and
// the message, with the fields' own messages.
type outcome struct {
	Status int
	Alert  string
	Fields map[string]string
}

// refusal turns a domain error of a change into what the form shows; ok is
// false for an unexpected error (the caller answers 500).
func refusal(err error) (outcome, bool) {
	if fs := directory.FieldErrors(err); len(fs) > 0 {
		o := outcome{Status: http.StatusBadRequest, Alert: "Nothing was saved: correct the fields marked below.", Fields: map[string]string{}}
		for _, f := range fs {
			if _, dup := o.Fields[f.Field]; !dup {
				o.Fields[f.Field] = f.Message
			}
		}
		return o, true
	}
	var managed *directory.ManagedError
	var conflict *idp.ConflictError
	switch {
	case errors.As(err, &managed):
		return outcome{Status: http.StatusConflict, Alert: "Nothing was saved: " + managed.Error()}, true
	case errors.Is(err, idp.ErrPreconditionFailed):
		return outcome{Status: http.StatusConflict, Alert: "Nothing was saved: someone changed this while you were editing it. The page now shows their version; make your change again."}, true
	case errors.As(err, &conflict):
		return outcome{Status: http.StatusConflict, Alert: "Nothing was saved: " + conflict.Reason}, true
	case errors.Is(err, idp.ErrNotFound):
		return outcome{Status: http.StatusNotFound, Alert: "Nothing was saved: it no longer exists (someone removed it)."}, true
	}
	return outcome{}, false
}

// base is what every console page has.
type base struct {
	Section    string // the navigation entry to highlight
	CSRFToken  string
	Back       string // this page, for the forms' "back" field
	Admin      string // the administrator's username
	FreshUntil time.Time
	Fresh      bool
	Notice     string
	outcome
}

// Err is the message for field name, if any.
func (b base) Err(name string) string { return b.Fields[name] }

// page fills the base of a page about to be rendered.
func (c *Console) page(w http.ResponseWriter, r *http.Request, section string) base {
	a := adminFrom(r.Context())
	back := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		back = returnPath(r)
	}
	return base{
		Section: section, CSRFToken: c.kit.CSRFToken(w, r), Back: back, Admin: a.Username,
		FreshUntil: a.FreshUntil, Fresh: c.kit.Now().Before(a.FreshUntil),
	}
}

// render writes a console page; status 0 is 200.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	if status == 0 {
		status = http.StatusOK
	}
	c.pages.Render(w, r, status, name, data)
}

// actor is who the audit trail names for r.
func (c *Console) actor(r *http.Request) idp.Actor {
	b := c.kit.Browser(r)
	return idp.Actor{ID: adminFrom(r.Context()).UserID, IP: b.IP, RequestID: b.RequestID, UserAgent: b.UserAgent}
}

// notice is the message for the ?done= key of a page after a change.
func notice(r *http.Request, notices map[string]string) string {
	return notices[r.URL.Query().Get("done")]
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"clock": func(t time.Time) string { return t.UTC().Format("15:04 UTC") },
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join":  strings.Join,
	"has": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
	"plural": plural,
	"int":    func(n int64) int { return int(n) },
}

// all reads every page of a list (the choices of a select: groups, clients,
// policies).
func all[T any](r *http.Request, page func(ctx context.Context, after string, limit int) (directory.Page[T], error)) ([]T, error) {
	var out []T
	for after := ""; ; {
		p, err := page(r.Context(), after, 200)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.Next == "" {
			return out, nil
		}
		after = p.Next
	}
}

// plural is "1 policy", "3 policies".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
