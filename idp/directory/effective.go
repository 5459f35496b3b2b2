package directory

import (
	"context"
	"errors"

	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// PolicyStore loads what a decision needs.
type PolicyStore interface {
	GetPolicy(ctx context.Context, name string) (*storage.Policy, error)
	GetGroup(ctx context.Context, name string) (*storage.Group, error)
	GetSetting(ctx context.Context, key string) (string, error)
}

// ReenrollmentPolicy applies to a user whose re-enrollment an administrator
// forced (storage.User.MustEnroll) until they confirm a new second factor:
// the sign-in requires one, so a user without any enrolls.
var ReenrollmentPolicy = policy.Policy{
	Name: "re-enrollment", RequireMFA: policy.Always, Methods: policy.AllMethods, Enrollment: policy.EnrollRequired,
}

// EffectivePolicies are the client's policy, every policy of the user's
// groups and the default policy, each with where it is attached (Via, and
// Source in words). They are read from the database on every decision, so a
// change applies on the next request on every replica. The login flow and
// the policy simulator both look policies up here.
func EffectivePolicies(ctx context.Context, s PolicyStore, client *storage.Client, user *storage.User) ([]policy.Named, error) {
	var out []policy.Named
	add := func(name string, via policy.Attachment) error {
		p, err := s.GetPolicy(ctx, name)
		if errors.Is(err, storage.ErrNotFound) {
			return nil // deleted meanwhile: the reference is cleared by the database
		}
		if err != nil {
			return err
		}
		pol := PolicyFromStorage(p)
		if client != nil && !pol.AppliesTo(client.ID) {
			return nil // limited to other clients
		}
		out = append(out, policy.Named{Policy: pol, Source: via.String(), Via: via})
		return nil
	}
	if client != nil && client.Policy != nil {
		if err := add(*client.Policy, policy.Attachment{Kind: policy.AttachedClient, Name: client.ID}); err != nil {
			return nil, err
		}
	}
	if user != nil {
		for _, g := range user.Groups {
			grp, err := s.GetGroup(ctx, g)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return nil, err
			}
			if grp != nil && grp.Policy != nil {
				if err := add(*grp.Policy, policy.Attachment{Kind: policy.AttachedGroup, Name: g}); err != nil {
					return nil, err
				}
			}
		}
	}
	if user != nil && user.MustEnroll {
		out = append(out, policy.Named{Policy: ReenrollmentPolicy, Source: "re-enrollment forced by an administrator"})
	}
	def, err := s.GetSetting(ctx, storage.SettingDefaultPolicy)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	if def != "" {
		if err := add(def, policy.Attachment{Kind: policy.AttachedDefault}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
