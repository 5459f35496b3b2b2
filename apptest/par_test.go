package apptest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

const parOnlyID = "par-only"

func parFixture() directory.Static {
	st := staticFixture()
	st.Clients = append(st.Clients, directory.ClientSpec{
		ID: parOnlyID, Secret: appSecret, RedirectURIs: []string{appRedirect}, SkipConsent: true, RequirePushedAuthorizationRequests: true,
	})
	return st
}

// pushRequest POSTs the query of an x/oauth2 authorization URL to /par as
// the client (HTTP Basic) and returns the status and the JSON answer.
func pushRequest(t *testing.T, s *apptest.Server, clientID, secret string, params url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/par", strings.NewReader(params.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("/par answered %d without JSON: %v", resp.StatusCode, err)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("/par Cache-Control %q", cc)
	}
	return resp.StatusCode, out
}

// authParams are the parameters x/oauth2 puts in an authorization URL.
func authParams(t *testing.T, rp *apptest.RP, state, nonce string) url.Values {
	t.Helper()
	u, err := url.Parse(rp.AuthURL(state, nonce, pkce))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func pushed(t *testing.T, s *apptest.Server, rp *apptest.RP, clientID, secret string) string {
	t.Helper()
	status, body := pushRequest(t, s, clientID, secret, authParams(t, rp, "st", "nonce-par"))
	uri, _ := body["request_uri"].(string)
	if status != http.StatusCreated || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || body["expires_in"] != float64(60) {
		t.Fatalf("/par: %d %v", status, body)
	}
	return uri
}

func parAuthorizeURL(s *apptest.Server, clientID, requestURI string) string {
	return s.URL + "/authorize?" + url.Values{"client_id": {clientID}, "request_uri": {requestURI}}.Encode()
}

// refusedPage: /authorize answered an error page, no redirect anywhere.
// SECURITY-RULES: "Unknown client or unregistered redirect URI → an error page, never a redirect (RFC 6749 §4.1.2.1)"
// — a request_uri that is unknown, used, expired or another client's carries no redirect URI that could be
// trusted, so it is answered the same way.
func refusedPage(t *testing.T, p *apptest.Page, what string) {
	t.Helper()
	if p.Redirect != nil || p.Status < 400 || strings.Contains(p.Body, `id="login"`) {
		t.Fatalf("%s: status %d, redirect %v", what, p.Status, p.Redirect)
	}
}

func TestPushedAuthorizationRequests(t *testing.T) {
	eachDatabaseServer(t, parFixture(), func(t *testing.T, s *apptest.Server) {
		rp := apptest.NewRP(t, s, "app", appSecret, appRedirect)

		t.Run("a pushed request signs in through the normal flow and go-oidc verifies the ID token", func(t *testing.T) {
			uri := pushed(t, s, rp, "app", appSecret)
			b := apptest.NewBrowser(t, s)
			p := b.Login(parAuthorizeURL(s, "app", uri), "alice", alicePassword)
			code, state := apptest.Code(t, p)
			if state != "st" || apptest.Query(t, p).Get("iss") != s.URL {
				t.Fatalf("redirect %v", p.Redirect)
			}
			tok, err := rp.Exchange(code, pkce)
			if err != nil {
				t.Fatal(err)
			}
			if _, c := rp.IDToken(tok); c.Nonce != "nonce-par" {
				t.Fatalf("nonce %q: the pushed parameters were not the ones used", c.Nonce)
			}
			refusedPage(t, apptest.NewBrowser(t, s).Get(parAuthorizeURL(s, "app", uri)), "a used request_uri")
		})

		t.Run("a request_uri expires after 60 seconds", func(t *testing.T) {
			uri := pushed(t, s, rp, "app", appSecret)
			s.Clock.Advance(61 * time.Second)
			refusedPage(t, apptest.NewBrowser(t, s).Get(parAuthorizeURL(s, "app", uri)), "an expired request_uri")
		})

		t.Run("another client cannot use a request_uri, and trying changes nothing", func(t *testing.T) {
			uri := pushed(t, s, rp, "app", appSecret)
			refusedPage(t, apptest.NewBrowser(t, s).Get(parAuthorizeURL(s, thirdPartyID, uri)), "another client's request_uri")
			refusedPage(t, apptest.NewBrowser(t, s).Get(parAuthorizeURL(s, "app", uri+"x")), "a made-up request_uri")
			p := apptest.NewBrowser(t, s).Login(parAuthorizeURL(s, "app", uri), "alice", alicePassword)
			apptest.Code(t, p)
		})

		t.Run("of parallel uses of one request_uri exactly one starts a sign-in", func(t *testing.T) {
			uri := pushed(t, s, rp, "app", appSecret)
			const n = 8
			var wg sync.WaitGroup
			started := make(chan bool, n)
			for range n {
				b := apptest.NewBrowser(t, s)
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := b.Client.Get(parAuthorizeURL(s, "app", uri))
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					started <- resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Request.URL.Path, "/login")
				}()
			}
			wg.Wait()
			close(started)
			wins := 0
			for ok := range started {
				if ok {
					wins++
				}
			}
			if wins != 1 {
				t.Fatalf("%d of %d parallel uses started a sign-in, want 1", wins, n)
			}
		})

		t.Run("a client that must push gets invalid_request at plain /authorize, and signs in through /par", func(t *testing.T) {
			par := apptest.NewRP(t, s, parOnlyID, appSecret, appRedirect)
			p := apptest.NewBrowser(t, s).Get(par.AuthURL("st", "n", pkce))
			if q := apptest.Query(t, p); q.Get("error") != "invalid_request" || q.Get("iss") != s.URL || q.Get("state") != "st" {
				t.Fatalf("plain /authorize for a PAR-only client: %v", p.Redirect)
			}
			uri := pushed(t, s, par, parOnlyID, appSecret)
			code, _ := apptest.Code(t, apptest.NewBrowser(t, s).Login(parAuthorizeURL(s, parOnlyID, uri), "alice", alicePassword))
			if _, err := par.Exchange(code, pkce); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("/par refuses what RFC 9126 says it must", func(t *testing.T) {
			good := authParams(t, rp, "st", "n")
			with := func(k, v string) url.Values {
				q := url.Values{}
				for key, vs := range good {
					q[key] = vs
				}
				if v == "" {
					q.Del(k)
				} else {
					q.Set(k, v)
				}
				return q
			}
			tests := []struct {
				name, client, secret string
				params               url.Values
				status               int
				err                  string
			}{
				{"a wrong client secret", "app", "wrong-secret-0123456789", good, 401, "invalid_client"},
				{"a request_uri inside the pushed request", "app", appSecret, with("request_uri", "urn:ietf:params:oauth:request_uri:x"), 400, "invalid_request"},
				{"an unregistered redirect_uri", "app", appSecret, with("redirect_uri", "https://evil.example/cb"), 400, "invalid_request"},
				{"another client's client_id", "app", appSecret, with("client_id", thirdPartyID), 400, "invalid_request"},
				{"a request object", "app", appSecret, with("request", "e30.e30."), 400, "request_not_supported"},
				{"an implicit response type", "app", appSecret, with("response_type", "token"), 400, "unsupported_response_type"},
				{"a plain PKCE challenge", "app", appSecret, with("code_challenge_method", "plain"), 400, "invalid_request"},
				{"an oversized parameter", "app", appSecret, with("login_hint", strings.Repeat("a", 3000)), 400, "invalid_request"},
			}
			for _, tt := range tests {
				status, body := pushRequest(t, s, tt.client, tt.secret, tt.params)
				if status != tt.status || body["error"] != tt.err {
					t.Errorf("%s: %d %v, want %d %s", tt.name, status, body, tt.status, tt.err)
				}
			}
			resp, err := http.Get(s.URL + "/par")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("GET /par: %d", resp.StatusCode)
			}
		})
	})
}

func TestDiscoveryAnnouncesPushedAuthorizationRequests(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	resp, err := http.Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d["pushed_authorization_request_endpoint"] != s.URL+"/par" || d["require_pushed_authorization_requests"] != false {
		t.Fatalf("discovery: %v %v", d["pushed_authorization_request_endpoint"], d["require_pushed_authorization_requests"])
	}
}

// require_pushed_authorization_requests through the admin API and the
// console.
func TestRequirePushedAuthorizationRequestsThroughTheAPIAndTheConsole(t *testing.T) {
	eachDatabaseServer(t, adminFixture(), func(t *testing.T, s *apptest.Server) {
		c := newAPIClient(t, s, clientToken(t, s, adminBotID, adminBotSecret).AccessToken, map[string]bool{})
		c.want(c.do("POST", "/clients", nil, nil, map[string]any{
			"id": "bank", "redirect_uris": []string{"https://bank.example.com/cb"}, "require_pushed_authorization_requests": true,
		}), 201)
		if got := c.want(c.do("GET", "/clients/{id}", []string{"bank"}, nil, nil), 200).json(t); got["require_pushed_authorization_requests"] != true {
			t.Fatalf("the client as the API shows it: %v", got)
		}
		b, _ := consoleSignIn(t, s)
		p := b.Get(s.URL + "/admin/clients/bank")
		if !strings.Contains(p.Body, `id="require_pushed_authorization_requests" name="require_pushed_authorization_requests" type="checkbox" value="1" checked`) {
			t.Fatalf("the console does not show the setting:\n%s", p.Body)
		}
		if r := b.SubmitValues(p, "client-form", url.Values{"require_pushed_authorization_requests": {}}); r.Status >= 400 {
			t.Fatalf("unchecking it: %d", r.Status)
		}
		if cl, err := s.Dir.ClientByID(t.Context(), "bank"); err != nil || cl.RequirePushedAuthorizationRequests {
			t.Fatalf("after the console unchecked it: %+v, %v", cl, err)
		}
	})
}
