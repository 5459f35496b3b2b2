package apptest_test

import (
	"bytes"
	"encoding/base32"
	"encoding/csv"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage"
)

// getForm fills the GET form id on p with its hidden fields and fields, and opens it, as a browser would.
func getForm(t *testing.T, b *apptest.Browser, p *apptest.Page, id string, fields url.Values) *apptest.Page {
	t.Helper()
	tag := regexp.MustCompile(`<form\b[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindStringIndex(p.Body)
	if tag == nil || !strings.Contains(p.Body[tag[0]:tag[1]], `method="get"`) {
		t.Fatalf("no GET form#%s on %s:\n%s", id, p.URL, p.Body)
	}
	action, _ := p.Form(t, id)
	inner := p.Body[tag[1] : tag[1]+strings.Index(p.Body[tag[1]:], "</form>")]
	q := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(inner, -1) {
		q.Set(m[1], html.UnescapeString(m[2]))
	}
	for k, v := range fields {
		q[k] = v
	}
	u, err := p.URL.Parse(action)
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = q.Encode()
	return b.Get(u.String())
}

// link is the href of the element with id on p.
func link(t *testing.T, p *apptest.Page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`href="([^"]*)" id="` + regexp.QuoteMeta(id) + `"`).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no link #%s:\n%s", id, p.Body)
	}
	return html.UnescapeString(m[1])
}

// rows counts the audit table's rows of action.
func rows(p *apptest.Page, action string) int {
	return strings.Count(p.Body, `<tr data-action="`+action+`">`)
}

// consoleTime is t as a datetime-local field sends it, in UTC.
func consoleTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04") }

// opsFixture adds a group under the strict policy (always MFA) with olga, who has TOTP, and nils, who has no
// second factor.
func opsFixture(t *testing.T, s *apptest.Server) (olga string, secret []byte) {
	t.Helper()
	ctx, actor := t.Context(), idp.Actor{ID: "test"}
	if _, err := s.Dir.CreateGroup(ctx, actor, directory.Group{Name: "ops", Policy: "strict"}); err != nil {
		t.Fatal(err)
	}
	u, err := s.Dir.CreateUserRecord(ctx, actor, directory.NewUser{Username: "olga", Password: alicePassword, Groups: []string{"ops"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Dir.CreateUserRecord(ctx, actor, directory.NewUser{Username: "nils", Password: alicePassword, Groups: []string{"ops"}}); err != nil {
		t.Fatal(err)
	}
	return u.ID, enrollTOTPFor(t, s, "olga")
}

// The audit log: each step-up decision shows the rules that made it; filters by user, event and time; exports
// as CSV and JSON Lines with the same filters; a bad filter is a field error.
//
// SECURITY-RULES: "Logs never contain passwords, codes, backup codes, tokens or secrets." — the exports of
// the audit trail hold neither the password nor the TOTP secret of the user whose sign-ins they list.
func TestConsoleAuditLog(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		olga, secret := opsFixture(t, s)
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		first := s.Clock.Now()
		for range 2 {
			// Her group's policy asks for a second factor: each sign-in's decision is recorded.
			if p := apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "olga", alicePassword); !strings.Contains(p.Body, `id="mfa-totp"`) {
				t.Fatalf("olga was not asked for TOTP: %d\n%s", p.Status, p.Body)
			}
			s.Clock.Advance(10 * time.Minute)
		}
		b, _ := consoleSignIn(t, s)

		// Filtered by her username and the decisions: both, each with its explanation rule by rule.
		p := b.Get(s.URL + "/admin/audit")
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="audit"`) || !strings.Contains(p.Body, `aria-current="page">Audit log`) {
			t.Fatalf("the audit log: %d\n%s", p.Status, p.Body)
		}
		f := getForm(t, b, p, "audit-filter", url.Values{"user": {"olga"}, "action": {"policy.decision"}})
		if f.Status != http.StatusOK || rows(f, "policy.decision") != 2 || strings.Count(f.Body, `<tr data-action=`) != 2 {
			t.Fatalf("olga's decisions: %d, %d rows\n%s", f.Status, rows(f, "policy.decision"), f.Body)
		}
		for _, want := range []string{
			`<details data-kind="decision">`,
			"<td>policy strict (group ops)</td><td>require_mfa</td><td>always</td>",
			"<td>all policies</td><td>level</td><td>urn:twofold:acr:mfa</td><td>the strongest level the policies require</td>",
			"<td>session</td><td>factor</td><td>pwd, 0s ago</td><td>counts</td>",
			"<strong>Outcome:</strong> a second factor, one of totp, backup_code.",
			`<span title="` + olga + `">olga</span>`,                                // the actor by username
			`value="olga"`,                                                          // the filter as typed
			`<a href="/admin/simulate?client=app&amp;run=1&amp;user=` + olga + `">`, // the same sign-in, simulated
		} {
			if !strings.Contains(f.Body, want) {
				t.Errorf("the filtered audit log lacks %q", want)
			}
		}
		if t.Failed() {
			t.Fatal(f.Body)
		}
		// Her id filters alike.
		if byID := getForm(t, b, p, "audit-filter", url.Values{"user": {olga}, "action": {"policy.decision"}}); rows(byID, "policy.decision") != 2 {
			t.Fatalf("by id: %d rows", rows(byID, "policy.decision"))
		}

		// By time (datetime-local, UTC): since the middle, only the second; until the middle, only the first.
		mid := consoleTime(first.Add(5 * time.Minute))
		since := getForm(t, b, p, "audit-filter", url.Values{"user": {"olga"}, "action": {"policy.decision"}, "since": {mid}})
		until := getForm(t, b, p, "audit-filter", url.Values{"user": {"olga"}, "action": {"policy.decision"}, "until": {mid}})
		if rows(since, "policy.decision") != 1 || rows(until, "policy.decision") != 1 || since.Body == until.Body {
			t.Fatalf("by time: %d since, %d until", rows(since, "policy.decision"), rows(until, "policy.decision"))
		}

		// The exports carry the filters: the CSV of both decisions, the JSON Lines of the later one.
		resp := b.Get(s.URL + link(t, f, "export-csv"))
		if resp.Status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("csv export: %d %v\n%s", resp.Status, resp.Header, resp.Body)
		}
		records, err := csv.NewReader(strings.NewReader(resp.Body)).ReadAll()
		if err != nil || len(records) != 3 || !slices.Equal(records[0], directory.AuditCSVHeader) {
			t.Fatalf("csv export: %v\n%s", err, resp.Body)
		}
		for _, r := range records[1:] {
			if r[3] != "policy.decision" || r[4] != olga || !strings.Contains(r[6], "policy strict (group ops): require_mfa=always") {
				t.Fatalf("csv row: %q", r)
			}
		}
		resp = b.Get(s.URL + link(t, since, "export-jsonl"))
		if resp.Status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
			t.Fatalf("jsonl export: %d %v", resp.Status, resp.Header)
		}
		lines := strings.Split(strings.TrimSuffix(resp.Body, "\n"), "\n")
		if len(lines) != 1 {
			t.Fatalf("jsonl export since %s: %d lines\n%s", mid, len(lines), resp.Body)
		}
		var ev directory.AuditRecord
		if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil || ev.Action != "policy.decision" || ev.Target != olga ||
			ev.At.Before(first.Add(5*time.Minute)) || ev.Details["explanation"] == nil {
			t.Fatalf("jsonl line %s: %+v, %v", lines[0], ev, err)
		}
		// Everything of hers, exported: no password, no TOTP secret.
		all := b.Get(s.URL + "/admin/audit/export?format=jsonl&user=olga")
		if all.Status != http.StatusOK || strings.Count(all.Body, "\n") < 4 {
			t.Fatalf("olga's events: %d\n%s", all.Status, all.Body)
		}
		for _, secretText := range []string{alicePassword, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)} {
			if strings.Contains(all.Body, secretText) {
				t.Fatalf("the export holds a secret:\n%s", all.Body)
			}
		}

		// Bad filters: the page with the field marked, 400, no events; the export alike.
		for _, tc := range []struct {
			name  string
			path  string
			field string
		}{
			{"a time that is not one", "/admin/audit?since=yesterday", "since"},
			{"an unknown user", "/admin/audit?user=nobody", "user"},
			{"a user and a client", "/admin/audit?user=olga&client=app", "client"},
			{"until before since", "/admin/audit?since=" + mid + "&until=" + consoleTime(first), "until"},
			{"an export with a bad time", "/admin/audit/export?format=csv&since=2026-13-45T99:00", "since"},
		} {
			r := b.Get(s.URL + tc.path)
			if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `role="alert"`) || !strings.Contains(r.Body, `id="`+tc.field+`-error"`) ||
				!strings.Contains(r.Body, `aria-describedby="`+tc.field+`-error"`) || strings.Contains(r.Body, `<tr data-action=`) {
				t.Fatalf("%s: %d\n%s", tc.name, r.Status, r.Body)
			}
		}
		if r := b.Get(s.URL + "/admin/audit/export?format=xml"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `role="alert"`) {
			t.Fatalf("an unknown export format: %d\n%s", r.Status, r.Body)
		}
	})
}

// A change's before and after, readably; the actor by username; pages of 50 with a Next link that keeps the
// filters.
func TestConsoleAuditLogShowsChangesAndPages(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		b, _ := consoleSignIn(t, s)
		p := b.Submit(b.Get(s.URL+"/admin/policies/new"), "policy-form", map[string]string{"name": "audited", "mfa_max_age": "12h", "action": "save"})
		p = b.Submit(p, "policy-form", map[string]string{"mfa_max_age": "1h", "action": "save"})
		if p.Status != http.StatusOK {
			t.Fatalf("editing a policy: %d\n%s", p.Status, p.Body)
		}
		a := b.Get(s.URL + "/admin/audit?action=policy.updated,policy.created")
		if rows(a, "policy.updated") != 1 || rows(a, "policy.created") < 1 || strings.Count(a.Body, "<tr data-action=") != rows(a, "policy.updated")+rows(a, "policy.created") {
			t.Fatalf("the policy's events:\n%s", a.Body)
		}
		for _, want := range []string{
			"1 setting changed<br>", "<summary>What changed</summary>", "<td>mfa_max_age</td><td>12h0m0s</td><td>1h0m0s</td>",
			"9 other settings unchanged.", "<summary>The settings it was created with</summary>", "<td>mfa_max_age</td><td>12h0m0s</td></tr>",
			`">root</span>`,
		} {
			if !strings.Contains(a.Body, want) {
				t.Errorf("the policy's events lack %q", want)
			}
		}
		if t.Failed() {
			t.Fatal(a.Body)
		}

		for range 60 {
			if err := s.Store.AppendAudit(t.Context(), &storage.AuditEvent{Actor: "cli", Action: "test.paged", Target: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		first := b.Get(s.URL + "/admin/audit?action=test.paged")
		m := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(first.Body)
		if rows(first, "test.paged") != 50 || m == nil {
			t.Fatalf("the first page: %d rows\n%s", rows(first, "test.paged"), first.Body)
		}
		next := b.Get(s.URL + html.UnescapeString(m[1]))
		if rows(next, "test.paged") != 10 || strings.Contains(next.Body, `rel="next"`) || strings.Contains(next.Body, "<tr data-action=\"policy.") {
			t.Fatalf("the second page: %d rows\n%s", rows(next, "test.paged"), next.Body)
		}
		if r := b.Get(s.URL + "/admin/audit?after=zzz"); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `role="alert"`) {
			t.Fatalf("a broken page link: %d", r.Status)
		}
	})
}

// The simulator: the console's own form over login.Flow.Simulate — the effective policies, every rule with its
// source, what the user would be asked — and a field error for bad input.
func TestConsoleSimulator(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		opsFixture(t, s)
		b, _ := consoleSignIn(t, s)
		p := b.Get(s.URL + "/admin/simulate?user=olga")
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="simulate"`) || strings.Contains(p.Body, `id="simulation-result"`) ||
			!strings.Contains(p.Body, `value="olga"`) || !strings.Contains(p.Body, `<option value="app">Acme Notes (app)</option>`) {
			t.Fatalf("the simulator's form: %d\n%s", p.Status, p.Body)
		}
		// A simulation is a GET form: it changes nothing, so it needs no CSRF token, and it writes nothing.
		before := allRows(t, s)

		for _, tc := range []struct {
			name    string
			fields  url.Values
			outcome string
			want    []string
		}{
			{"a user in a group whose policy always requires MFA is asked for the second factor",
				url.Values{"user": {"olga"}, "client": {"app"}}, "second_factor",
				[]string{"<td>policy strict (group ops)</td><td>require_mfa</td><td>always</td><td>requires MFA at every sign-in</td>",
					`<a href="/admin/policies/strict">strict</a></td><td>group ops</td>`, "A second factor: one of totp, backup_code",
					"<th scope=\"row\">Level required</th><td><code>urn:twofold:acr:mfa</code>", "Signs in with a password or passkey"}},
			{"the same user, signed in with TOTP 5 minutes ago, is asked for nothing more",
				url.Values{"user": {"olga"}, "client": {"app"}, "factor": {"pwd", "totp"}, "age_pwd": {"6"}, "age_totp": {"5"}}, "none",
				[]string{"<td>session</td><td>factor</td><td>totp, 5m ago</td><td>counts</td>", "Nothing more: the application gets acr"}},
			{"an essential acr Twofold does not know is unmet",
				url.Values{"user": {"alice"}, "client": {"app"}, "claims": {`{"id_token":{"acr":{"essential":true,"values":["urn:example:unknown"]}}}`}},
				"unmet_authentication_requirements",
				[]string{"<td>request</td><td>essential_acr</td>", "the application gets <code>unmet_authentication_requirements</code>"}},
			{"a user without a second factor under enrollment required is sent to enroll",
				url.Values{"user": {"nils"}, "client": {"app"}}, "enrollment",
				[]string{"Enrollment of a second factor: one of", "<td>policy strict (group ops)</td><td>enrollment</td><td>required</td><td>a user without an allowed second factor enrolls one during sign-in</td>"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := getForm(t, b, p, "simulate", tc.fields)
				if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="simulation-result" aria-labelledby="result-title" data-outcome="`+tc.outcome+`"`) {
					t.Fatalf("%d at %s\n%s", r.Status, r.URL, r.Body)
				}
				for _, want := range tc.want {
					if !strings.Contains(r.Body, html.EscapeString(want)) && !strings.Contains(r.Body, want) {
						t.Errorf("the result lacks %q", want)
					}
				}
				if t.Failed() {
					t.Fatal(r.Body)
				}
				// A bookmark of the simulation: the same address, the same result.
				if again := b.Get(r.URL.String()); again.Body != r.Body {
					t.Fatal("the same simulation's address shows another result")
				}
			})
		}

		for _, tc := range []struct {
			name   string
			fields url.Values
			field  string
		}{
			{"an unknown user", url.Values{"user": {"nobody"}, "client": {"app"}}, "user"},
			{"an unknown client", url.Values{"user": {"olga"}, "client": {"no-such-app"}}, "client"},
			{"no client", url.Values{"user": {"olga"}}, "client"},
			{"claims that are not JSON", url.Values{"user": {"olga"}, "client": {"app"}, "claims": {`{"id_token": `}}, "claims"},
			{"a negative max_age", url.Values{"user": {"olga"}, "client": {"app"}, "max_age": {"-1"}}, "max_age"},
			{"a max_age that is not a number", url.Values{"user": {"olga"}, "client": {"app"}, "max_age": {"soon"}}, "max_age"},
			{"prompt=none with another value", url.Values{"user": {"olga"}, "client": {"app"}, "prompt": {"none", "login"}}, "prompt"},
			{"a factor's age that is not a number", url.Values{"user": {"olga"}, "client": {"app"}, "factor": {"pwd", "totp"}, "age_totp": {"-3"}}, "age_totp"},
			{"a second factor without a first", url.Values{"user": {"olga"}, "client": {"app"}, "factor": {"totp"}}, "factors"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := getForm(t, b, p, "simulate", tc.fields)
				if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `role="alert"`) || !strings.Contains(r.Body, `id="`+tc.field+`-error"`) ||
					!strings.Contains(r.Body, `aria-describedby="`+tc.field+`-error"`) || strings.Contains(r.Body, `id="simulation-result"`) {
					t.Fatalf("%d\n%s", r.Status, r.Body)
				}
			})
		}
		if after := allRows(t, s); after != before {
			t.Fatalf("the simulations wrote to the database:\n%s", diffLines(before, after))
		}
	})
}

// diffLines is the lines of b not in a, and of a not in b.
func diffLines(a, b string) string {
	var out bytes.Buffer
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out.WriteString("+ " + l + "\n")
		}
	}
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out.WriteString("- " + l + "\n")
		}
	}
	return out.String()
}
