package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// conformanceTest is one case of the suite.
type conformanceTest struct {
	name string
	run  func(t *testing.T, newStore Factory)
}

// Run is the storage conformance suite. Every database Twofold supports
// passes it; every storage method joins it. Each area of the schema keeps
// its cases in its own file (suite_*.go).
func Run(t *testing.T, newStore Factory) {
	tests := slices.Concat(directoryTests(), sourceTests(), providerTests(), signingKeyTests(), mfaTests(), deviceTests(), deviceGrantTests(), dpopTests(), authRequestTests(), adminTests(), channelTests(), verifyTests(), signInCodeTests())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore) })
	}
}

func directoryTests() []conformanceTest {
	return []conformanceTest{
		{"users are created, found by id and by username in any case", testUserCRUD},
		{"a username that differs only in case is a conflict", testUsernameConflict},
		{"a user in an unknown group is refused", testUserUnknownGroup},
		{"users are listed by username, page by page", testListUsers},
		{"updating a user replaces profile and groups", testUpdateUser},
		{"a rehash never overwrites a password changed meanwhile", testReplacePasswordHash},
		{"missing users are not found", testUserNotFound},
		{"policies and groups are upserted and deleting a policy detaches it", testPoliciesAndGroups},
		{"clients are created, upserted and listed", testClients},
		{"a client change made through the store is seen at once despite the client cache", testClientCacheFollowsWrites},
		{"settings are stored and overwritten", testSettings},
		{"audit events are listed newest first with filters", testAudit},
		{"a setup token is single-use and expires", testSetupToken},
		{"setup creates the first account only once", testCompleteSetup},
		{"of 32 concurrent consumers of one token exactly one wins", testConcurrentConsume},
		{"timestamps round-trip to the microsecond", testTimestamps},
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func ptr(s string) *string { return &s }

func newUser(id, username string, groups ...string) *storage.User {
	return &storage.User{ID: id, Username: username, Email: username + "@example.com", PasswordHash: "$argon2id$x", Groups: groups}
}

func testUserCRUD(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.UpsertGroup(ctx(t), &storage.Group{Name: "staff"}))
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "Alice", "staff")))

	got, err := s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if got.Username != "Alice" || got.UsernameKey != "alice" || got.Email != "Alice@example.com" || !slices.Equal(got.Groups, []string{"staff"}) {
		t.Fatalf("GetUser = %+v", got)
	}
	if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Fatalf("timestamps not set: %+v", got)
	}
	for _, name := range []string{"alice", "ALICE", " Alice "} {
		byName, err := s.GetUserByUsername(ctx(t), name)
		mustNil(t, err)
		if byName.ID != "u1" {
			t.Fatalf("GetUserByUsername(%q) = %s", name, byName.ID)
		}
	}
	n, err := s.CountUsers(ctx(t))
	mustNil(t, err)
	if n != 1 {
		t.Fatalf("CountUsers = %d", n)
	}
	mustNil(t, s.SetUserDisabled(ctx(t), "u1", true))
	got, err = s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if !got.Disabled {
		t.Fatal("user not disabled")
	}
	mustNil(t, s.SetPasswordHash(ctx(t), "u1", "$argon2id$new"))
	got, err = s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if got.PasswordHash != "$argon2id$new" || got.PasswordChangedAt == nil {
		t.Fatalf("password not changed: %+v", got)
	}
	mustNil(t, s.DeleteUser(ctx(t), "u1"))
	_, err = s.GetUser(ctx(t), "u1")
	mustIs(t, err, storage.ErrNotFound)
	mustIs(t, s.DeleteUser(ctx(t), "u1"), storage.ErrNotFound)
}

func testUsernameConflict(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "bob")))
	mustIs(t, s.CreateUser(ctx(t), newUser("u2", "BOB")), storage.ErrConflict)
	mustIs(t, s.CreateUser(ctx(t), newUser("u1", "carol")), storage.ErrConflict)
	n, err := s.CountUsers(ctx(t))
	mustNil(t, err)
	if n != 1 {
		t.Fatalf("CountUsers = %d after conflicts, want 1", n)
	}
}

func testUserUnknownGroup(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustIs(t, s.CreateUser(ctx(t), newUser("u1", "dave", "nope")), storage.ErrReference)
	// The transaction rolled back: no half-created user.
	_, err := s.GetUser(ctx(t), "u1")
	mustIs(t, err, storage.ErrNotFound)
}

func testListUsers(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.UpsertGroup(ctx(t), &storage.Group{Name: "g"}))
	for i, name := range []string{"erin", "Carol", "bob", "dave", "alice"} {
		mustNil(t, s.CreateUser(ctx(t), newUser(fmt.Sprint("u", i), name, "g")))
	}
	var all []string
	after := ""
	for {
		page, err := s.ListUsers(ctx(t), after, 2)
		mustNil(t, err)
		if len(page) == 0 {
			break
		}
		for _, u := range page {
			if !slices.Equal(u.Groups, []string{"g"}) {
				t.Fatalf("user %s groups = %v", u.Username, u.Groups)
			}
			all = append(all, u.Username)
		}
		after = page[len(page)-1].UsernameKey
	}
	if want := []string{"alice", "bob", "Carol", "dave", "erin"}; !slices.Equal(all, want) {
		t.Fatalf("ListUsers pages = %v, want %v", all, want)
	}
}

func testUpdateUser(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.UpsertGroup(ctx(t), &storage.Group{Name: "a"}))
	mustNil(t, s.UpsertGroup(ctx(t), &storage.Group{Name: "b"}))
	u := newUser("u1", "frank", "a")
	mustNil(t, s.CreateUser(ctx(t), u))
	u.Email, u.Admin, u.Groups = "f@example.org", true, []string{"b", "a"}
	mustNil(t, s.UpdateUser(ctx(t), u))
	got, err := s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if got.Email != "f@example.org" || !got.Admin || !slices.Equal(got.Groups, []string{"a", "b"}) || got.PasswordHash != "$argon2id$x" {
		t.Fatalf("after update: %+v", got)
	}
	u.Groups = []string{"missing"}
	mustIs(t, s.UpdateUser(ctx(t), u), storage.ErrReference)
	got, err = s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if !slices.Equal(got.Groups, []string{"a", "b"}) {
		t.Fatalf("failed update changed groups to %v", got.Groups)
	}
	mustIs(t, s.UpdateUser(ctx(t), newUser("nobody", "nobody")), storage.ErrNotFound)
}

func testReplacePasswordHash(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "gina")))
	mustNil(t, s.ReplacePasswordHash(ctx(t), "u1", "$argon2id$x", "$argon2id$rehashed"))
	mustIs(t, s.ReplacePasswordHash(ctx(t), "u1", "$argon2id$x", "$argon2id$stale"), storage.ErrConflict)
	got, err := s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if got.PasswordHash != "$argon2id$rehashed" {
		t.Fatalf("hash = %q", got.PasswordHash)
	}
}

func testUserNotFound(t *testing.T, newStore Factory) {
	s := newStore(t)
	_, err := s.GetUser(ctx(t), "nope")
	mustIs(t, err, storage.ErrNotFound)
	_, err = s.GetUserByUsername(ctx(t), "nope")
	mustIs(t, err, storage.ErrNotFound)
	mustIs(t, s.SetUserDisabled(ctx(t), "nope", true), storage.ErrNotFound)
	mustIs(t, s.SetPasswordHash(ctx(t), "nope", "x"), storage.ErrNotFound)
}

func testPoliciesAndGroups(t *testing.T, newStore Factory) {
	s := newStore(t)
	p := &storage.Policy{Name: "strict", RequireMFA: "always", Methods: []string{"totp", "webauthn"}, MFAMaxAgeSeconds: 43200, Enrollment: "required", MinLevel: "urn:twofold:acr:phr"}
	mustNil(t, s.UpsertPolicy(ctx(t), p))
	got, err := s.GetPolicy(ctx(t), "strict")
	mustNil(t, err)
	if got.RequireMFA != "always" || !slices.Equal(got.Methods, []string{"totp", "webauthn"}) || got.MFAMaxAgeSeconds != 43200 || got.MinLevel != "urn:twofold:acr:phr" {
		t.Fatalf("GetPolicy = %+v", got)
	}
	created := got.CreatedAt
	p.Methods, p.RequireMFA = []string{"webauthn"}, "on_request"
	mustNil(t, s.UpsertPolicy(ctx(t), p))
	got, err = s.GetPolicy(ctx(t), "strict")
	mustNil(t, err)
	if got.RequireMFA != "on_request" || !slices.Equal(got.Methods, []string{"webauthn"}) || !got.CreatedAt.Equal(created) {
		t.Fatalf("upsert did not replace (or moved created_at): %+v", got)
	}
	bad := &storage.Policy{Name: "bad", RequireMFA: "sometimes", Enrollment: "required"}
	if err := s.UpsertPolicy(ctx(t), bad); err == nil {
		t.Fatal("a policy with an invalid require_mfa was stored")
	}

	mustNil(t, s.UpsertGroup(ctx(t), &storage.Group{Name: "staff", Policy: ptr("strict")}))
	mustIs(t, s.UpsertGroup(ctx(t), &storage.Group{Name: "x", Policy: ptr("missing")}), storage.ErrReference)
	g, err := s.GetGroup(ctx(t), "staff")
	mustNil(t, err)
	if g.Policy == nil || *g.Policy != "strict" {
		t.Fatalf("group policy = %v", g.Policy)
	}
	mustNil(t, s.UpsertPolicy(ctx(t), &storage.Policy{Name: "a-first", RequireMFA: "never", Enrollment: "optional"}))
	ps, err := s.ListPolicies(ctx(t))
	mustNil(t, err)
	if len(ps) != 2 || ps[0].Name != "a-first" || ps[1].Name != "strict" {
		t.Fatalf("ListPolicies = %+v", ps)
	}
	mustNil(t, s.DeletePolicy(ctx(t), "strict"))
	g, err = s.GetGroup(ctx(t), "staff")
	mustNil(t, err)
	if g.Policy != nil {
		t.Fatalf("group still points at a deleted policy: %v", *g.Policy)
	}
	mustIs(t, s.DeletePolicy(ctx(t), "strict"), storage.ErrNotFound)
	gs, err := s.ListGroups(ctx(t))
	mustNil(t, err)
	if len(gs) != 1 {
		t.Fatalf("ListGroups = %+v", gs)
	}
	mustNil(t, s.DeleteGroup(ctx(t), "staff"))
	_, err = s.GetGroup(ctx(t), "staff")
	mustIs(t, err, storage.ErrNotFound)
}

func testClients(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.UpsertPolicy(ctx(t), &storage.Policy{Name: "strict", RequireMFA: "always", Enrollment: "required"}))
	c := &storage.Client{
		ID: "app", Name: "App", SecretHash: "hmac-sha256$k$v",
		RedirectURIs:           []string{"http://127.0.0.1:9999/callback"},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1:9999/"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		SkipConsent:            true, Policy: ptr("strict"),
	}
	mustNil(t, s.CreateClient(ctx(t), c))
	mustIs(t, s.CreateClient(ctx(t), &storage.Client{ID: "app", Name: "again"}), storage.ErrConflict)
	got, err := s.GetClient(ctx(t), "app")
	mustNil(t, err)
	if got.Name != "App" || !slices.Equal(got.RedirectURIs, c.RedirectURIs) || !slices.Equal(got.GrantTypes, c.GrantTypes) ||
		!got.SkipConsent || got.Policy == nil || *got.Policy != "strict" || got.SecretHash != c.SecretHash {
		t.Fatalf("GetClient = %+v", got)
	}
	c.Name, c.RedirectURIs, c.Policy = "App 2", []string{"https://app.example.com/cb"}, nil
	mustNil(t, s.UpsertClient(ctx(t), c))
	mustNil(t, s.UpsertClient(ctx(t), &storage.Client{ID: "public", Name: "Public", GrantTypes: []string{"authorization_code"}}))
	cs, err := s.ListClients(ctx(t))
	mustNil(t, err)
	if len(cs) != 2 || cs[0].Name != "App 2" || cs[0].Policy != nil || !slices.Equal(cs[0].RedirectURIs, []string{"https://app.example.com/cb"}) || cs[1].SecretHash != "" {
		t.Fatalf("ListClients = %+v", cs)
	}
	mustIs(t, s.UpsertClient(ctx(t), &storage.Client{ID: "x", Name: "x", Policy: ptr("missing")}), storage.ErrReference)
	mustNil(t, s.DeleteClient(ctx(t), "public"))
	_, err = s.GetClient(ctx(t), "public")
	mustIs(t, err, storage.ErrNotFound)
}

func testClientCacheFollowsWrites(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.UpsertPolicy(ctx(t), &storage.Policy{Name: "strict", RequireMFA: "always", Enrollment: "required"}))
	c := &storage.Client{ID: "app", Name: "App", RedirectURIs: []string{"http://127.0.0.1:9999/cb"}, Policy: ptr("strict")}
	mustNil(t, s.CreateClient(ctx(t), c))
	got, err := s.GetClient(ctx(t), "app") // now cached
	mustNil(t, err)
	got.RedirectURIs[0], got.Name = "https://evil.example/cb", "mutated" // a caller's copy is its own
	again, err := s.GetClient(ctx(t), "app")
	mustNil(t, err)
	if again.RedirectURIs[0] != "http://127.0.0.1:9999/cb" || again.Name != "App" {
		t.Fatalf("a caller's change leaked into the cache: %+v", again)
	}
	c.Name = "App 2"
	mustNil(t, s.UpsertClient(ctx(t), c))
	if got, _ := s.GetClient(ctx(t), "app"); got == nil || got.Name != "App 2" {
		t.Fatalf("after UpsertClient, GetClient = %+v", got)
	}
	mustNil(t, s.DeletePolicy(ctx(t), "strict"))
	if got, _ := s.GetClient(ctx(t), "app"); got == nil || got.Policy != nil {
		t.Fatalf("after DeletePolicy, the client still names it: %+v", got)
	}
	mustNil(t, s.SetClientDisabled(ctx(t), "app", true))
	_, err = s.GetClient(ctx(t), "app")
	mustIs(t, err, storage.ErrNotFound)
	mustNil(t, s.SetClientDisabled(ctx(t), "app", false))
	mustNil(t, s.InTx(ctx(t), func(tx *storage.Store) error {
		c.Name, c.Policy = "App 3", nil
		return tx.UpsertClient(ctx(t), c)
	}))
	if got, _ := s.GetClient(ctx(t), "app"); got == nil || got.Name != "App 3" {
		t.Fatalf("after a transaction, GetClient = %+v", got)
	}
	mustNil(t, s.DeleteClient(ctx(t), "app"))
	_, err = s.GetClient(ctx(t), "app")
	mustIs(t, err, storage.ErrNotFound)
}

func testSettings(t *testing.T, newStore Factory) {
	s := newStore(t)
	_, err := s.GetSetting(ctx(t), storage.SettingDefaultPolicy)
	mustIs(t, err, storage.ErrNotFound)
	mustNil(t, s.SetSetting(ctx(t), storage.SettingDefaultPolicy, "relaxed"))
	mustNil(t, s.SetSetting(ctx(t), storage.SettingDefaultPolicy, "strict"))
	v, err := s.GetSetting(ctx(t), storage.SettingDefaultPolicy)
	mustNil(t, err)
	if v != "strict" {
		t.Fatalf("setting = %q", v)
	}
}

func testAudit(t *testing.T, newStore Factory) {
	s := newStore(t)
	for i := range 5 {
		target := "u1"
		if i%2 == 1 {
			target = "u2"
		}
		mustNil(t, s.AppendAudit(ctx(t), &storage.AuditEvent{
			Actor: "cli", Action: "user.created", Target: target, IP: "127.0.0.1", RequestID: "r",
			Details: map[string]any{"n": i},
		}))
	}
	mustNil(t, s.AppendAudit(ctx(t), &storage.AuditEvent{Actor: "cli", Action: "user.disabled", Target: "u1"}))
	all, err := s.ListAudit(ctx(t), storage.AuditFilter{})
	mustNil(t, err)
	if len(all) != 6 || all[0].Action != "user.disabled" || all[0].At.IsZero() {
		t.Fatalf("ListAudit = %+v", all)
	}
	if n, ok := all[1].Details["n"].(float64); !ok || n != 4 {
		t.Fatalf("details = %#v", all[1].Details)
	}
	u1, err := s.ListAudit(ctx(t), storage.AuditFilter{Target: "u1", Action: "user.created"})
	mustNil(t, err)
	if len(u1) != 3 {
		t.Fatalf("filtered = %d events", len(u1))
	}
	page, err := s.ListAudit(ctx(t), storage.AuditFilter{BeforeID: all[1].ID, Limit: 2})
	mustNil(t, err)
	if len(page) != 2 || page[0].ID != all[2].ID {
		t.Fatalf("page = %+v", page)
	}
}

func testSetupToken(t *testing.T, newStore Factory) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newStore(t, storage.WithNow(func() time.Time { return now }))
	mustNil(t, s.CreateSetupToken(ctx(t), "live", now.Add(time.Hour)))
	mustNil(t, s.CreateSetupToken(ctx(t), "stale", now.Add(-time.Second)))
	mustIs(t, s.CreateSetupToken(ctx(t), "live", now.Add(time.Hour)), storage.ErrConflict)
	mustNil(t, s.CheckSetupToken(ctx(t), "live"))
	mustIs(t, s.CheckSetupToken(ctx(t), "stale"), storage.ErrNotFound)
	mustIs(t, s.CheckSetupToken(ctx(t), "unknown"), storage.ErrNotFound)
	mustIs(t, s.ConsumeSetupToken(ctx(t), "stale"), storage.ErrNotFound)
	mustNil(t, s.ConsumeSetupToken(ctx(t), "live"))
	mustIs(t, s.ConsumeSetupToken(ctx(t), "live"), storage.ErrNotFound)
	mustIs(t, s.CheckSetupToken(ctx(t), "live"), storage.ErrNotFound)
}

func testCompleteSetup(t *testing.T, newStore Factory) {
	s := newStore(t)
	exp := time.Now().Add(time.Hour)
	mustNil(t, s.CreateSetupToken(ctx(t), "t1", exp))
	mustNil(t, s.CreateSetupToken(ctx(t), "t2", exp))
	admin := newUser("u1", "root")
	admin.Admin = true
	mustNil(t, s.CompleteSetup(ctx(t), "t1", admin))
	got, err := s.GetUserByUsername(ctx(t), "ROOT")
	mustNil(t, err)
	if !got.Admin {
		t.Fatal("setup user is not an admin")
	}
	mustIs(t, s.CompleteSetup(ctx(t), "t1", newUser("u2", "again")), storage.ErrNotFound)
	mustIs(t, s.CompleteSetup(ctx(t), "t2", newUser("u3", "second")), storage.ErrConflict)
	n, err := s.CountUsers(ctx(t))
	mustNil(t, err)
	if n != 1 {
		t.Fatalf("%d users after repeated setup, want 1", n)
	}
	// The failed attempt rolled back: t2 is still unused (but useless).
	mustNil(t, s.CheckSetupToken(ctx(t), "t2"))
}

func testConcurrentConsume(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.CreateSetupToken(ctx(t), "race", time.Now().Add(time.Hour)))
	const n = 32
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.ConsumeSetupToken(ctx(t), "race")
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrNotFound):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d consumers won, want exactly 1", wins, n)
	}
}

func testTimestamps(t *testing.T, newStore Factory) {
	at := time.Date(2026, 11, 26, 12, 30, 45, 123456000, time.FixedZone("CET", 3600))
	s := newStore(t, storage.WithNow(func() time.Time { return at }))
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "tim")))
	got, err := s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if !got.CreatedAt.Equal(at) {
		t.Fatalf("CreatedAt = %v, want %v", got.CreatedAt, at)
	}
}
