package directory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// UserRecord is an account as the admin API shows it (never its hash).
type UserRecord struct {
	User
	Version   string
	UpdatedAt time.Time
}

func userRecord(u *storage.User) UserRecord {
	groups := u.Groups
	if groups == nil {
		groups = []string{}
	}
	masked := *u
	masked.PasswordHash = "" // the version says "changed", never anything about the password
	masked.Groups = groups
	rec := UserRecord{User: UserFromStorage(u), Version: version(masked), UpdatedAt: u.UpdatedAt}
	rec.Groups = groups
	return rec
}

// UserByID returns the account with id.
func (d *Directory) UserByID(ctx context.Context, id string) (UserRecord, error) {
	u, err := d.store.GetUser(ctx, id)
	if err != nil {
		return UserRecord{}, notFound(err)
	}
	return userRecord(u), nil
}

// MaxSearchLength bounds a user search's query (field "q").
const MaxSearchLength = 256

// SearchUsers lists accounts whose username or email contains query,
// ordered by username, limit at a time, after the page key after. A query
// longer than MaxSearchLength is a field error on "q".
func (d *Directory) SearchUsers(ctx context.Context, query, after string, limit int) (Page[UserRecord], error) {
	if len(query) > MaxSearchLength {
		return Page[UserRecord]{}, inputError("q", "must be at most %d characters", MaxSearchLength)
	}
	us, err := d.store.SearchUsers(ctx, query, after, limit+1)
	if err != nil {
		return Page[UserRecord]{}, err
	}
	var page Page[UserRecord]
	for i := range us {
		if i == limit {
			page.Next = us[i-1].UsernameKey
			break
		}
		page.Items = append(page.Items, userRecord(&us[i]))
	}
	return page, nil
}

// CreateUserRecord creates an account managed in the database.
func (d *Directory) CreateUserRecord(ctx context.Context, actor idp.Actor, nu NewUser) (UserRecord, error) {
	u, err := d.CreateUser(ctx, actor, nu)
	if err != nil {
		return UserRecord{}, err
	}
	return d.UserByID(ctx, u.ID)
}

// editUser runs change on the account with id if it is writable and still
// at version expected, then audits action with the before and after of
// what changed.
func (d *Directory) editUser(ctx context.Context, actor idp.Actor, id, expected, action string, change func(in *Directory, u *storage.User) (before, after any, err error)) (UserRecord, error) {
	var out UserRecord
	err := d.edit(ctx, func(in *Directory) error {
		u, err := in.store.GetUser(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if err := checkWritable("user", u.Username, u.ManagedBy); err != nil {
			return err
		}
		if err := checkVersion(expected, userRecord(u).Version); err != nil {
			return err
		}
		before, after, err := change(in, u)
		if err != nil {
			return err
		}
		in.audit(ctx, actor, action, u.ID, map[string]any{"username": u.Username, "before": before, "after": after})
		out, err = in.UserByID(ctx, id)
		return err
	})
	return out, err
}

// SetUserDisabledByID disables (revoking every token at once) or enables
// the account with id.
func (d *Directory) SetUserDisabledByID(ctx context.Context, actor idp.Actor, id, expected string, disabled bool) (UserRecord, error) {
	action := "user.enabled"
	if disabled {
		action = "user.disabled"
	}
	return d.editUser(ctx, actor, id, expected, action, func(in *Directory, u *storage.User) (any, any, error) {
		if disabled && slices.Contains(u.Groups, in.adminGroup) && actor.ID == u.ID {
			return nil, nil, idp.Conflictf("you cannot disable your own account")
		}
		if err := in.store.SetUserDisabled(ctx, u.ID, disabled); err != nil {
			return nil, nil, notFound(err)
		}
		if disabled {
			if err := in.store.RevokeUserTokens(ctx, u.ID); err != nil {
				return nil, nil, err
			}
		}
		return map[string]any{"disabled": u.Disabled}, map[string]any{"disabled": disabled}, nil
	})
}

// SetUserGroups replaces the groups the account with id belongs to.
func (d *Directory) SetUserGroups(ctx context.Context, actor idp.Actor, id, expected string, groups []string) (UserRecord, error) {
	groups = slices.Compact(slices.Sorted(slices.Values(groups)))
	for i, g := range groups {
		if err := ValidateGroup(Group{Name: g}); err != nil {
			var ie *idp.InputError
			if errors.As(err, &ie) {
				return UserRecord{}, inputError("groups", "%q: %s", shorten(groups[i]), ie.Message)
			}
			return UserRecord{}, err
		}
	}
	return d.editUser(ctx, actor, id, expected, "user.groups_set", func(in *Directory, u *storage.User) (any, any, error) {
		if slices.Contains(u.Groups, in.adminGroup) && !slices.Contains(groups, in.adminGroup) && actor.ID == u.ID {
			return nil, nil, idp.Conflictf("you cannot remove yourself from the admin group")
		}
		before := slices.Clone(u.Groups)
		u.Groups = groups
		if err := in.store.UpdateUser(ctx, u); err != nil {
			if errors.Is(err, storage.ErrReference) {
				return nil, nil, inputError("groups", "one of %q does not exist", groups)
			}
			return nil, nil, err
		}
		return map[string]any{"groups": before}, map[string]any{"groups": groups}, nil
	})
}

// MaxReasonLength bounds the reason an administrator gives for a reset.
const MaxReasonLength = 500

// ValidateReason checks the reason given for a sensitive action: required,
// at most MaxReasonLength characters, printable.
func ValidateReason(reason string) error {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return inputError("reason", "is required: say why (it is kept in the audit log)")
	case utf8.RuneCountInString(reason) > MaxReasonLength:
		return inputError("reason", "must be at most %d characters", MaxReasonLength)
	case strings.IndexFunc(reason, func(r rune) bool { return r < 0x20 && r != '\t' }) >= 0:
		return inputError("reason", "must be one line of text")
	}
	return nil
}

// ResetMFAByID is ResetMFA for the account with id, with the reason the
// administrator gave (required, kept in the audit event).
func (d *Directory) ResetMFAByID(ctx context.Context, actor idp.Actor, id, reason string) error {
	if err := ValidateReason(reason); err != nil {
		return err
	}
	u, err := d.store.GetUser(ctx, id)
	if err != nil {
		return notFound(err)
	}
	// No channel tells the user yet (idp/notify is not wired to accounts).
	return d.resetMFA(ctx, actor, u, map[string]any{"reason": strings.TrimSpace(reason)})
}

// ForceReenrollment removes every second factor of the account with id,
// ends its sessions and revokes its tokens, and makes its next sign-in
// enroll a new second factor whatever the policies say (ReenrollmentPolicy),
// with the reason the administrator gave.
func (d *Directory) ForceReenrollment(ctx context.Context, actor idp.Actor, id, reason string) error {
	if err := ValidateReason(reason); err != nil {
		return err
	}
	u, err := d.store.GetUser(ctx, id)
	if err != nil {
		return notFound(err)
	}
	r, err := d.store.ForceReenrollment(ctx, u.ID)
	if err != nil {
		return err
	}
	if err := d.store.RevokeUserTokens(ctx, u.ID); err != nil {
		return err
	}
	d.audit(ctx, actor, "mfa.reenrollment_forced", u.ID, map[string]any{
		"username": u.Username, "reason": strings.TrimSpace(reason),
		"totp": r.TOTP, "webauthn": r.WebAuthn, "sessions_ended": r.SessionsEnded,
	})
	return nil
}

func shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
