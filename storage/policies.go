package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Policy is a named step-up policy (see idp/policy for its meaning).
type Policy struct {
	Name                  string `gorm:"primaryKey"`
	RequireMFA            string
	Methods               Strings
	MFAMaxAgeSeconds      int64 `gorm:"column:mfa_max_age_seconds"`
	RememberDeviceSeconds int64
	Enrollment            string
	MinLevel              string  // an acr value; "" for none
	Clients               Strings // the clients it is limited to; empty: all
	// EnrollmentGraceSeconds and EnrollmentGraceSignIns: users without a
	// second factor may sign in without one for this long and/or this many
	// sign-ins (0: no limit of that kind; both 0: no grace).
	EnrollmentGraceSeconds int64
	EnrollmentGraceSignIns int
	// RequireVerifiedEmail: a sign-in under this policy completes only once
	// the user's email address is verified.
	RequireVerifiedEmail bool
	ManagedBy            string `gorm:"default:database"` // see Client.ManagedBy
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// Group is a named set of users; Policy, when set, applies to its members.
type Group struct {
	Name      string `gorm:"primaryKey"`
	Policy    *string
	ManagedBy string `gorm:"default:database"` // see Client.ManagedBy
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Who manages a policy, group, client or user (the managed_by column; see
// migrations 00008). Only the source that manages an object changes it.
const (
	ManagedByDatabase = "database" // the CLI, console and API
	ManagedByConfig   = "config"   // the configuration file
	ManagedByDemo     = "demo"     // serve --demo
	// ManagedByBuiltIn marks Twofold's own clients (the account pages, the
	// admin console): the server registers them again at every start.
	ManagedByBuiltIn = "builtin"
	// ManagedByLegacy marks rows from before sources were recorded: the
	// first apply that declares one adopts it; otherwise it counts as
	// managed in the database.
	ManagedByLegacy = "legacy"
)

// upsert inserts row or, when its primary key exists, updates every column
// but created_at, in one statement.
func (s *Store) upsert(ctx context.Context, op string, row any, key string, columns ...string) error {
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: key}},
		DoUpdates: clause.AssignmentColumns(append(columns, "updated_at")),
	}).Create(row).Error
	return translate(op, err)
}

// UpsertPolicy creates or replaces a policy.
func (s *Store) UpsertPolicy(ctx context.Context, p *Policy) error {
	return s.upsert(ctx, "upsert policy", p, "name",
		"require_mfa", "methods", "mfa_max_age_seconds", "remember_device_seconds", "enrollment", "min_level", "clients", "managed_by",
		"enrollment_grace_seconds", "enrollment_grace_sign_ins",
		"require_verified_email")
}

// GetPolicy returns the policy called name.
func (s *Store) GetPolicy(ctx context.Context, name string) (*Policy, error) {
	var p Policy
	if err := s.db.WithContext(ctx).Where("name = ?", name).Take(&p).Error; err != nil {
		return nil, translate("get policy", err)
	}
	return &p, nil
}

// ListPolicies returns every policy by name.
func (s *Store) ListPolicies(ctx context.Context) ([]Policy, error) {
	var ps []Policy
	err := s.db.WithContext(ctx).Order("name").Find(&ps).Error
	return ps, translate("list policies", err)
}

// DeletePolicy removes a policy; groups and clients that used it fall back
// to the default.
func (s *Store) DeletePolicy(ctx context.Context, name string) error {
	defer s.clients.invalidate() // clients naming it now name none
	return s.deleteByKey(ctx, "delete policy", &Policy{}, "name", name)
}

// UpsertGroup creates a group or changes its policy.
func (s *Store) UpsertGroup(ctx context.Context, g *Group) error {
	return s.upsert(ctx, "upsert group", g, "name", "policy", "managed_by")
}

// GetGroup returns the group called name.
func (s *Store) GetGroup(ctx context.Context, name string) (*Group, error) {
	var g Group
	if err := s.db.WithContext(ctx).Where("name = ?", name).Take(&g).Error; err != nil {
		return nil, translate("get group", err)
	}
	return &g, nil
}

// ListGroups returns every group by name.
func (s *Store) ListGroups(ctx context.Context) ([]Group, error) {
	var gs []Group
	err := s.db.WithContext(ctx).Order("name").Find(&gs).Error
	return gs, translate("list groups", err)
}

// DeleteGroup removes a group and its memberships.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	return s.deleteByKey(ctx, "delete group", &Group{}, "name", name)
}

func (s *Store) deleteByKey(ctx context.Context, op string, model any, key, value string) error {
	res := s.db.WithContext(ctx).Where(key+" = ?", value).Delete(model)
	if res.Error != nil {
		return translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return translate(op, gorm.ErrRecordNotFound)
	}
	return nil
}

// CreateGroupIfAbsent creates the group called name without a policy,
// unless it exists (whoever manages it then); it reports whether it did.
func (s *Store) CreateGroupIfAbsent(ctx context.Context, name string) (bool, error) {
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&Group{Name: name})
	return res.RowsAffected == 1, translate("create group", res.Error)
}

// CountGroupMembers returns how many users belong to each of groups.
func (s *Store) CountGroupMembers(ctx context.Context, groups []string) (map[string]int64, error) {
	out := make(map[string]int64, len(groups))
	if len(groups) == 0 {
		return out, nil
	}
	var rows []struct {
		GroupName string
		N         int64
	}
	err := s.db.WithContext(ctx).Table("user_groups").Select("group_name, COUNT(*) AS n").
		Where("group_name IN ?", groups).Group("group_name").Scan(&rows).Error
	for _, r := range rows {
		out[r.GroupName] = r.N
	}
	return out, translate("count group members", err)
}

// CountUsersInGroups returns how many distinct users belong to any of groups.
func (s *Store) CountUsersInGroups(ctx context.Context, groups []string) (int64, error) {
	if len(groups) == 0 {
		return 0, nil
	}
	var n int64
	err := s.db.WithContext(ctx).Table("user_groups").Where("group_name IN ?", groups).
		Distinct("user_id").Count(&n).Error
	return n, translate("count users in groups", err)
}
