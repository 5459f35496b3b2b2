package directory

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// PolicyRecord is a policy as the admin API shows it.
type PolicyRecord struct {
	Policy    policy.Policy
	ManagedBy string
	Default   bool // it is the default policy
	Version   string
	UpdatedAt time.Time
}

func policyRecord(row *storage.Policy, defaultName string) PolicyRecord {
	return PolicyRecord{
		Policy: PolicyFromStorage(row), ManagedBy: managedBy(row.ManagedBy), Default: row.Name == defaultName,
		Version: version(row), UpdatedAt: row.UpdatedAt,
	}
}

// PolicyFields are a policy's settings under the names the configuration
// file and the API use: the before/after of audit events and previews.
func PolicyFields(p policy.Policy) map[string]any {
	methods := make([]string, len(p.Methods))
	for i, m := range p.Methods {
		methods[i] = string(m)
	}
	clients := p.Clients
	if clients == nil {
		clients = []string{}
	}
	return map[string]any{
		"require_mfa": string(p.RequireMFA), "methods": methods, "mfa_max_age": p.MFAMaxAge.String(),
		"remember_device": p.RememberDevice.String(), "enrollment": string(p.Enrollment),
		"min_level": p.MinLevel.String(), "clients": clients,
		"require_verified_email": p.RequireVerifiedEmail,
		"enrollment_grace":       p.EnrollmentGrace.String(), "enrollment_grace_sign_ins": p.EnrollmentGraceSignIns,
	}
}

// Policy returns the policy called name.
func (d *Directory) Policy(ctx context.Context, name string) (PolicyRecord, error) {
	row, err := d.store.GetPolicy(ctx, name)
	if err != nil {
		return PolicyRecord{}, notFound(err)
	}
	def, err := d.DefaultPolicy(ctx)
	if err != nil {
		return PolicyRecord{}, err
	}
	return policyRecord(row, def), nil
}

// PolicyPage lists policies by name, limit at a time, after the name after.
func (d *Directory) PolicyPage(ctx context.Context, after string, limit int) (Page[PolicyRecord], error) {
	rows, err := d.store.ListPolicies(ctx)
	if err != nil {
		return Page[PolicyRecord]{}, err
	}
	def, err := d.DefaultPolicy(ctx)
	if err != nil {
		return Page[PolicyRecord]{}, err
	}
	all := make([]PolicyRecord, len(rows))
	for i := range rows {
		all[i] = policyRecord(&rows[i], def)
	}
	return pageOf(all, func(p PolicyRecord) string { return p.Policy.Name }, after, limit), nil
}

// CreatePolicy adds a policy managed in the database; a taken name is a
// conflict.
func (d *Directory) CreatePolicy(ctx context.Context, actor idp.Actor, p policy.Policy) (PolicyRecord, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return PolicyRecord{}, err
	}
	var out PolicyRecord
	err := d.edit(ctx, func(in *Directory) error {
		switch existing, err := in.store.GetPolicy(ctx, p.Name); {
		case err == nil:
			return idp.Conflictf("a policy called %q already exists (managed by %s)", p.Name, SourceName(managedBy(existing.ManagedBy)))
		case !errors.Is(err, storage.ErrNotFound):
			return err
		}
		row := policyToStorage(p)
		row.ManagedBy = ManagedByDatabase
		if err := in.store.UpsertPolicy(ctx, row); err != nil {
			return err
		}
		in.audit(ctx, actor, "policy.created", p.Name, map[string]any{"after": PolicyFields(p)})
		rec, err := in.Policy(ctx, p.Name)
		out = rec
		return err
	})
	return out, err
}

// UpdatePolicy replaces the policy called name if it is still at version
// expected; config-managed policies are read-only.
func (d *Directory) UpdatePolicy(ctx context.Context, actor idp.Actor, name, expected string, p policy.Policy) (PolicyRecord, error) {
	p.Name = name
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return PolicyRecord{}, err
	}
	var out PolicyRecord
	err := d.edit(ctx, func(in *Directory) error {
		row, err := in.store.GetPolicy(ctx, name)
		if err != nil {
			return notFound(err)
		}
		if err := checkWritable("policy", name, row.ManagedBy); err != nil {
			return err
		}
		if err := checkVersion(expected, version(row)); err != nil {
			return err
		}
		before := PolicyFromStorage(row)
		next := policyToStorage(p)
		next.ManagedBy = row.ManagedBy
		if err := in.store.UpsertPolicy(ctx, next); err != nil {
			return err
		}
		in.audit(ctx, actor, "policy.updated", name, map[string]any{"before": PolicyFields(before), "after": PolicyFields(p)})
		out, err = in.Policy(ctx, name)
		return err
	})
	return out, err
}

// DeletePolicy removes the policy called name if it is still at version
// expected. Groups and clients that named it fall back to the default; the
// default policy itself cannot be deleted until another is chosen.
func (d *Directory) DeletePolicy(ctx context.Context, actor idp.Actor, name, expected string) error {
	return d.edit(ctx, func(in *Directory) error {
		row, err := in.store.GetPolicy(ctx, name)
		if err != nil {
			return notFound(err)
		}
		if err := checkWritable("policy", name, row.ManagedBy); err != nil {
			return err
		}
		if err := checkVersion(expected, version(row)); err != nil {
			return err
		}
		if def, err := in.DefaultPolicy(ctx); err != nil {
			return err
		} else if def == name {
			return idp.Conflictf("policy %q is the default policy; choose another default first", name)
		}
		if err := in.store.DeletePolicy(ctx, name); err != nil {
			return notFound(err)
		}
		in.audit(ctx, actor, "policy.deleted", name, map[string]any{"before": PolicyFields(PolicyFromStorage(row))})
		return nil
	})
}

// DefaultPolicyRecord is the default policy setting.
type DefaultPolicyRecord struct {
	Policy    string // "" for none
	ManagedBy string
	Version   string
}

// DefaultPolicySetting returns the default policy and who set it.
func (d *Directory) DefaultPolicySetting(ctx context.Context) (DefaultPolicyRecord, error) {
	name, err := d.DefaultPolicy(ctx)
	if err != nil {
		return DefaultPolicyRecord{}, err
	}
	src, err := defaultPolicySource(ctx, d.store)
	if err != nil {
		return DefaultPolicyRecord{}, err
	}
	return DefaultPolicyRecord{Policy: name, ManagedBy: managedBy(src), Version: version([]string{name, src})}, nil
}

// ChangeDefaultPolicy makes name ("" for none) the default policy if the
// setting is still at version expected.
func (d *Directory) ChangeDefaultPolicy(ctx context.Context, actor idp.Actor, name, expected string) (DefaultPolicyRecord, error) {
	var out DefaultPolicyRecord
	err := d.edit(ctx, func(in *Directory) error {
		cur, err := in.DefaultPolicySetting(ctx)
		if err != nil {
			return err
		}
		if err := checkVersion(expected, cur.Version); err != nil {
			return err
		}
		if err := in.SetDefaultPolicy(ctx, actor, name); err != nil {
			return err
		}
		out, err = in.DefaultPolicySetting(ctx)
		return err
	})
	return out, err
}

// PolicyImpact is what an edit of a policy would touch: the preview an
// administrator reads before saving.
type PolicyImpact struct {
	Policy  string
	Exists  bool
	Default bool     // it is the default: it applies to every client and group that names none
	Clients []string // the clients whose sign-ins it governs
	Groups  []GroupImpact
	Users   int64 // distinct users in those groups
	// Changes are the settings that differ, with their values before and after.
	Changes []FieldChange
}

// Summary says whom the policy affects in one line: "3 clients and 120
// users in 2 groups are affected".
func (i PolicyImpact) Summary() string {
	count := func(n int, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return strconv.Itoa(n) + " " + word + "s"
	}
	s := count(len(i.Clients), "client") + " and " + count(int(i.Users), "user") + " in " + count(len(i.Groups), "group") + " are affected"
	if i.Default {
		s += "; it is the default policy, so every client and group without its own policy is affected too"
	}
	return s
}

// GroupImpact is one group a policy applies to and how many members it has.
type GroupImpact struct {
	Name  string
	Users int64
}

// FieldChange is one setting's value before and after an edit.
type FieldChange struct {
	Field         string
	Before, After any
}

// PreviewPolicy says what saving p as the policy called name would affect,
// without saving anything.
func (d *Directory) PreviewPolicy(ctx context.Context, name string, p policy.Policy) (PolicyImpact, error) {
	p.Name = name
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return PolicyImpact{}, err
	}
	imp := PolicyImpact{Policy: name, Clients: []string{}, Groups: []GroupImpact{}, Changes: []FieldChange{}}
	beforeFields := map[string]any{}
	switch row, err := d.store.GetPolicy(ctx, name); {
	case err == nil:
		imp.Exists = true
		beforeFields = PolicyFields(PolicyFromStorage(row))
	case !errors.Is(err, storage.ErrNotFound):
		return PolicyImpact{}, err
	}
	after := PolicyFields(p)
	for _, f := range []string{"require_mfa", "methods", "mfa_max_age", "remember_device", "enrollment", "min_level", "clients",
		"require_verified_email", "enrollment_grace", "enrollment_grace_sign_ins"} {
		if b, ok := beforeFields[f]; !ok || !reflect.DeepEqual(b, after[f]) {
			imp.Changes = append(imp.Changes, FieldChange{Field: f, Before: beforeFields[f], After: after[f]})
		}
	}
	def, err := d.DefaultPolicy(ctx)
	if err != nil {
		return PolicyImpact{}, err
	}
	imp.Default = def == name
	clients, err := d.store.ListClients(ctx)
	if err != nil {
		return PolicyImpact{}, err
	}
	for _, c := range clients {
		named := c.Policy != nil && *c.Policy == name
		if c.Disabled || !(named || (imp.Default && c.Policy == nil)) || !p.AppliesTo(c.ID) {
			continue
		}
		imp.Clients = append(imp.Clients, c.ID)
	}
	groups, err := d.store.ListGroups(ctx)
	if err != nil {
		return PolicyImpact{}, err
	}
	var names []string
	for _, g := range groups {
		if g.Policy != nil && *g.Policy == name {
			names = append(names, g.Name)
		}
	}
	counts, err := d.store.CountGroupMembers(ctx, names)
	if err != nil {
		return PolicyImpact{}, err
	}
	for _, g := range names {
		imp.Groups = append(imp.Groups, GroupImpact{Name: g, Users: counts[g]})
	}
	if imp.Users, err = d.store.CountUsersInGroups(ctx, names); err != nil {
		return PolicyImpact{}, err
	}
	slices.Sort(imp.Clients)
	return imp, nil
}
