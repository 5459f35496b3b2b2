package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
)

// The groups' pages: the list with a create form, and one group with its
// policy and its deletion — the admin API's own domain calls
// (ui/adminapi/groups.go).
func (c *Console) groupRoutes(r chi.Router) {
	r.Get("/groups", c.handleGroups)
	// Created by a POST to the list, not to /groups/new: "new" is a valid
	// group name.
	r.Post("/groups", c.handleCreateGroup)
	r.Get("/groups/{name}", c.handleGroup)
	r.Post("/groups/{name}", c.handleSaveGroup)
	r.Post("/groups/{name}/delete", c.handleDeleteGroup)
}

var groupNotices = map[string]string{
	"created": "Group created. Add members on each user’s page.",
	"saved":   "Group saved. Its policy applies to its members from their next sign-in.",
	"deleted": "Group deleted. Its members keep their accounts; its policy no longer applies to them.",
}

// groupForm is the group fields as typed.
type groupForm struct{ Name, Policy string }

type groupsPage struct {
	base
	Groups     []directory.GroupRecord
	Next       string
	Policies   []directory.PolicyRecord
	AdminGroup string
	Form       groupForm
}

type groupPage struct {
	base
	Group      directory.GroupRecord
	Policies   []directory.PolicyRecord
	AdminGroup string
	ReadOnly   string // why it cannot be changed here
	Form       groupForm
}

func (c *Console) handleGroups(w http.ResponseWriter, r *http.Request) {
	c.showGroups(w, r, 0, groupsPage{})
}

func (c *Console) showGroups(w http.ResponseWriter, r *http.Request, status int, p groupsPage) {
	o := p.outcome
	p.base = c.page(w, r, "groups")
	p.outcome = o
	if status == 0 {
		p.Notice = notice(r, groupNotices)
	}
	page, err := c.dir.GroupPage(r.Context(), r.URL.Query().Get("after"), maxList)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	p.Groups, p.Next = page.Items, page.Next
	if p.Policies, err = all(r, c.dir.PolicyPage); err != nil {
		c.internal(w, r, err)
		return
	}
	p.AdminGroup = c.dir.AdminGroup()
	c.render(w, r, status, "groups", p)
}

func (c *Console) handleCreateGroup(w http.ResponseWriter, r *http.Request) {
	f := groupForm{Name: strings.TrimSpace(r.PostFormValue("name")), Policy: r.PostFormValue("policy")}
	g, err := c.dir.CreateGroup(r.Context(), c.actor(r), directory.Group{Name: f.Name, Policy: f.Policy})
	if err != nil {
		o, ok := refusal(err)
		if !ok {
			c.internal(w, r, err)
			return
		}
		c.showGroups(w, r, o.Status, groupsPage{base: base{outcome: o}, Form: f})
		return
	}
	c.kit.SeeOther(w, r, Prefix+"/groups/"+url.PathEscape(g.Name)+"?done=created")
}

func (c *Console) handleGroup(w http.ResponseWriter, r *http.Request) {
	g, err := c.dir.GroupByName(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.showGroup(w, r, 0, groupPage{Group: g, Form: groupForm{Name: g.Name, Policy: g.Policy}})
}

func (c *Console) showGroup(w http.ResponseWriter, r *http.Request, status int, p groupPage) {
	o := p.outcome
	p.base = c.page(w, r, "groups")
	p.outcome = o
	if status == 0 {
		p.Notice = notice(r, groupNotices)
	}
	if why := directory.ReadOnlyReason("group", p.Group.Name, p.Group.ManagedBy); why != "" {
		p.ReadOnly = why
	}
	var err error
	if p.Policies, err = all(r, c.dir.PolicyPage); err != nil {
		c.internal(w, r, err)
		return
	}
	p.AdminGroup = c.dir.AdminGroup()
	c.render(w, r, status, "group", p)
}

// groupRefused shows the group as it is now with the refusal of err; typed
// is what the form held (kept, unless the refusal is a concurrent edit:
// then the page shows the current version).
func (c *Console) groupRefused(w http.ResponseWriter, r *http.Request, err error, typed *groupForm) {
	o, ok := refusal(err)
	if !ok {
		c.internal(w, r, err)
		return
	}
	g, err2 := c.dir.GroupByName(r.Context(), chi.URLParam(r, "name"))
	if err2 != nil {
		c.fail(w, r, err2)
		return
	}
	p := groupPage{base: base{outcome: o}, Group: g, Form: groupForm{Name: g.Name, Policy: g.Policy}}
	if typed != nil && !errors.Is(err, idp.ErrPreconditionFailed) {
		p.Form.Policy = typed.Policy
	}
	c.showGroup(w, r, o.Status, p)
}

// handleSaveGroup attaches the chosen policy ("" detaches: the default
// applies) if the group is still at the form's version.
func (c *Console) handleSaveGroup(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	f := groupForm{Name: name, Policy: r.PostFormValue("policy")}
	if _, err := c.dir.UpdateGroup(r.Context(), c.actor(r), name, r.PostFormValue("version"), directory.Group{Policy: f.Policy}); err != nil {
		c.groupRefused(w, r, err, &f)
		return
	}
	c.kit.SeeOther(w, r, Prefix+"/groups/"+url.PathEscape(name)+"?done=saved")
}

func (c *Console) handleDeleteGroup(w http.ResponseWriter, r *http.Request) {
	if err := c.dir.DeleteGroup(r.Context(), c.actor(r), chi.URLParam(r, "name"), r.PostFormValue("version")); err != nil {
		c.groupRefused(w, r, err, nil)
		return
	}
	c.kit.SeeOther(w, r, Prefix+"/groups?done=deleted")
}
