package directory_test

import (
	"testing"

	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
)

// The effective policies say where each one is attached: the login flow
// records it and the simulator shows it.
func TestEffectivePoliciesSayWhereEachIsAttached(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		st := directory.Static{
			Policies: []policy.Policy{
				{Name: "strict", RequireMFA: policy.Always},
				{Name: "relaxed", RequireMFA: policy.OnRequest},
				{Name: "finance", RequireMFA: policy.Always, Clients: []string{"books"}},
				{Name: "apps", RequireMFA: policy.OnRequest},
			},
			DefaultPolicy: "relaxed",
			Groups:        []directory.Group{{Name: "staff", Policy: "strict"}, {Name: "contractors", Policy: "finance"}, {Name: "empty"}},
			Clients: []directory.ClientSpec{
				{ID: "app", Secret: "app-secret-0123456789abcdef", RedirectURIs: []string{"http://127.0.0.1:9999/cb"}, Policy: "apps"},
				{ID: "books", Secret: "app-secret-0123456789abcdef", RedirectURIs: []string{"http://127.0.0.1:9999/cb"}},
			},
			Users: []directory.NewUser{{Username: "sam", Password: "correct horse battery", Groups: []string{"staff", "contractors", "empty"}}},
		}
		if err := f.dir.ApplyStatic(t.Context(), st); err != nil {
			t.Fatal(err)
		}
		user, err := f.store.GetUserByUsername(t.Context(), "sam")
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			client string
			want   []string // policy@attachment
		}{
			{"app", []string{"apps@client app", "strict@group staff", "relaxed@default"}},
			{"books", []string{"finance@group contractors", "strict@group staff", "relaxed@default"}},
		} {
			client, err := f.store.GetClient(t.Context(), tc.client)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := directory.EffectivePolicies(t.Context(), f.store, client, user)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range ps {
				if n.Source != n.Via.String() {
					t.Errorf("Source %q is not Via %q in words", n.Source, n.Via)
				}
				got = append(got, n.Policy.Name+"@"+n.Via.String())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("at %s: %v, want %v", tc.client, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("at %s: %v, want %v", tc.client, got, tc.want)
				}
			}
		}
	})
}
