package directory

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory/rules"
	"github.com/twofold-idp/twofold/idp/password"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/storage"
)

// directoryStore is the storage the Directory needs.
type directoryStore interface {
	Ping(ctx context.Context) error
	CreateUser(ctx context.Context, u *storage.User) error
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)
	ListUsers(ctx context.Context, afterKey string, limit int) ([]storage.User, error)
	SetUserDisabled(ctx context.Context, id string, disabled bool) error
	UpsertPolicy(ctx context.Context, p *storage.Policy) error
	GetPolicy(ctx context.Context, name string) (*storage.Policy, error)
	ListPolicies(ctx context.Context) ([]storage.Policy, error)
	UpsertGroup(ctx context.Context, g *storage.Group) error
	GetGroup(ctx context.Context, name string) (*storage.Group, error)
	ListGroups(ctx context.Context) ([]storage.Group, error)
	// InTx runs the configuration apply in one transaction (see ApplyStatic).
	InTx(ctx context.Context, fn func(tx *storage.Store) error) error
	CreateClient(ctx context.Context, c *storage.Client) error
	UpsertClient(ctx context.Context, c *storage.Client) error
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	ListClients(ctx context.Context) ([]storage.Client, error)
	SetSetting(ctx context.Context, key, value string) error
	GetSetting(ctx context.Context, key string) (string, error)
	RevokeConsent(ctx context.Context, userID, clientID string) error
	ResetSecondFactors(ctx context.Context, userID string) (storage.MFAReset, error)
	RevokeUserTokens(ctx context.Context, userID string) error
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error)
	adminStore
}

// Store is everything the Directory and the parts it embeds use, each
// through its own narrow interface.
type Store interface {
	directoryStore
	passwordStore
	setupStore
}

var _ Store = (*storage.Store)(nil)

// PasswordHasher hashes and checks passwords (argon2id: *password.Hasher).
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, encoded, password string) (ok, needsRehash bool, err error)
	// VerifyDummy returns only password.ErrBusy or a context error.
	VerifyDummy(ctx context.Context, password string) error
}

var _ PasswordHasher = (*password.Hasher)(nil)

// Directory manages accounts, groups, clients and policies: what the CLI,
// the config file, the setup page and (later) the admin console change.
type Directory struct {
	*Passwords // Authenticate, ChangePassword
	*Setup     // PrepareSetup, CheckSetupToken, CompleteSetup

	store      directoryStore
	hasher     PasswordHasher
	keys       *secrets.Keyring
	log        *slog.Logger
	now        func() time.Time
	adminGroup string
}

// DefaultAdminGroup is the group whose members administer Twofold when the
// configuration names no other (admin_group).
const DefaultAdminGroup = "admins"

// Option tunes a Directory.
type Option func(*Directory)

// WithAdminGroup names the group whose members administer Twofold ("" keeps
// DefaultAdminGroup).
func WithAdminGroup(name string) Option {
	return func(d *Directory) {
		if name != "" {
			d.adminGroup = name
		}
	}
}

// New wires a Directory. now may be nil (time.Now).
func New(store Store, hasher PasswordHasher, keys *secrets.Keyring, logger *slog.Logger, now func() time.Time, opts ...Option) *Directory {
	if now == nil {
		now = time.Now
	}
	d := &Directory{store: store, hasher: hasher, keys: keys, log: logger, now: now, adminGroup: DefaultAdminGroup}
	for _, o := range opts {
		o(d)
	}
	d.Passwords = &Passwords{store: store, hasher: hasher, log: logger}
	d.Setup = &Setup{store: store, dir: d}
	return d
}

// audit records an event; a failure is logged, not returned: the change it
// describes has already happened.
func (d *Directory) audit(ctx context.Context, a idp.Actor, action, target string, details map[string]any) {
	e := &storage.AuditEvent{Actor: a.ID, Action: action, Target: target, IP: a.IP, RequestID: a.RequestID, Details: a.Details(details)}
	if err := d.store.AppendAudit(ctx, e); err != nil {
		d.log.ErrorContext(ctx, "audit event not recorded", "action", action, "target", target, "err", err)
	}
}

// AdminGroup is the group whose members administer Twofold.
func (d *Directory) AdminGroup() string { return d.adminGroup }

// IsAdmin reports whether the enabled user with id is a member of the admin
// group. (The admin API adds what a member's token must also show: a
// recent second factor.)
func (d *Directory) IsAdmin(ctx context.Context, userID string) (bool, error) {
	u, err := d.store.GetUser(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !u.Disabled && slices.Contains(u.Groups, d.adminGroup), nil
}

// Ready reports whether the database answers.
func (d *Directory) Ready(ctx context.Context) error { return d.store.Ping(ctx) }

// inputError is a problem with a value an admin or a person supplied.
var inputError = idp.InputErrorf

// The objects and rules of package rules, under the names callers know.
type (
	NewUser    = rules.NewUser
	ClientSpec = rules.ClientSpec
	Group      = rules.Group
)

// Grant types, limits and validators: see package rules.
const (
	GrantAuthorizationCode = rules.GrantAuthorizationCode
	GrantRefreshToken      = rules.GrantRefreshToken
	GrantClientCredentials = rules.GrantClientCredentials
	GrantDeviceCode        = rules.GrantDeviceCode
	MinPasswordLength      = rules.MinPasswordLength
	MinClientSecretLength  = rules.MinClientSecretLength
	ScopeAdmin             = rules.ScopeAdmin
)

var (
	DefaultGrantTypes  = rules.DefaultGrantTypes
	GrantTypes         = rules.GrantTypes
	PrivilegedScopes   = rules.PrivilegedScopes
	ValidatePassword   = rules.ValidatePassword
	ValidateNewUser    = rules.ValidateNewUser
	ValidateClientSpec = rules.ValidateClientSpec
	ValidateGroup      = rules.ValidateGroup
	ValidateEmail      = rules.ValidateEmail
	IsLoopbackHost     = rules.IsLoopbackHost
)
