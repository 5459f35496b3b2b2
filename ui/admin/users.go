package admin

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
)

// The users' pages: search, create, and one account with what an
// administrator may do about it. Every action is the admin API's own
// domain call (ui/adminapi/users.go): directory for the account, its
// groups and its second factors' reset; account.Service for its factors'
// list, sessions, remembered devices and throttles.
func (c *Console) userRoutes(r chi.Router) {
	r.Get("/users", c.handleUsers)
	r.Get("/users/new", c.handleNewUser)
	r.Post("/users/new", c.handleCreateUser)
	r.Get("/users/{id}", c.handleUser)
	r.Post("/users/{id}/disable", c.userAction("user-disable", "disabled", func(c *Console, r *http.Request, id string) error {
		_, err := c.dir.SetUserDisabledByID(r.Context(), c.actor(r), id, r.PostFormValue("version"), true)
		return err
	}))
	r.Post("/users/{id}/enable", c.userAction("user-enable", "enabled", func(c *Console, r *http.Request, id string) error {
		_, err := c.dir.SetUserDisabledByID(r.Context(), c.actor(r), id, r.PostFormValue("version"), false)
		return err
	}))
	r.Post("/users/{id}/groups", c.userAction("user-groups", "groups", func(c *Console, r *http.Request, id string) error {
		_, err := c.dir.SetUserGroups(r.Context(), c.actor(r), id, r.PostFormValue("version"), checked(r, "groups"))
		return err
	}))
	r.Post("/users/{id}/sessions/end", c.userAction("user-sessions", "session-ended", func(c *Console, r *http.Request, id string) error {
		return c.acc.EndUserSession(r.Context(), c.actor(r), id, r.PostFormValue("session"))
	}))
	r.Post("/users/{id}/sessions/end-all", c.userAction("user-sessions", "sessions-ended", func(c *Console, r *http.Request, id string) error {
		_, err := c.acc.EndUserSessions(r.Context(), c.actor(r), id)
		return err
	}))
	r.Post("/users/{id}/devices/forget", c.userAction("user-devices", "device-forgotten", func(c *Console, r *http.Request, id string) error {
		return c.acc.ForgetUserDevice(r.Context(), c.actor(r), id, r.PostFormValue("device"))
	}))
	r.Post("/users/{id}/devices/forget-all", c.userAction("user-devices", "devices-forgotten", func(c *Console, r *http.Request, id string) error {
		return c.acc.ForgetUserDevices(r.Context(), c.actor(r), id)
	}))
	r.Post("/users/{id}/unlock", c.userAction("user-unlock", "unlocked", func(c *Console, r *http.Request, id string) error {
		return c.acc.UnlockUser(r.Context(), c.actor(r), id)
	}))
	// A reset tells the user by mail when it can (a verified address): the notice says whether it did.
	r.Post("/users/{id}/reset-mfa", c.userNotifyingAction("user-reset-mfa", "mfa-reset", func(c *Console, r *http.Request, id string) (bool, error) {
		return c.acc.ResetUserMFA(r.Context(), c.actor(r), id, r.PostFormValue("reason"))
	}))
	r.Post("/users/{id}/force-reenrollment", c.userNotifyingAction("user-force-reenrollment", "reenrollment", func(c *Console, r *http.Request, id string) (bool, error) {
		return c.acc.ForceUserReenrollment(r.Context(), c.actor(r), id, r.PostFormValue("reason"))
	}))
}

// userNotifyingAction is userAction for a change the user is told of by mail when Twofold can: its notice is
// done, or done+"-notified" when they were told.
func (c *Console) userNotifyingAction(form, done string, do func(c *Console, r *http.Request, id string) (bool, error)) http.HandlerFunc {
	return c.userActionDone(form, func(c *Console, r *http.Request, id string) (string, error) {
		notified, err := do(c, r, id)
		if notified {
			return done + "-notified", err
		}
		return done, err
	})
}

// The notices after a reset say whether Twofold told the user by mail (to
// a verified address) or the administrator must.
var userNotices = map[string]string{
	"created":               "User created. They can sign in with the password you chose; give it to them over a safe channel.",
	"disabled":              "User disabled. Their sessions no longer work and every token issued to them was revoked.",
	"enabled":               "User enabled. They can sign in again.",
	"groups":                "Groups saved. The policies of the new groups apply from their next sign-in.",
	"session-ended":         "Session ended, and the tokens issued in it revoked.",
	"sessions-ended":        "Every session ended, and every token issued to the user revoked.",
	"device-forgotten":      "Device forgotten: it will be asked for the second factor again.",
	"devices-forgotten":     "Every remembered device forgotten.",
	"unlocked":              "Failed attempts forgotten: the user can try their password and codes again now.",
	"mfa-reset":             "Second factors removed, sessions ended and tokens revoked; the reason is in the audit log. The user has no verified email address (or the mail failed): tell them yourself.",
	"reenrollment":          "Second factors removed, sessions ended and tokens revoked: the next sign-in must set up a new second factor. The reason is in the audit log. The user has no verified email address (or the mail failed): tell them yourself.",
	"mfa-reset-notified":    "Second factors removed, sessions ended and tokens revoked; the reason is in the audit log. The user was told by email, at their verified address.",
	"reenrollment-notified": "Second factors removed, sessions ended and tokens revoked: the next sign-in must set up a new second factor. The reason is in the audit log. The user was told by email, at their verified address.",
}

// checked is a form's checkbox values (a checkbox never posts an empty one).
func checked(r *http.Request, name string) []string {
	out := []string{}
	for _, v := range r.PostForm[name] {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

type usersPage struct {
	base
	Q     string
	Users []directory.UserRecord
	Next  string
}

func (c *Console) handleUsers(w http.ResponseWriter, r *http.Request) {
	p := usersPage{base: c.page(w, r, "users"), Q: r.URL.Query().Get("q")}
	page, err := c.dir.SearchUsers(r.Context(), p.Q, r.URL.Query().Get("after"), maxList)
	if err != nil {
		o, ok := refusal(err)
		if !ok {
			c.internal(w, r, err)
			return
		}
		o.Alert = "Correct the search below."
		p.outcome = o
		c.render(w, r, o.Status, "users", p)
		return
	}
	p.Users, p.Next = page.Items, page.Next
	c.render(w, r, 0, "users", p)
}

// userForm is the new-user form as typed (never the password: it is not
// shown again).
type userForm struct {
	Username, Email string
	Groups          []string
}

type userPage struct {
	base
	New      bool
	Form     userForm
	User     directory.UserRecord
	Self     bool   // the administrator's own account
	ReadOnly string // why the account itself cannot be changed here
	Groups   []directory.GroupRecord
	// AdminGroup is the group whose members administer Twofold.
	AdminGroup  string
	MinPassword int
	Factors     []idp.FactorView
	BackupCodes int
	Sessions    []idp.SessionView
	Devices     []idp.DeviceView
	// Refused is the id of the form the outcome is about: its field errors
	// show beside that form only (two forms have a "reason").
	Refused string
	Reason  string // the reason as typed in the refused form
}

// ErrIn is the message for field name of form, if that form was refused.
func (p userPage) ErrIn(form, name string) string {
	if p.Refused != form {
		return ""
	}
	return p.Fields[name]
}

// ReasonIn is the reason typed in form, if that form was refused.
func (p userPage) ReasonIn(form string) string {
	if p.Refused != form {
		return ""
	}
	return p.Reason
}

func (c *Console) handleNewUser(w http.ResponseWriter, r *http.Request) {
	c.showNewUser(w, r, 0, userPage{New: true})
}

func (c *Console) showNewUser(w http.ResponseWriter, r *http.Request, status int, p userPage) {
	o := p.outcome
	p.base, p.New = c.page(w, r, "users"), true
	p.outcome = o
	var err error
	if p.Groups, err = all(r, c.dir.GroupPage); err != nil {
		c.internal(w, r, err)
		return
	}
	p.AdminGroup, p.MinPassword = c.dir.AdminGroup(), directory.MinPasswordLength
	c.render(w, r, status, "user", p)
}

func (c *Console) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	f := userForm{Username: strings.TrimSpace(r.PostFormValue("username")), Email: strings.TrimSpace(r.PostFormValue("email")), Groups: checked(r, "groups")}
	u, err := c.dir.CreateUserRecord(r.Context(), c.actor(r), directory.NewUser{
		Username: f.Username, Email: f.Email, Password: r.PostFormValue("password"), Groups: f.Groups,
	})
	if err != nil {
		o, ok := refusal(err)
		if !ok {
			c.internal(w, r, err)
			return
		}
		c.showNewUser(w, r, o.Status, userPage{Form: f, base: base{outcome: o}})
		return
	}
	c.kit.SeeOther(w, r, Prefix+"/users/"+url.PathEscape(u.ID)+"?done=created")
}

func (c *Console) handleUser(w http.ResponseWriter, r *http.Request) {
	c.showUser(w, r, 0, userPage{})
}

// showUser renders the account of the URL as it is now, with p's outcome.
func (c *Console) showUser(w http.ResponseWriter, r *http.Request, status int, p userPage) {
	id := chi.URLParam(r, "id")
	ctx := r.Context()
	u, err := c.dir.UserByID(ctx, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	o := p.outcome
	p.base = c.page(w, r, "users")
	p.outcome = o
	if p.Notice == "" && status == 0 {
		p.Notice = notice(r, userNotices)
	}
	p.User, p.Self = u, u.ID == adminFrom(ctx).UserID
	p.AdminGroup = c.dir.AdminGroup()
	if why := directory.ReadOnlyReason("user", u.Username, u.ManagedBy); why != "" {
		p.ReadOnly = why
	}
	if p.Groups, err = all(r, c.dir.GroupPage); err == nil {
		if p.Factors, p.BackupCodes, err = c.acc.UserFactors(ctx, id); err == nil {
			if p.Sessions, err = c.acc.UserSessions(ctx, id); err == nil {
				p.Devices, err = c.acc.UserDevices(ctx, id)
			}
		}
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, status, "user", p)
}

// userAction answers a form of the user page: do, then back to the page
// with the notice done, or the page as it is now with the refusal beside
// form.
func (c *Console) userAction(form, done string, do func(c *Console, r *http.Request, id string) error) http.HandlerFunc {
	return c.userActionDone(form, func(c *Console, r *http.Request, id string) (string, error) { return done, do(c, r, id) })
}

// userActionDone is userAction whose notice do chooses.
func (c *Console) userActionDone(form string, do func(c *Console, r *http.Request, id string) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		done, err := do(c, r, id)
		if err == nil {
			c.kit.SeeOther(w, r, Prefix+"/users/"+url.PathEscape(id)+"?done="+done)
			return
		}
		o, ok := refusal(err)
		if !ok {
			c.internal(w, r, err)
			return
		}
		c.showUser(w, r, o.Status, userPage{base: base{outcome: o}, Refused: form, Reason: r.PostFormValue("reason")})
	}
}
