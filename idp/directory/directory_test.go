package directory_test

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/password"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// fastParams keep argon2id cheap in tests; one test uses the defaults.
var fastParams = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

type fixture struct {
	store *storage.Store
	dir   *directory.Directory
}

func newFixture(t *testing.T, newStore storagetest.Factory, params password.Params) fixture {
	t.Helper()
	s := newStore(t)
	key, err := secrets.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return fixture{store: s, dir: directory.New(s, password.New(params, 2), kr, log, nil)}
}

// eachDatabase runs fn against SQLite and (when configured) PostgreSQL.
func eachDatabase(t *testing.T, fn func(t *testing.T, f fixture)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) { fn(t, newFixture(t, newStore, fastParams)) })
	}
}

func inputField(err error) string {
	var ie *idp.InputError
	if errors.As(err, &ie) {
		return ie.Field
	}
	return ""
}

func TestCreateUserValidatesInput(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		if _, err := f.dir.SetPolicy(t.Context(), idp.ActorCLI, policy.Policy{Name: "strict", RequireMFA: policy.Always}); err != nil {
			t.Fatal(err)
		}
		if err := f.dir.SetGroup(t.Context(), idp.ActorCLI, directory.Group{Name: "staff", Policy: "strict"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.dir.CreateUser(t.Context(), idp.ActorCLI, directory.NewUser{Username: "Alice", Password: "correct horse battery", Groups: []string{"staff"}}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name  string
			user  directory.NewUser
			field string
		}{
			{"a username taken in another case is refused", directory.NewUser{Username: "ALICE", Password: "another good phrase"}, "username"},
			{"an empty username is refused", directory.NewUser{Username: " ", Password: "another good phrase"}, "username"},
			{"a username with spaces is refused", directory.NewUser{Username: "a b", Password: "another good phrase"}, "username"},
			{"a username over 64 characters is refused", directory.NewUser{Username: strings.Repeat("x", 65), Password: "another good phrase"}, "username"},
			{"a malformed email is refused", directory.NewUser{Username: "bob", Email: "bob@", Password: "another good phrase"}, "email"},
			{"a display-name email is refused", directory.NewUser{Username: "bob", Email: "Bob <bob@example.com>", Password: "another good phrase"}, "email"},
			{"a 7-character password is refused", directory.NewUser{Username: "bob", Password: "1234567"}, "password"},
			{"a common password is refused", directory.NewUser{Username: "bob", Password: "Password123"}, "password"},
			{"the username as password is refused", directory.NewUser{Username: "bobbybobby", Password: "BobbyBobby"}, "password"},
			{"an over-long password is refused", directory.NewUser{Username: "bob", Password: strings.Repeat("x", password.MaxLength+1)}, "password"},
			{"a non-argon2id hash is refused", directory.NewUser{Username: "bob", PasswordHash: "$2y$10$abc"}, "password_hash"},
			{"an unknown group is refused", directory.NewUser{Username: "bob", Password: "another good phrase", Groups: []string{"nope"}}, "groups"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.dir.CreateUser(t.Context(), idp.ActorCLI, tc.user)
				if got := inputField(err); got != tc.field {
					t.Fatalf("error %v: field %q, want %q", err, got, tc.field)
				}
			})
		}
		n, err := f.store.CountUsers(t.Context())
		if err != nil || n != 1 {
			t.Fatalf("%d users after refused creations (err %v), want 1", n, err)
		}
		u, err := f.dir.GetUserByUsername(t.Context(), "alice")
		if err != nil || u.Username != "Alice" || len(u.Groups) != 1 {
			t.Fatalf("GetUserByUsername = %+v, %v", u, err)
		}
		events, err := f.store.ListAudit(t.Context(), storage.AuditFilter{Target: u.ID})
		if err != nil || len(events) != 1 || events[0].Action != "user.created" || events[0].Actor != "cli" {
			t.Fatalf("audit = %+v, %v", events, err)
		}
	})
}

// SECURITY-RULES: "Unknown user, wrong password, disabled account, with or without MFA: the same status, message,
// redirects, cookies and timing (a dummy hash for unknown users)"
func TestAuthenticateGivesOneAnswerForEveryFailure(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		for _, nu := range []directory.NewUser{
			{Username: "carol", Password: "correct horse battery"},
			{Username: "dora", Password: "correct horse battery"},
		} {
			if _, err := f.dir.CreateUser(ctx, idp.ActorCLI, nu); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.dir.SetUserDisabled(ctx, idp.ActorCLI, "dora", true); err != nil {
			t.Fatal(err)
		}
		u, err := f.dir.Authenticate(ctx, "CAROL", "correct horse battery")
		if err != nil || u.Username != "carol" {
			t.Fatalf("Authenticate = %+v, %v", u, err)
		}
		for _, tc := range []struct{ name, user, pw string }{
			{"wrong password", "carol", "correct horse battery!"},
			{"unknown user", "nobody", "correct horse battery"},
			{"disabled account with the right password", "dora", "correct horse battery"},
			{"over-long password", "carol", strings.Repeat("x", password.MaxLength+1)},
		} {
			if _, err := f.dir.Authenticate(ctx, tc.user, tc.pw); !errors.Is(err, idp.ErrInvalidCredentials) {
				t.Errorf("%s: err = %v, want ErrInvalidCredentials", tc.name, err)
			}
		}
		if err := f.dir.SetUserDisabled(ctx, idp.ActorCLI, "dora", false); err != nil {
			t.Fatal(err)
		}
		if _, err := f.dir.Authenticate(ctx, "dora", "correct horse battery"); err != nil {
			t.Fatalf("re-enabled account: %v", err)
		}
		if err := f.dir.SetUserDisabled(ctx, idp.ActorCLI, "nobody", true); !errors.Is(err, idp.ErrNotFound) {
			t.Fatalf("disable unknown: %v", err)
		}
	})
}

func TestAuthenticateRehashesOutdatedHashes(t *testing.T) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			old := newFixture(t, newStore, fastParams)
			if _, err := old.dir.CreateUser(t.Context(), idp.ActorCLI, directory.NewUser{Username: "erin", Password: "correct horse battery"}); err != nil {
				t.Fatal(err)
			}
			before, _ := old.store.GetUserByUsername(t.Context(), "erin")
			stronger := fastParams
			stronger.Iterations = 2
			kr, _ := secrets.NewKeyring(make([]byte, 32))
			upgraded := directory.New(old.store, password.New(stronger, 1), kr, slog.New(slog.DiscardHandler), nil)
			if _, err := upgraded.Authenticate(t.Context(), "erin", "correct horse battery"); err != nil {
				t.Fatal(err)
			}
			after, _ := old.store.GetUserByUsername(t.Context(), "erin")
			if after.PasswordHash == before.PasswordHash || !strings.Contains(after.PasswordHash, "t=2") {
				t.Fatalf("hash not upgraded: %s", after.PasswordHash)
			}
			if _, err := upgraded.Authenticate(t.Context(), "erin", "correct horse battery"); err != nil {
				t.Fatalf("after rehash: %v", err)
			}
		})
	}
}

func TestDefaultHashParametersVerify(t *testing.T) {
	f := newFixture(t, storagetest.NewSQLite, password.DefaultParams)
	if _, err := f.dir.CreateUser(t.Context(), idp.ActorCLI, directory.NewUser{Username: "fay", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	u, _ := f.store.GetUserByUsername(t.Context(), "fay")
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not use the OWASP parameters", u.PasswordHash)
	}
	if _, err := f.dir.Authenticate(t.Context(), "fay", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
}

func TestFirstRunSetup(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		token, err := f.dir.PrepareSetup(ctx)
		if err != nil || len(token) < 40 {
			t.Fatalf("PrepareSetup = %q, %v", token, err)
		}
		if err := f.dir.CheckSetupToken(ctx, token); err != nil {
			t.Fatalf("fresh token: %v", err)
		}
		if err := f.dir.CheckSetupToken(ctx, token+"x"); !errors.Is(err, idp.ErrSetupTokenInvalid) {
			t.Fatalf("wrong token: %v", err)
		}
		// Bad input does not use the token up.
		err = f.dir.CompleteSetup(ctx, token, directory.NewUser{Username: "root", Password: "short"})
		if inputField(err) != "password" {
			t.Fatalf("short password: %v", err)
		}
		if err := f.dir.CompleteSetup(ctx, token, directory.NewUser{Username: "root", Email: "root@example.com", Password: "correct horse battery"}); err != nil {
			t.Fatalf("CompleteSetup: %v", err)
		}
		u, err := f.dir.GetUserByUsername(ctx, "root")
		if err != nil || !u.Admin || !slices.Contains(u.Groups, directory.DefaultAdminGroup) {
			t.Fatalf("setup user = %+v, %v; want a member of %q", u, err, directory.DefaultAdminGroup)
		}
		if err := f.dir.CompleteSetup(ctx, token, directory.NewUser{Username: "again", Password: "correct horse battery"}); !errors.Is(err, idp.ErrSetupTokenInvalid) {
			t.Fatalf("reused token: %v", err)
		}
		if err := f.dir.CheckSetupToken(ctx, token); !errors.Is(err, idp.ErrSetupDone) {
			t.Fatalf("after setup: %v", err)
		}
		if token, err := f.dir.PrepareSetup(ctx); err != nil || token != "" {
			t.Fatalf("PrepareSetup with an account = %q, %v", token, err)
		}
	})
}

func TestClientsAndSecrets(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		c, secret, err := f.dir.AddClient(ctx, idp.ActorCLI, directory.ClientSpec{
			ID: "app", GenerateSecret: true, RedirectURIs: []string{"https://app.example.com/cb"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(secret) != 43 || c.Public || c.Name != "app" || len(c.GrantTypes) != 2 {
			t.Fatalf("AddClient = %+v, secret length %d", c, len(secret))
		}
		stored, _ := f.store.GetClient(ctx, "app")
		if strings.Contains(stored.SecretHash, secret) || !strings.HasPrefix(stored.SecretHash, "hmac-sha256$") {
			t.Fatalf("secret stored as %q", stored.SecretHash)
		}
		if err := f.dir.VerifyClientSecret(ctx, "app", secret); err != nil {
			t.Fatal(err)
		}
		if err := f.dir.VerifyClientSecret(ctx, "app", secret[:42]+"x"); !errors.Is(err, idp.ErrInvalidCredentials) {
			t.Fatalf("wrong secret: %v", err)
		}
		if _, _, err := f.dir.AddClient(ctx, idp.ActorCLI, directory.ClientSpec{ID: "app", RedirectURIs: []string{"https://x.example/cb"}}); inputField(err) != "id" {
			t.Fatalf("duplicate id: %v", err)
		}
		cs, err := f.dir.ListClients(ctx)
		if err != nil || len(cs) != 1 {
			t.Fatalf("ListClients = %+v, %v", cs, err)
		}
	})
}

func TestValidateClientSpec(t *testing.T) {
	ok := directory.ClientSpec{ID: "app", RedirectURIs: []string{"https://app.example.com/cb"}}
	tests := []struct {
		name   string
		mutate func(*directory.ClientSpec)
		field  string
	}{
		{"an https redirect is valid", func(*directory.ClientSpec) {}, ""},
		{"a loopback http redirect is valid", func(c *directory.ClientSpec) { c.RedirectURIs = []string{"http://127.0.0.1:9999/callback"} }, ""},
		{"a localhost http redirect is valid", func(c *directory.ClientSpec) { c.RedirectURIs = []string{"http://localhost/cb"} }, ""},
		{"a native app scheme is valid", func(c *directory.ClientSpec) { c.RedirectURIs = []string{"com.example.app:/oauth2redirect"} }, ""},
		{"a plain http redirect is refused", func(c *directory.ClientSpec) { c.RedirectURIs = []string{"http://app.example.com/cb"} }, "redirect_uris[0]"},
		{"a redirect with a fragment is refused", func(c *directory.ClientSpec) { c.RedirectURIs = []string{"https://app.example.com/cb#x"} }, "redirect_uris[0]"},
		{"a relative redirect is refused", func(c *directory.ClientSpec) { c.RedirectURIs = []string{"/cb"} }, "redirect_uris[0]"},
		{"a javascript: redirect is refused", func(c *directory.ClientSpec) { c.RedirectURIs = []string{"javascript:alert(1)"} }, "redirect_uris[0]"},
		{"a bad logout redirect is refused", func(c *directory.ClientSpec) { c.PostLogoutRedirectURIs = []string{"ftp://x/"} }, "post_logout_redirect_uris[0]"},
		{"no redirect for the code flow is refused", func(c *directory.ClientSpec) { c.RedirectURIs = nil }, "redirect_uris"},
		{"an id with spaces is refused", func(c *directory.ClientSpec) { c.ID = "my app" }, "id"},
		{"an unknown grant is refused", func(c *directory.ClientSpec) { c.GrantTypes = []string{"password"} }, "grant_types[0]"},
		{"client_credentials without a secret is refused", func(c *directory.ClientSpec) { c.GrantTypes = []string{"client_credentials"} }, "grant_types"},
		{"client_credentials with a secret is valid", func(c *directory.ClientSpec) {
			c.GrantTypes, c.Secret, c.RedirectURIs = []string{"client_credentials"}, "a-long-enough-secret", nil
		}, ""},
		{"refresh_token without a code grant is refused", func(c *directory.ClientSpec) { c.GrantTypes = []string{"refresh_token"} }, "grant_types"},
		{"a configured secret under 16 characters is refused", func(c *directory.ClientSpec) { c.Secret = "s3cret" }, "secret"},
		{"twofold:admin for a confidential client is valid", func(c *directory.ClientSpec) {
			c.Secret, c.AllowedScopes = "a-long-enough-secret", []string{directory.ScopeAdmin}
		}, ""},
		{"twofold:admin for a public client is refused", func(c *directory.ClientSpec) { c.AllowedScopes = []string{directory.ScopeAdmin} }, "allowed_scopes[0]"},
		{"an unknown allowed scope is refused", func(c *directory.ClientSpec) {
			c.Secret, c.AllowedScopes = "a-long-enough-secret", []string{"twofold:root"}
		}, "allowed_scopes[0]"},
		{"an allowed scope is listed once", func(c *directory.ClientSpec) {
			c.Secret, c.AllowedScopes = "a-long-enough-secret", []string{directory.ScopeAdmin, directory.ScopeAdmin}
		}, "allowed_scopes[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			err := directory.ValidateClientSpec(c)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("error %v does not name %s", err, tc.field)
			}
		})
	}
}

func TestApplyStaticIsIdempotentAndKeepsChangedPasswords(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		st := directory.Static{
			Policies: []policy.Policy{
				{Name: "strict", RequireMFA: policy.Always, Methods: []policy.Method{policy.TOTP, policy.WebAuthn}, MFAMaxAge: 12 * time.Hour},
				{Name: "relaxed", RequireMFA: policy.OnRequest},
			},
			DefaultPolicy: "relaxed",
			Groups:        []directory.Group{{Name: "staff", Policy: "strict"}},
			Clients: []directory.ClientSpec{{
				ID: "app", Secret: "s3cret-s3cret-s3cret", RedirectURIs: []string{"http://127.0.0.1:9999/callback"},
				SkipConsent: true, Policy: "strict",
			}},
			Users: []directory.NewUser{{Username: "alice", Email: "alice@example.com", Password: "correct horse battery", Groups: []string{"staff"}}},
		}
		if err := f.dir.ApplyStatic(ctx, st); err != nil {
			t.Fatal(err)
		}
		alice, _ := f.store.GetUserByUsername(ctx, "alice")
		if err := f.store.SetPasswordHash(ctx, alice.ID, "$argon2id$changed-by-user"); err != nil {
			t.Fatal(err)
		}
		st.Users[0].Email = "alice@corp.example.com"
		if err := f.dir.ApplyStatic(ctx, st); err != nil {
			t.Fatalf("second apply: %v", err)
		}
		alice, _ = f.store.GetUserByUsername(ctx, "alice")
		if alice.PasswordHash != "$argon2id$changed-by-user" || alice.Email != "alice@corp.example.com" {
			t.Fatalf("after re-apply: hash %q, email %q", alice.PasswordHash, alice.Email)
		}
		if def, err := f.dir.DefaultPolicy(ctx); err != nil || def != "relaxed" {
			t.Fatalf("DefaultPolicy = %q, %v", def, err)
		}
		if err := f.dir.VerifyClientSecret(ctx, "app", "s3cret-s3cret-s3cret"); err != nil {
			t.Fatalf("configured secret: %v", err)
		}
		ps, _ := f.dir.ListPolicies(ctx)
		if len(ps) != 2 || ps[1].Name != "strict" || ps[1].MFAMaxAge != 12*time.Hour || len(ps[0].Methods) != 3 {
			t.Fatalf("policies = %+v", ps)
		}
		st.Clients[0].RedirectURIs = []string{"http://example.com/cb"}
		err := f.dir.ApplyStatic(ctx, st)
		if err == nil || !strings.Contains(err.Error(), "clients[0]: redirect_uris[0]") {
			t.Fatalf("bad client: %v", err)
		}
		st.Clients[0].RedirectURIs = []string{"http://127.0.0.1:9999/callback"}
		st.Groups[0].Policy = "missing"
		if err := f.dir.ApplyStatic(ctx, st); err == nil || !strings.Contains(err.Error(), "groups[0]: policy") {
			t.Fatalf("bad group: %v", err)
		}
		var managed *directory.ManagedError
		if err := f.dir.SetDefaultPolicy(ctx, idp.ActorCLI, "missing"); !errors.As(err, &managed) {
			t.Fatalf("the file's default set with the CLI: %v", err)
		}
	})
}

func TestSearchUsersBoundsTheQuery(t *testing.T) {
	f := newFixture(t, storagetest.NewSQLite, fastParams)
	if _, err := f.dir.SearchUsers(t.Context(), strings.Repeat("a", directory.MaxSearchLength), "", 10); err != nil {
		t.Fatalf("a query of the longest length: %v", err)
	}
	if _, err := f.dir.SearchUsers(t.Context(), strings.Repeat("a", directory.MaxSearchLength+1), "", 10); inputField(err) != "q" {
		t.Fatalf("a query one byte too long: %v", err)
	}
}
