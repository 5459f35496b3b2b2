package apptest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/ui/adminapi"
)

const (
	adminBotID     = "admin-bot"
	plainBotID     = "plain-bot"
	consoleID      = "console"     // an admin client under a policy that always asks for MFA
	consoleLaxID   = "console-lax" // an admin client that asks for nothing more than a password
	adminBotSecret = "admin-bot-secret-0123456789"
	rootPassword   = "root correct horse battery"
)

// adminFixture: root is in the admin group; alice is not.
func adminFixture() directory.Static {
	st := staticFixture()
	st.Policies = []policy.Policy{{Name: "strict", RequireMFA: policy.Always}, {Name: "relaxed", RequireMFA: policy.OnRequest}}
	st.Groups = []directory.Group{{Name: directory.DefaultAdminGroup}, {Name: "staff", Policy: "relaxed"}}
	admin := []string{directory.ScopeAdmin}
	st.Clients = append(st.Clients,
		directory.ClientSpec{ID: adminBotID, Secret: adminBotSecret, GrantTypes: []string{directory.GrantClientCredentials}, AllowedScopes: admin},
		directory.ClientSpec{ID: plainBotID, Secret: adminBotSecret, GrantTypes: []string{directory.GrantClientCredentials}},
		directory.ClientSpec{ID: consoleID, Secret: appSecret, RedirectURIs: []string{appRedirect}, SkipConsent: true, Policy: "strict", AllowedScopes: admin},
		directory.ClientSpec{ID: consoleLaxID, Secret: appSecret, RedirectURIs: []string{appRedirect}, SkipConsent: true, Policy: "relaxed", AllowedScopes: admin},
	)
	st.Users = append(st.Users, directory.NewUser{Username: "root", Email: "root@example.com", Password: rootPassword, Groups: []string{directory.DefaultAdminGroup}})
	return st
}

// clientToken gets a client_credentials token asking for twofold:admin.
func clientToken(t *testing.T, s *apptest.Server, id, secret string) *oauth2.Token {
	t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.URL + "/token", Scopes: []string{directory.ScopeAdmin}}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("client_credentials for %s: %v", id, err)
	}
	return tok
}

// adminUserToken signs root in to the console (password, then TOTP
// enrollment the strict policy forces) and returns the token with a
// refresh token.
func adminUserToken(t *testing.T, s *apptest.Server) (*oauth2.Token, *apptest.RP) {
	t.Helper()
	rp := apptest.NewRP(t, s, consoleID, appSecret, appRedirect, "openid", "offline_access", directory.ScopeAdmin)
	b := apptest.NewBrowser(t, s)
	p := b.Login(rp.AuthURL("s", "n", pkce), "root", rootPassword)
	id := p.URL.Query().Get("id")
	p = b.Get(s.URL + "/login/enroll/totp?id=" + id)
	m := regexp.MustCompile(`id="otpauth-uri" href="([^"]+)"`).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no TOTP enrollment for root: %d\n%s", p.Status, p.Body)
	}
	key, err := totp.ParseURI(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	p = b.Submit(p, "enroll-totp", map[string]string{"code": totp.Code(key.Secret, totp.Step(s.Clock.Now()))})
	p = b.Submit(p, "backup-codes-ack", nil)
	code, _ := apptest.Code(t, p)
	tok, err := rp.Exchange(code, pkce)
	if err != nil {
		t.Fatal(err)
	}
	return tok, rp
}

// passwordToken signs username in to the lax admin client with the password only.
func passwordToken(t *testing.T, s *apptest.Server, username, password string) *oauth2.Token {
	t.Helper()
	rp := apptest.NewRP(t, s, consoleLaxID, appSecret, appRedirect, "openid", directory.ScopeAdmin)
	b := apptest.NewBrowser(t, s)
	code, _ := apptest.Code(t, b.Login(rp.AuthURL("s", "n", pkce), username, password))
	tok, err := rp.Exchange(code, pkce)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// apiClient calls the admin API with one token, checks every answer
// against the OpenAPI document, and records which operations it reached.
type apiClient struct {
	t     *testing.T
	s     *apptest.Server
	token string
	doc   *apptest.OpenAPIDoc

	mu      sync.Mutex
	reached map[string]bool
}

func newAPIClient(t *testing.T, s *apptest.Server, token string, reached map[string]bool) *apiClient {
	t.Helper()
	resp, err := http.Get(s.URL + adminapi.Prefix + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	doc, err := apptest.ParseOpenAPI(b)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &apiClient{t: t, s: s, token: token, doc: doc, reached: reached}
}

type apiResp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r apiResp) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("not JSON (%d): %s", r.Status, r.Body)
	}
	return v
}

// do calls pattern (its {params} filled from args in order), with body
// (nil: none) and header pairs.
func (c *apiClient) do(method, pattern string, args []string, query url.Values, body any, headers ...string) apiResp {
	c.t.Helper()
	path := pattern
	for _, a := range args {
		i, j := strings.Index(path, "{"), strings.Index(path, "}")
		path = path[:i] + url.PathEscape(a) + path[j+1:]
	}
	u := c.s.URL + adminapi.Prefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "twofold-apptest")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := c.doc.Check(method, pattern, resp.StatusCode, resp.Header.Get("Content-Type"), b); err != nil {
		c.t.Errorf("response does not match the OpenAPI document: %v\n%s", err, b)
	}
	c.mu.Lock()
	if c.reached != nil && resp.StatusCode < 300 {
		c.reached[method+" "+pattern] = true
	}
	c.mu.Unlock()
	return apiResp{resp.StatusCode, resp.Header, b}
}

func (c *apiClient) want(r apiResp, status int) apiResp {
	c.t.Helper()
	if r.Status != status {
		c.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

// RFC 6750 §3, RFC 9470 §3: who may use the admin API, and the challenges for everyone else.
func TestAdminAPIAccess(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		get := func(token string) apiResp {
			return newAPIClient(t, s, token, nil).do("GET", "/policies", nil, nil, nil)
		}
		if r := get(""); r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("no token: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
		}
		if r := get("not-a-token"); r.Status != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("a bad token: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
		}
		if ct := get("not-a-token").Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("refusal content type %q", ct)
		}

		// A client not registered with twofold:admin does not get it, even asking.
		plain := clientToken(t, s, plainBotID, adminBotSecret)
		if sc, _ := plain.Extra("scope").(string); strings.Contains(sc, directory.ScopeAdmin) {
			t.Fatalf("plain-bot was granted %q", sc)
		}
		if r := get(plain.AccessToken); r.Status != http.StatusForbidden || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Fatalf("a client without twofold:admin: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
		}
		// A client registered with it: admitted.
		if r := get(clientToken(t, s, adminBotID, adminBotSecret).AccessToken); r.Status != http.StatusOK {
			t.Fatalf("admin-bot: %d %s", r.Status, r.Body)
		}
		// Nor does an application's sign-in grant it, even asked for.
		apprp := apptest.NewRP(t, s, "app", appSecret, appRedirect, "openid", directory.ScopeAdmin)
		code, _ := apptest.Code(t, apptest.NewBrowser(t, s).Login(apprp.AuthURL("s", "n", pkce), "root", rootPassword))
		apptok, err := apprp.Exchange(code, pkce)
		if err != nil {
			t.Fatal(err)
		}
		if sc, _ := apptok.Extra("scope").(string); strings.Contains(sc, directory.ScopeAdmin) {
			t.Fatalf("app was granted %q", sc)
		}
		if r := get(apptok.AccessToken); r.Status != http.StatusForbidden {
			t.Fatalf("an admin's token for another application: %d %s", r.Status, r.Body)
		}
		// A user who is not an administrator: 403, whatever the level.
		if r := get(passwordToken(t, s, "alice", alicePassword).AccessToken); r.Status != http.StatusForbidden {
			t.Fatalf("a non-admin user's token: %d %s", r.Status, r.Body)
		}
		// An administrator with a password only: step up (RFC 9470).
		r := get(passwordToken(t, s, "root", rootPassword).AccessToken)
		challenge := r.Header.Get("WWW-Authenticate")
		if r.Status != http.StatusUnauthorized || !strings.Contains(challenge, `error="insufficient_user_authentication"`) ||
			!strings.Contains(challenge, `acr_values="urn:twofold:acr:mfa phr"`) || !strings.Contains(challenge, "max_age=900") {
			t.Fatalf("an admin's password-only token: %d %q", r.Status, challenge)
		}
		// With TOTP: admitted.
		tok, rp := adminUserToken(t, s)
		if r := get(tok.AccessToken); r.Status != http.StatusOK {
			t.Fatalf("an admin's MFA token: %d %s", r.Status, r.Body)
		}
		// 16 minutes later a refreshed token keeps the old auth_time: stale.
		s.Clock.Advance(16 * time.Minute)
		fresh, err := rp.Config.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		r = get(fresh.AccessToken)
		if r.Status != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_user_authentication"`) ||
			!strings.Contains(r.Header.Get("WWW-Authenticate"), "max_age=900") {
			t.Fatalf("a stale admin level: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
		}
	})
}

// Every operation, as an administrator; every answer checked against the
// OpenAPI document; the audit trail names the actor, address and agent.
func TestAdminAPIRoutes(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		reached := map[string]bool{}
		userTok, _ := adminUserToken(t, s)
		c := newAPIClient(t, s, clientToken(t, s, adminBotID, adminBotSecret).AccessToken, reached)

		// Policies.
		c.want(c.do("GET", "/policies", nil, url.Values{"limit": {"1"}}, nil), 200)
		r := c.want(c.do("GET", "/policies", nil, url.Values{"limit": {"1"}}, nil), 200).json(t)
		if r["next_cursor"] == nil {
			t.Fatalf("no next cursor with limit 1: %v", r)
		}
		c.want(c.do("GET", "/policies", nil, url.Values{"cursor": {r["next_cursor"].(string)}}, nil), 200)
		bad := c.want(c.do("GET", "/policies", nil, url.Values{"limit": {"0"}}, nil), 400).json(t)
		if errs := bad["errors"].([]any); errs[0].(map[string]any)["field"] != "limit" {
			t.Fatalf("bad limit: %v", bad)
		}
		p := c.want(c.do("POST", "/policies", nil, nil, map[string]any{"name": "finance", "require_mfa": "always", "methods": []string{"totp", "webauthn"}, "mfa_max_age": "12h"}), 201)
		if p.Header.Get("ETag") == "" || p.Header.Get("Location") != adminapi.Prefix+"/policies/finance" {
			t.Fatalf("create: ETag %q Location %q", p.Header.Get("ETag"), p.Header.Get("Location"))
		}
		invalid := c.want(c.do("POST", "/policies", nil, nil, map[string]any{"name": "x", "require_mfa": "sometimes", "methods": []string{"sms2"}}), 400).json(t)
		fields := map[string]bool{}
		for _, e := range invalid["errors"].([]any) {
			fields[e.(map[string]any)["field"].(string)] = true
		}
		if !fields["require_mfa"] || !fields["methods[0]"] {
			t.Fatalf("field errors: %v", invalid)
		}
		g := c.want(c.do("GET", "/policies/{name}", []string{"finance"}, nil, nil), 200)
		etag := g.Header.Get("ETag")
		c.want(c.do("PUT", "/policies/{name}", []string{"finance"}, nil, map[string]any{"require_mfa": "always"}), 428)
		upd := c.want(c.do("PUT", "/policies/{name}", []string{"finance"}, nil, map[string]any{"require_mfa": "always", "mfa_max_age": "1h"}, "If-Match", etag), 200)
		c.want(c.do("PUT", "/policies/{name}", []string{"finance"}, nil, map[string]any{"require_mfa": "never"}, "If-Match", etag), 412)
		// A config-managed policy is read-only, with the reason.
		ro := c.want(c.do("PUT", "/policies/{name}", []string{"strict"}, nil, map[string]any{"require_mfa": "never"}, "If-Match", "*"), 409).json(t)
		if !strings.Contains(ro["detail"].(string), "configuration file") {
			t.Fatalf("read-only reason: %v", ro)
		}

		// Bounded, typed bodies.
		c.want(c.do("POST", "/groups", nil, nil, map[string]any{"name": strings.Repeat("x", 70<<10)}), 413)
		c.want(c.do("POST", "/groups", nil, nil, map[string]any{"name": "typed"}, "Content-Type", "text/plain"), 415)
		unknown := c.want(c.do("POST", "/groups", nil, nil, map[string]any{"name": "typed", "polcy": "strict"}), 400).json(t)
		if unknown["errors"].([]any)[0].(map[string]any)["field"] != "polcy" {
			t.Fatalf("unknown field: %v", unknown)
		}

		// Groups: attach the policy, then preview an edit of it.
		c.want(c.do("GET", "/groups", nil, nil, nil), 200)
		grp := c.want(c.do("POST", "/groups", nil, nil, map[string]any{"name": "finance-team"}), 201)
		grp = c.want(c.do("PUT", "/groups/{name}", []string{"finance-team"}, nil, map[string]any{"policy": "finance"}, "If-Match", grp.Header.Get("ETag")), 200)
		c.want(c.do("GET", "/groups/{name}", []string{"finance-team"}, nil, nil), 200)

		// Users: create one in the group.
		u := c.want(c.do("POST", "/users", nil, nil, map[string]any{"username": "carol", "password": "carol correct horse", "groups": []string{"finance-team"}}), 201).json(t)
		carol := u["id"].(string)
		weak := c.want(c.do("POST", "/users", nil, nil, map[string]any{"username": "dave", "password": "short"}), 400).json(t)
		if weak["errors"].([]any)[0].(map[string]any)["field"] != "password" {
			t.Fatalf("weak password: %v", weak)
		}

		// Clients: the same validators as the configuration file.
		badClient := c.want(c.do("POST", "/clients", nil, nil, map[string]any{"id": "books", "redirect_uris": []string{"http://example.com/cb"}}), 400).json(t)
		if badClient["errors"].([]any)[0].(map[string]any)["field"] != "redirect_uris[0]" {
			t.Fatalf("bad redirect URI: %v", badClient)
		}
		cl := c.want(c.do("POST", "/clients", nil, nil, map[string]any{"id": "books", "redirect_uris": []string{"https://books.example.com/cb"}, "policy": "finance"}), 201)
		secret := cl.json(t)["client_secret"]
		if s, _ := secret.(string); len(s) < 32 {
			t.Fatalf("no generated secret: %v", secret)
		}
		c.want(c.do("GET", "/clients", nil, nil, nil), 200)
		got := c.want(c.do("GET", "/clients/{id}", []string{"books"}, nil, nil), 200)
		if _, shown := got.json(t)["client_secret"]; shown {
			t.Fatal("the secret is shown again")
		}
		cl = c.want(c.do("PUT", "/clients/{id}", []string{"books"}, nil, map[string]any{
			"redirect_uris": []string{"https://books.example.com/cb"}, "policy": "finance", "skip_consent": true, "id_token_signed_response_alg": "ES256",
		}, "If-Match", got.Header.Get("ETag")), 200)
		rot := c.want(c.do("POST", "/clients/{id}/secret", []string{"books"}, nil, nil, "If-Match", cl.Header.Get("ETag")), 200).json(t)
		if rot["client_secret"] == secret {
			t.Fatal("the rotated secret is the old one")
		}

		prev := c.want(c.do("POST", "/policies/{name}/preview", []string{"finance"}, nil, map[string]any{"require_mfa": "always", "min_level": "phr", "methods": []string{"webauthn"}}), 200).json(t)
		if !slices.Equal(toStrings(prev["clients"]), []string{"books"}) || prev["users"] != float64(1) || len(prev["changes"].([]any)) == 0 {
			t.Fatalf("preview: %v", prev)
		}
		if !strings.Contains(prev["summary"].(string), "1 client and 1 user in 1 group") {
			t.Fatalf("summary: %v", prev["summary"])
		}

		// The default policy.
		d := c.want(c.do("GET", "/default-policy", nil, nil, nil), 200)
		c.want(c.do("PUT", "/default-policy", nil, nil, map[string]any{"policy": "nope"}, "If-Match", d.Header.Get("ETag")), 400)
		c.want(c.do("PUT", "/default-policy", nil, nil, map[string]any{"policy": "relaxed"}, "If-Match", d.Header.Get("ETag")), 200)

		// An administrator's own token works too, and is the actor.
		uc := newAPIClient(t, s, userTok.AccessToken, reached)
		uc.want(uc.do("POST", "/groups", nil, nil, map[string]any{"name": "by-root"}), 201)

		// Users.
		c.want(c.do("GET", "/users", nil, url.Values{"q": {"car"}}, nil), 200)
		ur := c.want(c.do("GET", "/users/{id}", []string{carol}, nil, nil), 200)
		ur = c.want(c.do("PUT", "/users/{id}/groups", []string{carol}, nil, map[string]any{"groups": []string{"finance-team", "staff"}}, "If-Match", ur.Header.Get("ETag")), 200)
		ur = c.want(c.do("POST", "/users/{id}/disable", []string{carol}, nil, nil, "If-Match", ur.Header.Get("ETag")), 200)
		c.want(c.do("POST", "/users/{id}/enable", []string{carol}, nil, nil, "If-Match", ur.Header.Get("ETag")), 200)
		root := c.want(c.do("GET", "/users", nil, url.Values{"q": {"root"}}, nil), 200).json(t)["items"].([]any)[0].(map[string]any)["id"].(string)
		f := c.want(c.do("GET", "/users/{id}/factors", []string{root}, nil, nil), 200)
		if bytes.Contains(f.Body, []byte("secret")) || !bytes.Contains(f.Body, []byte(`"method":"totp"`)) {
			t.Fatalf("factors: %s", f.Body)
		}
		ss := c.want(c.do("GET", "/users/{id}/sessions", []string{root}, nil, nil), 200).json(t)["items"].([]any)
		if len(ss) == 0 {
			t.Fatal("root has no session")
		}
		c.want(c.do("POST", "/users/{id}/sessions/{sid}/end", []string{root, ss[0].(map[string]any)["id"].(string)}, nil, nil), 204)
		c.want(c.do("POST", "/users/{id}/sessions/end-all", []string{root}, nil, nil), 200)
		c.want(c.do("GET", "/users/{id}/devices", []string{root}, nil, nil), 200)
		c.want(c.do("POST", "/users/{id}/devices/{did}/forget", []string{root, "no-such-device"}, nil, nil), 404)
		c.want(c.do("POST", "/users/{id}/devices/forget-all", []string{root}, nil, nil), 204)
		c.want(c.do("POST", "/users/{id}/unlock", []string{carol}, nil, nil), 204)
		c.want(c.do("POST", "/users/{id}/reset-mfa", []string{carol}, nil, map[string]any{"reason": ""}), 400)
		c.want(c.do("POST", "/users/{id}/reset-mfa", []string{carol}, nil, map[string]any{"reason": "lost phone, ticket 42"}), 204)
		c.want(c.do("POST", "/users/{id}/force-reenrollment", []string{carol}, nil, map[string]any{"reason": "suspected compromise"}), 204)
		// The device forget reached a real route with a 404; mark it.
		reached["POST /users/{id}/devices/{did}/forget"] = true

		// The policy simulator: the login flow's own decision, nothing written.
		sim := c.want(c.do("POST", "/simulate", nil, nil, map[string]any{"user": "root", "client_id": consoleID}), 200).json(t)
		if sim["outcome"] == nil || sim["summary"] == "" || len(sim["policies"].([]any)) == 0 {
			t.Fatalf("simulate: %v", sim)
		}
		badSim := c.want(c.do("POST", "/simulate", nil, nil, map[string]any{"user": "nobody-at-all", "client_id": consoleID}), 400).json(t)
		if !strings.Contains(fmt.Sprint(badSim["errors"]), "user") {
			t.Fatalf("simulate with an unknown user: %v", badSim)
		}

		// Signing keys.
		c.want(c.do("GET", "/keys", nil, nil, nil), 200)
		c.want(c.do("POST", "/keys/rotate", nil, nil, map[string]any{"alg": "none"}), 400)
		c.want(c.do("POST", "/keys/rotate", nil, nil, map[string]any{"alg": "ES256"}), 200)

		// Deletes.
		c.want(c.do("DELETE", "/clients/{id}", []string{"books"}, nil, nil, "If-Match", "*"), 204)
		gg := c.want(c.do("GET", "/groups/{name}", []string{"finance-team"}, nil, nil), 200)
		c.want(c.do("DELETE", "/groups/{name}", []string{"finance-team"}, nil, nil, "If-Match", gg.Header.Get("ETag")), 204)
		c.want(c.do("DELETE", "/policies/{name}", []string{"finance"}, nil, nil, "If-Match", upd.Header.Get("ETag")), 204)
		c.want(c.do("GET", "/policies/{name}", []string{"finance"}, nil, nil), 404)

		// The audit trail: filters and exports.
		au := c.want(c.do("GET", "/audit", nil, url.Values{"action": {"policy.updated"}}, nil), 200).json(t)["items"].([]any)
		if len(au) != 1 {
			t.Fatalf("policy.updated events: %v", au)
		}
		ev := au[0].(map[string]any)
		details := ev["details"].(map[string]any)
		if ev["actor"] != "client:"+adminBotID || ev["ip"] != "127.0.0.1" || details["user_agent"] != "twofold-apptest" ||
			details["before"].(map[string]any)["mfa_max_age"] != "12h0m0s" || details["after"].(map[string]any)["mfa_max_age"] != "1h0m0s" {
			t.Fatalf("audit event: %v", ev)
		}
		byRoot := c.want(c.do("GET", "/audit", nil, url.Values{"user": {root}, "action": {"group.created"}}, nil), 200).json(t)["items"].([]any)
		if len(byRoot) != 1 {
			t.Fatalf("root's group.created: %v", byRoot)
		}
		c.want(c.do("GET", "/audit", nil, url.Values{"client": {"books"}, "since": {s.Clock.Now().Add(-time.Hour).Format(time.RFC3339)}}, nil), 200)
		c.want(c.do("GET", "/audit", nil, url.Values{"since": {"yesterday"}}, nil), 400)
		csvOut := c.want(c.do("GET", "/audit/export", nil, url.Values{"format": {"csv"}, "action": {"mfa.reset"}}, nil), 200)
		if !bytes.HasPrefix(csvOut.Body, []byte("id,at,actor,action,target,ip,details\n")) || !bytes.Contains(csvOut.Body, []byte("lost phone, ticket 42")) {
			t.Fatalf("csv export:\n%s", csvOut.Body)
		}
		jl := c.want(c.do("GET", "/audit/export", nil, url.Values{"format": {"jsonl"}}, nil), 200)
		for _, line := range bytes.Split(bytes.TrimSpace(jl.Body), []byte("\n")) {
			var e map[string]any
			if err := json.Unmarshal(line, &e); err != nil || e["action"] == nil {
				t.Fatalf("jsonl line %q: %v", line, err)
			}
		}

		// Every route was exercised.
		reached["GET /openapi.json"] = true
		for _, rt := range adminapi.Routes() {
			if !reached[rt] {
				t.Errorf("no test reached %s", rt)
			}
		}
	})
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// Edits carry If-Match: of parallel edits based on one ETag exactly one
// wins and the others get 412.
func TestAdminAPIConcurrentEdits(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		c := newAPIClient(t, s, clientToken(t, s, adminBotID, adminBotSecret).AccessToken, nil)
		etag := c.want(c.do("POST", "/policies", nil, nil, map[string]any{"name": "contested", "require_mfa": "on_request"}), 201).Header.Get("ETag")
		const n = 8
		var wg sync.WaitGroup
		statuses := make([]int, n)
		ages := []string{"1h", "2h", "3h", "4h", "5h", "6h", "7h", "8h"}
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = c.do("PUT", "/policies/{name}", []string{"contested"}, nil, map[string]any{"require_mfa": "always", "mfa_max_age": ages[i]}, "If-Match", etag).Status
			}()
		}
		wg.Wait()
		won, lost := 0, 0
		for _, st := range statuses {
			switch st {
			case http.StatusOK:
				won++
			case http.StatusPreconditionFailed:
				lost++
			default:
				t.Errorf("unexpected status %d", st)
			}
		}
		if won != 1 || lost != n-1 {
			t.Fatalf("%d won, %d got 412 (statuses %v)", won, lost, statuses)
		}
	})
}

// Creates with an Idempotency-Key: retried in parallel, one object; the
// same key with another body is 422; a later retry replays the answer.
func TestAdminAPIIdempotentCreate(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		c := newAPIClient(t, s, clientToken(t, s, adminBotID, adminBotSecret).AccessToken, nil)
		body := map[string]any{"name": "once", "policy": "relaxed"}
		const n = 8
		var wg sync.WaitGroup
		results := make([]apiResp, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = c.do("POST", "/groups", nil, nil, body, "Idempotency-Key", "key-1")
			}()
		}
		wg.Wait()
		created := 0
		for _, r := range results {
			switch {
			case r.Status == http.StatusCreated && r.Header.Get("Idempotent-Replayed") == "":
				created++
			case r.Status == http.StatusCreated, r.Status == http.StatusConflict && strings.Contains(string(r.Body), "idempotency-in-progress"):
			default:
				t.Errorf("unexpected answer %d: %s", r.Status, r.Body)
			}
		}
		if created != 1 {
			t.Fatalf("%d requests created the group", created)
		}
		again := c.want(c.do("POST", "/groups", nil, nil, body, "Idempotency-Key", "key-1"), 201)
		if again.Header.Get("Idempotent-Replayed") != "true" || again.Header.Get("ETag") == "" {
			t.Fatalf("retry: %v", again.Header)
		}
		c.want(c.do("POST", "/groups", nil, nil, map[string]any{"name": "twice"}, "Idempotency-Key", "key-1"), 422)
		list := c.want(c.do("GET", "/groups", nil, nil, nil), 200).json(t)["items"].([]any)
		count := 0
		for _, g := range list {
			if g.(map[string]any)["name"] == "once" {
				count++
			}
		}
		if count != 1 {
			t.Fatalf("%d groups called once", count)
		}
	})
}

// Forced re-enrollment: the next sign-in enrolls a new second factor even
// where no policy asks for one; once enrolled, the policies apply again.
func TestAdminAPIForceReenrollment(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		c := newAPIClient(t, s, clientToken(t, s, adminBotID, adminBotSecret).AccessToken, nil)
		alice := c.want(c.do("GET", "/users", nil, url.Values{"q": {"alice"}}, nil), 200).json(t)["items"].([]any)[0].(map[string]any)["id"].(string)
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)
		// Before: a password is enough for app.
		apptest.Code(t, apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword))

		c.want(c.do("POST", "/users/{id}/force-reenrollment", []string{alice}, nil, map[string]any{"reason": "new phone policy"}), 204)
		_, _, end := enrollTOTP(t, s, apptest.NewBrowser(t, s), rp) // fails unless enrollment is forced
		apptest.Code(t, end)
		// Enrolled: the mark is gone and app asks for a password only again.
		s.Clock.Advance(30 * time.Second)
		apptest.Code(t, apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword))
		ev := c.want(c.do("GET", "/audit", nil, url.Values{"user": {alice}, "action": {"mfa.reenrollment_forced"}}, nil), 200).json(t)["items"].([]any)
		if len(ev) != 1 || ev[0].(map[string]any)["details"].(map[string]any)["reason"] != "new phone policy" {
			t.Fatalf("audit: %v", ev)
		}
	})
}
