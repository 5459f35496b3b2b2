package adminapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp/directory"
)

type groupBody struct {
	Name   string `json:"name"`
	Policy string `json:"policy"`
}

type groupJSON struct {
	Name           string    `json:"name"`
	Policy         string    `json:"policy"`
	Members        int64     `json:"members"`
	ManagedBy      string    `json:"managed_by"`
	ReadOnly       bool      `json:"read_only"`
	ReadOnlyReason string    `json:"read_only_reason,omitempty"`
	ETag           string    `json:"etag"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func toGroupJSON(g directory.GroupRecord) groupJSON {
	ro, why := readOnly("group", g.Name, g.ManagedBy)
	return groupJSON{Name: g.Name, Policy: g.Policy, Members: g.Members, ManagedBy: g.ManagedBy, ReadOnly: ro, ReadOnlyReason: why, ETag: etag(g.Version), UpdatedAt: g.UpdatedAt}
}

func (a *API) listGroups(r *http.Request, c *call) (*response, error) {
	after, limit, err := page(r, "group")
	if err != nil {
		return nil, err
	}
	p, err := a.dir.GroupPage(r.Context(), after, limit)
	if err != nil {
		return nil, err
	}
	return ok(list[groupJSON]{Items: mapItems(p.Items, toGroupJSON), NextCursor: cursor("group", p.Next)}, "")
}

func (a *API) getGroup(r *http.Request, c *call) (*response, error) {
	g, err := a.dir.GroupByName(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		return nil, err
	}
	return ok(toGroupJSON(g), g.Version)
}

func (a *API) createGroup(r *http.Request, c *call) (*response, error) {
	var b groupBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	g, err := a.dir.CreateGroup(r.Context(), a.actor(r), directory.Group{Name: b.Name, Policy: b.Policy})
	if err != nil {
		return nil, err
	}
	return &response{Status: http.StatusCreated, Body: toGroupJSON(g), Version: g.Version, Location: Prefix + "/groups/" + url.PathEscape(g.Name)}, nil
}

// updateGroup attaches a policy to the group ("" detaches it: the default
// applies).
func (a *API) updateGroup(r *http.Request, c *call) (*response, error) {
	var b groupBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	name := chi.URLParam(r, "name")
	if b.Name != "" && b.Name != name {
		return nil, fieldProblem("name", "cannot be changed (it is in the URL)")
	}
	g, err := a.dir.UpdateGroup(r.Context(), a.actor(r), name, c.ifMatch, directory.Group{Policy: b.Policy})
	if err != nil {
		return nil, err
	}
	return ok(toGroupJSON(g), g.Version)
}

func (a *API) deleteGroup(r *http.Request, c *call) (*response, error) {
	if err := a.dir.DeleteGroup(r.Context(), a.actor(r), chi.URLParam(r, "name"), c.ifMatch); err != nil {
		return nil, err
	}
	return &response{Status: http.StatusNoContent}, nil
}
