package storage

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/twofold-idp/twofold/migrations"
	"gorm.io/gorm"
)

// User is an account. Groups is loaded from user_groups.
type User struct {
	ID           string `gorm:"primaryKey"`
	Username     string
	UsernameKey  string // NormalizeUsername(Username): unique
	Email        string
	PasswordHash string // argon2id PHC string; empty: no password (passkey-only or not yet set)
	Admin        bool
	Disabled     bool
	ManagedBy    string `gorm:"default:database"` // see Client.ManagedBy
	// MustEnroll: an administrator forced re-enrollment; cleared when the
	// user confirms a new second factor.
	MustEnroll bool
	// EmailVerifiedAt: the user proved they read mail at Email (nil: not
	// verified; changing the address clears it).
	EmailVerifiedAt *time.Time
	// Phone is the user's number for SMS (E.164), verified at PhoneVerifiedAt.
	Phone           string
	PhoneVerifiedAt *time.Time
	// ChangesBlockedAt: "this wasn't me" was followed; second factors cannot
	// be changed until the next sign-in with every factor.
	ChangesBlockedAt *time.Time
	// GraceStartedAt and GraceSignIns: the enrollment grace of a user
	// without a second factor (CountGraceSignIn).
	GraceStartedAt    *time.Time
	GraceSignIns      int
	Groups            []string `gorm:"-"`
	CreatedAt         time.Time
	UpdatedAt         time.Time
	PasswordChangedAt *time.Time
}

type userGroup struct {
	UserID    string `gorm:"primaryKey"`
	GroupName string `gorm:"primaryKey"`
}

func (userGroup) TableName() string { return "user_groups" }

// NormalizeUsername is the key under which usernames are unique: "Alice" and
// "alice" are the same account.
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CreateUser inserts u with its groups. A taken username → ErrConflict; a
// group that does not exist → ErrReference.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	u.UsernameKey = NormalizeUsername(u.Username)
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		return insertUserGroups(tx, u.ID, u.Groups)
	})
	return translate("create user", err)
}

func insertUserGroups(tx *gorm.DB, userID string, groups []string) error {
	if len(groups) == 0 {
		return nil
	}
	rows := make([]userGroup, 0, len(groups))
	seen := map[string]bool{}
	for _, g := range groups {
		if !seen[g] {
			seen[g] = true
			rows = append(rows, userGroup{UserID: userID, GroupName: g})
		}
	}
	return tx.Create(&rows).Error
}

// GetUser returns the user with id.
func (s *Store) GetUser(ctx context.Context, id string) (*User, error) {
	return s.getUser(ctx, "id = ?", id)
}

// GetUserByUsername finds a user case-insensitively.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*User, error) {
	return s.getUser(ctx, "username_key = ?", NormalizeUsername(username))
}

func (s *Store) getUser(ctx context.Context, where string, arg string) (*User, error) {
	// One round trip: the groups come along as a JSON array (every sign-in
	// and token request reads its user).
	var row struct {
		User
		GroupList Strings
	}
	agg := "json_group_array(group_name)"
	if s.dialect == migrations.Postgres {
		agg = "COALESCE(json_agg(group_name), '[]')"
	}
	err := s.db.WithContext(ctx).Model(&User{}).
		Select("users.*, (SELECT "+agg+" FROM user_groups WHERE user_groups.user_id = users.id) AS group_list").
		Where(where, arg).Take(&row).Error
	if err != nil {
		return nil, translate("get user", err)
	}
	u := row.User
	if len(row.GroupList) > 0 {
		u.Groups = row.GroupList
		slices.Sort(u.Groups)
	}
	return &u, nil
}

// withGroups fills each user's Groups with one query for them all.
func (s *Store) withGroups(ctx context.Context, users []User) ([]User, error) {
	if len(users) == 0 {
		return users, nil
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	groups, err := s.userGroups(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range users {
		users[i].Groups = groups[users[i].ID]
	}
	return users, nil
}

func (s *Store) userGroups(ctx context.Context, ids []string) (map[string][]string, error) {
	var rows []userGroup
	if err := s.db.WithContext(ctx).Where("user_id IN ?", ids).Order("group_name").Find(&rows).Error; err != nil {
		return nil, translate("get user groups", err)
	}
	out := make(map[string][]string, len(ids))
	for _, r := range rows {
		out[r.UserID] = append(out[r.UserID], r.GroupName)
	}
	return out, nil
}

// ListUsers returns up to limit users ordered by username, starting after
// the username key afterKey ("" for the first page).
func (s *Store) ListUsers(ctx context.Context, afterKey string, limit int) ([]User, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var users []User
	if err := s.db.WithContext(ctx).Where("username_key > ?", afterKey).Order("username_key").Limit(limit).Find(&users).Error; err != nil {
		return nil, translate("list users", err)
	}
	return s.withGroups(ctx, users)
}

// ListUsersManagedBy returns every user managed by managedBy, by username.
func (s *Store) ListUsersManagedBy(ctx context.Context, managedBy string) ([]User, error) {
	var users []User
	if err := s.db.WithContext(ctx).Where("managed_by = ?", managedBy).Order("username_key").Find(&users).Error; err != nil {
		return nil, translate("list users", err)
	}
	return users, nil
}

// CountUsers returns how many accounts exist.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&User{}).Count(&n).Error
	return n, translate("count users", err)
}

// UpdateUser changes the profile fields (email, admin, disabled, and
// managed_by when set) and, in the same transaction, replaces the groups.
// The password is changed only by SetPasswordHash / ReplacePasswordHash.
// A changed email is unverified: nobody has proved they read mail there.
func (s *Store) UpdateUser(ctx context.Context, u *User) error {
	cols := map[string]any{
		"email":      u.Email,
		"admin":      u.Admin,
		"disabled":   u.Disabled,
		"updated_at": s.clock(),
		// Both sides of an UPDATE's assignments see the row as it was, so
		// this compares with the old address.
		"email_verified_at": gorm.Expr("CASE WHEN email = ? THEN email_verified_at ELSE NULL END", u.Email),
	}
	if u.ManagedBy != "" {
		cols["managed_by"] = u.ManagedBy
	}
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("id = ?", u.ID).Updates(cols)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		if err := tx.Where("user_id = ?", u.ID).Delete(&userGroup{}).Error; err != nil {
			return err
		}
		return insertUserGroups(tx, u.ID, u.Groups)
	})
	return translate("update user", err)
}

// SetUserDisabled enables or disables an account.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool) error {
	return s.updateUserColumns(ctx, "set user disabled", id, map[string]any{"disabled": disabled})
}

// SetPasswordHash replaces the password hash (a password change or reset).
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string) error {
	now := s.clock()
	return s.updateUserColumns(ctx, "set password", id, map[string]any{"password_hash": hash, "password_changed_at": now})
}

// ReplacePasswordHash swaps oldHash for newHash only if oldHash is still
// current — a transparent rehash after a parameter change must never undo a
// password change that happened meanwhile. It returns ErrConflict if the
// hash had changed.
func (s *Store) ReplacePasswordHash(ctx context.Context, id, oldHash, newHash string) error {
	res := s.db.WithContext(ctx).Model(&User{}).
		Where("id = ? AND password_hash = ?", id, oldHash).
		Updates(map[string]any{"password_hash": newHash, "updated_at": s.clock()})
	if res.Error != nil {
		return translate("rehash password", res.Error)
	}
	if res.RowsAffected == 0 {
		return translate("rehash password", ErrConflict)
	}
	return nil
}

func (s *Store) updateUserColumns(ctx context.Context, op, id string, cols map[string]any) error {
	cols["updated_at"] = s.clock()
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Updates(cols)
	if res.Error != nil {
		return translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return translate(op, gorm.ErrRecordNotFound)
	}
	return nil
}

// DeleteUser removes an account and its group memberships.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	res := s.db.WithContext(ctx).Where("id = ?", id).Delete(&User{})
	if res.Error != nil {
		return translate("delete user", res.Error)
	}
	if res.RowsAffected == 0 {
		return translate("delete user", gorm.ErrRecordNotFound)
	}
	return nil
}

// SearchUsers returns up to limit users whose username or email contains
// query (case-insensitively; "" matches all), ordered by username key,
// starting after afterKey.
func (s *Store) SearchUsers(ctx context.Context, query, afterKey string, limit int) ([]User, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	q := s.db.WithContext(ctx).Where("username_key > ?", afterKey).Order("username_key").Limit(limit)
	if query = strings.ToLower(strings.TrimSpace(query)); query != "" {
		like := "%" + likeEscaper.Replace(query) + "%"
		q = q.Where("(username_key LIKE ? ESCAPE '\\' OR LOWER(email) LIKE ? ESCAPE '\\')", like, like)
	}
	var users []User
	if err := q.Find(&users).Error; err != nil {
		return nil, translate("search users", err)
	}
	return s.withGroups(ctx, users)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ForceReenrollment removes every second factor of the user and ends their
// sessions (as ResetSecondFactors), and marks the account so that its next
// sign-in must enroll a new second factor, in one transaction.
func (s *Store) ForceReenrollment(ctx context.Context, userID string) (MFAReset, error) {
	var r MFAReset
	err := s.InTx(ctx, func(tx *Store) error {
		var err error
		if r, err = tx.ResetSecondFactors(ctx, userID); err != nil {
			return err
		}
		return tx.updateUserColumns(ctx, "force re-enrollment", userID, map[string]any{"must_enroll": true})
	})
	return r, err
}

// clearMustEnroll drops the re-enrollment mark once a factor is confirmed.
func clearMustEnroll(db *gorm.DB, userID string) error {
	return db.Model(&User{}).Where("id = ? AND must_enroll", userID).Update("must_enroll", false).Error
}
