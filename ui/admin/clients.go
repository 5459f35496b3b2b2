package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
)

func (c *Console) clientRoutes(r chi.Router) {
	r.Get("/clients", c.handleClients)
	r.Get("/clients/new", c.handleNewClient)
	r.Post("/clients/new", c.handleCreateClient)
	r.Get("/clients/{id}", c.handleClient)
	r.Post("/clients/{id}", c.handleSaveClient)
	r.Post("/clients/{id}/rotate-secret", c.handleRotateClientSecret)
	r.Post("/clients/{id}/delete", c.handleDeleteClient)
}

var clientNotices = map[string]string{
	"created": "Client created.",
	"saved":   "Client saved. Every server uses the new settings within a few seconds.",
	"deleted": "Client deleted, with its tokens, codes and consents.",
}

type clientsPage struct {
	base
	Clients []clientRow
	Next    string
}

type clientRow struct {
	directory.ClientRecord
	BuiltIn bool
}

func (c *Console) handleClients(w http.ResponseWriter, r *http.Request) {
	p, err := c.dir.ClientPage(r.Context(), r.URL.Query().Get("after"), maxList)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	page := clientsPage{base: c.page(w, r, "clients"), Next: p.Next}
	page.Notice = notice(r, clientNotices)
	for _, cl := range p.Items {
		page.Clients = append(page.Clients, clientRow{ClientRecord: cl, BuiltIn: cl.ManagedBy == directory.ManagedByBuiltIn})
	}
	c.render(w, r, 0, "clients", page)
}

// clientForm is the client editor's fields as typed. Field names are the
// domain's (rules.ValidateClientSpec), so its errors land beside them.
type clientForm struct {
	ID, Name, Policy, IDTokenAlg, AccessTokenType string
	Confidential, SkipConsent                     bool
	DPoPBoundAccessTokens                         bool
	RedirectURIs, PostLogoutRedirectURIs          string // one per line
	GrantTypes, AllowedScopes                     []string
	// Back-channel logout (OpenID Connect Back-Channel Logout 1.0).
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// Pushed authorization requests only (RFC 9126).
	RequirePushedAuthorizationRequests bool
}

func clientFormOf(cl directory.ClientRecord) clientForm {
	return clientForm{
		ID: cl.ID, Name: cl.Name, Policy: cl.Policy, IDTokenAlg: cl.IDTokenAlg, AccessTokenType: cl.AccessTokenType,
		Confidential: !cl.Public, SkipConsent: cl.SkipConsent, DPoPBoundAccessTokens: cl.DPoPBoundAccessTokens,
		RedirectURIs: strings.Join(cl.RedirectURIs, "\n"), PostLogoutRedirectURIs: strings.Join(cl.PostLogoutRedirectURIs, "\n"),
		GrantTypes: cl.GrantTypes, AllowedScopes: cl.AllowedScopes,
		BackchannelLogoutURI: cl.BackchannelLogoutURI, BackchannelLogoutSessionRequired: cl.BackchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: cl.RequirePushedAuthorizationRequests,
	}
}

func readClientForm(r *http.Request) clientForm {
	return clientForm{
		ID: strings.TrimSpace(r.PostFormValue("id")), Name: strings.TrimSpace(r.PostFormValue("name")),
		Policy: r.PostFormValue("policy"), IDTokenAlg: r.PostFormValue("id_token_signed_response_alg"),
		AccessTokenType: r.PostFormValue("access_token_type"),
		Confidential:    r.PostFormValue("confidential") != "", SkipConsent: r.PostFormValue("skip_consent") != "",
		RedirectURIs: r.PostFormValue("redirect_uris"), PostLogoutRedirectURIs: r.PostFormValue("post_logout_redirect_uris"),
		GrantTypes: r.PostForm["grant_types"], AllowedScopes: r.PostForm["allowed_scopes"],
		DPoPBoundAccessTokens:              r.PostFormValue("dpop_bound_access_tokens") != "",
		BackchannelLogoutURI:               strings.TrimSpace(r.PostFormValue("backchannel_logout_uri")),
		BackchannelLogoutSessionRequired:   r.PostFormValue("backchannel_logout_session_required") != "",
		RequirePushedAuthorizationRequests: r.PostFormValue("require_pushed_authorization_requests") != "",
	}
}

// lines splits a textarea into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// spec is the form as the domain's ClientSpec; the domain judges it (the
// same validators as the configuration file). A confidential client gets a
// secret Twofold generates, shown once.
func (f clientForm) spec() directory.ClientSpec {
	return directory.ClientSpec{
		ID: f.ID, Name: f.Name, GenerateSecret: f.Confidential,
		RedirectURIs: lines(f.RedirectURIs), PostLogoutRedirectURIs: lines(f.PostLogoutRedirectURIs),
		GrantTypes: f.GrantTypes, SkipConsent: f.SkipConsent, Policy: f.Policy,
		AccessTokenType: f.AccessTokenType, IDTokenAlg: f.IDTokenAlg, AllowedScopes: f.AllowedScopes,
		DPoPBoundAccessTokens: f.DPoPBoundAccessTokens,
		BackchannelLogoutURI:  f.BackchannelLogoutURI, BackchannelLogoutSessionRequired: f.BackchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: f.RequirePushedAuthorizationRequests,
	}
}

var indexedField = regexp.MustCompile(`^([a-z_]+)\[(\d+)\]$`)

// clientFields are the client form's fields.
var clientFields = []string{
	"id", "name", "confidential", "redirect_uris", "post_logout_redirect_uris", "grant_types", "skip_consent", "policy",
	"id_token_signed_response_alg", "access_token_type", "allowed_scopes", "dpop_bound_access_tokens",
	"backchannel_logout_uri", "backchannel_logout_session_required", "require_pushed_authorization_requests",
}

// clientFieldErrors puts the domain's errors about one entry of a list
// (redirect_uris[2]) beside the list's field, saying which line; an error
// about a field the form does not have goes into the alert.
func clientFieldErrors(o outcome) outcome {
	if len(o.Fields) == 0 {
		return o
	}
	keys := make([]string, 0, len(o.Fields))
	for k := range o.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fields := map[string]string{}
	add := func(field, msg string) {
		if prev, ok := fields[field]; ok {
			msg = prev + "; " + msg
		}
		fields[field] = msg
	}
	for _, k := range keys {
		field, msg := k, o.Fields[k]
		if m := indexedField.FindStringSubmatch(k); m != nil {
			field = m[1]
			if n, _ := strconv.Atoi(m[2]); field == "redirect_uris" || field == "post_logout_redirect_uris" {
				msg = fmt.Sprintf("line %d: %s", n+1, msg)
			}
		}
		if !slices.Contains(clientFields, field) {
			o.Alert += " " + field + ": " + msg + "."
			continue
		}
		add(field, msg)
	}
	o.Fields = fields
	return o
}

type clientPage struct {
	base
	New      bool
	Form     clientForm
	Record   directory.ClientRecord
	BuiltIn  bool   // Twofold's own client, registered again at every start
	ReadOnly string // why it cannot be changed here
	Policies []string
	Algs     []string
	Grants   []string
	Scopes   []string
}

func (c *Console) clientPage(w http.ResponseWriter, r *http.Request, p clientPage) (clientPage, error) {
	p.base = c.page(w, r, "clients")
	p.Notice = notice(r, clientNotices)
	p.Grants = directory.GrantTypes
	p.Scopes = directory.PrivilegedScopes
	p.Algs = c.keys.Algorithms()
	if a := p.Form.IDTokenAlg; a != "" && !slices.Contains(p.Algs, a) {
		p.Algs = append(p.Algs, a) // keep what the client has, even if no longer configured
	}
	if !p.New {
		p.BuiltIn = p.Record.ManagedBy == directory.ManagedByBuiltIn
		p.ReadOnly = p.Record.ReadOnlyReason()
	}
	policies, err := all(r, c.dir.PolicyPage)
	if err != nil {
		return p, err
	}
	for _, x := range policies {
		p.Policies = append(p.Policies, x.Policy.Name)
	}
	if p.Form.Policy != "" && !slices.Contains(p.Policies, p.Form.Policy) {
		p.Policies = append(p.Policies, p.Form.Policy)
	}
	return p, nil
}

func (c *Console) showClient(w http.ResponseWriter, r *http.Request, status int, p clientPage) {
	p, err := c.clientPage(w, r, p)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	c.render(w, r, status, "client", p)
}

func (c *Console) handleNewClient(w http.ResponseWriter, r *http.Request) {
	c.showClient(w, r, 0, clientPage{New: true, Form: clientForm{
		Confidential: true, GrantTypes: directory.DefaultGrantTypes, IDTokenAlg: "RS256", AccessTokenType: "jwt",
	}})
}

func (c *Console) handleClient(w http.ResponseWriter, r *http.Request) {
	cl, err := c.dir.ClientByID(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.showClient(w, r, 0, clientPage{Record: cl, Form: clientFormOf(cl)})
}

// clientSecretPage shows a secret just made: this answer is its only copy
// (Twofold keeps a keyed hash), and it is not cached (no-store).
type clientSecretPage struct {
	base
	Record  directory.ClientRecord
	Secret  string
	Rotated bool
}

func (c *Console) handleCreateClient(w http.ResponseWriter, r *http.Request) {
	f := readClientForm(r)
	cl, secret, err := c.dir.CreateClient(r.Context(), c.actor(r), f.spec())
	if err != nil {
		c.clientRefused(w, r, clientPage{New: true, Form: f}, err)
		return
	}
	if secret == "" {
		c.kit.SeeOther(w, r, Prefix+"/clients/"+url.PathEscape(cl.ID)+"?done=created")
		return
	}
	c.showClientSecret(w, r, cl, secret, false)
}

func (c *Console) showClientSecret(w http.ResponseWriter, r *http.Request, cl directory.ClientRecord, secret string, rotated bool) {
	c.render(w, r, 0, "client_secret", clientSecretPage{base: c.page(w, r, "clients"), Record: cl, Secret: secret, Rotated: rotated})
}

// clientForChange loads the client a form changes.
func (c *Console) clientForChange(w http.ResponseWriter, r *http.Request) (directory.ClientRecord, bool) {
	cl, err := c.dir.ClientByID(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		c.fail(w, r, err)
		return cl, false
	}
	return cl, true
}

// handleSaveClient saves an edit of the settings (not the credentials);
// the form carries the version it was based on, so a concurrent edit is
// refused.
func (c *Console) handleSaveClient(w http.ResponseWriter, r *http.Request) {
	cl, ok := c.clientForChange(w, r)
	if !ok {
		return
	}
	f := readClientForm(r)
	f.ID, f.Confidential = cl.ID, !cl.Public
	if _, err := c.dir.UpdateClient(r.Context(), c.actor(r), cl.ID, r.PostFormValue("version"), f.spec()); err != nil {
		c.clientRefused(w, r, c.currentOnConflict(r, clientPage{Record: cl, Form: f}, err), err)
		return
	}
	c.kit.SeeOther(w, r, Prefix+"/clients/"+url.PathEscape(cl.ID)+"?done=saved")
}

// currentOnConflict: after a concurrent change, the page shows the current
// version (what was typed is lost, and the alert says so).
func (c *Console) currentOnConflict(r *http.Request, p clientPage, err error) clientPage {
	if errors.Is(err, idp.ErrPreconditionFailed) {
		if cur, err2 := c.dir.ClientByID(r.Context(), p.Record.ID); err2 == nil {
			return clientPage{Record: cur, Form: clientFormOf(cur)}
		}
	}
	return p
}

func (c *Console) handleRotateClientSecret(w http.ResponseWriter, r *http.Request) {
	cl, ok := c.clientForChange(w, r)
	if !ok {
		return
	}
	next, secret, err := c.dir.RotateClientSecret(r.Context(), c.actor(r), cl.ID, r.PostFormValue("version"))
	if err != nil {
		c.clientRefused(w, r, c.currentOnConflict(r, clientPage{Record: cl, Form: clientFormOf(cl)}, err), err)
		return
	}
	c.showClientSecret(w, r, next, secret, true)
}

func (c *Console) handleDeleteClient(w http.ResponseWriter, r *http.Request) {
	cl, ok := c.clientForChange(w, r)
	if !ok {
		return
	}
	if err := c.dir.DeleteClient(r.Context(), c.actor(r), cl.ID, r.PostFormValue("version")); err != nil {
		c.clientRefused(w, r, c.currentOnConflict(r, clientPage{Record: cl, Form: clientFormOf(cl)}, err), err)
		return
	}
	c.kit.SeeOther(w, r, Prefix+"/clients?done=deleted")
}

func (c *Console) clientRefused(w http.ResponseWriter, r *http.Request, p clientPage, err error) {
	o, ok := refusal(err)
	if !ok {
		c.internal(w, r, err)
		return
	}
	c.refusedClient(w, r, p, clientFieldErrors(o))
}

func (c *Console) refusedClient(w http.ResponseWriter, r *http.Request, p clientPage, o outcome) {
	p, err := c.clientPage(w, r, p)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	p.outcome = o
	c.render(w, r, o.Status, "client", p)
}
