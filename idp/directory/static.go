package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// Static is what the configuration file declares. It is applied at every
// start: policies, groups and clients are upserted; users are created when
// absent and otherwise get the file's email, groups and admin flag — never
// its password, which the user may have changed since.
type Static struct {
	Policies      []policy.Policy
	DefaultPolicy string
	Groups        []Group
	Clients       []ClientSpec
	Users         []NewUser
}

// ApplyStatic brings the database in line with st. Errors name the item
// (e.g. clients[1].redirect_uris[0]).
func (d *Directory) ApplyStatic(ctx context.Context, st Static) error {
	for i, p := range st.Policies {
		if _, err := d.SetPolicy(ctx, idp.ActorConfig, p); err != nil {
			return fmt.Errorf("policies[%d]: %w", i, err)
		}
	}
	if st.DefaultPolicy != "" {
		if err := d.SetDefaultPolicy(ctx, idp.ActorConfig, st.DefaultPolicy); err != nil {
			return err
		}
	}
	for i, g := range st.Groups {
		if err := d.SetGroup(ctx, idp.ActorConfig, g); err != nil {
			return fmt.Errorf("groups[%d]: %w", i, err)
		}
	}
	for i, spec := range st.Clients {
		spec.GenerateSecret = false
		row, _, err := d.toStorageClient(spec)
		if err == nil {
			err = d.store.UpsertClient(ctx, row)
		}
		if err != nil {
			return fmt.Errorf("clients[%d]: %w", i, clientStoreError(err, spec))
		}
	}
	for i, nu := range st.Users {
		if err := d.applyStaticUser(ctx, nu); err != nil {
			return fmt.Errorf("users[%d]: %w", i, err)
		}
	}
	return nil
}

func (d *Directory) applyStaticUser(ctx context.Context, nu NewUser) error {
	existing, err := d.store.GetUserByUsername(ctx, nu.Username)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		_, err := d.CreateUser(ctx, idp.ActorConfig, nu)
		return err
	case err != nil:
		return err
	}
	if err := validateEmail(nu.Email); err != nil {
		return err
	}
	existing.Email, existing.Groups, existing.Admin = nu.Email, nu.Groups, nu.Admin
	if err := d.store.UpdateUser(ctx, existing); err != nil {
		return d.userStoreError(err, nu)
	}
	return nil
}
