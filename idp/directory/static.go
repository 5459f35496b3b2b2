package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// Static is what one source of truth declares: the configuration file at
// every start, or serve --demo. ApplyStatic makes the database match it.
type Static struct {
	// Source is who declares these objects: ManagedByConfig (the zero
	// value) or ManagedByDemo.
	Source   string
	Policies []policy.Policy
	// DefaultPolicy: "" means the source does not declare one; "none"
	// (policy.NameNone) declares that there is no default policy.
	DefaultPolicy string
	Groups        []Group
	Clients       []ClientSpec
	Users         []NewUser
}

// ApplyStatic brings the database in line with st, in one transaction: a
// refused st changes nothing. Objects st declares are created or updated
// and become managed by st.Source (read-only for the CLI, console and API);
// objects st.Source managed that st no longer declares are disabled
// (clients, users) or deleted (policies, groups), each with an audit event.
// A user's password is set only when the user is created: they may have
// changed it since.
//
// A declared object whose name is taken by an object another source manages
// is a collision: nothing is applied and the error names both. Errors name
// the item (e.g. clients[1]: redirect_uris[0]: ...).
func (d *Directory) ApplyStatic(ctx context.Context, st Static) error {
	if st.Source == "" {
		st.Source = ManagedByConfig
	}
	if err := st.validate(); err != nil {
		return err
	}
	// Hash the passwords of users that do not exist yet before the
	// transaction: argon2id is slow on purpose, and on SQLite the
	// transaction holds the database's only write lock.
	hashes := map[string]string{}
	for _, nu := range st.Users {
		if nu.PasswordHash != "" {
			continue
		}
		if _, err := d.store.GetUserByUsername(ctx, nu.Username); !errors.Is(err, storage.ErrNotFound) {
			continue
		}
		h, err := d.hasher.Hash(ctx, nu.Password)
		if err != nil {
			return fmt.Errorf("hash password: %w", err)
		}
		hashes[storage.NormalizeUsername(nu.Username)] = h
	}
	return d.store.InTx(ctx, func(tx *storage.Store) error {
		// Replicas starting together apply one after the other.
		if err := tx.LockTx(ctx, "twofold.config-apply"); err != nil {
			return err
		}
		in := *d
		in.store = tx
		a := &applier{d: &in, tx: tx, st: st, hashes: hashes}
		return a.apply(ctx)
	})
}

// validate checks every declared object with the domain validators and for
// duplicates, before anything is written.
func (st Static) validate() error {
	var errs []error
	at := func(path string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	seen := map[string]bool{}
	dup := func(path, kind, key string) {
		if seen[kind+"\x00"+key] {
			errs = append(errs, fmt.Errorf("%s: %s %q is declared twice", path, kind, key))
		}
		seen[kind+"\x00"+key] = true
	}
	for i, p := range st.Policies {
		at(fmt.Sprintf("policies[%d]", i), p.WithDefaults().Validate())
		dup(fmt.Sprintf("policies[%d]", i), "policy", p.Name)
	}
	for i, g := range st.Groups {
		at(fmt.Sprintf("groups[%d]", i), ValidateGroup(g))
		dup(fmt.Sprintf("groups[%d]", i), "group", g.Name)
	}
	for i, c := range st.Clients {
		c.GenerateSecret = false
		at(fmt.Sprintf("clients[%d]", i), ValidateClientSpec(c))
		dup(fmt.Sprintf("clients[%d]", i), "client", c.ID)
	}
	for i, u := range st.Users {
		at(fmt.Sprintf("users[%d]", i), ValidateNewUser(u))
		dup(fmt.Sprintf("users[%d]", i), "user", storage.NormalizeUsername(u.Username))
	}
	return errors.Join(errs...)
}

// applier is one ApplyStatic inside its transaction: d's store is the
// transaction.
type applier struct {
	d      *Directory // bound to tx
	tx     *storage.Store
	st     Static
	hashes map[string]string // new users' password hashes by username key

	policies map[string]*storage.Policy
	groups   map[string]*storage.Group
	clients  map[string]*storage.Client
}

// store is the transaction: the apply uses more of it (disabling,
// deleting, adopting) than the Directory's narrow interface offers.
func (a *applier) store() *storage.Store { return a.tx }

// ours reports whether the applying source may change an object managed
// by managedBy: its own, and legacy rows, which it adopts.
func (a *applier) ours(managedBy string) bool {
	return managedBy == a.st.Source || managedBy == storage.ManagedByLegacy
}

func (a *applier) apply(ctx context.Context) error {
	if err := a.load(ctx); err != nil {
		return err
	}
	users, err := a.existingUsers(ctx)
	if err != nil {
		return err
	}
	if err := a.collisions(users); err != nil {
		return err
	}
	for i, p := range a.st.Policies {
		if err := a.upsertPolicy(ctx, p); err != nil {
			return fmt.Errorf("policies[%d]: %w", i, err)
		}
	}
	if err := a.defaultPolicy(ctx); err != nil {
		return fmt.Errorf("default_policy: %w", err)
	}
	for i, g := range a.st.Groups {
		if err := a.upsertGroup(ctx, g); err != nil {
			return fmt.Errorf("groups[%d]: %w", i, err)
		}
	}
	for i, spec := range a.st.Clients {
		if err := a.upsertClient(ctx, spec); err != nil {
			return fmt.Errorf("clients[%d]: %w", i, err)
		}
	}
	for i, nu := range a.st.Users {
		if err := a.upsertUser(ctx, nu, users[i]); err != nil {
			return fmt.Errorf("users[%d]: %w", i, err)
		}
	}
	return a.removeUndeclared(ctx)
}

func (a *applier) load(ctx context.Context) error {
	ps, err := a.store().ListPolicies(ctx)
	if err != nil {
		return err
	}
	gs, err := a.store().ListGroups(ctx)
	if err != nil {
		return err
	}
	cs, err := a.store().ListClients(ctx)
	if err != nil {
		return err
	}
	a.policies, a.groups, a.clients = map[string]*storage.Policy{}, map[string]*storage.Group{}, map[string]*storage.Client{}
	for i := range ps {
		a.policies[ps[i].Name] = &ps[i]
	}
	for i := range gs {
		a.groups[gs[i].Name] = &gs[i]
	}
	for i := range cs {
		a.clients[cs[i].ID] = &cs[i]
	}
	return nil
}

// existingUsers finds each declared user (nil: absent), in st.Users order.
func (a *applier) existingUsers(ctx context.Context) ([]*storage.User, error) {
	out := make([]*storage.User, len(a.st.Users))
	for i, nu := range a.st.Users {
		u, err := a.store().GetUserByUsername(ctx, nu.Username)
		switch {
		case err == nil:
			out[i] = u
		case !errors.Is(err, storage.ErrNotFound):
			return nil, err
		}
	}
	return out, nil
}

// collisions reports every declared object whose name another source
// manages, naming both.
func (a *applier) collisions(users []*storage.User) error {
	var errs []error
	clash := func(path, kind, name, managedBy string) {
		if !a.ours(managedBy) {
			errs = append(errs, fmt.Errorf("%s: %s %q collides with the %s %q managed by %s; rename the one in %s or remove the other",
				path, kind, name, kind, name, SourceName(managedBy), SourceName(a.st.Source)))
		}
	}
	for i, p := range a.st.Policies {
		if row := a.policies[p.Name]; row != nil {
			clash(fmt.Sprintf("policies[%d]", i), "policy", p.Name, row.ManagedBy)
		}
	}
	for i, g := range a.st.Groups {
		if row := a.groups[g.Name]; row != nil {
			clash(fmt.Sprintf("groups[%d]", i), "group", g.Name, row.ManagedBy)
		}
	}
	for i, c := range a.st.Clients {
		if row := a.clients[c.ID]; row != nil {
			clash(fmt.Sprintf("clients[%d]", i), "client", c.ID, row.ManagedBy)
		}
	}
	for i, u := range users {
		switch {
		case u == nil:
		case u.ManagedBy == storage.ManagedByLegacy && u.Disabled:
			// Disabled before sources were recorded, perhaps on purpose (a
			// compromised account): adopting it would enable it.
			errs = append(errs, fmt.Errorf("users[%d]: user %q is disabled in the database; enable it (twofold user enable %s) or remove it from %s",
				i, u.Username, u.Username, SourceName(a.st.Source)))
		default:
			clash(fmt.Sprintf("users[%d]", i), "user", u.Username, u.ManagedBy)
		}
	}
	return errors.Join(errs...)
}

func (a *applier) audit(ctx context.Context, action, target string, details map[string]any) {
	if details == nil {
		details = map[string]any{}
	}
	if a.st.Source != ManagedByConfig {
		details["source"] = a.st.Source
	}
	a.d.audit(ctx, idp.ActorConfig, action, target, details)
}

func (a *applier) upsertPolicy(ctx context.Context, p policy.Policy) error {
	p = p.WithDefaults()
	row := policyToStorage(p)
	row.ManagedBy = a.st.Source
	if old := a.policies[p.Name]; old != nil && samePolicy(old, row) {
		return nil
	}
	if err := a.store().UpsertPolicy(ctx, row); err != nil {
		return err
	}
	a.audit(ctx, "policy.set", p.Name, map[string]any{
		"require_mfa": p.RequireMFA, "methods": p.Methods, "mfa_max_age": p.MFAMaxAge.String(),
		"remember_device": p.RememberDevice.String(), "enrollment": p.Enrollment, "min_level": p.MinLevel.String(), "clients": p.Clients,
		"require_verified_email": p.RequireVerifiedEmail,
	})
	return nil
}

func samePolicy(a, b *storage.Policy) bool {
	return a.RequireMFA == b.RequireMFA && slices.Equal(a.Methods, b.Methods) && a.MFAMaxAgeSeconds == b.MFAMaxAgeSeconds &&
		a.RememberDeviceSeconds == b.RememberDeviceSeconds && a.Enrollment == b.Enrollment && a.MinLevel == b.MinLevel &&
		slices.Equal(a.Clients, b.Clients) && a.ManagedBy == b.ManagedBy &&
		a.RequireVerifiedEmail == b.RequireVerifiedEmail
}

// defaultPolicy applies default_policy. The source that set the default
// manages it: a default set with the CLI is a collision for a file that
// declares another, and a default the file set is cleared when the file
// no longer declares it (or declares none).
func (a *applier) defaultPolicy(ctx context.Context) error {
	cur, err := a.store().GetSetting(ctx, storage.SettingDefaultPolicy)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	src, err := defaultPolicySource(ctx, a.store())
	if err != nil {
		return err
	}
	want, declared := a.st.DefaultPolicy, a.st.DefaultPolicy != ""
	if want == policy.NameNone {
		want = ""
	}
	switch {
	case declared && !a.ours(src) && cur != "" && cur != want:
		return fmt.Errorf("the default policy %q was set by %s (twofold policy assign --default); remove default_policy from %s, or clear the other with `twofold policy assign none --default`",
			cur, SourceName(src), SourceName(a.st.Source))
	case declared:
		if want != "" {
			if _, ok := a.policies[want]; !ok {
				if _, err := a.store().GetPolicy(ctx, want); err != nil {
					return inputError("default_policy", "no policy called %q", want)
				}
			}
		}
		if cur == want && src == a.st.Source {
			return nil
		}
		return a.setDefault(ctx, want, a.st.Source, "")
	case src == a.st.Source:
		// No longer declared: the file's default goes with it.
		return a.setDefault(ctx, "", ManagedByDatabase, "no longer in "+SourceName(a.st.Source))
	}
	return nil
}

func (a *applier) setDefault(ctx context.Context, name, managedBy, reason string) error {
	if err := a.store().SetSetting(ctx, storage.SettingDefaultPolicy, name); err != nil {
		return err
	}
	if err := a.store().SetSetting(ctx, storage.SettingDefaultPolicyManagedBy, managedBy); err != nil {
		return err
	}
	details := map[string]any{}
	if reason != "" {
		details["reason"] = reason
	}
	a.audit(ctx, "policy.default_set", name, details)
	return nil
}

func (a *applier) upsertGroup(ctx context.Context, g Group) error {
	row := &storage.Group{Name: g.Name, ManagedBy: a.st.Source}
	if g.Policy != "" {
		row.Policy = &g.Policy
	}
	if old := a.groups[g.Name]; old != nil && old.ManagedBy == row.ManagedBy && ptrEqual(old.Policy, row.Policy) {
		return nil
	}
	if err := a.store().UpsertGroup(ctx, row); err != nil {
		if errors.Is(err, storage.ErrReference) {
			return inputError("policy", "no policy called %q", g.Policy)
		}
		return err
	}
	a.audit(ctx, "group.set", g.Name, map[string]any{"policy": g.Policy})
	return nil
}

func ptrEqual(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func (a *applier) upsertClient(ctx context.Context, spec ClientSpec) error {
	spec.GenerateSecret = false
	row, _, err := a.d.toStorageClient(spec)
	if err != nil {
		return err
	}
	row.ManagedBy = a.st.Source
	old := a.clients[spec.ID]
	if old != nil && sameClient(old, row) {
		return nil
	}
	if err := a.store().UpsertClient(ctx, row); err != nil {
		return clientStoreError(err, spec)
	}
	action := "client.updated"
	switch {
	case old == nil:
		action = "client.created"
	case old.Disabled:
		action = "client.enabled"
	}
	a.audit(ctx, action, row.ID, map[string]any{"public": row.SecretHash == "", "private_key_jwt": row.JWKS != ""})
	return nil
}

func sameClient(a, b *storage.Client) bool {
	return a.Name == b.Name && a.SecretHash == b.SecretHash && slices.Equal(a.RedirectURIs, b.RedirectURIs) &&
		slices.Equal(a.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs) && slices.Equal(a.GrantTypes, b.GrantTypes) &&
		a.SkipConsent == b.SkipConsent && ptrEqual(a.Policy, b.Policy) && a.AuthMethod == b.AuthMethod &&
		a.AccessTokenType == orDefault(b.AccessTokenType, "jwt") && a.IDTokenAlg == orDefault(b.IDTokenAlg, "RS256") &&
		a.JWKS == b.JWKS && !a.Disabled && a.ManagedBy == b.ManagedBy &&
		a.BackchannelLogoutURI == b.BackchannelLogoutURI && a.BackchannelLogoutSessionRequired == b.BackchannelLogoutSessionRequired &&
		a.RequirePushedAuthorizationRequests == b.RequirePushedAuthorizationRequests
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (a *applier) upsertUser(ctx context.Context, nu NewUser, existing *storage.User) error {
	if existing == nil {
		u, err := a.d.prepareUserWithHash(ctx, nu, a.hashes[storage.NormalizeUsername(nu.Username)])
		if err != nil {
			return err
		}
		u.ManagedBy = a.st.Source
		if err := a.store().CreateUser(ctx, u); err != nil {
			return a.d.userStoreError(err, nu)
		}
		a.audit(ctx, "user.created", u.ID, map[string]any{"username": u.Username, "admin": u.Admin, "groups": u.Groups})
		return nil
	}
	groups := slices.Clone(nu.Groups)
	slices.Sort(groups)
	groups = slices.Compact(groups)
	email := strings.TrimSpace(nu.Email)
	// Declared means enabled (a disabled legacy account never gets here:
	// see collisions).
	if existing.Email == email && existing.Admin == nu.Admin && slices.Equal(existing.Groups, groups) &&
		!existing.Disabled && existing.ManagedBy == a.st.Source {
		return nil
	}
	wasDisabled := existing.Disabled
	existing.Email, existing.Groups, existing.Admin = email, groups, nu.Admin
	existing.Disabled, existing.ManagedBy = false, a.st.Source
	if err := a.store().UpdateUser(ctx, existing); err != nil {
		return a.d.userStoreError(err, nu)
	}
	action := "user.updated"
	if wasDisabled {
		action = "user.enabled"
	}
	a.audit(ctx, action, existing.ID, map[string]any{"username": existing.Username, "admin": existing.Admin, "groups": existing.Groups})
	return nil
}

// removeUndeclared disables the source's users and clients that st no
// longer declares (revoking the clients' tokens), and deletes its groups and
// policies.
func (a *applier) removeUndeclared(ctx context.Context) error {
	reason := map[string]any{"reason": "no longer in " + SourceName(a.st.Source)}
	declaredUsers := map[string]bool{}
	for _, nu := range a.st.Users {
		declaredUsers[storage.NormalizeUsername(nu.Username)] = true
	}
	users, err := a.store().ListUsersManagedBy(ctx, a.st.Source)
	if err != nil {
		return err
	}
	for _, u := range users {
		if declaredUsers[u.UsernameKey] || u.Disabled {
			continue
		}
		if err := a.store().SetUserDisabled(ctx, u.ID, true); err != nil {
			return fmt.Errorf("disable user %q: %w", u.Username, err)
		}
		a.audit(ctx, "user.disabled", u.ID, withKey(reason, "username", u.Username))
	}

	declared := map[string]bool{}
	for _, c := range a.st.Clients {
		declared[c.ID] = true
	}
	for _, c := range sortedValues(a.clients) {
		if c.ManagedBy != a.st.Source || declared[c.ID] || c.Disabled {
			continue
		}
		if err := a.store().SetClientDisabled(ctx, c.ID, true); err != nil {
			return fmt.Errorf("disable client %q: %w", c.ID, err)
		}
		// Its tokens die with it: a resource server introspecting one, or
		// userinfo, must not see it active after the client is gone.
		if err := a.store().RevokeClientTokens(ctx, c.ID); err != nil {
			return fmt.Errorf("revoke the tokens of client %q: %w", c.ID, err)
		}
		a.audit(ctx, "client.disabled", c.ID, reason)
	}

	declared = map[string]bool{}
	for _, g := range a.st.Groups {
		declared[g.Name] = true
	}
	for _, g := range sortedValues(a.groups) {
		if g.ManagedBy != a.st.Source || declared[g.Name] {
			continue
		}
		if err := a.store().DeleteGroup(ctx, g.Name); err != nil {
			return fmt.Errorf("delete group %q: %w", g.Name, err)
		}
		a.audit(ctx, "group.deleted", g.Name, reason)
	}

	declared = map[string]bool{}
	for _, p := range a.st.Policies {
		declared[p.Name] = true
	}
	for _, p := range sortedValues(a.policies) {
		if p.ManagedBy != a.st.Source || declared[p.Name] {
			continue
		}
		if err := a.checkUnused(ctx, p.Name); err != nil {
			return err
		}
		if err := a.store().DeletePolicy(ctx, p.Name); err != nil {
			return fmt.Errorf("delete policy %q: %w", p.Name, err)
		}
		a.audit(ctx, "policy.deleted", p.Name, reason)
	}
	return nil
}

// checkUnused refuses to delete a policy that something still uses:
// deleting it would silently take a step-up requirement away (the database
// detaches a deleted policy from clients and groups).
func (a *applier) checkUnused(ctx context.Context, name string) error {
	var users []string
	for i, c := range a.st.Clients {
		if c.Policy == name {
			users = append(users, fmt.Sprintf("clients[%d]", i))
		}
	}
	for i, g := range a.st.Groups {
		if g.Policy == name {
			users = append(users, fmt.Sprintf("groups[%d]", i))
		}
	}
	declaredClients, declaredGroups := map[string]bool{}, map[string]bool{}
	for _, c := range a.st.Clients {
		declaredClients[c.ID] = true
	}
	for _, g := range a.st.Groups {
		declaredGroups[g.Name] = true
	}
	// Objects of other sources (this source's undeclared ones are being
	// disabled or deleted).
	for _, c := range sortedValues(a.clients) {
		if c.Policy != nil && *c.Policy == name && !declaredClients[c.ID] && c.ManagedBy != a.st.Source && !c.Disabled {
			users = append(users, fmt.Sprintf("client %q (managed by %s)", c.ID, SourceName(managedBy(c.ManagedBy))))
		}
	}
	for _, g := range sortedValues(a.groups) {
		if g.Policy != nil && *g.Policy == name && !declaredGroups[g.Name] && g.ManagedBy != a.st.Source {
			users = append(users, fmt.Sprintf("group %q (managed by %s)", g.Name, SourceName(managedBy(g.ManagedBy))))
		}
	}
	def, err := a.store().GetSetting(ctx, storage.SettingDefaultPolicy)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if def == name {
		users = append(users, "the default policy")
	}
	if len(users) == 0 {
		return nil
	}
	return fmt.Errorf("policy %q is no longer in %s but is still used by %s; detach it first (e.g. twofold policy assign none --client ID) or keep the policy",
		name, SourceName(a.st.Source), joinWords(users))
}

func joinWords(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := ""
	for i, w := range s {
		switch {
		case i == 0:
			out = w
		case i == len(s)-1:
			out += " and " + w
		default:
			out += ", " + w
		}
	}
	return out
}

func withKey(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

// sortedValues lists a map's values by key, so that removals and their
// audit events come in a stable order.
func sortedValues[T any](m map[string]*T) []*T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*T, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}
