package directory_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// fileFixture is a configuration file with one of everything twice.
func fileFixture() directory.Static {
	return directory.Static{
		Policies: []policy.Policy{
			{Name: "strict", RequireMFA: policy.Always, Methods: []policy.Method{policy.TOTP, policy.WebAuthn}},
			{Name: "relaxed", RequireMFA: policy.OnRequest},
		},
		DefaultPolicy: "relaxed",
		Groups:        []directory.Group{{Name: "staff", Policy: "strict"}, {Name: "ops", Policy: "relaxed"}},
		Clients: []directory.ClientSpec{
			{ID: "app", Secret: "app-secret-0123456789", RedirectURIs: []string{"http://127.0.0.1:9999/cb"}, Policy: "strict"},
			{ID: "spa", RedirectURIs: []string{"http://127.0.0.1:9998/cb"}},
		},
		Users: []directory.NewUser{
			{Username: "alice", Email: "alice@example.com", Password: "correct horse battery", Groups: []string{"staff"}},
			{Username: "bob", Password: "correct horse battery", Groups: []string{"ops"}},
		},
	}
}

func snapshot(t *testing.T, s *storage.Store) string { return storagetest.Snapshot(t, s) }

func TestARefusedConfigurationChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(st *directory.Static)
		want    string
	}{
		{"a last client the validators refuse", func(st *directory.Static) {
			st.Clients = append(st.Clients, directory.ClientSpec{ID: "native", RedirectURIs: []string{"myapp:/cb"}})
		}, "clients[1]: redirect_uris[0]"},
		// Valid on its own, refused by the database half-way through the
		// apply: everything written before it must be rolled back.
		{"a last client naming a policy the database does not have", func(st *directory.Static) {
			st.Clients = append(st.Clients, directory.ClientSpec{ID: "native", RedirectURIs: []string{"com.example.app:/cb"}, Policy: "missing"})
		}, "clients[1]: policy"},
		{"a last client whose id is taken in the database", func(st *directory.Static) {
			st.Clients = append(st.Clients, directory.ClientSpec{ID: "cli-app", RedirectURIs: []string{"com.example.app:/cb"}})
		}, `clients[1]: client "cli-app" collides with the client "cli-app" managed by the database`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachDatabase(t, func(t *testing.T, f fixture) {
				ctx := t.Context()
				if _, _, err := f.dir.AddClient(ctx, idp.ActorCLI, directory.ClientSpec{ID: "cli-app", GenerateSecret: true, RedirectURIs: []string{"https://cli.example.com/cb"}}); err != nil {
					t.Fatal(err)
				}
				if err := f.dir.ApplyStatic(ctx, fileFixture()); err != nil {
					t.Fatal(err)
				}
				before := snapshot(t, f.store)
				// The next file changes something of every kind, removes
				// objects, and ends with a bad client.
				st := fileFixture()
				st.Policies[0].MFAMaxAge = 3600e9
				st.Policies = st.Policies[:1]
				st.DefaultPolicy = policy.NameNone
				st.Groups = []directory.Group{{Name: "staff"}, {Name: "new-group"}}
				st.Clients = st.Clients[:1]
				st.Clients[0].RedirectURIs = []string{"http://127.0.0.1:9999/other"}
				st.Users = []directory.NewUser{{Username: "alice", Email: "alice@corp.example.com", Password: "correct horse battery"},
					{Username: "carol", Password: "correct horse battery"}}
				tc.breakIt(&st)
				err := f.dir.ApplyStatic(ctx, st)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("ApplyStatic = %v, want an error containing %q", err, tc.want)
				}
				if after := snapshot(t, f.store); after != before {
					t.Fatalf("a refused configuration changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			})
		})
	}
}

func TestObjectsRemovedFromTheFileAreDisabledOrDeletedAndComeBack(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		if err := f.dir.ApplyStatic(ctx, fileFixture()); err != nil {
			t.Fatal(err)
		}
		st := fileFixture()
		st.Policies = st.Policies[:1] // relaxed goes
		st.DefaultPolicy = ""         // and with it the default the file set
		st.Groups = st.Groups[:1]     // ops goes
		st.Clients = st.Clients[:1]   // spa goes
		st.Users = st.Users[:1]       // bob goes
		if err := f.dir.ApplyStatic(ctx, st); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.GetClient(ctx, "spa"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetClient(spa) after removal: %v", err)
		}
		cs, _ := f.dir.ListClients(ctx)
		if len(cs) != 2 || cs[1].ID != "spa" || !cs[1].Disabled || cs[0].Disabled {
			t.Fatalf("clients = %+v", cs)
		}
		if bob, _ := f.dir.GetUserByUsername(ctx, "bob"); !bob.Disabled {
			t.Fatalf("bob = %+v", bob)
		}
		if _, err := f.dir.Authenticate(ctx, "bob", "correct horse battery"); !errors.Is(err, idp.ErrInvalidCredentials) {
			t.Fatalf("a removed user signs in: %v", err)
		}
		if err := f.dir.SetUserDisabled(ctx, idp.ActorCLI, "bob", false); err == nil ||
			err.Error() != `user "bob" was removed from the configuration file, which disabled it; declare it there again to enable it` {
			t.Fatalf("user enable bob: %v", err)
		}
		if _, err := f.store.GetGroup(ctx, "ops"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("group ops: %v", err)
		}
		if _, err := f.store.GetPolicy(ctx, "relaxed"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("policy relaxed: %v", err)
		}
		if def, _ := f.dir.DefaultPolicy(ctx); def != "" {
			t.Fatalf("default policy %q is still in force", def)
		}
		for _, action := range []string{"client.disabled", "user.disabled", "group.deleted", "policy.deleted", "policy.default_set"} {
			events, err := f.dir.Audit(ctx, "", action, 10)
			if err != nil || len(events) == 0 || events[0].Actor != idp.ActorConfig.ID {
				t.Fatalf("audit %s: %+v, %v", action, events, err)
			}
		}
		// Declared again: enabled again.
		if err := f.dir.ApplyStatic(ctx, fileFixture()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.GetClient(ctx, "spa"); err != nil {
			t.Fatalf("spa declared again: %v", err)
		}
		if _, err := f.dir.Authenticate(ctx, "bob", "correct horse battery"); err != nil {
			t.Fatalf("bob declared again: %v", err)
		}
		if def, _ := f.dir.DefaultPolicy(ctx); def != "relaxed" {
			t.Fatalf("default policy = %q", def)
		}
	})
}

func TestSwitchingTheDefaultPolicyToNoneClearsIt(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		st := fileFixture()
		if err := f.dir.ApplyStatic(ctx, st); err != nil {
			t.Fatal(err)
		}
		st.DefaultPolicy = policy.NameNone
		if err := f.dir.ApplyStatic(ctx, st); err != nil {
			t.Fatal(err)
		}
		if def, err := f.dir.DefaultPolicy(ctx); err != nil || def != "" {
			t.Fatalf("DefaultPolicy = %q, %v; want none", def, err)
		}
	})
}

func TestAnApplyThatChangesNothingRecordsNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		if err := f.dir.ApplyStatic(ctx, fileFixture()); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, f.store)
		if err := f.dir.ApplyStatic(ctx, fileFixture()); err != nil {
			t.Fatal(err)
		}
		if after := snapshot(t, f.store); after != before {
			t.Fatalf("a second start with the same file changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

func TestANameTakenInTheDatabaseStopsTheApplyNamingBoth(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		// A policy changed with `twofold policy set` is managed in the
		// database: a file policy of the same name must not overwrite it.
		if _, err := f.dir.SetPolicy(ctx, idp.ActorCLI, policy.Policy{Name: "strict", RequireMFA: policy.Always, Methods: []policy.Method{policy.WebAuthn}}); err != nil {
			t.Fatal(err)
		}
		if err := f.dir.SetGroup(ctx, idp.ActorCLI, directory.Group{Name: "ops"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.dir.AddClient(ctx, idp.ActorCLI, directory.ClientSpec{ID: "spa", RedirectURIs: []string{"https://spa.example.com/cb"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.dir.CreateUser(ctx, idp.ActorCLI, directory.NewUser{Username: "Bob", Password: "another long phrase"}); err != nil {
			t.Fatal(err)
		}
		if err := f.dir.SetDefaultPolicy(ctx, idp.ActorCLI, "strict"); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, f.store)
		err := f.dir.ApplyStatic(ctx, fileFixture())
		if err == nil {
			t.Fatal("the file overwrote objects managed in the database")
		}
		for _, want := range []string{
			`policies[0]: policy "strict" collides with the policy "strict" managed by the database`,
			`groups[1]: group "ops" collides with the group "ops" managed by the database`,
			`clients[1]: client "spa" collides with the client "spa" managed by the database`,
			`users[1]: user "Bob" collides with the user "Bob" managed by the database`,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
		if after := snapshot(t, f.store); after != before {
			t.Fatalf("a colliding configuration changed the database")
		}
		p, _ := f.store.GetPolicy(ctx, "strict")
		if len(p.Methods) != 1 {
			t.Fatalf("the CLI's policy was overwritten: %+v", p)
		}

		// Without the colliding objects, a default set with the CLI is still one.
		st := fileFixture()
		st.Policies = st.Policies[1:]
		st.Groups = nil
		st.Clients = st.Clients[:1]
		st.Clients[0].Policy = ""
		st.Users = []directory.NewUser{{Username: "alice", Password: "correct horse battery"}}
		err = f.dir.ApplyStatic(ctx, st)
		if err == nil || !strings.Contains(err.Error(), `default_policy: the default policy "strict" was set by the database`) {
			t.Fatalf("default policy collision: %v", err)
		}
		if err := f.dir.SetDefaultPolicy(ctx, idp.ActorCLI, ""); err != nil {
			t.Fatal(err)
		}
		if err := f.dir.ApplyStatic(ctx, st); err != nil {
			t.Fatalf("after clearing the CLI's default: %v", err)
		}
	})
}

func TestObjectsFromTheFileAreReadOnlyElsewhere(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		if err := f.dir.ApplyStatic(ctx, fileFixture()); err != nil {
			t.Fatal(err)
		}
		for name, err := range map[string]error{
			"policy set":            second(f.dir.SetPolicy(ctx, idp.ActorCLI, policy.Policy{Name: "strict", RequireMFA: policy.Never})),
			"policy assign group":   f.dir.SetGroup(ctx, idp.ActorCLI, directory.Group{Name: "staff"}),
			"policy assign client":  f.dir.AssignClientPolicy(ctx, idp.ActorCLI, "app", ""),
			"policy assign default": f.dir.SetDefaultPolicy(ctx, idp.ActorCLI, "strict"),
			"user disable":          f.dir.SetUserDisabled(ctx, idp.ActorCLI, "alice", true),
		} {
			var me *directory.ManagedError
			if !errors.As(err, &me) || me.ManagedBy != directory.ManagedByConfig || !strings.Contains(err.Error(), "managed by the configuration file") {
				t.Errorf("%s: %v", name, err)
			}
		}
		// What the file does not declare stays the administrator's: a
		// user's factors and consents, a new policy.
		if err := f.dir.ResetMFA(ctx, idp.ActorCLI, "alice"); err != nil {
			t.Errorf("reset-mfa: %v", err)
		}
		if _, err := f.dir.SetPolicy(ctx, idp.ActorCLI, policy.Policy{Name: "extra"}); err != nil {
			t.Errorf("a new policy: %v", err)
		}
	})
}

func second[T any](_ T, err error) error { return err }

func TestRowsFromBeforeSourcesAreAdoptedByTheFirstApplyThatDeclaresThem(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		if err := f.dir.ApplyStatic(ctx, fileFixture()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.dir.AddClient(ctx, idp.ActorCLI, directory.ClientSpec{ID: "old-cli", RedirectURIs: []string{"https://old.example.com/cb"}}); err != nil {
			t.Fatal(err)
		}
		// As an upgraded database has them.
		for _, table := range []string{"policies", "groups", "clients", "users"} {
			if _, err := f.store.SQL().ExecContext(ctx, "UPDATE "+table+" SET managed_by = 'legacy'"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.store.SQL().ExecContext(ctx, "DELETE FROM settings WHERE key = '"+storage.SettingDefaultPolicyManagedBy+"'"); err != nil {
			t.Fatal(err)
		}
		// An account an administrator disabled before the upgrade stays disabled when the file adopts it.
		bob, _ := f.store.GetUserByUsername(ctx, "bob")
		if err := f.store.SetUserDisabled(ctx, bob.ID, true); err != nil {
			t.Fatal(err)
		}
		err := f.dir.ApplyStatic(ctx, fileFixture())
		if err == nil || !strings.Contains(err.Error(), `users[1]: user "bob" is disabled in the database; enable it (twofold user enable bob)`) {
			t.Fatalf("adopting a disabled account: %v", err)
		}
		if err := f.dir.SetUserDisabled(ctx, idp.ActorCLI, "bob", false); err != nil {
			t.Fatal(err)
		}
		if err := f.dir.ApplyStatic(ctx, fileFixture()); err != nil {
			t.Fatalf("the first start after the upgrade: %v", err)
		}
		cs, _ := f.dir.ListClients(ctx)
		got := map[string]string{}
		for _, c := range cs {
			got[c.ID] = c.ManagedBy
			if c.Disabled {
				t.Errorf("client %s disabled", c.ID)
			}
		}
		if got["app"] != directory.ManagedByConfig || got["old-cli"] != directory.ManagedByDatabase {
			t.Fatalf("managed by = %v", got)
		}
		if err := f.dir.SetDefaultPolicy(ctx, idp.ActorCLI, "strict"); err == nil {
			t.Fatal("the adopted default policy is writable")
		}
	})
}

func TestTheDemoIsItsOwnSource(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		demo := directory.Static{Source: directory.ManagedByDemo, Clients: []directory.ClientSpec{
			{ID: "twofold-demo", Secret: "demo-secret-0123456789", RedirectURIs: []string{"http://localhost:8080/demo/callback"}},
		}}
		for range 2 { // a start with the demo, then the next start
			if err := f.dir.ApplyStatic(ctx, fileFixture()); err != nil {
				t.Fatal(err)
			}
			if err := f.dir.ApplyStatic(ctx, demo); err != nil {
				t.Fatal(err)
			}
		}
		cs, _ := f.dir.ListClients(ctx)
		for _, c := range cs {
			if c.Disabled {
				t.Fatalf("client %s was disabled by the other source", c.ID)
			}
		}
		// The file's apply leaves the demo client alone even without the demo.
		if err := f.dir.ApplyStatic(ctx, fileFixture()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.GetClient(ctx, "twofold-demo"); err != nil {
			t.Fatalf("demo client after a start without the demo: %v", err)
		}
		st := fileFixture()
		st.Clients = append(st.Clients, demo.Clients[0])
		err := f.dir.ApplyStatic(ctx, st)
		if err == nil || !strings.Contains(err.Error(), `clients[2]: client "twofold-demo" collides with the client "twofold-demo" managed by twofold serve --demo`) {
			t.Fatalf("a file client named like the demo's: %v", err)
		}
	})
}

func TestAPolicyStillUsedElsewhereIsNotDeletedWithTheFile(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		if err := f.dir.ApplyStatic(ctx, fileFixture()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.dir.AddClient(ctx, idp.ActorCLI, directory.ClientSpec{ID: "books", Policy: "strict", RedirectURIs: []string{"https://books.example.com/cb"}}); err != nil {
			t.Fatal(err)
		}
		st := fileFixture()
		st.Policies = st.Policies[1:]
		st.Groups = st.Groups[1:]
		st.Clients[0].Policy = ""
		st.Users[0].Groups = nil
		err := f.dir.ApplyStatic(ctx, st)
		if err == nil || !strings.Contains(err.Error(), `policy "strict" is no longer in the configuration file but is still used by client "books" (managed by the database`) {
			t.Fatalf("ApplyStatic = %v", err)
		}
		if err := f.dir.AssignClientPolicy(ctx, idp.ActorCLI, "books", ""); err != nil {
			t.Fatal(err)
		}
		if err := f.dir.ApplyStatic(ctx, st); err != nil {
			t.Fatalf("once detached: %v", err)
		}
	})
}

// An in-memory SQLite database has one connection: the apply must do everything through its transaction.
func TestTheApplyWorksOnAnInMemoryDatabase(t *testing.T) {
	s, err := storage.Open(t.Context(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(testing.TB, ...storage.Option) *storage.Store { return s }, fastParams)
	done := make(chan error, 1)
	go func() {
		err := f.dir.ApplyStatic(t.Context(), fileFixture())
		if err == nil {
			st := fileFixture()
			st.Users = st.Users[:1]
			err = f.dir.ApplyStatic(t.Context(), st)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the apply is stuck: it used a second connection")
	}
}
