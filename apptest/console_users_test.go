package apptest_test

import (
	"encoding/base32"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/factors"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage"
)

// manageInDatabase makes a user of the configuration file one managed in
// the database, as if an administrator had created it in the console: its
// own account's forms are then shown (the fixture's root is in the YAML).
func manageInDatabase(t *testing.T, s *apptest.Server, id string) {
	t.Helper()
	u, err := s.Store.GetUser(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	u.ManagedBy = storage.ManagedByDatabase
	if err := s.Store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
}

// handPost posts fields to path as a hand-made form would, with the CSRF
// token and "back" of form on p.
func handPost(t *testing.T, s *apptest.Server, b *apptest.Browser, p *apptest.Page, form, path string, fields map[string]string) *apptest.Page {
	t.Helper()
	_, v := p.Form(t, form)
	all := map[string]string{"csrf_token": v.Get("csrf_token"), "back": v.Get("back")}
	for k, x := range fields {
		all[k] = x
	}
	return b.PostForm(s.URL+path, all)
}

// oneAudit is the only event of action about target.
func oneAudit(t *testing.T, s *apptest.Server, target, action string) directory.AuditEntry {
	t.Helper()
	es, _, err := s.Dir.AuditPage(t.Context(), directory.AuditQuery{Party: target, Actions: []string{action}, Limit: 10})
	if err != nil || len(es) != 1 {
		t.Fatalf("%s events about %s: %+v, %v", action, target, es, err)
	}
	return es[0]
}

func signedIn(t *testing.T, s *apptest.Server, b *apptest.Browser) bool {
	t.Helper()
	p := b.Get(s.URL + "/account")
	return p.Status == http.StatusOK && p.URL.Path == "/account"
}

var sessionEndRE = regexp.MustCompile(`id="(user-session-end-[^"]+)"`)

func TestConsoleUsers(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := t.Context()
		b, rootSecret := consoleSignIn(t, s)

		// Search: part of the username or email.
		p := b.Get(s.URL + "/admin/users?q=ALI")
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="users"`) || !strings.Contains(p.Body, ">alice</a>") || strings.Contains(p.Body, ">bob</a>") {
			t.Fatalf("searching ALI: %d\n%s", p.Status, p.Body)
		}
		if action, _ := p.Form(t, "user-search"); action != "/admin/users" {
			t.Fatalf("the search form goes to %q", action)
		}
		p = b.Get(s.URL + "/admin/users?q=bob%40example")
		if !strings.Contains(p.Body, ">bob</a>") || strings.Contains(p.Body, ">alice</a>") {
			t.Fatalf("searching by email:\n%s", p.Body)
		}
		if p = b.Get(s.URL + "/admin/users?q=" + strings.Repeat("x", 300)); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `id="q-error"`) {
			t.Fatalf("a too long search: %d\n%s", p.Status, p.Body)
		}

		// Create: every bad field beside itself, nothing written; then a good one.
		p = b.Get(s.URL + "/admin/users/new")
		r := b.Submit(p, "user-create", map[string]string{"username": "carol", "email": "not an address", "password": "short", "groups": "staff"})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="email-error"`) || !strings.Contains(r.Body, `id="password-error"`) ||
			!strings.Contains(r.Body, `value="carol"`) || !strings.Contains(r.Body, `role="alert"`) || strings.Contains(r.Body, `value="short"`) {
			t.Fatalf("a bad new user: %d\n%s", r.Status, r.Body)
		}
		if _, err := s.Dir.GetUserByUsername(ctx, "carol"); err == nil {
			t.Fatal("a refused user was created")
		}
		r = b.Submit(r, "user-create", map[string]string{"email": "carol@example.com", "password": "carol's long passphrase", "groups": "staff"})
		if r.Status != http.StatusOK || !strings.HasPrefix(r.URL.Path, "/admin/users/") || !strings.Contains(r.Body, `id="console-notice"`) {
			t.Fatalf("creating carol: %d at %s\n%s", r.Status, r.URL, r.Body)
		}
		carol, err := s.Dir.GetUserByUsername(ctx, "carol")
		if err != nil || carol.Email != "carol@example.com" || len(carol.Groups) != 1 || carol.Groups[0] != "staff" || carol.ManagedBy != directory.ManagedByDatabase {
			t.Fatalf("carol: %+v, %v", carol, err)
		}

		// Disable, enable.
		carolPage := r
		r = b.Submit(r, "user-disable", nil)
		if u, _ := s.Dir.UserByID(ctx, carol.ID); r.Status != http.StatusOK || !u.Disabled || !strings.Contains(r.Body, `id="user-enable"`) {
			t.Fatalf("disabling carol: %d, disabled %v\n%s", r.Status, u.Disabled, r.Body)
		}
		r = b.Submit(r, "user-enable", nil)
		if u, _ := s.Dir.UserByID(ctx, carol.ID); r.Status != http.StatusOK || u.Disabled {
			t.Fatalf("enabling carol: %d, disabled %v", r.Status, u.Disabled)
		}

		// Groups: replaced; none; a form based on an older version is refused (409) with the current one shown.
		if _, err := s.Dir.CreateGroup(ctx, idp.Actor{ID: "test"}, directory.Group{Name: "ops"}); err != nil {
			t.Fatal(err)
		}
		r = b.Get(s.URL + "/admin/users/" + carol.ID)
		saved := b.Submit(r, "user-groups", map[string]string{"groups": "ops"})
		if u, _ := s.Dir.UserByID(ctx, carol.ID); saved.Status != http.StatusOK || len(u.Groups) != 1 || u.Groups[0] != "ops" {
			t.Fatalf("carol's groups: %d %v\n%s", saved.Status, u.Groups, saved.Body)
		}
		stale := b.Submit(r, "user-groups", map[string]string{"groups": "staff"})
		if u, _ := s.Dir.UserByID(ctx, carol.ID); stale.Status != http.StatusConflict || !strings.Contains(stale.Body, `id="console-error"`) || u.Groups[0] != "ops" {
			t.Fatalf("a stale groups form: %d %v\n%s", stale.Status, u.Groups, stale.Body)
		}
		if stale = b.Submit(carolPage, "user-disable", nil); stale.Status != http.StatusConflict {
			t.Fatalf("disabling from a stale page: %d", stale.Status)
		}
		if r = b.Submit(saved, "user-groups", map[string]string{"groups": ""}); r.Status != http.StatusOK {
			t.Fatalf("no groups: %d\n%s", r.Status, r.Body)
		}
		if u, _ := s.Dir.UserByID(ctx, carol.ID); len(u.Groups) != 0 {
			t.Fatalf("carol's groups after unticking all: %v", u.Groups)
		}

		// The domain's refusals about one's own account, shown as it says them.
		root, err := s.Dir.GetUserByUsername(ctx, "root")
		if err != nil {
			t.Fatal(err)
		}
		if p = b.Get(s.URL + "/admin/users/" + root.ID); !strings.Contains(p.Body, `id="read-only-reason"`) || strings.Contains(p.Body, `id="user-disable"`) {
			t.Fatalf("root, from the configuration file, is not read-only:\n%s", p.Body)
		}
		manageInDatabase(t, s, root.ID)
		p = b.Get(s.URL + "/admin/users/" + root.ID)
		if r = b.Submit(p, "user-disable", nil); r.Status != http.StatusConflict || !strings.Contains(r.Body, "you cannot disable your own account") {
			t.Fatalf("disabling oneself: %d\n%s", r.Status, r.Body)
		}
		if r = b.Submit(p, "user-groups", map[string]string{"groups": "staff"}); r.Status != http.StatusConflict || !strings.Contains(r.Body, "you cannot remove yourself from the admin group") {
			t.Fatalf("leaving the admin group: %d\n%s", r.Status, r.Body)
		}
		// Factors: names, kinds, dates — never the secret.
		if !strings.Contains(p.Body, `id="user-factors"`) || !strings.Contains(p.Body, "<td>totp</td>") || !strings.Contains(p.Body, "10 backup codes left") {
			t.Fatalf("root's factors:\n%s", p.Body)
		}
		for _, enc := range []*base32.Encoding{base32.StdEncoding, base32.StdEncoding.WithPadding(base32.NoPadding)} {
			if strings.Contains(p.Body, enc.EncodeToString(rootSecret)) {
				t.Fatal("the TOTP secret is on the user page")
			}
		}
		if strings.Contains(p.Body, "$argon2id$") {
			t.Fatal("a hash is on the user page")
		}

		// Alice, signed in twice, with an authenticator app.
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		al1, al2 := apptest.NewBrowser(t, s), apptest.NewBrowser(t, s)
		apptest.Code(t, al1.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword))
		aliceSecret := enrollTOTPInAccount(t, s, al1)
		apptest.Code(t, al2.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword))
		alice, err := s.Dir.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		p = b.Get(s.URL + "/admin/users/" + alice.ID)
		if !strings.Contains(p.Body, "Demo phone") || strings.Contains(p.Body, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(aliceSecret)) {
			t.Fatalf("alice's factors:\n%s", p.Body)
		}

		// End one session: exactly one of her browsers loses it; then end all.
		ends := sessionEndRE.FindAllStringSubmatch(p.Body, -1)
		if len(ends) != 2 {
			t.Fatalf("alice's sessions: %v\n%s", ends, p.Body)
		}
		p = b.Submit(p, ends[0][1], nil)
		if p.Status != http.StatusOK || len(sessionEndRE.FindAllString(p.Body, -1)) != 1 {
			t.Fatalf("ending a session: %d\n%s", p.Status, p.Body)
		}
		if in1, in2 := signedIn(t, s, al1), signedIn(t, s, al2); in1 == in2 {
			t.Fatalf("after ending one of two sessions: signed in %v and %v", in1, in2)
		}
		if p = b.Submit(p, "user-sessions-end-all", nil); p.Status != http.StatusOK || signedIn(t, s, al1) || signedIn(t, s, al2) {
			t.Fatalf("ending every session: %d", p.Status)
		}
		oneAudit(t, s, alice.ID, "session.ended_by_admin")
		// A device that is not hers (or was forgotten meanwhile): 404 beside the page, nothing else.
		if r = handPost(t, s, b, p, "user-unlock", "/admin/users/"+alice.ID+"/devices/forget", map[string]string{"device": "no-such-device"}); r.Status != http.StatusNotFound || !strings.Contains(r.Body, `role="alert"`) {
			t.Fatalf("forgetting an unknown device: %d\n%s", r.Status, r.Body)
		}

		// Unlock: the failed attempts counted against her account are forgotten.
		otpKey := factors.OTPThrottleKey(alice.ID)
		if _, err := s.Store.Attempt(ctx, otpKey, 5, time.Minute); err != nil {
			t.Fatal(err)
		}
		if r = b.Submit(p, "user-unlock", nil); r.Status != http.StatusOK {
			t.Fatalf("unlocking: %d\n%s", r.Status, r.Body)
		}
		if th, err := s.Store.GetThrottle(ctx, otpKey); err != nil || th.Count(s.Clock.Now(), time.Minute) != 0 {
			t.Fatalf("alice's code throttle after the unlock: %+v, %v", th, err)
		}

		// SECURITY-RULES: "Adding or removing a factor, regenerating codes or changing the password requires a fresh
		// proof of an existing factor" — here the administrator's own, to remove a user's: 20 minutes after root's
		// last one, the reset first asks for it, removes nothing, and comes back to the page.
		s.Clock.Advance(20 * time.Minute)
		r = b.Submit(p, "user-reset-mfa", map[string]string{"reason": "lost phone, ticket 42"})
		if fs, _ := s.Store.ListTOTP(ctx, alice.ID, true); !strings.Contains(r.Body, `id="mfa-totp"`) || len(fs) == 0 {
			t.Fatalf("a reset on a stale second factor: %d at %s, alice's apps %d", r.Status, r.URL, len(fs))
		}
		if p = b.Submit(r, "mfa-totp", map[string]string{"code": totp.Code(rootSecret, totp.Step(s.Clock.Now()))}); p.URL.Path != "/admin/users/"+alice.ID {
			t.Fatalf("after stepping up: %d at %s", p.Status, p.URL)
		}

		// SECURITY-RULES: "CSRF token on every state-changing POST; missing or wrong → 403, nothing changes"
		_, v := p.Form(t, "user-reset-mfa")
		v.Set("reason", "no token")
		v.Del("csrf_token")
		resp, err := b.Client.PostForm(s.URL+"/admin/users/"+alice.ID+"/reset-mfa", v)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if fs, _ := s.Store.ListTOTP(ctx, alice.ID, true); resp.StatusCode != http.StatusForbidden || len(fs) == 0 {
			t.Fatalf("a reset without CSRF token: %d, alice's apps %d", resp.StatusCode, len(fs))
		}

		// Reset MFA: the reason is required (beside its own form), then kept in the audit log.
		r = b.Submit(p, "user-reset-mfa", map[string]string{"reason": "  "})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="reset-reason-error"`) || strings.Contains(r.Body, `id="reenroll-reason-error"`) {
			t.Fatalf("a reset without a reason: %d\n%s", r.Status, r.Body)
		}
		if fs, _ := s.Store.ListTOTP(ctx, alice.ID, true); len(fs) == 0 {
			t.Fatal("a reset without a reason removed the factors")
		}
		r = b.Submit(p, "user-reset-mfa", map[string]string{"reason": "lost phone, ticket 42"})
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="console-notice"`) || !strings.Contains(r.Body, "tell them yourself") {
			t.Fatalf("resetting alice's MFA: %d\n%s", r.Status, r.Body)
		}
		if fs, _, err := s.App.Account.UserFactors(ctx, alice.ID); err != nil || len(fs) != 0 {
			t.Fatalf("alice's factors after the reset: %v, %v", fs, err)
		}
		ev := oneAudit(t, s, alice.ID, "mfa.reset")
		if ev.Details["reason"] != "lost phone, ticket 42" || ev.Actor != root.ID {
			t.Fatalf("the reset's audit event: %+v", ev)
		}

		// Force re-enrollment: the same, and its reason beside its own form.
		r = b.Submit(r, "user-force-reenrollment", map[string]string{"reason": ""})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="reenroll-reason-error"`) || strings.Contains(r.Body, `id="reset-reason-error"`) {
			t.Fatalf("re-enrollment without a reason: %d\n%s", r.Status, r.Body)
		}
		if r = b.Submit(r, "user-force-reenrollment", map[string]string{"reason": "suspected compromise"}); r.Status != http.StatusOK {
			t.Fatalf("forcing re-enrollment: %d\n%s", r.Status, r.Body)
		}
		if ev := oneAudit(t, s, alice.ID, "mfa.reenrollment_forced"); ev.Details["reason"] != "suspected compromise" || ev.Actor != root.ID {
			t.Fatalf("the re-enrollment's audit event: %+v", ev)
		}
	})
}

func TestConsoleGroups(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := t.Context()
		b, _ := consoleSignIn(t, s)
		p := b.Get(s.URL + "/admin/groups")
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="groups"`) || !strings.Contains(p.Body, `href="/admin/groups/staff"`) {
			t.Fatalf("the groups: %d\n%s", p.Status, p.Body)
		}

		// Create: a bad name, a policy that does not exist, then a good one.
		r := b.Submit(p, "group-create", map[string]string{"name": "Bad Name", "policy": "strict"})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="name-error"`) || !strings.Contains(r.Body, `value="Bad Name"`) {
			t.Fatalf("a bad group name: %d\n%s", r.Status, r.Body)
		}
		if r = b.Submit(p, "group-create", map[string]string{"name": "ops", "policy": "nope"}); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="policy-error"`) {
			t.Fatalf("an unknown policy: %d\n%s", r.Status, r.Body)
		}
		if _, err := s.Dir.GroupByName(ctx, "ops"); err == nil {
			t.Fatal("a refused group was created")
		}
		r = b.Submit(p, "group-create", map[string]string{"name": "ops", "policy": "strict"})
		if r.Status != http.StatusOK || r.URL.Path != "/admin/groups/ops" || !strings.Contains(r.Body, `id="console-notice"`) {
			t.Fatalf("creating ops: %d at %s\n%s", r.Status, r.URL, r.Body)
		}
		if g, err := s.Dir.GroupByName(ctx, "ops"); err != nil || g.Policy != "strict" || g.ManagedBy != directory.ManagedByDatabase {
			t.Fatalf("ops: %+v, %v", g, err)
		}
		if r2 := b.Submit(p, "group-create", map[string]string{"name": "ops"}); r2.Status != http.StatusConflict || !strings.Contains(r2.Body, "already exists") {
			t.Fatalf("ops again: %d\n%s", r2.Status, r2.Body)
		}

		// Edit; a form based on an older version is refused, with the current version shown.
		saved := b.Submit(r, "group-form", map[string]string{"policy": "relaxed"})
		if g, _ := s.Dir.GroupByName(ctx, "ops"); saved.Status != http.StatusOK || g.Policy != "relaxed" {
			t.Fatalf("saving ops: %d, policy %q\n%s", saved.Status, g.Policy, saved.Body)
		}
		stale := b.Submit(r, "group-form", map[string]string{"policy": ""})
		if g, _ := s.Dir.GroupByName(ctx, "ops"); stale.Status != http.StatusConflict || !strings.Contains(stale.Body, `id="console-error"`) || g.Policy != "relaxed" ||
			!strings.Contains(stale.Body, `<option value="relaxed" selected>`) {
			t.Fatalf("a stale edit: %d, policy %q\n%s", stale.Status, g.Policy, stale.Body)
		}
		if again := b.Submit(stale, "group-form", map[string]string{"policy": ""}); again.Status != http.StatusOK {
			t.Fatalf("the edit made again on the current version: %d\n%s", again.Status, again.Body)
		}
		if g, _ := s.Dir.GroupByName(ctx, "ops"); g.Policy != "" {
			t.Fatalf("ops after detaching its policy: %q", g.Policy)
		}
		if stale = b.Submit(r, "group-delete", nil); stale.Status != http.StatusConflict {
			t.Fatalf("a stale delete: %d", stale.Status)
		}

		// A group of the configuration file is read-only, with the reason.
		if p = b.Get(s.URL + "/admin/groups/staff"); !strings.Contains(p.Body, `id="read-only-reason"`) || !strings.Contains(p.Body, "<fieldset disabled>") || strings.Contains(p.Body, `id="group-delete"`) {
			t.Fatalf("staff is not read-only:\n%s", p.Body)
		}
		// The admin group cannot be deleted, even where the database manages it.
		if err := s.Store.UpsertGroup(ctx, &storage.Group{Name: directory.DefaultAdminGroup, ManagedBy: storage.ManagedByDatabase}); err != nil {
			t.Fatal(err)
		}
		p = b.Get(s.URL + "/admin/groups/" + directory.DefaultAdminGroup)
		if r = b.Submit(p, "group-delete", nil); r.Status != http.StatusConflict || !strings.Contains(r.Body, "it cannot be deleted") {
			t.Fatalf("deleting the admin group: %d\n%s", r.Status, r.Body)
		}

		// Delete.
		p = b.Get(s.URL + "/admin/groups/ops")
		if r = b.Submit(p, "group-delete", nil); r.Status != http.StatusOK || r.URL.Path != "/admin/groups" || !strings.Contains(r.Body, `id="console-notice"`) {
			t.Fatalf("deleting ops: %d at %s\n%s", r.Status, r.URL, r.Body)
		}
		if _, err := s.Dir.GroupByName(ctx, "ops"); err == nil {
			t.Fatal("ops is still there")
		}
		oneAudit(t, s, "ops", "group.deleted")
	})
}
