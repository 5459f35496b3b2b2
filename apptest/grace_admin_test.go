package apptest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/login"
)

// An administrator sets the enrollment grace through the admin API (validated by the domain, described by the
// OpenAPI document every answer is checked against) and the console's policy form; the simulator says what a user
// without a factor is offered.
func TestTheEnrollmentGraceIsSetThroughTheAPIAndTheConsole(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		c := newAPIClient(t, s, clientToken(t, s, adminBotID, adminBotSecret).AccessToken, map[string]bool{})
		p := c.want(c.do("POST", "/policies", nil, nil, map[string]any{"name": "graced", "require_mfa": "always",
			"enrollment_grace": "168h", "enrollment_grace_sign_ins": 5}), 201).json(t)
		if p["enrollment_grace"] != "168h0m0s" || p["enrollment_grace_sign_ins"] != float64(5) {
			t.Fatalf("created: %v", p)
		}
		bad := c.want(c.do("POST", "/policies", nil, nil, map[string]any{"name": "lax", "require_mfa": "always", "enrollment": "optional",
			"enrollment_grace_sign_ins": 3}), 400).json(t)
		if f := bad["errors"].([]any)[0].(map[string]any); f["field"] != "enrollment_grace_sign_ins" || !strings.Contains(f["detail"].(string), "enrollment optional") {
			t.Fatalf("a grace with optional enrollment: %v", bad)
		}
		c.want(c.do("POST", "/policies", nil, nil, map[string]any{"name": "lax", "require_mfa": "always", "enrollment_grace": "a week"}), 400)

		// The console's form shows it and changes it; a bad number is a field error.
		b, _ := consoleSignIn(t, s)
		form := b.Get(s.URL + "/admin/policies/graced")
		if !strings.Contains(form.Body, `id="enrollment_grace" name="enrollment_grace" type="text" value="168h"`) ||
			!strings.Contains(form.Body, `name="enrollment_grace_sign_ins" type="text" inputmode="numeric" value="5"`) {
			t.Fatalf("the console's form does not show the grace:\n%s", form.Body)
		}
		r := b.Submit(form, "policy-form", map[string]string{"enrollment_grace_sign_ins": "many", "action": "save"})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="enrollment_grace_sign_ins-error"`) {
			t.Fatalf("a bad number: %d\n%s", r.Status, r.Body)
		}
		r = b.Submit(form, "policy-form", map[string]string{"enrollment_grace": "72h", "enrollment_grace_sign_ins": "", "action": "save"})
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="console-notice"`) {
			t.Fatalf("saving the grace: %d\n%s", r.Status, r.Body)
		}
		rec, err := s.Dir.Policy(t.Context(), "graced")
		if err != nil || rec.Policy.EnrollmentGrace != 72*time.Hour || rec.Policy.EnrollmentGraceSignIns != 0 {
			t.Fatalf("saved %+v, %v", rec.Policy, err)
		}

		// The simulator: the policy's grace, and what a user without a factor is offered.
		if err := s.Dir.SetDefaultPolicy(t.Context(), idp.Actor{ID: "test"}, "graced"); err != nil {
			t.Fatal(err)
		}
		res, err := s.App.Flow.Simulate(t.Context(), login.Simulation{User: "bob", ClientID: "app"})
		if err != nil {
			t.Fatal(err)
		}
		until := s.Clock.Now().Add(72 * time.Hour).UTC().Format("Monday, 2 January 2006")
		if res.Outcome != login.OutcomeEnrollment || res.EnrollLater != "until "+until || !strings.Contains(res.Summary, "which the enrollment grace lets them put off") {
			t.Fatalf("simulated: %s %q %q", res.Outcome, res.EnrollLater, res.Summary)
		}
		if len(res.Policies) != 1 || res.Policies[0].EnrollmentGrace != 72*3600 {
			t.Fatalf("effective policies: %+v", res.Policies)
		}
		sim := b.Get(s.URL + "/admin/simulate?user=bob&client=app&run=1")
		if !strings.Contains(sim.Body, "may put it off for 72h") {
			t.Fatalf("the console's simulator does not show the grace:\n%s", sim.Body)
		}
	})
}
