package apptest_test

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/account"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/keys"
)

var clientSecretRE = regexp.MustCompile(`<code id="client-secret">([^<]+)</code>`)

// shownSecret is the client secret on a "shown once" page.
func shownSecret(t *testing.T, p *apptest.Page) string {
	t.Helper()
	m := clientSecretRE.FindStringSubmatch(p.Body)
	if p.Status != http.StatusOK || m == nil {
		t.Fatalf("no client secret shown: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	// No rule of SECURITY-RULES names client secrets; the page follows the backup codes' "shown once with
	// `Cache-Control: no-store`".
	if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("the secret page's Cache-Control = %q, want no-store", cc)
	}
	return html.UnescapeString(m[1])
}

// ccToken asks /token for a client_credentials token.
func ccToken(s *apptest.Server, id, secret string) error {
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.URL + "/token"}
	_, err := cc.Token(context.Background())
	return err
}

// isInvalidClient: /token answered 401 invalid_client.
func isInvalidClient(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.Response.StatusCode == http.StatusUnauthorized && re.ErrorCode == "invalid_client"
}

// SECURITY-RULES: "Bad client secret → 401 `invalid_client`" — a secret rotated away is refused at /token at once.
// SECURITY-RULES: "CSRF token on every state-changing POST; missing or wrong → 403, nothing changes"
func TestConsoleClients(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := t.Context()
		b, _ := consoleSignIn(t, s)

		list := b.Get(s.URL + "/admin/clients")
		if list.Status != http.StatusOK || !strings.Contains(list.Body, `id="clients"`) || !strings.Contains(list.Body, `href="/admin/clients/app"`) ||
			!strings.Contains(list.Body, "built into Twofold") || !strings.Contains(list.Body, `id="new-client"`) {
			t.Fatalf("the client list: %d\n%s", list.Status, list.Body)
		}

		// A confidential client with an http redirect URI on a public host: the domain's message beside the
		// field, naming the line, and nothing saved.
		p := b.Get(s.URL + "/admin/clients/new")
		fields := url.Values{
			"id": {"billing"}, "name": {"Billing"}, "confidential": {"1"},
			"redirect_uris": {"https://billing.example.com/cb\nhttp://billing.example.com/cb"},
			"grant_types":   {directory.GrantAuthorizationCode, directory.GrantRefreshToken, directory.GrantClientCredentials},
			"policy":        {"strict"},
		}
		r := b.SubmitValues(p, "client-form", fields)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `role="alert"`) || !strings.Contains(r.Body, `id="redirect_uris-error"`) ||
			!strings.Contains(r.Body, "line 2:") || !strings.Contains(r.Body, `aria-describedby="redirect_uris-error"`) || !strings.Contains(r.Body, `value="billing"`) {
			t.Fatalf("a bad redirect URI: %d\n%s", r.Status, r.Body)
		}
		if _, err := s.Dir.ClientByID(ctx, "billing"); !errors.Is(err, idp.ErrNotFound) {
			t.Fatalf("a refused client was saved: %v", err)
		}
		// client_credentials for a public client: refused by the same rule as the configuration's.
		pub := url.Values{"id": {"pub"}, "confidential": {}, "redirect_uris": {"http://127.0.0.1/cb"}, "grant_types": {directory.GrantClientCredentials}}
		if r := b.SubmitValues(p, "client-form", pub); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="grant_types-error"`) {
			t.Fatalf("client_credentials for a public client: %d\n%s", r.Status, r.Body)
		}

		// Corrected: the secret is shown once, works at /token, and the client page never shows it.
		fields.Set("redirect_uris", "https://billing.example.com/cb\nhttp://127.0.0.1:9999/billing")
		r = b.SubmitValues(r, "client-form", fields)
		secret := shownSecret(t, r)
		if err := s.Dir.VerifyClientSecret(ctx, "billing", secret); err != nil {
			t.Fatalf("the shown secret does not verify: %v", err)
		}
		if err := ccToken(s, "billing", secret); err != nil {
			t.Fatalf("client_credentials with the shown secret: %v", err)
		}
		cl, err := s.Dir.ClientByID(ctx, "billing")
		if err != nil || cl.Policy != "strict" || cl.Public || len(cl.RedirectURIs) != 2 || !slices.Contains(cl.GrantTypes, directory.GrantClientCredentials) || cl.ManagedBy != directory.ManagedByDatabase {
			t.Fatalf("the created client: %+v, %v", cl, err)
		}
		row, err := s.Store.GetClient(ctx, "billing")
		if err != nil {
			t.Fatal(err)
		}
		page := b.Get(s.URL + "/admin/clients/billing")
		if page.Status != http.StatusOK || strings.Contains(page.Body, secret) || strings.Contains(page.Body, row.SecretHash) ||
			!strings.Contains(page.Body, `id="client-rotate-secret"`) || !strings.Contains(page.Body, `id="client-delete"`) {
			t.Fatalf("the client page (it must never show the secret or its hash): %d\n%s", page.Status, page.Body)
		}

		// Neither the audit trail nor any later page holds the secret.
		events, _, err := s.Dir.AuditPage(ctx, directory.AuditQuery{Party: "billing", Limit: 50})
		if j, _ := json.Marshal(events); err != nil || len(events) == 0 || strings.Contains(string(j), secret) || strings.Contains(string(j), row.SecretHash) {
			t.Fatalf("the audit trail of the new client: %s, %v", j, err)
		}

		// A rotation without its CSRF token: 403, the secret unchanged.
		_, values := page.Form(t, "client-rotate-secret")
		values.Del("csrf_token")
		if r := b.Post(s.URL+"/admin/clients/billing/rotate-secret", values); r.Status != http.StatusForbidden || strings.Contains(r.Body, `id="client-secret"`) {
			t.Fatalf("a rotation without CSRF token: %d\n%s", r.Status, r.Body)
		}
		if err := s.Dir.VerifyClientSecret(ctx, "billing", secret); err != nil {
			t.Fatalf("a refused rotation changed the secret: %v", err)
		}

		// Rotating: the new secret is shown once; the old one is refused at once.
		r = b.SubmitValues(page, "client-rotate-secret", nil)
		rotated := shownSecret(t, r)
		if rotated == secret {
			t.Fatal("the rotated secret is the old one")
		}
		if err := s.Dir.VerifyClientSecret(ctx, "billing", secret); !errors.Is(err, idp.ErrInvalidCredentials) {
			t.Fatalf("the old secret after rotation: %v", err)
		}
		if err := ccToken(s, "billing", secret); !isInvalidClient(err) {
			t.Fatalf("client_credentials with the old secret: %v", err)
		}
		if err := ccToken(s, "billing", rotated); err != nil {
			t.Fatalf("client_credentials with the new secret: %v", err)
		}
		if p := b.Get(s.URL + "/admin/clients/billing"); strings.Contains(p.Body, rotated) {
			t.Fatal("the client page shows the rotated secret")
		}
		// The rotate form of the page from before the rotation carries the old version: refused.
		if r := b.SubmitValues(page, "client-rotate-secret", nil); r.Status != http.StatusConflict || strings.Contains(r.Body, `id="client-secret"`) {
			t.Fatalf("a stale rotation: %d\n%s", r.Status, r.Body)
		}
		if err := s.Dir.VerifyClientSecret(ctx, "billing", rotated); err != nil {
			t.Fatalf("a refused rotation changed the secret: %v", err)
		}

		// Edits: saved; a form based on an older version is refused with 409 and shows the current one.
		page = b.Get(s.URL + "/admin/clients/billing")
		r = b.SubmitValues(page, "client-form", url.Values{"name": {"Billing v2"}, "skip_consent": {"1"}, "policy": {""}})
		if r.Status != http.StatusOK || r.URL.Path != "/admin/clients/billing" || !strings.Contains(r.Body, `id="console-notice"`) {
			t.Fatalf("saving an edit: %d at %s\n%s", r.Status, r.URL, r.Body)
		}
		cur, err := s.Dir.ClientByID(ctx, "billing")
		if err != nil || cur.Name != "Billing v2" || !cur.SkipConsent || cur.Policy != "" || cur.Public {
			t.Fatalf("after the edit: %+v, %v", cur, err)
		}
		if err := s.Dir.VerifyClientSecret(ctx, "billing", rotated); err != nil {
			t.Fatalf("an edit changed the credentials: %v", err)
		}
		stale := b.SubmitValues(page, "client-form", url.Values{"name": {"Billing v3"}})
		if stale.Status != http.StatusConflict || !strings.Contains(stale.Body, `id="console-error"`) ||
			!strings.Contains(stale.Body, `name="version" value="`+cur.Version+`"`) || !strings.Contains(stale.Body, `value="Billing v2"`) {
			t.Fatalf("a stale edit: %d\n%s", stale.Status, stale.Body)
		}
		if now, _ := s.Dir.ClientByID(ctx, "billing"); now.Name != "Billing v2" {
			t.Fatalf("a stale edit was saved: %q", now.Name)
		}
		// A bad post-logout URI in an edit: beside its field, nothing saved.
		r = b.SubmitValues(stale, "client-form", url.Values{"post_logout_redirect_uris": {"ftp://billing.example.com/"}})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="post_logout_redirect_uris-error"`) {
			t.Fatalf("a bad post-logout URI: %d\n%s", r.Status, r.Body)
		}

		// A client from the configuration file: read-only, with the reason, and a hand-made change is refused.
		cfg := b.Get(s.URL + "/admin/clients/app")
		if !strings.Contains(cfg.Body, `id="read-only-reason"`) || !strings.Contains(cfg.Body, "managed by the configuration file") ||
			!strings.Contains(cfg.Body, "<fieldset disabled>") || strings.Contains(cfg.Body, `id="client-rotate-secret"`) || strings.Contains(cfg.Body, `id="client-delete"`) {
			t.Fatalf("a config client is not read-only:\n%s", cfg.Body)
		}
		if r := b.SubmitValues(cfg, "client-form", url.Values{"name": {"Hijacked"}}); r.Status != http.StatusConflict || !strings.Contains(r.Body, "managed by the configuration file") {
			t.Fatalf("changing a config client: %d\n%s", r.Status, r.Body)
		}
		_, values = cfg.Form(t, "client-form")
		if r := b.Post(s.URL+"/admin/clients/app/rotate-secret", url.Values{"csrf_token": values["csrf_token"], "version": values["version"]}); r.Status != http.StatusConflict {
			t.Fatalf("rotating a config client's secret: %d\n%s", r.Status, r.Body)
		}
		if app, _ := s.Dir.ClientByID(ctx, "app"); app.Name != "Acme Notes" {
			t.Fatalf("a config client was changed: %+v", app)
		}
		if err := s.Dir.VerifyClientSecret(ctx, "app", appSecret); err != nil {
			t.Fatalf("a config client's secret was changed: %v", err)
		}

		// The built-in clients: shown, never editable (the server registers them again at every start).
		for _, id := range []string{account.ConsoleClientID, account.ClientID} {
			p := b.Get(s.URL + "/admin/clients/" + id)
			if p.Status != http.StatusOK || !strings.Contains(p.Body, "Built into Twofold") || strings.Contains(p.Body, `id="client-form"`) ||
				strings.Contains(p.Body, `id="client-delete"`) {
				t.Fatalf("built-in client %s: %d\n%s", id, p.Status, p.Body)
			}
			before, _ := s.Dir.ClientByID(ctx, id)
			r := b.Post(s.URL+"/admin/clients/"+id, url.Values{"csrf_token": values["csrf_token"], "version": {before.Version}, "name": {"Hijacked"}, "redirect_uris": {"https://evil.example/cb"}})
			if r.Status != http.StatusConflict || !strings.Contains(r.Body, "built into Twofold") {
				t.Fatalf("changing built-in client %s: %d\n%s", id, r.Status, r.Body)
			}
			if r := b.Post(s.URL+"/admin/clients/"+id+"/delete", url.Values{"csrf_token": values["csrf_token"], "version": {before.Version}}); r.Status != http.StatusConflict {
				t.Fatalf("deleting built-in client %s: %d", id, r.Status)
			}
			if after, err := s.Dir.ClientByID(ctx, id); err != nil || after.Version != before.Version {
				t.Fatalf("built-in client %s changed: %+v, %v", id, after, err)
			}
		}

		// Deleting, with the current version.
		page = b.Get(s.URL + "/admin/clients/billing")
		if r := b.SubmitValues(page, "client-delete", nil); r.Status != http.StatusOK || r.URL.Path != "/admin/clients" || !strings.Contains(r.Body, `id="console-notice"`) {
			t.Fatalf("deleting: %d at %s\n%s", r.Status, r.URL, r.Body)
		}
		if _, err := s.Dir.ClientByID(ctx, "billing"); !errors.Is(err, idp.ErrNotFound) {
			t.Fatalf("the deleted client: %v", err)
		}
		if err := ccToken(s, "billing", rotated); err == nil {
			t.Fatal("a deleted client still gets tokens")
		}

		// A public client: no secret page, no rotate form.
		p = b.Get(s.URL + "/admin/clients/new")
		r = b.SubmitValues(p, "client-form", url.Values{"id": {"spa2"}, "confidential": {}, "redirect_uris": {"http://127.0.0.1:5173/cb"}})
		if r.Status != http.StatusOK || r.URL.Path != "/admin/clients/spa2" || strings.Contains(r.Body, `id="client-secret"`) || strings.Contains(r.Body, `id="client-rotate-secret"`) {
			t.Fatalf("a public client: %d at %s\n%s", r.Status, r.URL, r.Body)
		}
		if c, err := s.Dir.ClientByID(ctx, "spa2"); err != nil || !c.Public {
			t.Fatalf("the public client: %+v, %v", c, err)
		}
	})
}

func TestConsoleKeys(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := t.Context()
		b, _ := consoleSignIn(t, s)
		before, _, err := s.Keys.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := b.Get(s.URL + "/admin/keys")
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="keys"`) || !strings.Contains(p.Body, `id="key-rotations"`) {
			t.Fatalf("the keys page: %d\n%s", p.Status, p.Body)
		}
		for _, k := range before {
			if !strings.Contains(p.Body, k.ID) {
				t.Fatalf("key %s (%s) is not listed:\n%s", k.ID, k.Alg, p.Body)
			}
		}

		// An algorithm the server does not sign with: beside the field, no key made.
		r := b.SubmitValues(p, "keys-rotate", url.Values{"alg": {"none"}})
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `id="alg-error"`) {
			t.Fatalf("rotating alg none: %d\n%s", r.Status, r.Body)
		}
		if ks, _, _ := s.Keys.Status(ctx); len(ks) != len(before) {
			t.Fatalf("a refused rotation made a key: %d keys, had %d", len(ks), len(before))
		}

		r = b.SubmitValues(p, "keys-rotate", url.Values{"alg": {"ES256"}})
		if r.Status != http.StatusOK || r.URL.Path != "/admin/keys" || !strings.Contains(r.Body, `id="console-notice"`) {
			t.Fatalf("rotating ES256: %d at %s\n%s", r.Status, r.URL, r.Body)
		}
		after, _, err := s.Keys.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var fresh string
		for _, k := range after {
			if !slices.ContainsFunc(before, func(o keys.KeyStatus) bool { return o.ID == k.ID }) {
				if k.Alg != "ES256" || k.State != "next" || fresh != "" {
					t.Fatalf("after rotating ES256: %+v", after)
				}
				fresh = k.ID
			}
		}
		if fresh == "" || !strings.Contains(r.Body, fresh) {
			t.Fatalf("no new ES256 key listed (keys %+v)\n%s", after, r.Body)
		}
		// Published in JWKS at once, before it signs.
		raw, err := s.Keys.JWKS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		type jwk struct {
			Kid string `json:"kid"`
		}
		var set struct{ Keys []jwk }
		if err := json.Unmarshal(raw, &set); err != nil || !slices.ContainsFunc(set.Keys, func(k jwk) bool { return k.Kid == fresh }) {
			t.Fatalf("the new key %s is not in JWKS: %s (%v)", fresh, raw, err)
		}
		// Audited as the administrator's, by the same path as the API's and the CLI's.
		root, err := s.Store.GetUserByUsername(ctx, "root")
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := s.Dir.AuditPage(ctx, directory.AuditQuery{Actions: []string{"keys.rotated"}, Limit: 10})
		if err != nil || len(events) != 1 || events[0].Actor != root.ID || events[0].Target != "ES256" || events[0].Details["kid"] != fresh {
			t.Fatalf("audit of the rotation: %+v, %v", events, err)
		}
	})
}
