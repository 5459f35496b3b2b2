package adminapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
)

type userJSON struct {
	ID             string    `json:"id"`
	Username       string    `json:"username"`
	Email          string    `json:"email"`
	Groups         []string  `json:"groups"`
	Disabled       bool      `json:"disabled"`
	ManagedBy      string    `json:"managed_by"`
	ReadOnly       bool      `json:"read_only"`
	ReadOnlyReason string    `json:"read_only_reason,omitempty"`
	ETag           string    `json:"etag"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func toUserJSON(u directory.UserRecord) userJSON {
	ro, why := readOnly("user", u.Username, u.ManagedBy)
	return userJSON{
		ID: u.ID, Username: u.Username, Email: u.Email, Groups: nonNil(u.Groups), Disabled: u.Disabled,
		ManagedBy: u.ManagedBy, ReadOnly: ro, ReadOnlyReason: why, ETag: etag(u.Version), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
}

// listUsers searches accounts: q matches part of the username or email.
func (a *API) listUsers(r *http.Request, c *call) (*response, error) {
	after, limit, err := page(r, "user")
	if err != nil {
		return nil, err
	}
	p, err := a.dir.SearchUsers(r.Context(), r.URL.Query().Get("q"), after, limit)
	if err != nil {
		return nil, err
	}
	return ok(list[userJSON]{Items: mapItems(p.Items, toUserJSON), NextCursor: cursor("user", p.Next)}, "")
}

func (a *API) getUser(r *http.Request, c *call) (*response, error) {
	u, err := a.dir.UserByID(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return nil, err
	}
	return ok(toUserJSON(u), u.Version)
}

func (a *API) createUser(r *http.Request, c *call) (*response, error) {
	var b userCreateBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	u, err := a.dir.CreateUserRecord(r.Context(), a.actor(r), directory.NewUser{Username: b.Username, Email: b.Email, Password: b.Password, Groups: b.Groups})
	if err != nil {
		return nil, err
	}
	return &response{Status: http.StatusCreated, Body: toUserJSON(u), Version: u.Version, Location: Prefix + "/users/" + url.PathEscape(u.ID)}, nil
}

func (a *API) disableUser(r *http.Request, c *call) (*response, error) {
	return a.setDisabled(r, c, true)
}
func (a *API) enableUser(r *http.Request, c *call) (*response, error) {
	return a.setDisabled(r, c, false)
}

func (a *API) setDisabled(r *http.Request, c *call, disabled bool) (*response, error) {
	u, err := a.dir.SetUserDisabledByID(r.Context(), a.actor(r), chi.URLParam(r, "id"), c.ifMatch, disabled)
	if err != nil {
		return nil, err
	}
	return ok(toUserJSON(u), u.Version)
}

func (a *API) setUserGroups(r *http.Request, c *call) (*response, error) {
	var b userGroupsBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	u, err := a.dir.SetUserGroups(r.Context(), a.actor(r), chi.URLParam(r, "id"), c.ifMatch, b.Groups)
	if err != nil {
		return nil, err
	}
	return ok(toUserJSON(u), u.Version)
}

type factorJSON struct {
	ID         string     `json:"id"`
	Method     string     `json:"method"`
	Kind       string     `json:"kind"`
	Name       string     `json:"name"`
	Passkey    bool       `json:"passkey"`
	Blocked    bool       `json:"blocked"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// userFactors lists names, kinds and use — never a secret.
func (a *API) userFactors(r *http.Request, c *call) (*response, error) {
	fs, codes, err := a.acc.UserFactors(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return nil, err
	}
	return ok(factorsJSON{mapItems(fs, func(f idp.FactorView) factorJSON {
		return factorJSON{f.ID, f.Method, f.Kind, f.Name, f.Passkey, f.Blocked, f.CreatedAt, f.LastUsedAt}
	}), codes}, "")
}

// resetMFA removes every second factor, ends the sessions and revokes the
// tokens; the reason is required and kept in the audit log.
func (a *API) resetMFA(r *http.Request, c *call) (*response, error) {
	var b reasonBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	// The user is told by mail when they have a verified address (audited either way).
	if _, err := a.acc.ResetUserMFA(r.Context(), a.actor(r), chi.URLParam(r, "id"), b.Reason); err != nil {
		return nil, err
	}
	return &response{Status: http.StatusNoContent}, nil
}

// forceReenrollment is resetMFA plus: the next sign-in must enroll a new
// second factor, whatever the policies say.
func (a *API) forceReenrollment(r *http.Request, c *call) (*response, error) {
	var b reasonBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	if _, err := a.acc.ForceUserReenrollment(r.Context(), a.actor(r), chi.URLParam(r, "id"), b.Reason); err != nil {
		return nil, err
	}
	return &response{Status: http.StatusNoContent}, nil
}

func (a *API) unlockUser(r *http.Request, c *call) (*response, error) {
	if err := a.acc.UnlockUser(r.Context(), a.actor(r), chi.URLParam(r, "id")); err != nil {
		return nil, err
	}
	return &response{Status: http.StatusNoContent}, nil
}

type sessionJSON struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
}

func (a *API) userSessions(r *http.Request, c *call) (*response, error) {
	ss, err := a.acc.UserSessions(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return nil, err
	}
	return ok(list[sessionJSON]{Items: mapItems(ss, func(s idp.SessionView) sessionJSON {
		return sessionJSON{s.ID, s.CreatedAt, s.LastSeenAt, s.IP, s.UserAgent}
	})}, "")
}

func (a *API) endUserSession(r *http.Request, c *call) (*response, error) {
	if err := a.acc.EndUserSession(r.Context(), a.actor(r), chi.URLParam(r, "id"), chi.URLParam(r, "sid")); err != nil {
		return nil, err
	}
	return &response{Status: http.StatusNoContent}, nil
}

func (a *API) endUserSessions(r *http.Request, c *call) (*response, error) {
	n, err := a.acc.EndUserSessions(r.Context(), a.actor(r), chi.URLParam(r, "id"))
	if err != nil {
		return nil, err
	}
	return ok(endedJSON{n}, "")
}

type deviceJSON struct {
	ID         string     `json:"id"`
	Label      string     `json:"label"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func (a *API) userDevices(r *http.Request, c *call) (*response, error) {
	ds, err := a.acc.UserDevices(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return nil, err
	}
	return ok(list[deviceJSON]{Items: mapItems(ds, func(d idp.DeviceView) deviceJSON {
		return deviceJSON{d.ID, d.Label, d.CreatedAt, d.ExpiresAt, d.LastUsedAt}
	})}, "")
}

func (a *API) forgetUserDevice(r *http.Request, c *call) (*response, error) {
	if err := a.acc.ForgetUserDevice(r.Context(), a.actor(r), chi.URLParam(r, "id"), chi.URLParam(r, "did")); err != nil {
		return nil, err
	}
	return &response{Status: http.StatusNoContent}, nil
}

func (a *API) forgetUserDevices(r *http.Request, c *call) (*response, error) {
	if err := a.acc.ForgetUserDevices(r.Context(), a.actor(r), chi.URLParam(r, "id")); err != nil {
		return nil, err
	}
	return &response{Status: http.StatusNoContent}, nil
}
