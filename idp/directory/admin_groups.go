package directory

import (
	"context"
	"errors"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// adminStore is what the admin operations need beyond directoryStore.
type adminStore interface {
	DeletePolicy(ctx context.Context, name string) error
	DeleteGroup(ctx context.Context, name string) error
	DeleteClient(ctx context.Context, id string) error
	RevokeClientTokens(ctx context.Context, clientID string) error
	CountGroupMembers(ctx context.Context, groups []string) (map[string]int64, error)
	CountUsersInGroups(ctx context.Context, groups []string) (int64, error)
	SearchUsers(ctx context.Context, query, afterKey string, limit int) ([]storage.User, error)
	UpdateUser(ctx context.Context, u *storage.User) error
	ForceReenrollment(ctx context.Context, userID string) (storage.MFAReset, error)
}

// GroupRecord is a group as the admin API shows it.
type GroupRecord struct {
	Group
	ManagedBy string
	Members   int64
	Version   string
	UpdatedAt time.Time
}

func (d *Directory) groupRecord(ctx context.Context, row *storage.Group) (GroupRecord, error) {
	g := GroupRecord{Group: Group{Name: row.Name}, ManagedBy: managedBy(row.ManagedBy), Version: version(row), UpdatedAt: row.UpdatedAt}
	if row.Policy != nil {
		g.Policy = *row.Policy
	}
	n, err := d.store.CountGroupMembers(ctx, []string{row.Name})
	g.Members = n[row.Name]
	return g, err
}

// GroupByName returns the group called name.
func (d *Directory) GroupByName(ctx context.Context, name string) (GroupRecord, error) {
	row, err := d.store.GetGroup(ctx, name)
	if err != nil {
		return GroupRecord{}, notFound(err)
	}
	return d.groupRecord(ctx, row)
}

// GroupPage lists groups by name, limit at a time, after the name after.
func (d *Directory) GroupPage(ctx context.Context, after string, limit int) (Page[GroupRecord], error) {
	rows, err := d.store.ListGroups(ctx)
	if err != nil {
		return Page[GroupRecord]{}, err
	}
	page := pageOf(rows, func(g storage.Group) string { return g.Name }, after, limit)
	out := Page[GroupRecord]{Next: page.Next, Items: make([]GroupRecord, len(page.Items))}
	for i := range page.Items {
		if out.Items[i], err = d.groupRecord(ctx, &page.Items[i]); err != nil {
			return Page[GroupRecord]{}, err
		}
	}
	return out, nil
}

// CreateGroup adds a group managed in the database.
func (d *Directory) CreateGroup(ctx context.Context, actor idp.Actor, g Group) (GroupRecord, error) {
	if err := ValidateGroup(g); err != nil {
		return GroupRecord{}, err
	}
	var out GroupRecord
	err := d.edit(ctx, func(in *Directory) error {
		switch existing, err := in.store.GetGroup(ctx, g.Name); {
		case err == nil:
			return idp.Conflictf("a group called %q already exists (managed by %s)", g.Name, SourceName(managedBy(existing.ManagedBy)))
		case !errors.Is(err, storage.ErrNotFound):
			return err
		}
		if err := in.upsertGroup(ctx, g, ManagedByDatabase); err != nil {
			return err
		}
		in.audit(ctx, actor, "group.created", g.Name, map[string]any{"after": map[string]any{"policy": g.Policy}})
		var err error
		out, err = in.GroupByName(ctx, g.Name)
		return err
	})
	return out, err
}

func (d *Directory) upsertGroup(ctx context.Context, g Group, managed string) error {
	row := &storage.Group{Name: g.Name, ManagedBy: managed}
	if g.Policy != "" {
		row.Policy = &g.Policy
	}
	if err := d.store.UpsertGroup(ctx, row); err != nil {
		if errors.Is(err, storage.ErrReference) {
			return inputError("policy", "no policy called %q", g.Policy)
		}
		return err
	}
	return nil
}

// UpdateGroup changes a group's policy ("" for none: the default applies)
// if the group is still at version expected.
func (d *Directory) UpdateGroup(ctx context.Context, actor idp.Actor, name, expected string, g Group) (GroupRecord, error) {
	g.Name = name
	if err := ValidateGroup(g); err != nil {
		return GroupRecord{}, err
	}
	var out GroupRecord
	err := d.edit(ctx, func(in *Directory) error {
		row, err := in.store.GetGroup(ctx, name)
		if err != nil {
			return notFound(err)
		}
		if err := checkWritable("group", name, row.ManagedBy); err != nil {
			return err
		}
		if err := checkVersion(expected, version(row)); err != nil {
			return err
		}
		before := ""
		if row.Policy != nil {
			before = *row.Policy
		}
		if err := in.upsertGroup(ctx, g, row.ManagedBy); err != nil {
			return err
		}
		in.audit(ctx, actor, "group.updated", name, map[string]any{"before": map[string]any{"policy": before}, "after": map[string]any{"policy": g.Policy}})
		out, err = in.GroupByName(ctx, name)
		return err
	})
	return out, err
}

// DeleteGroup removes a group and its memberships if it is still at
// version expected. The admin group cannot be deleted: nobody could
// administer Twofold through the API any more.
func (d *Directory) DeleteGroup(ctx context.Context, actor idp.Actor, name, expected string) error {
	return d.edit(ctx, func(in *Directory) error {
		row, err := in.store.GetGroup(ctx, name)
		if err != nil {
			return notFound(err)
		}
		if err := checkWritable("group", name, row.ManagedBy); err != nil {
			return err
		}
		if err := checkVersion(expected, version(row)); err != nil {
			return err
		}
		if name == in.adminGroup {
			return idp.Conflictf("group %q is the admin group (admin_group); it cannot be deleted", name)
		}
		if err := in.store.DeleteGroup(ctx, name); err != nil {
			return notFound(err)
		}
		in.audit(ctx, actor, "group.deleted", name, nil)
		return nil
	})
}
