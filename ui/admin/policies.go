package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
)

func (c *Console) policyRoutes(r chi.Router) {
	r.Get("/policies", c.handlePolicies)
	r.Post("/policies/default", c.handleDefaultPolicy)
	r.Get("/policies/new", c.handleNewPolicy)
	r.Post("/policies/new", c.handleCreatePolicy)
	r.Get("/policies/{name}", c.handlePolicy)
	r.Post("/policies/{name}", c.handleSavePolicy)
	r.Post("/policies/{name}/delete", c.handleDeletePolicy)
	r.Post("/policies/{name}/attach", c.handleAttachPolicy)
}

var policyNotices = map[string]string{
	"created":  "Policy created. It applies once it is attached to a client or a group, or made the default.",
	"saved":    "Policy saved. It applies from the next sign-in, on every server.",
	"deleted":  "Policy deleted.",
	"default":  "Default policy changed.",
	"attached": "Policy attached. It applies from the next sign-in.",
}

// maxList is how many rows a list page shows before its "Next" link.
const maxList = 50

type policiesPage struct {
	base
	Policies []directory.PolicyRecord
	Next     string
	Default  directory.DefaultPolicyRecord
}

func (c *Console) handlePolicies(w http.ResponseWriter, r *http.Request) {
	c.showPolicies(w, r, 0, c.page(w, r, "policies"))
}

func (c *Console) showPolicies(w http.ResponseWriter, r *http.Request, status int, b base) {
	ps, err := c.dir.PolicyPage(r.Context(), r.URL.Query().Get("after"), maxList)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	def, err := c.dir.DefaultPolicySetting(r.Context())
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if b.Notice == "" {
		b.Notice = notice(r, policyNotices)
	}
	c.render(w, r, status, "policies", policiesPage{base: b, Policies: ps.Items, Next: ps.Next, Default: def})
}

func (c *Console) handleDefaultPolicy(w http.ResponseWriter, r *http.Request) {
	_, err := c.dir.ChangeDefaultPolicy(r.Context(), c.actor(r), r.PostFormValue("policy"), r.PostFormValue("version"))
	if err == nil {
		c.kit.SeeOther(w, r, Prefix+"/policies?done=default")
		return
	}
	o, ok := refusal(err)
	if !ok {
		c.internal(w, r, err)
		return
	}
	if m, bad := o.Fields["default_policy"]; bad {
		o.Fields["policy"] = m
	}
	b := c.page(w, r, "policies")
	b.outcome = o
	c.showPolicies(w, r, o.Status, b)
}

// policyForm is the policy editor's fields as typed.
type policyForm struct {
	Name, RequireMFA, MinLevel, MFAMaxAge, RememberDevice, Enrollment, Clients string
	Methods                                                                    []string
	RequireVerifiedEmail                                                       bool
	// The enrollment grace: a duration and a number of sign-ins, as typed.
	EnrollmentGrace, EnrollmentGraceSignIns string
}

func formOf(p policy.Policy) policyForm {
	f := policyForm{
		Name: p.Name, RequireMFA: string(p.RequireMFA), MinLevel: p.MinLevel.ACR(), Enrollment: string(p.Enrollment),
		MFAMaxAge: durationText(p.MFAMaxAge), RememberDevice: durationText(p.RememberDevice), Clients: strings.Join(p.Clients, ", "),
	}
	if p.MinLevel == policy.LevelNone {
		f.MinLevel = ""
	}
	f.RequireVerifiedEmail = p.RequireVerifiedEmail
	f.EnrollmentGrace = durationText(p.EnrollmentGrace)
	if p.EnrollmentGraceSignIns > 0 {
		f.EnrollmentGraceSignIns = strconv.Itoa(p.EnrollmentGraceSignIns)
	}
	for _, m := range p.Methods {
		f.Methods = append(f.Methods, string(m))
	}
	return f
}

// durationText shows 15m0s as 15m, 12h0m0s as 12h.
func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func readPolicyForm(r *http.Request) policyForm {
	f := policyForm{
		Name: strings.TrimSpace(r.PostFormValue("name")), RequireMFA: r.PostFormValue("require_mfa"),
		MinLevel: r.PostFormValue("min_level"), MFAMaxAge: strings.TrimSpace(r.PostFormValue("mfa_max_age")),
		RememberDevice: strings.TrimSpace(r.PostFormValue("remember_device")), Enrollment: r.PostFormValue("enrollment"),
		Clients: r.PostFormValue("clients"), Methods: r.PostForm["methods"],
		EnrollmentGrace:        strings.TrimSpace(r.PostFormValue("enrollment_grace")),
		EnrollmentGraceSignIns: strings.TrimSpace(r.PostFormValue("enrollment_grace_sign_ins")),
	}
	f.RequireVerifiedEmail = r.PostFormValue("require_verified_email") == "1"
	return f
}

// policy reads the form into a policy; the domain (policy.Validate) judges
// the values, this only parses what a form cannot carry.
func (f policyForm) policy() (policy.Policy, map[string]string) {
	bad := map[string]string{}
	p := policy.Policy{Name: f.Name, RequireMFA: policy.Requirement(f.RequireMFA), Enrollment: policy.Enrollment(f.Enrollment)}
	p.RequireVerifiedEmail = f.RequireVerifiedEmail
	for _, m := range f.Methods {
		p.Methods = append(p.Methods, policy.Method(m))
	}
	p.Clients = strings.FieldsFunc(f.Clients, func(r rune) bool { return r == ',' || r == '\n' || r == ' ' || r == '\r' })
	parse := func(field, s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			bad[field] = "must be a duration such as 15m, 12h or 720h (30 days); empty for none"
		}
		return d
	}
	p.MFAMaxAge = parse("mfa_max_age", f.MFAMaxAge)
	p.RememberDevice = parse("remember_device", f.RememberDevice)
	p.EnrollmentGrace = parse("enrollment_grace", f.EnrollmentGrace)
	if f.EnrollmentGraceSignIns != "" {
		n, err := strconv.Atoi(f.EnrollmentGraceSignIns)
		if err != nil {
			bad["enrollment_grace_sign_ins"] = "must be a whole number such as 5; empty for none"
		}
		p.EnrollmentGraceSignIns = n
	}
	var err error
	if p.MinLevel, err = policy.ParseLevel(f.MinLevel); err != nil {
		bad["min_level"] = err.Error()
	}
	return p, bad
}

type policyPage struct {
	base
	New      bool
	Form     policyForm
	Record   directory.PolicyRecord
	ReadOnly string // why it cannot be changed here
	Impact   *directory.PolicyImpact
	Summary  string
	Groups   []directory.GroupRecord // to attach to
	Clients  []directory.ClientRecord
	Default  directory.DefaultPolicyRecord
	Methods  []methodChoice
	Levels   []levelChoice
}

type levelChoice struct{ Value, Text string }

// methodChoice is one box of "Second factors that count". Weaker marks the
// opt-in email and SMS codes, which the form says are the weaker choice.
type methodChoice struct {
	Value  string
	Weaker bool
}

var levelChoices = []levelChoice{
	{"", "No minimum (the requirement above decides)"},
	{policy.ACRPassword, "One factor (password or passkey)"},
	{policy.ACRMFA, "Two factors"},
	{policy.ACRPhishingResistant, "Phishing-resistant (passkey or security key with user verification)"},
	{policy.ACRPhishingResistantHardware, "Phishing-resistant on a device-bound key"},
}

func (c *Console) policyPage(w http.ResponseWriter, r *http.Request, p policyPage) (policyPage, error) {
	p.base = c.page(w, r, "policies")
	p.Notice = notice(r, policyNotices)
	for _, m := range policy.KnownMethods {
		p.Methods = append(p.Methods, methodChoice{Value: string(m), Weaker: m.OptIn()})
	}
	p.Levels = levelChoices
	if p.New {
		return p, nil
	}
	p.ReadOnly = directory.ReadOnlyReason("policy", p.Record.Policy.Name, p.Record.ManagedBy)
	var err error
	if p.Groups, err = all(r, c.dir.GroupPage); err != nil {
		return p, err
	}
	if p.Clients, err = all(r, c.dir.ClientPage); err != nil {
		return p, err
	}
	if p.Default, err = c.dir.DefaultPolicySetting(r.Context()); err != nil {
		return p, err
	}
	if p.Impact == nil {
		imp, err := c.dir.PreviewPolicy(r.Context(), p.Record.Policy.Name, p.Record.Policy)
		if err != nil {
			return p, err
		}
		p.Impact = &imp
	}
	return p, nil
}

func (c *Console) showPolicy(w http.ResponseWriter, r *http.Request, status int, p policyPage) {
	p, err := c.policyPage(w, r, p)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if p.Impact != nil {
		p.Summary = p.Impact.Summary()
	}
	c.render(w, r, status, "policy", p)
}

func (c *Console) handleNewPolicy(w http.ResponseWriter, r *http.Request) {
	c.showPolicy(w, r, 0, policyPage{New: true, Form: formOf(policy.Policy{
		RequireMFA: policy.Always, Methods: policy.AllMethods, Enrollment: policy.EnrollRequired,
	})})
}

func (c *Console) handlePolicy(w http.ResponseWriter, r *http.Request) {
	rec, err := c.dir.Policy(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.showPolicy(w, r, 0, policyPage{Record: rec, Form: formOf(rec.Policy)})
}

// handleCreatePolicy previews (action=preview) or creates a new policy.
func (c *Console) handleCreatePolicy(w http.ResponseWriter, r *http.Request) {
	f := readPolicyForm(r)
	pol, bad := f.policy()
	page := policyPage{New: true, Form: f}
	if len(bad) > 0 {
		c.refusedPolicy(w, r, page, outcome{Status: http.StatusBadRequest, Alert: "Nothing was saved: correct the fields marked below.", Fields: bad})
		return
	}
	if r.PostFormValue("action") == "preview" {
		c.previewPolicy(w, r, page, pol)
		return
	}
	rec, err := c.dir.CreatePolicy(r.Context(), c.actor(r), pol)
	if err != nil {
		c.policyRefused(w, r, page, err)
		return
	}
	c.kit.SeeOther(w, r, Prefix+"/policies/"+url.PathEscape(rec.Policy.Name)+"?done=created")
}

// handleSavePolicy previews (action=preview) or saves an edit; the form
// carries the version it was based on, so a concurrent edit is refused.
func (c *Console) handleSavePolicy(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	rec, err := c.dir.Policy(r.Context(), name)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	f := readPolicyForm(r)
	f.Name = name
	pol, bad := f.policy()
	page := policyPage{Record: rec, Form: f}
	if len(bad) > 0 {
		c.refusedPolicy(w, r, page, outcome{Status: http.StatusBadRequest, Alert: "Nothing was saved: correct the fields marked below.", Fields: bad})
		return
	}
	if r.PostFormValue("action") == "preview" {
		c.previewPolicy(w, r, page, pol)
		return
	}
	if _, err := c.dir.UpdatePolicy(r.Context(), c.actor(r), name, r.PostFormValue("version"), pol); err != nil {
		if errors.Is(err, idp.ErrPreconditionFailed) {
			// Show the current version, with what they typed lost: say so.
			if cur, err2 := c.dir.Policy(r.Context(), name); err2 == nil {
				page = policyPage{Record: cur, Form: formOf(cur.Policy)}
			}
		}
		c.policyRefused(w, r, page, err)
		return
	}
	c.kit.SeeOther(w, r, Prefix+"/policies/"+url.PathEscape(name)+"?done=saved")
}

// previewPolicy shows what saving would change and whom it affects,
// without saving: the form stays filled in.
func (c *Console) previewPolicy(w http.ResponseWriter, r *http.Request, page policyPage, pol policy.Policy) {
	imp, err := c.dir.PreviewPolicy(r.Context(), pol.Name, pol)
	if err != nil {
		c.policyRefused(w, r, page, err)
		return
	}
	page.Impact = &imp
	page, err = c.policyPage(w, r, page)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	page.Summary = imp.Summary()
	c.render(w, r, 0, "policy", page)
}

func (c *Console) policyRefused(w http.ResponseWriter, r *http.Request, page policyPage, err error) {
	o, ok := refusal(err)
	if !ok {
		c.internal(w, r, err)
		return
	}
	c.refusedPolicy(w, r, page, o)
}

func (c *Console) refusedPolicy(w http.ResponseWriter, r *http.Request, page policyPage, o outcome) {
	page, err := c.policyPage(w, r, page)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	page.outcome = o
	if page.Impact != nil {
		page.Summary = page.Impact.Summary()
	}
	c.render(w, r, o.Status, "policy", page)
}

func (c *Console) handleDeletePolicy(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	err := c.dir.DeletePolicy(r.Context(), c.actor(r), name, r.PostFormValue("version"))
	if err == nil {
		c.kit.SeeOther(w, r, Prefix+"/policies?done=deleted")
		return
	}
	rec, err2 := c.dir.Policy(r.Context(), name)
	if err2 != nil {
		c.fail(w, r, err2)
		return
	}
	c.policyRefused(w, r, policyPage{Record: rec, Form: formOf(rec.Policy)}, err)
}

// handleAttachPolicy attaches the policy to a group (group=NAME), a client
// (client=ID) or makes it the default (default=1).
func (c *Console) handleAttachPolicy(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	rec, err := c.dir.Policy(r.Context(), name)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ctx, actor := r.Context(), c.actor(r)
	switch {
	case r.PostFormValue("group") != "":
		var g directory.GroupRecord
		if g, err = c.dir.GroupByName(ctx, r.PostFormValue("group")); err == nil {
			_, err = c.dir.UpdateGroup(ctx, actor, g.Name, g.Version, directory.Group{Name: g.Name, Policy: name})
		}
	case r.PostFormValue("client") != "":
		err = c.dir.AssignClientPolicy(ctx, actor, r.PostFormValue("client"), name)
	case r.PostFormValue("default") != "":
		var d directory.DefaultPolicyRecord
		if d, err = c.dir.DefaultPolicySetting(ctx); err == nil {
			_, err = c.dir.ChangeDefaultPolicy(ctx, actor, name, d.Version)
		}
	default:
		err = idp.InputErrorf("attach", "choose a group or a client")
	}
	if err != nil {
		c.policyRefused(w, r, policyPage{Record: rec, Form: formOf(rec.Policy)}, err)
		return
	}
	c.kit.SeeOther(w, r, Prefix+"/policies/"+url.PathEscape(name)+"?done=attached")
}
