package directory

import (
	"context"
	"errors"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

func policyToStorage(p policy.Policy) *storage.Policy {
	methods := make(storage.Strings, len(p.Methods))
	for i, m := range p.Methods {
		methods[i] = string(m)
	}
	return &storage.Policy{
		Name: p.Name, RequireMFA: string(p.RequireMFA), Methods: methods,
		MFAMaxAgeSeconds:      int64(p.MFAMaxAge / time.Second),
		RememberDeviceSeconds: int64(p.RememberDevice / time.Second),
		Enrollment:            string(p.Enrollment),
		MinLevel:              p.MinLevel.ACR(),
		Clients:               p.Clients,
		RequireVerifiedEmail:  p.RequireVerifiedEmail,
		// The enrollment grace.
		EnrollmentGraceSeconds: int64(p.EnrollmentGrace / time.Second),
		EnrollmentGraceSignIns: p.EnrollmentGraceSignIns,
	}
}

// PolicyFromStorage reads a stored policy.
func PolicyFromStorage(p *storage.Policy) policy.Policy {
	methods := make([]policy.Method, len(p.Methods))
	for i, m := range p.Methods {
		methods[i] = policy.Method(m)
	}
	return policy.Policy{
		Name: p.Name, RequireMFA: policy.Requirement(p.RequireMFA), Methods: methods,
		MFAMaxAge:      time.Duration(p.MFAMaxAgeSeconds) * time.Second,
		RememberDevice: time.Duration(p.RememberDeviceSeconds) * time.Second,
		Enrollment:     policy.Enrollment(p.Enrollment),
		MinLevel:       minLevel(p.MinLevel),
		Clients:        p.Clients,

		RequireVerifiedEmail: p.RequireVerifiedEmail,
		// The enrollment grace.
		EnrollmentGrace:        time.Duration(p.EnrollmentGraceSeconds) * time.Second,
		EnrollmentGraceSignIns: p.EnrollmentGraceSignIns,
	}
}

func minLevel(acr string) policy.Level {
	l, _ := policy.ParseACR(acr)
	return l
}

// SetPolicy creates or replaces a policy; omitted fields take defaults.
// Every replica sees the change on its next authorization request: policies
// are read from the database, not cached.
func (d *Directory) SetPolicy(ctx context.Context, actor idp.Actor, p policy.Policy) (policy.Policy, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return policy.Policy{}, err
	}
	switch existing, err := d.store.GetPolicy(ctx, p.Name); {
	case err == nil:
		if err := checkWritable("policy", p.Name, existing.ManagedBy); err != nil {
			return policy.Policy{}, err
		}
	case !errors.Is(err, storage.ErrNotFound):
		return policy.Policy{}, err
	}
	if err := d.store.UpsertPolicy(ctx, policyToStorage(p)); err != nil {
		return policy.Policy{}, err
	}
	d.audit(ctx, actor, "policy.set", p.Name, map[string]any{
		"require_mfa": p.RequireMFA, "methods": p.Methods, "mfa_max_age": p.MFAMaxAge.String(),
		"remember_device": p.RememberDevice.String(), "enrollment": p.Enrollment, "min_level": p.MinLevel.String(), "clients": p.Clients,
		"require_verified_email": p.RequireVerifiedEmail,
		"enrollment_grace":       p.EnrollmentGrace.String(), "enrollment_grace_sign_ins": p.EnrollmentGraceSignIns,
	})
	return p, nil
}

// ListPolicies returns every policy by name.
func (d *Directory) ListPolicies(ctx context.Context) ([]policy.Policy, error) {
	ps, err := d.store.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]policy.Policy, len(ps))
	for i := range ps {
		out[i] = PolicyFromStorage(&ps[i])
	}
	return out, nil
}

// PolicySources says who manages each policy (ManagedByDatabase,
// ManagedByConfig or ManagedByDemo), by name.
func (d *Directory) PolicySources(ctx context.Context) (map[string]string, error) {
	ps, err := d.store.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ps))
	for _, p := range ps {
		out[p.Name] = managedBy(p.ManagedBy)
	}
	return out, nil
}

// SetGroup creates a group or changes its policy ("" for none).
func (d *Directory) SetGroup(ctx context.Context, actor idp.Actor, g Group) error {
	if err := ValidateGroup(g); err != nil {
		return err
	}
	switch existing, err := d.store.GetGroup(ctx, g.Name); {
	case err == nil:
		if err := checkWritable("group", g.Name, existing.ManagedBy); err != nil {
			return err
		}
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}
	row := &storage.Group{Name: g.Name}
	if g.Policy != "" {
		row.Policy = &g.Policy
	}
	if err := d.store.UpsertGroup(ctx, row); err != nil {
		if errors.Is(err, storage.ErrReference) {
			return inputError("policy", "no policy called %q", g.Policy)
		}
		return err
	}
	d.audit(ctx, actor, "group.set", g.Name, map[string]any{"policy": g.Policy})
	return nil
}

// ListGroups returns every group by name.
func (d *Directory) ListGroups(ctx context.Context) ([]Group, error) {
	gs, err := d.store.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Group, len(gs))
	for i, g := range gs {
		out[i] = Group{Name: g.Name}
		if g.Policy != nil {
			out[i].Policy = *g.Policy
		}
	}
	return out, nil
}

// SetDefaultPolicy names the policy for clients and groups that name none
// ("" for none).
func (d *Directory) SetDefaultPolicy(ctx context.Context, actor idp.Actor, name string) error {
	src, err := defaultPolicySource(ctx, d.store)
	if err != nil {
		return err
	}
	if err := checkWritable("default policy", "", src); err != nil {
		return err
	}
	if name != "" {
		if _, err := d.store.GetPolicy(ctx, name); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return inputError("default_policy", "no policy called %q", name)
			}
			return err
		}
	}
	if err := d.store.SetSetting(ctx, storage.SettingDefaultPolicy, name); err != nil {
		return err
	}
	if err := d.store.SetSetting(ctx, storage.SettingDefaultPolicyManagedBy, ManagedByDatabase); err != nil {
		return err
	}
	d.audit(ctx, actor, "policy.default_set", name, nil)
	return nil
}

// DefaultPolicy returns the default policy's name ("" for none).
func (d *Directory) DefaultPolicy(ctx context.Context) (string, error) {
	v, err := d.store.GetSetting(ctx, storage.SettingDefaultPolicy)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	return v, err
}

// AssignClientPolicy makes policyName ("" for none) the policy of a client.
func (d *Directory) AssignClientPolicy(ctx context.Context, actor idp.Actor, clientID, policyName string) error {
	c, err := d.store.GetClient(ctx, clientID)
	if err != nil {
		return notFound(err)
	}
	if err := checkWritable("client", clientID, c.ManagedBy); err != nil {
		return err
	}
	c.Policy = nil
	if policyName != "" {
		c.Policy = &policyName
	}
	if err := d.store.UpsertClient(ctx, c); err != nil {
		if errors.Is(err, storage.ErrReference) {
			return inputError("policy", "no policy called %q", policyName)
		}
		return err
	}
	d.audit(ctx, actor, "policy.assigned", clientID, map[string]any{"client": clientID, "policy": policyName})
	return nil
}
