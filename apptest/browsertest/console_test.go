package browsertest

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

const rootPassword = "root correct horse battery"

// TestAdminConsole drives the console's main tasks as an administrator
// would: sign in (the console's policy makes root enroll a passkey first),
// create a policy, attach it to a group, preview an edit and save it,
// simulate a sign-in, reset a user's MFA and read the audit entry.
func TestAdminConsole(t *testing.T) {
	t.Parallel()
	_, tb := newBrowser(t)
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: directory.Static{
		Groups: []directory.Group{{Name: directory.DefaultAdminGroup}},
		Clients: []directory.ClientSpec{{
			ID: appClientID, Name: appName, Secret: appSecret, RedirectURIs: []string{"http://127.0.0.1:9/callback"}, SkipConsent: true,
		}},
		Users: []directory.NewUser{
			{Username: "root", Email: "root@example.com", Password: rootPassword, Groups: []string{directory.DefaultAdminGroup}},
		},
	}})
	ctx, actor := t.Context(), idp.Actor{ID: "test"}
	if _, err := s.Dir.CreateGroup(ctx, actor, directory.Group{Name: "engineering"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := s.Dir.CreateUserRecord(ctx, actor, directory.NewUser{Username: u, Email: u + "@example.com", Password: password, Groups: []string{"engineering"}}); err != nil {
			t.Fatal(err)
		}
	}

	tb.addAuthenticator(platformPasskey)
	tb.do("open the console", chromedp.Navigate(s.URL+"/admin/"))
	tb.typePassword("root", rootPassword)
	tb.chooseEnrollment("webauthn")
	tb.registerWebAuthn("Admin laptop")
	tb.saveBackupCodes()
	tb.waitPage("the console", `nav[aria-label="Admin console"]`)
	tb.shot("console-home")

	// Create a policy.
	tb.do("open policies", chromedp.Navigate(s.URL+"/admin/policies"))
	tb.waitPage("the policies", "table#policies")
	tb.shot("console-policies")
	tb.follow("new policy", "a#new-policy")
	tb.waitPage("the policy form", "form#policy-form")
	tb.do("fill in the policy",
		chromedp.SendKeys(chromedp.ID("name"), "engineering-mfa"),
		chromedp.SendKeys(chromedp.ID("mfa_max_age"), "12h"),
	)
	tb.shot("console-policy-new")
	tb.follow("create", "button#policy-save")
	tb.waitPage("the created policy", "#console-notice")

	// Attach it to a group.
	tb.do("choose the group", chromedp.SetValue(chromedp.ID("attach-group-select"), "engineering"))
	tb.follow("attach", `#attach-group button[type="submit"]`)
	tb.waitPage("the attached policy", "#impact-summary")
	if got := get(tb, "read the impact", text("impact-summary")); !strings.Contains(got, "2 users in 1 group") {
		t.Fatalf("after attaching to engineering: %q", got)
	}

	// Preview an edit: what changes and whom it affects, before saving.
	tb.do("edit", chromedp.Clear(chromedp.ID("mfa_max_age")), chromedp.SendKeys(chromedp.ID("mfa_max_age"), "1h"))
	tb.follow("preview", "button#policy-preview-button")
	tb.waitPage("the preview", "table#policy-changes")
	tb.shot("console-policy-preview")
	if got := get(tb, "read the preview", text("policy-preview")); !strings.Contains(got, "2 users in 1 group are affected") || !strings.Contains(got, "mfa_max_age") {
		t.Fatalf("the preview: %q", got)
	}
	tb.follow("save", "button#policy-save")
	tb.waitPage("the saved policy", "#console-notice")
	if rec, err := s.Dir.Policy(ctx, "engineering-mfa"); err != nil || rec.Policy.MFAMaxAge.String() != "1h0m0s" {
		t.Fatalf("saved policy: %+v %v", rec.Policy, err)
	}

	// Simulate alice's next sign-in to the app: the policy now applies to her, and she has no second factor yet.
	tb.do("open the simulator", chromedp.Navigate(s.URL+"/admin/simulate"))
	tb.waitPage("the simulator", "form#simulate")
	tb.do("describe the sign-in",
		chromedp.SendKeys(chromedp.ID("sim-user"), "alice"),
		chromedp.SetValue(chromedp.ID("sim-client"), appClientID),
	)
	tb.follow("simulate", "button#simulate-run")
	tb.waitPage("the simulation", "#simulation-result")
	tb.shot("console-simulation")
	outcome := get(tb, "read the outcome", chromedp.AttributeValue(chromedp.ID("simulation-result"), "data-outcome"))
	if outcome.Value != "enrollment" {
		t.Fatalf("simulated outcome %q, want enrollment (a policy requires MFA; alice has no factor)", outcome.Value)
	}
	if got := get(tb, "read the result", text("simulation-result")); !strings.Contains(got, "engineering-mfa") {
		t.Fatalf("the simulation does not name the policy that applies:\n%s", got)
	}

	// Reset bob's second factors, with a reason.
	tb.do("search users", chromedp.Navigate(s.URL+"/admin/users?q=bob"))
	tb.waitPage("the users", "table#users")
	tb.shot("console-users")
	tb.follow("open bob", `table#users a[href^="/admin/users/"]`)
	tb.waitPage("bob's page", "form#user-reset-mfa")
	tb.shot("console-user")
	tb.do("give the reason", chromedp.SendKeys(chromedp.ID("reset-reason"), "lost his phone, ticket 4711"))
	tb.follow("reset", `#user-reset-mfa button[type="submit"]`)
	tb.waitPage("the reset", "#console-notice")
	tb.shot("console-user-reset")

	// The audit log has the entry, with the reason.
	tb.do("open the audit log", chromedp.Navigate(s.URL+"/admin/audit?user=bob&action=mfa.reset"))
	tb.waitPage("the audit log", "table#audit")
	tb.shot("console-audit")
	if got := get(tb, "read the audit log", text("audit")); !strings.Contains(got, "mfa.reset") || !strings.Contains(got, "ticket 4711") || !strings.Contains(got, "root") {
		t.Fatalf("the audit log lacks the reset:\n%s", got)
	}
	tb.do("open the keys", chromedp.Navigate(s.URL+"/admin/keys"))
	tb.waitPage("the keys", "table#keys")
	tb.shot("console-keys")
	tb.do("open the clients", chromedp.Navigate(s.URL+"/admin/clients"))
	tb.waitPage("the clients", "table#clients")
	tb.shot("console-clients")
	tb.do("open the groups", chromedp.Navigate(s.URL+"/admin/groups"))
	tb.waitPage("the groups", "table#groups")
	tb.shot("console-groups")
}
