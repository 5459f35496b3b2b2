package idp

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// policyStore loads what a decision needs.
type policyStore interface {
	GetPolicy(ctx context.Context, name string) (*storage.Policy, error)
	GetGroup(ctx context.Context, name string) (*storage.Group, error)
	GetSetting(ctx context.Context, key string) (string, error)
}

// effectivePolicies are the client's policy, every policy of the user's
// groups and the default policy, each named by where it came from. They are
// read from the database on every decision, so a change applies on the next
// request on every replica.
func effectivePolicies(ctx context.Context, s policyStore, client *storage.Client, user *storage.User) ([]policy.Named, error) {
	var out []policy.Named
	add := func(name, source string) error {
		p, err := s.GetPolicy(ctx, name)
		if errors.Is(err, storage.ErrNotFound) {
			return nil // deleted meanwhile: the reference is cleared by the database
		}
		if err != nil {
			return err
		}
		pol := policyFromStorage(p)
		if client != nil && !pol.AppliesTo(client.ID) {
			return nil // limited to other clients
		}
		out = append(out, policy.Named{Policy: pol, Source: source})
		return nil
	}
	if client != nil && client.Policy != nil {
		if err := add(*client.Policy, "client "+client.ID); err != nil {
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
				if err := add(*grp.Policy, "group "+g); err != nil {
					return nil, err
				}
			}
		}
	}
	def, err := s.GetSetting(ctx, storage.SettingDefaultPolicy)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	if def != "" {
		if err := add(def, "default"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// policySession turns the stored session into what policy.Decide reads.
func policySession(s *storage.Session) *policy.Session {
	if s == nil {
		return nil
	}
	ps := &policy.Session{AuthTime: s.AuthTime}
	for _, f := range s.Factors {
		ps.Factors = append(ps.Factors, policy.Factor{Method: f.Method, At: f.At, UserVerified: f.UserVerified})
	}
	return ps
}

// policyRequest turns the stored authorization request into what
// policy.Decide reads. prompt=login and max_age count only against a
// sign-in from before the request began.
func policyRequest(ar *storage.AuthRequest, sess *storage.Session) policy.Request {
	r := policy.Request{ACRValues: ar.ACRValues, EssentialACR: essentialACR(ar.Claims)}
	fresh := sess != nil && !sess.AuthTime.Before(ar.CreatedAt)
	if !fresh {
		// max_age=0 is prompt=login (OIDC Core §3.1.2.1).
		r.PromptLogin = slices.Contains(ar.Prompt, "login") || (ar.MaxAgeSeconds != nil && *ar.MaxAgeSeconds == 0)
		if ar.MaxAgeSeconds != nil {
			d := time.Duration(*ar.MaxAgeSeconds) * time.Second
			r.MaxAge = &d
		}
	}
	return r
}
