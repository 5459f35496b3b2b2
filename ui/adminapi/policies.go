package adminapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
)

// policyBody is a policy as clients send it.
type policyBody struct {
	Name           string   `json:"name"`
	RequireMFA     string   `json:"require_mfa"`
	Methods        []string `json:"methods"`
	MFAMaxAge      string   `json:"mfa_max_age"`
	RememberDevice string   `json:"remember_device"`
	Enrollment     string   `json:"enrollment"`
	MinLevel       string   `json:"min_level"`
	Clients        []string `json:"clients"`

	// RequireVerifiedEmail: sign-ins under the policy complete only once the user's email is verified.
	RequireVerifiedEmail bool `json:"require_verified_email"`
	// EnrollmentGrace ("168h"; "" or "0s": none) and EnrollmentGraceSignIns
	// (0: none): how long and for how many sign-ins users may put enrolling
	// a second factor off.
	EnrollmentGrace        string `json:"enrollment_grace"`
	EnrollmentGraceSignIns int    `json:"enrollment_grace_sign_ins"`
}

// policyJSON is a policy as the API shows it.
type policyJSON struct {
	Name           string   `json:"name"`
	RequireMFA     string   `json:"require_mfa"`
	Methods        []string `json:"methods"`
	MFAMaxAge      string   `json:"mfa_max_age"`
	RememberDevice string   `json:"remember_device"`
	Enrollment     string   `json:"enrollment"`
	MinLevel       string   `json:"min_level"`
	Clients        []string `json:"clients"`
	// The enrollment grace (see policyBody).
	EnrollmentGrace        string    `json:"enrollment_grace"`
	EnrollmentGraceSignIns int       `json:"enrollment_grace_sign_ins"`
	Default                bool      `json:"default"`
	ManagedBy              string    `json:"managed_by"`
	ReadOnly               bool      `json:"read_only"`
	ReadOnlyReason         string    `json:"read_only_reason,omitempty"`
	ETag                   string    `json:"etag"`
	UpdatedAt              time.Time `json:"updated_at"`

	// RequireVerifiedEmail: sign-ins under the policy complete only once the user's email is verified.
	RequireVerifiedEmail bool `json:"require_verified_email"`
}

// readOnly says whether an object is read-only here, and why.
func readOnly(kind, name, m string) (bool, string) {
	why := directory.ReadOnlyReason(kind, name, m)
	return why != "", why
}

func toPolicyJSON(p directory.PolicyRecord) policyJSON {
	f := directory.PolicyFields(p.Policy)
	ro, why := readOnly("policy", p.Policy.Name, p.ManagedBy)
	return policyJSON{
		Name: p.Policy.Name, RequireMFA: f["require_mfa"].(string), Methods: f["methods"].([]string),
		MFAMaxAge: f["mfa_max_age"].(string), RememberDevice: f["remember_device"].(string),
		Enrollment: f["enrollment"].(string), MinLevel: p.Policy.MinLevel.ACR(), Clients: f["clients"].([]string),
		EnrollmentGrace: f["enrollment_grace"].(string), EnrollmentGraceSignIns: f["enrollment_grace_sign_ins"].(int),
		Default: p.Default, ManagedBy: p.ManagedBy, ReadOnly: ro, ReadOnlyReason: why, ETag: etag(p.Version), UpdatedAt: p.UpdatedAt,

		RequireVerifiedEmail: p.Policy.RequireVerifiedEmail,
	}
}

// toPolicy reads a body; the domain (policy.Validate) judges the values,
// this only parses what JSON cannot carry (durations, levels).
func (b policyBody) toPolicy() (policy.Policy, error) {
	p := policy.Policy{Name: b.Name, RequireMFA: policy.Requirement(b.RequireMFA), Enrollment: policy.Enrollment(b.Enrollment), Clients: b.Clients}
	p.RequireVerifiedEmail = b.RequireVerifiedEmail
	for _, m := range b.Methods {
		p.Methods = append(p.Methods, policy.Method(m))
	}
	var err error
	if p.MFAMaxAge, err = duration("mfa_max_age", b.MFAMaxAge); err != nil {
		return p, err
	}
	if p.RememberDevice, err = duration("remember_device", b.RememberDevice); err != nil {
		return p, err
	}
	if p.EnrollmentGrace, err = duration("enrollment_grace", b.EnrollmentGrace); err != nil {
		return p, err
	}
	p.EnrollmentGraceSignIns = b.EnrollmentGraceSignIns
	if p.MinLevel, err = policy.ParseLevel(b.MinLevel); err != nil {
		return p, fieldProblem("min_level", err.Error())
	}
	return p, nil
}

func duration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fieldProblem(field, "must be a duration such as 15m, 12h or 0s")
	}
	return d, nil
}

func (a *API) listPolicies(r *http.Request, c *call) (*response, error) {
	after, limit, err := page(r, "policy")
	if err != nil {
		return nil, err
	}
	p, err := a.dir.PolicyPage(r.Context(), after, limit)
	if err != nil {
		return nil, err
	}
	return ok(list[policyJSON]{Items: mapItems(p.Items, toPolicyJSON), NextCursor: cursor("policy", p.Next)}, "")
}

func (a *API) getPolicy(r *http.Request, c *call) (*response, error) {
	p, err := a.dir.Policy(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		return nil, err
	}
	return ok(toPolicyJSON(p), p.Version)
}

func (a *API) createPolicy(r *http.Request, c *call) (*response, error) {
	var b policyBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	p, err := b.toPolicy()
	if err != nil {
		return nil, err
	}
	rec, err := a.dir.CreatePolicy(r.Context(), a.actor(r), p)
	if err != nil {
		return nil, err
	}
	return &response{Status: http.StatusCreated, Body: toPolicyJSON(rec), Version: rec.Version, Location: Prefix + "/policies/" + url.PathEscape(rec.Policy.Name)}, nil
}

func (a *API) updatePolicy(r *http.Request, c *call) (*response, error) {
	var b policyBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	name := chi.URLParam(r, "name")
	if b.Name != "" && b.Name != name {
		return nil, fieldProblem("name", "cannot be changed (it is in the URL)")
	}
	p, err := b.toPolicy()
	if err != nil {
		return nil, err
	}
	rec, err := a.dir.UpdatePolicy(r.Context(), a.actor(r), name, c.ifMatch, p)
	if err != nil {
		return nil, err
	}
	return ok(toPolicyJSON(rec), rec.Version)
}

func (a *API) deletePolicy(r *http.Request, c *call) (*response, error) {
	if err := a.dir.DeletePolicy(r.Context(), a.actor(r), chi.URLParam(r, "name"), c.ifMatch); err != nil {
		return nil, err
	}
	return &response{Status: http.StatusNoContent}, nil
}

// impactJSON is the preview of an edit.
type impactJSON struct {
	Policy  string        `json:"policy"`
	Exists  bool          `json:"exists"`
	Default bool          `json:"default"`
	Clients []string      `json:"clients"`
	Groups  []groupImpact `json:"groups"`
	Users   int64         `json:"users"`
	Changes []changeJSON  `json:"changes"`
	Summary string        `json:"summary"`
}

type groupImpact struct {
	Name  string `json:"name"`
	Users int64  `json:"users"`
}

type changeJSON struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// previewPolicy says what saving the body as the policy would affect,
// without saving it.
func (a *API) previewPolicy(r *http.Request, c *call) (*response, error) {
	var b policyBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	name := chi.URLParam(r, "name")
	p, err := b.toPolicy()
	if err != nil {
		return nil, err
	}
	imp, err := a.dir.PreviewPolicy(r.Context(), name, p)
	if err != nil {
		return nil, err
	}
	out := impactJSON{
		Policy: imp.Policy, Exists: imp.Exists, Default: imp.Default, Clients: imp.Clients, Users: imp.Users,
		Groups:  mapItems(imp.Groups, func(g directory.GroupImpact) groupImpact { return groupImpact{g.Name, g.Users} }),
		Changes: mapItems(imp.Changes, func(f directory.FieldChange) changeJSON { return changeJSON{f.Field, f.Before, f.After} }),
	}
	out.Summary = imp.Summary()
	return ok(out, "")
}

type defaultPolicyJSON struct {
	Policy         string `json:"policy"`
	ManagedBy      string `json:"managed_by"`
	ReadOnly       bool   `json:"read_only"`
	ReadOnlyReason string `json:"read_only_reason,omitempty"`
	ETag           string `json:"etag"`
}

func toDefaultJSON(d directory.DefaultPolicyRecord) defaultPolicyJSON {
	ro, why := readOnly("default policy", "", d.ManagedBy)
	return defaultPolicyJSON{Policy: d.Policy, ManagedBy: d.ManagedBy, ReadOnly: ro, ReadOnlyReason: why, ETag: etag(d.Version)}
}

func (a *API) getDefaultPolicy(r *http.Request, c *call) (*response, error) {
	d, err := a.dir.DefaultPolicySetting(r.Context())
	if err != nil {
		return nil, err
	}
	return ok(toDefaultJSON(d), d.Version)
}

func (a *API) setDefaultPolicy(r *http.Request, c *call) (*response, error) {
	var b defaultPolicyBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	d, err := a.dir.ChangeDefaultPolicy(r.Context(), a.actor(r), b.Policy, c.ifMatch)
	if fs := inputErrors(err); len(fs) == 1 && fs[0].Field == "default_policy" {
		return nil, fieldProblem("policy", fs[0].Detail) // the setting's config key is this body's field
	}
	if err != nil {
		return nil, err
	}
	return ok(toDefaultJSON(d), d.Version)
}
