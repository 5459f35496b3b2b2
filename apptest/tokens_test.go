package apptest_test

// End-to-end tests of the token side of the provider: code redemption,
// refresh rotation, userinfo, introspection, revocation, client
// credentials, token formats, key rotation and discovery. A real server
// (SQLite and PostgreSQL), the go-oidc + x/oauth2 relying party where it can
// express the case, raw HTTP where it cannot.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage"
)

const (
	tokVerifier = "token-side-verifier-0123456789-0123456789"
	// twoRedirectsID is a client registered with appRedirect and secondRedirect.
	twoRedirectsID = "tworedirects"
	secondRedirect = "http://127.0.0.1:9999/second"
	// offlineScopes ask for a refresh token.
	offlineScopes = "openid profile email offline_access"
)

// tokenTest drives the token-side endpoints of one server.
type tokenTest struct {
	t *testing.T
	s *apptest.Server
}

// tokenAnswer is a decoded JSON response of a token-side endpoint.
type tokenAnswer struct {
	Status int
	Header http.Header
	JSON   map[string]any
	Body   string
}

func (a tokenAnswer) str(key string) string { v, _ := a.JSON[key].(string); return v }

// secretOf returns the fixture secret of a client.
func (tokenTest) secretOf(clientID string) string {
	if clientID == machineClientID {
		return machineSecret
	}
	return appSecret
}

// rp is a relying party for clientID that authenticates with HTTP Basic only:
// x/oauth2 would otherwise retry a refused exchange with the secret in the
// body, redeeming the code a second time.
func (tt tokenTest) rp(clientID string, scopes ...string) *apptest.RP {
	tt.t.Helper()
	rp := apptest.NewRP(tt.t, tt.s, clientID, tt.secretOf(clientID), appRedirect, scopes...)
	rp.Config.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	return rp
}

// code signs alice in with b (b's session answers at once when it has one)
// and returns a fresh authorization code; verifier "" sends no PKCE
// challenge.
func (tt tokenTest) code(b *apptest.Browser, rp *apptest.RP, verifier string) string {
	tt.t.Helper()
	code, _ := apptest.Code(tt.t, b.Login(rp.AuthURL("st", "nonce-1", verifier), "alice", alicePassword))
	if code == "" {
		tt.t.Fatal("no code in the redirect")
	}
	return code
}

// signIn is a complete login of alice at rp in a new browser, redeemed
// through the relying-party library.
func (tt tokenTest) signIn(rp *apptest.RP) *oauth2.Token {
	tt.t.Helper()
	tok, err := rp.Exchange(tt.code(apptest.NewBrowser(tt.t, tt.s), rp, tokVerifier), tokVerifier)
	if err != nil {
		tt.t.Fatalf("code exchange: %v", err)
	}
	return tok
}

// do sends r and decodes the JSON answer.
func (tt tokenTest) do(r *http.Request) tokenAnswer {
	tt.t.Helper()
	a, err := sendTokenRequest(r)
	if err != nil {
		tt.t.Fatal(err)
	}
	return a
}

// sendTokenRequest sends r and decodes the JSON answer; safe outside the
// test's goroutine.
func sendTokenRequest(r *http.Request) (tokenAnswer, error) {
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return tokenAnswer{}, fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := tokenAnswer{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
	if strings.HasPrefix(strings.TrimSpace(a.Body), "{") {
		if err := json.Unmarshal(body, &a.JSON); err != nil {
			return a, fmt.Errorf("%s %s: body is not JSON: %w\n%s", r.Method, r.URL.Path, err, body)
		}
	}
	return a, nil
}

// request is a form POST to path, authenticated as clientID with HTTP Basic
// when clientID is not "".
func (tt tokenTest) request(path, clientID, secret string, form url.Values) *http.Request {
	tt.t.Helper()
	r, err := http.NewRequest(http.MethodPost, tt.s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		tt.t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "" {
		r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	return r
}

func (tt tokenTest) post(path, clientID, secret string, form url.Values) tokenAnswer {
	tt.t.Helper()
	return tt.do(tt.request(path, clientID, secret, form))
}

// exchangeRequest redeems code as clientID.
func (tt tokenTest) exchangeRequest(clientID, code, verifier, redirectURI string) *http.Request {
	tt.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return tt.request("/token", clientID, tt.secretOf(clientID), form)
}

func (tt tokenTest) exchange(clientID, code, verifier, redirectURI string) tokenAnswer {
	tt.t.Helper()
	return tt.do(tt.exchangeRequest(clientID, code, verifier, redirectURI))
}

func (tt tokenTest) refresh(clientID, refreshToken, scope string) tokenAnswer {
	tt.t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return tt.post("/token", clientID, tt.secretOf(clientID), form)
}

func (tt tokenTest) userinfo(accessToken string) tokenAnswer {
	tt.t.Helper()
	r, err := http.NewRequest(http.MethodGet, tt.s.URL+"/userinfo", nil)
	if err != nil {
		tt.t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+accessToken)
	return tt.do(r)
}

func (tt tokenTest) introspect(clientID, secret, token string) tokenAnswer {
	tt.t.Helper()
	return tt.post("/introspect", clientID, secret, url.Values{"token": {token}})
}

func (tt tokenTest) revoke(clientID, token, hint string) tokenAnswer {
	tt.t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return tt.post("/revoke", clientID, tt.secretOf(clientID), form)
}

// want fails unless a has status (and, when code is not "", that OAuth
// error code).
func (tt tokenTest) want(what string, a tokenAnswer, status int, code string) {
	tt.t.Helper()
	if a.Status != status || (code != "" && a.str("error") != code) {
		tt.t.Fatalf("%s: got %d %s, want %d %s\n%s", what, a.Status, a.str("error"), status, code, a.Body)
	}
}

// wantNoStore fails unless a may not be cached (RFC 6749 §5.1).
func (tt tokenTest) wantNoStore(what string, a tokenAnswer) {
	tt.t.Helper()
	if cc := a.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		tt.t.Fatalf("%s: Cache-Control = %q, want no-store", what, cc)
	}
}

// wantRetrieveError checks that err is a token request refused with 400
// and code.
func (tt tokenTest) wantRetrieveError(err error, code string) {
	tt.t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code || re.Response.StatusCode != http.StatusBadRequest {
		tt.t.Fatalf("got %v, want 400 %s", err, code)
	}
}

// idToken verifies raw with rp's verifier and decodes its claims.
func (tt tokenTest) idToken(rp *apptest.RP, raw string) apptest.Claims {
	tt.t.Helper()
	idt, err := rp.Verifier.Verify(context.Background(), raw)
	if err != nil {
		tt.t.Fatalf("id_token does not verify: %v", err)
	}
	var c apptest.Claims
	if err := idt.Claims(&c); err != nil {
		tt.t.Fatal(err)
	}
	return c
}

// tokenAlgs are the algorithms Twofold signs with.
var tokenAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// jwtHeader parses the protected header of a compact JWS.
func (tt tokenTest) jwtHeader(raw string) jose.Header {
	tt.t.Helper()
	jws, err := jose.ParseSigned(raw, tokenAlgs)
	if err != nil {
		tt.t.Fatalf("not a JWS: %v (%.40q)", err, raw)
	}
	return jws.Signatures[0].Protected
}

// rfc9068Claims are the access token claims the tests look at.
type rfc9068Claims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	ClientID string   `json:"client_id"`
	JTI      string   `json:"jti"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	Scope    string   `json:"scope"`
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	AuthTime int64    `json:"auth_time"`
}

// verifyJWT verifies a JWT against the server's published /keys with
// go-jose (independently of any OIDC library) and returns its header and
// claims.
func (tt tokenTest) verifyJWT(raw string) (jose.Header, rfc9068Claims) {
	tt.t.Helper()
	resp, err := http.Get(tt.s.URL + "/keys")
	if err != nil {
		tt.t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		tt.t.Fatalf("/keys: %v", err)
	}
	jws, err := jose.ParseSigned(raw, tokenAlgs)
	if err != nil {
		tt.t.Fatalf("not a JWS: %v", err)
	}
	h := jws.Signatures[0].Protected
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		tt.t.Fatalf("kid %q: %d keys in /keys", h.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		tt.t.Fatalf("signature does not verify against /keys: %v", err)
	}
	var c rfc9068Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		tt.t.Fatal(err)
	}
	return h, c
}

// --- 1. code + PKCE --------------------------------------------------------

// SECURITY-RULES: "PKCE: … a `code_verifier` for a code issued without a challenge → `invalid_grant` (downgrade, RFC
// 9700 §4.8.2); wrong verifier → `invalid_grant`"
// SECURITY-RULES: "Token, userinfo and introspection responses: `Cache-Control: no-store` (RFC 6749 §5.1)"
func TestCodeExchangeRefusesAnythingButTheRequestsOwnProof(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		cases := []struct {
			name        string
			challenge   string // verifier whose S256 challenge is sent; "" none
			client      string // who redeems
			verifier    string
			redirectURI string
			wantOK      bool
		}{
			{"the right verifier, redirect_uri and client succeed", tokVerifier, "app", tokVerifier, appRedirect, true},
			{"a confidential client without PKCE succeeds", "", "app", "", appRedirect, true},
			{"a wrong code_verifier is invalid_grant", tokVerifier, "app", tokVerifier + "x", appRedirect, false},
			{"a missing code_verifier after a code_challenge is invalid_grant", tokVerifier, "app", "", appRedirect, false},
			{"a code_verifier for a code issued without a challenge is invalid_grant (PKCE downgrade)", "", "app", tokVerifier, appRedirect, false},
			{"a redirect_uri with a trailing slash is invalid_grant", tokVerifier, "app", tokVerifier, appRedirect + "/", false},
			{"a redirect_uri other than the request's is invalid_grant", tokVerifier, "app", tokVerifier, "http://127.0.0.1:9999/other", false},
			{"another redirect_uri registered for the client is invalid_grant", tokVerifier, twoRedirectsID, tokVerifier, secondRedirect, false},
			{"a code redeemed by another client is invalid_grant", tokVerifier, "opaque", tokVerifier, appRedirect, false},
		}
		// A client with two redirect URIs: the code is bound to the one its
		// request used, not to any registered one.
		spec := directory.ClientSpec{ID: twoRedirectsID, Secret: appSecret, RedirectURIs: []string{appRedirect, secondRedirect}, SkipConsent: true}
		if _, _, err := s.Dir.AddClient(context.Background(), idp.Actor{ID: "test"}, spec); err != nil {
			t.Fatal(err)
		}
		rps := map[string]*apptest.RP{}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tt := tokenTest{t, s}
				issuedTo := c.client
				if issuedTo != twoRedirectsID {
					issuedTo = "app" // the other-client case redeems app's code
				}
				if rps[issuedTo] == nil {
					rps[issuedTo] = tt.rp(issuedTo)
				}
				code := tt.code(apptest.NewBrowser(t, s), rps[issuedTo], c.challenge)
				a := tt.exchange(c.client, code, c.verifier, c.redirectURI)
				tt.wantNoStore("token response", a)
				if c.wantOK {
					tt.want("exchange", a, http.StatusOK, "")
					if a.str("access_token") == "" || a.str("id_token") == "" {
						t.Fatalf("no tokens: %s", a.Body)
					}
					return
				}
				tt.want("exchange", a, http.StatusBadRequest, "invalid_grant")
			})
		}
	})
}

// --- 2. code reuse ---------------------------------------------------------

// SECURITY-RULES: "A code is single-use and short-lived; the second redemption → `invalid_grant` and the tokens from
// the first are revoked; two parallel redemptions → at most one success (RFC 6749 §4.1.2, RFC 9700 §4.2.4)"
func TestReusedCodeIsRefusedAndRevokesTheTokensOfItsFirstUse(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		rp := tt.rp("app", strings.Fields(offlineScopes)...)
		code := tt.code(apptest.NewBrowser(t, s), rp, tokVerifier)
		first, err := rp.Exchange(code, tokVerifier)
		if err != nil {
			t.Fatal(err)
		}
		if first.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}
		tt.want("userinfo before the replay", tt.userinfo(first.AccessToken), http.StatusOK, "")

		_, err = rp.Exchange(code, tokVerifier)
		tt.wantRetrieveError(err, "invalid_grant")

		tt.want("userinfo with the first access token", tt.userinfo(first.AccessToken), http.StatusUnauthorized, "")
		tt.want("refresh with the first refresh token", tt.refresh("app", first.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")
		if a := tt.introspect("app", appSecret, first.AccessToken); a.JSON["active"] != false {
			t.Fatalf("introspection of the first access token: %s", a.Body)
		}
	})
}

// --- 3. parallel redemption ------------------------------------------------

// SECURITY-RULES: "A code is single-use and short-lived; the second redemption → `invalid_grant` and the tokens from
// the first are revoked; two parallel redemptions → at most one success (RFC 6749 §4.1.2, RFC 9700 §4.2.4)"
func TestParallelExchangesOfOneCodeHaveExactlyOneWinner(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		rounds := 5
		if strings.HasSuffix(t.Name(), "/postgres") {
			rounds = 50
		}
		tt := tokenTest{t, s}
		rp := tt.rp("app")
		b := apptest.NewBrowser(t, s) // signed in once; later codes come from SSO
		for round := range rounds {
			code := tt.code(b, rp, tokVerifier)
			requests := []*http.Request{
				tt.exchangeRequest("app", code, tokVerifier, appRedirect),
				tt.exchangeRequest("app", code, tokVerifier, appRedirect),
			}
			answers := make([]tokenAnswer, len(requests))
			errs := make([]error, len(requests))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, r := range requests {
				wg.Go(func() {
					<-start
					answers[i], errs[i] = sendTokenRequest(r)
				})
			}
			close(start) // both at once
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			var won, lost int
			for _, a := range answers {
				switch {
				case a.Status == http.StatusOK && a.str("access_token") != "":
					won++
				case a.Status == http.StatusBadRequest && a.str("error") == "invalid_grant":
					lost++
				default:
					t.Fatalf("round %d: unexpected answer %d %s", round, a.Status, a.Body)
				}
			}
			if won != 1 || lost != 1 {
				t.Fatalf("round %d: %d successes and %d invalid_grant, want 1 and 1", round, won, lost)
			}
		}
	})
}

// --- 4. code lifetime ------------------------------------------------------

// SECURITY-RULES: "A code is single-use and short-lived; the second redemption → `invalid_grant` and the tokens from
// the first are revoked; two parallel redemptions → at most one success (RFC 6749 §4.1.2, RFC 9700 §4.2.4)"
func TestCodeExpiresAfterSixtySeconds(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		cases := []struct {
			name   string
			after  time.Duration
			status int
		}{
			{"a code 59 seconds old is redeemed", 59 * time.Second, http.StatusOK},
			{"a code 61 seconds old is invalid_grant", 61 * time.Second, http.StatusBadRequest},
		}
		rp := tokenTest{t, s}.rp("app")
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tt := tokenTest{t, s}
				code := tt.code(apptest.NewBrowser(t, s), rp, tokVerifier)
				s.Clock.Advance(c.after)
				a := tt.exchange("app", code, tokVerifier, appRedirect)
				want := ""
				if c.status != http.StatusOK {
					want = "invalid_grant"
				}
				tt.want("exchange", a, c.status, want)
			})
		}
	})
}

// --- 5. refresh tokens -----------------------------------------------------

func TestRefreshTokenOnlyWithOfflineAccess(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		cases := []struct {
			name        string
			scopes      string
			wantRefresh bool
		}{
			{"offline_access gives a refresh token", offlineScopes, true},
			{"without offline_access there is none", "openid profile email", false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tt := tokenTest{t, s}
				tok := tt.signIn(tt.rp("app", strings.Fields(c.scopes)...))
				if (tok.RefreshToken != "") != c.wantRefresh {
					t.Fatalf("refresh token %q, want one: %v", tok.RefreshToken, c.wantRefresh)
				}
			})
		}
	})
}

// SECURITY-RULES: "Refresh tokens are bound to their client and rotated"
// SECURITY-RULES: "A refresh never widens scope, never raises `acr`/`amr`, never moves `auth_time` (OIDC Core §12.2)"
func TestRefreshRotatesAndKeepsTheOriginalAuthentication(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		rp := tt.rp("app", strings.Fields(offlineScopes)...)
		tok := tt.signIn(rp)
		_, login := rp.IDToken(tok)

		s.Clock.Advance(10 * time.Minute) // a refresh later must not move auth_time
		refreshToken := tok.RefreshToken
		for i := range 2 {
			a := tt.refresh("app", refreshToken, "")
			tt.want("refresh", a, http.StatusOK, "")
			tt.wantNoStore("refresh", a)
			next := a.str("refresh_token")
			if next == "" || next == refreshToken {
				t.Fatalf("refresh %d: refresh token not rotated: %q", i, next)
			}
			if a.str("access_token") == "" || a.str("access_token") == tok.AccessToken {
				t.Fatalf("refresh %d: no new access token", i)
			}
			c := tt.idToken(rp, a.str("id_token"))
			if c.Subject != login.Subject || c.ACR != login.ACR || !slices.Equal(c.AMR, login.AMR) ||
				c.AuthTime != login.AuthTime || c.SID != login.SID || c.SID == "" {
				t.Fatalf("refresh %d: ID token %+v, want the login's %+v", i, c, login)
			}
			tt.want("userinfo with the refreshed access token", tt.userinfo(a.str("access_token")), http.StatusOK, "")
			refreshToken = next
			s.Clock.Advance(time.Minute)
		}
	})
}

// SECURITY-RULES: "A refresh never widens scope, never raises `acr`/`amr`, never moves `auth_time` (OIDC Core §12.2)"
func TestRefreshCanNarrowTheScopeButNeverWidenIt(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		rp := tt.rp("app", "openid", "email", "offline_access")
		tok := tt.signIn(rp)

		t.Run("a scope the login did not grant is invalid_scope", func(t *testing.T) {
			tt := tokenTest{t, s}
			for _, scope := range []string{"openid email offline_access profile", "openid address"} {
				tt.want("refresh with scope "+scope, tt.refresh("app", tok.RefreshToken, scope), http.StatusBadRequest, "invalid_scope")
			}
		})
		var narrowed tokenAnswer
		t.Run("a narrower scope is granted for the access token", func(t *testing.T) {
			tt := tokenTest{t, s}
			// The same token: a refused widening did not use it up.
			narrowed = tt.refresh("app", tok.RefreshToken, "openid")
			tt.want("narrowed refresh", narrowed, http.StatusOK, "")
			if narrowed.str("scope") != "openid" {
				t.Fatalf("scope = %q, want openid", narrowed.str("scope"))
			}
			_, c := tt.verifyJWT(narrowed.str("access_token"))
			if c.Scope != "openid" {
				t.Fatalf("access token scope = %q", c.Scope)
			}
			info := tt.userinfo(narrowed.str("access_token"))
			tt.want("userinfo", info, http.StatusOK, "")
			if _, ok := info.JSON["email"]; ok {
				t.Fatalf("userinfo of an openid-only token has email: %s", info.Body)
			}
		})
		t.Run("the rotated refresh token keeps the scope of the login", func(t *testing.T) {
			tt := tokenTest{t, s}
			if narrowed.str("refresh_token") == "" {
				t.Skip("no narrowed refresh")
			}
			a := tt.refresh("app", narrowed.str("refresh_token"), "")
			tt.want("refresh", a, http.StatusOK, "")
			if got := strings.Fields(a.str("scope")); !slices.Contains(got, "email") || !slices.Contains(got, "offline_access") {
				t.Fatalf("scope = %q, want the login's openid email offline_access", a.str("scope"))
			}
		})
	})
}

// SECURITY-RULES: "replaying a rotated token → `invalid_grant` and the whole family, newest token included, is
// revoked (RFC 9700 §4.14.2)"
func TestReplayedRefreshTokenRevokesItsWholeFamily(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		tok := tt.signIn(tt.rp("app", strings.Fields(offlineScopes)...))
		second := tt.refresh("app", tok.RefreshToken, "")
		tt.want("first refresh", second, http.StatusOK, "")
		third := tt.refresh("app", second.str("refresh_token"), "")
		tt.want("second refresh", third, http.StatusOK, "")

		// An attacker replays the first, already rotated token.
		tt.want("replay of a rotated token", tt.refresh("app", tok.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")

		tt.want("refresh with the newest token of the family", tt.refresh("app", third.str("refresh_token"), ""), http.StatusBadRequest, "invalid_grant")
		for name, at := range map[string]string{
			"the login's access token":   tok.AccessToken,
			"the first refresh's token":  second.str("access_token"),
			"the newest refresh's token": third.str("access_token"),
		} {
			a := tt.userinfo(at)
			tt.want("userinfo with "+name, a, http.StatusUnauthorized, "")
			if got := a.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
				t.Fatalf("userinfo 401 challenge = %q", got)
			}
		}
	})
}

// SECURITY-RULES: "Refresh tokens are bound to their client and rotated"
func TestRefreshTokenIsBoundToItsClient(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		tok := tt.signIn(tt.rp("app", strings.Fields(offlineScopes)...))
		tt.want("refresh by another client", tt.refresh("edclient", tok.RefreshToken, ""), http.StatusBadRequest, "invalid_grant")
		// The attempt neither rotates nor revokes the owner's token.
		tt.want("refresh by its client", tt.refresh("app", tok.RefreshToken, ""), http.StatusOK, "")
	})
}

// --- 6. userinfo -----------------------------------------------------------

// SECURITY-RULES: "Token, userinfo and introspection responses: `Cache-Control: no-store` (RFC 6749 §5.1)"
func TestUserinfoAnswersOnlyForALiveAccessToken(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		cases := []struct {
			name   string
			spoil  func(tt tokenTest, tok *oauth2.Token)
			status int
		}{
			{"a valid access token gets the user's claims", func(tokenTest, *oauth2.Token) {}, http.StatusOK},
			{"a revoked access token is 401", func(tt tokenTest, tok *oauth2.Token) {
				tt.want("revoke", tt.revoke("app", tok.AccessToken, ""), http.StatusOK, "")
			}, http.StatusUnauthorized},
			{"an expired access token is 401", func(tt tokenTest, tok *oauth2.Token) {
				tt.s.Clock.Advance(15*time.Minute + time.Second)
			}, http.StatusUnauthorized},
			{"an ID token is no access token", func(tt tokenTest, tok *oauth2.Token) {
				tok.AccessToken, _ = tok.Extra("id_token").(string)
			}, http.StatusUnauthorized},
			{"a forged token is 401", func(tt tokenTest, tok *oauth2.Token) {
				tok.AccessToken = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
			}, http.StatusUnauthorized},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tt := tokenTest{t, s}
				tok := tt.signIn(tt.rp("app"))
				c.spoil(tt, tok)
				a := tt.userinfo(tok.AccessToken)
				tt.want("userinfo", a, c.status, "")
				tt.wantNoStore("userinfo", a)
				if c.status == http.StatusOK {
					u, err := s.Store.GetUserByUsername(context.Background(), "alice")
					if err != nil {
						t.Fatal(err)
					}
					if a.str("sub") != u.ID || a.str("preferred_username") != "alice" || a.str("email") != "alice@example.com" {
						t.Fatalf("userinfo = %s", a.Body)
					}
				}
			})
		}
	})
}

// --- 7. introspection ------------------------------------------------------

// SECURITY-RULES: "Token, userinfo and introspection responses: `Cache-Control: no-store` (RFC 6749 §5.1)"
func TestIntrospection(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		cases := []struct {
			name       string
			token      func(tt tokenTest, tok *oauth2.Token) string
			wantActive bool
		}{
			{"an active access token is active with its claims", func(tt tokenTest, tok *oauth2.Token) string { return tok.AccessToken }, true},
			{"a revoked access token is inactive", func(tt tokenTest, tok *oauth2.Token) string {
				tt.want("revoke", tt.revoke("app", tok.AccessToken, "access_token"), http.StatusOK, "")
				return tok.AccessToken
			}, false},
			{"an expired access token is inactive", func(tt tokenTest, tok *oauth2.Token) string {
				tt.s.Clock.Advance(15*time.Minute + time.Second)
				return tok.AccessToken
			}, false},
			{"a refresh token is inactive", func(tt tokenTest, tok *oauth2.Token) string { return tok.RefreshToken }, false},
			{"an unknown token is inactive", func(tokenTest, *oauth2.Token) string { return "no-such-token" }, false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tt := tokenTest{t, s}
				rp := tt.rp("app", strings.Fields(offlineScopes)...)
				tok := tt.signIn(rp)
				_, login := rp.IDToken(tok)
				a := tt.introspect("app", appSecret, c.token(tt, tok))
				tt.want("introspect", a, http.StatusOK, "")
				tt.wantNoStore("introspect", a)
				if active, _ := a.JSON["active"].(bool); active != c.wantActive {
					t.Fatalf("active = %v, want %v: %s", a.JSON["active"], c.wantActive, a.Body)
				}
				if !c.wantActive {
					if len(a.JSON) != 1 {
						t.Fatalf("an inactive token discloses more than active: %s", a.Body)
					}
					return
				}
				exp, _ := a.JSON["exp"].(float64)
				if a.str("sub") != login.Subject || a.str("client_id") != "app" || a.str("acr") != idp.ACRPassword ||
					!slices.Contains(strings.Fields(a.str("scope")), "openid") || int64(exp) <= s.Clock.Now().Unix() {
					t.Fatalf("introspection = %s", a.Body)
				}
			})
		}
		t.Run("a client that does not authenticate is 401 invalid_client", func(t *testing.T) {
			tt := tokenTest{t, s}
			tok := tt.signIn(tt.rp("app"))
			for _, c := range []struct{ client, secret string }{
				{"app", appSecret + "x"},    // wrong secret
				{"nobody", appSecret},       // unknown client
				{publicClientID, appSecret}, // a public client has no secret to prove
			} {
				a := tt.introspect(c.client, c.secret, tok.AccessToken)
				tt.want("introspect as "+c.client, a, http.StatusUnauthorized, "invalid_client")
				tt.wantNoStore("introspect", a)
			}
		})
		t.Run("another client's token is inactive", func(t *testing.T) {
			tt := tokenTest{t, s}
			tok := tt.signIn(tt.rp("app"))
			if a := tt.introspect("edclient", appSecret, tok.AccessToken); a.JSON["active"] != false {
				t.Fatalf("introspection by another client = %s", a.Body)
			}
		})
	})
}

// --- 8. revocation ---------------------------------------------------------

func TestRevocation(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		// RFC 7009 §2.1: a wrong hint only widens the search.
		hints := []struct{ name, hint string }{{"without a hint", ""}, {"with the hint refresh_token", "refresh_token"}, {"with the hint access_token", "access_token"}}
		t.Run("revoking a refresh token revokes its family and their access tokens", func(t *testing.T) {
			for _, h := range hints {
				t.Run(h.name, func(t *testing.T) {
					tt := tokenTest{t, s}
					tok := tt.signIn(tt.rp("app", strings.Fields(offlineScopes)...))
					next := tt.refresh("app", tok.RefreshToken, "")
					tt.want("refresh", next, http.StatusOK, "")
					tt.want("revoke", tt.revoke("app", next.str("refresh_token"), h.hint), http.StatusOK, "")
					tt.want("refresh after revocation", tt.refresh("app", next.str("refresh_token"), ""), http.StatusBadRequest, "invalid_grant")
					tt.want("userinfo with the login's access token", tt.userinfo(tok.AccessToken), http.StatusUnauthorized, "")
					tt.want("userinfo with the refreshed access token", tt.userinfo(next.str("access_token")), http.StatusUnauthorized, "")
				})
			}
		})
		t.Run("revoking an access token ends it at userinfo but keeps the refresh token", func(t *testing.T) {
			for _, h := range hints {
				t.Run(h.name, func(t *testing.T) {
					tt := tokenTest{t, s}
					tok := tt.signIn(tt.rp("app", strings.Fields(offlineScopes)...))
					tt.want("revoke", tt.revoke("app", tok.AccessToken, h.hint), http.StatusOK, "")
					tt.want("userinfo", tt.userinfo(tok.AccessToken), http.StatusUnauthorized, "")
					tt.want("refresh", tt.refresh("app", tok.RefreshToken, ""), http.StatusOK, "")
				})
			}
		})
		t.Run("revoking an opaque access token ends it at userinfo", func(t *testing.T) {
			tt := tokenTest{t, s}
			tok := tt.signIn(tt.rp("opaque"))
			tt.want("revoke", tt.revoke("opaque", tok.AccessToken, ""), http.StatusOK, "")
			tt.want("userinfo", tt.userinfo(tok.AccessToken), http.StatusUnauthorized, "")
		})
		t.Run("an opaque access token is sealed with integrity: a changed one is nobody's", func(t *testing.T) {
			tt := tokenTest{t, s}
			tok := tt.signIn(tt.rp("opaque"))
			tt.want("introspect the token", tt.introspect("opaque", appSecret, tok.AccessToken), http.StatusOK, "")
			b := []byte(tok.AccessToken)
			i := len(b) / 2
			b[i] ^= 1 // still base64url, one bit of the ciphertext changed
			if b[i] == '.' || b[i] == tok.AccessToken[i] {
				t.Fatal("the tampered token is not a tampered token")
			}
			if a := tt.introspect("opaque", appSecret, string(b)); a.JSON["active"] != false {
				t.Fatalf("a tampered opaque token is active: %s", a.Body)
			}
			tt.want("userinfo with a tampered token", tt.userinfo(string(b)), http.StatusUnauthorized, "")
			tt.want("revoke a tampered token", tt.revoke("opaque", string(b), "access_token"), http.StatusOK, "")
			tt.want("userinfo with the token after revoking a tampered copy", tt.userinfo(tok.AccessToken), http.StatusOK, "")
		})
		t.Run("revoking an unknown token is 200", func(t *testing.T) {
			tt := tokenTest{t, s}
			for _, h := range hints {
				tt.want("revoke "+h.name, tt.revoke("app", "no-such-token", h.hint), http.StatusOK, "")
			}
		})
		t.Run("another client cannot revoke a client's tokens", func(t *testing.T) {
			tt := tokenTest{t, s}
			tok := tt.signIn(tt.rp("app", strings.Fields(offlineScopes)...))
			for _, token := range []string{tok.AccessToken, tok.RefreshToken} {
				a := tt.revoke("edclient", token, "")
				if a.Status != http.StatusOK && a.Status != http.StatusBadRequest {
					t.Fatalf("revoke by another client: %d %s", a.Status, a.Body)
				}
			}
			tt.want("userinfo", tt.userinfo(tok.AccessToken), http.StatusOK, "")
			tt.want("refresh", tt.refresh("app", tok.RefreshToken, ""), http.StatusOK, "")
		})
		t.Run("revocation needs the client's secret", func(t *testing.T) {
			tt := tokenTest{t, s}
			tok := tt.signIn(tt.rp("app"))
			a := tt.post("/revoke", "app", appSecret+"x", url.Values{"token": {tok.AccessToken}})
			tt.want("revoke with a wrong secret", a, http.StatusUnauthorized, "invalid_client")
			tt.want("userinfo", tt.userinfo(tok.AccessToken), http.StatusOK, "")
		})
	})
}

// --- 9. client credentials and refused grants ------------------------------

func TestClientCredentialsGrant(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		a := tt.post("/token", machineClientID, machineSecret, url.Values{"grant_type": {"client_credentials"}})
		tt.want("client_credentials", a, http.StatusOK, "")
		tt.wantNoStore("client_credentials", a)
		if _, ok := a.JSON["id_token"]; ok {
			t.Fatalf("client_credentials answered an ID token: %s", a.Body)
		}
		if _, ok := a.JSON["refresh_token"]; ok {
			t.Fatalf("client_credentials answered a refresh token: %s", a.Body)
		}
		if !strings.EqualFold(a.str("token_type"), "bearer") {
			t.Fatalf("token_type = %q", a.str("token_type"))
		}
		h, c := tt.verifyJWT(a.str("access_token"))
		if h.ExtraHeaders[jose.HeaderType] != "at+jwt" || h.Algorithm != "ES256" {
			t.Fatalf("header typ %v alg %s, want at+jwt ES256", h.ExtraHeaders[jose.HeaderType], h.Algorithm)
		}
		if c.Issuer != s.URL || c.Subject != machineClientID || c.ClientID != machineClientID || c.JTI == "" ||
			c.Expiry <= s.Clock.Now().Unix() || c.Expiry > s.Clock.Now().Add(15*time.Minute).Unix() {
			t.Fatalf("claims = %+v", c)
		}
		// A machine token is no user's: userinfo refuses it.
		tt.want("userinfo with a machine token", tt.userinfo(a.str("access_token")), http.StatusUnauthorized, "")
	})
}

// A client_credentials JWT is not stored (issue #12: one insert per token
// was most of the grant's cost), yet it introspects with its claims, and
// revoking it, revoking its client's tokens or deleting its client all
// take effect at once.
func TestClientCredentialsTokensAreStatelessYetRevocable(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		issue := func() (string, string) {
			a := tt.post("/token", machineClientID, machineSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"reports"}})
			tt.want("client_credentials", a, http.StatusOK, "")
			_, c := tt.verifyJWT(a.str("access_token"))
			return a.str("access_token"), c.JTI
		}
		active := func(what, tok string, want bool) {
			t.Helper()
			a := tt.introspect(machineClientID, machineSecret, tok)
			if a.Status != http.StatusOK || a.JSON["active"] != want {
				t.Fatalf("%s: introspection = %d %s, want active %v", what, a.Status, a.Body, want)
			}
			if want && (a.str("client_id") != machineClientID || a.str("sub") != machineClientID || a.str("scope") != "reports" ||
				a.JSON["exp"] == nil || a.JSON["iat"] == nil) {
				t.Fatalf("%s: introspection = %s", what, a.Body)
			}
		}
		tok, jti := issue()
		if _, err := s.Store.GetAccessToken(t.Context(), jti); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a client_credentials JWT was stored: %v", err)
		}
		active("a new token", tok, true)
		active("the same token again (its signature remembered)", tok, true)
		tt.want("another client revoking it", tt.revoke("app", tok, ""), http.StatusBadRequest, "unauthorized_client")
		active("after another client's attempt", tok, true)
		tt.want("revoke", tt.revoke(machineClientID, tok, ""), http.StatusOK, "")
		active("after /revoke", tok, false)
		tt.want("revoke again", tt.revoke(machineClientID, tok, ""), http.StatusOK, "")

		// All of the client's tokens, then a new one a second later.
		tok2, _ := issue()
		if err := s.Store.RevokeClientTokens(t.Context(), machineClientID); err != nil {
			t.Fatal(err)
		}
		active("after RevokeClientTokens", tok2, false)
		s.Clock.Advance(time.Second)
		tok3, _ := issue()
		active("a token issued after the client's tokens were revoked", tok3, true)
		if err := s.Store.SetClientDisabled(t.Context(), machineClientID, true); err != nil {
			t.Fatal(err)
		}
		if err := s.Store.SetClientDisabled(t.Context(), "app", false); err != nil {
			t.Fatal(err)
		}
		if a := tt.introspect("app", appSecret, tok3); a.JSON["active"] != false {
			t.Fatalf("a disabled client's token introspected by another: %s", a.Body)
		}
	})
}

func TestTokenEndpointRefusals(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		cases := []struct {
			name     string
			client   string
			secret   string
			form     url.Values
			status   int
			wantCode string
		}{
			// SECURITY-RULES: "Bad client secret → 401 `invalid_client`"
			{"client_credentials with a wrong secret is 401 invalid_client", machineClientID, machineSecret + "x",
				url.Values{"grant_type": {"client_credentials"}}, http.StatusUnauthorized, "invalid_client"},
			{"client_credentials by an unknown client is 401 invalid_client", "nobody", machineSecret,
				url.Values{"grant_type": {"client_credentials"}}, http.StatusUnauthorized, "invalid_client"},
			{"client_credentials by a client not registered for it is unauthorized_client", "app", appSecret,
				url.Values{"grant_type": {"client_credentials"}}, http.StatusBadRequest, "unauthorized_client"},
			// SECURITY-RULES: "`response_type=token`/`id_token token` and `grant_type=password` → unsupported (RFC
			// 9700 §2.1.2, §2.4)"
			{"the password grant is unsupported_grant_type", "app", appSecret,
				url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}}, http.StatusBadRequest, "unsupported_grant_type"},
			{"the JWT bearer grant is unsupported_grant_type", "app", appSecret,
				url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}}, http.StatusBadRequest, "unsupported_grant_type"},
			{"the JWT bearer grant without an assertion is unsupported_grant_type", "app", appSecret,
				url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}}, http.StatusBadRequest, "unsupported_grant_type"},
			{"the device code grant for a client not registered for it is unauthorized_client", "app", appSecret,
				url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {"x"}}, http.StatusBadRequest, "unauthorized_client"},
			{"token exchange is unsupported_grant_type", "app", appSecret,
				url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {"x"}, "subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}, http.StatusBadRequest, "unsupported_grant_type"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tt := tokenTest{t, s}
				a := tt.post("/token", c.client, c.secret, c.form)
				tt.want("token", a, c.status, c.wantCode)
				tt.wantNoStore("token", a)
				if c.status == http.StatusUnauthorized && a.Header.Get("WWW-Authenticate") != `Basic realm="twofold"` {
					t.Fatalf("401 without a Basic challenge: %q", a.Header.Get("WWW-Authenticate"))
				}
				if a.str("access_token") != "" {
					t.Fatalf("refused request got a token: %s", a.Body)
				}
			})
		}
	})
}

// --- 10. token formats -----------------------------------------------------

func TestAccessAndIDTokenFormats(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		t.Run("JWT access tokens are RFC 9068 tokens signed ES256 and verify against /keys", func(t *testing.T) {
			tt := tokenTest{t, s}
			rp := tt.rp("app")
			tok := tt.signIn(rp)
			_, login := rp.IDToken(tok)
			h, c := tt.verifyJWT(tok.AccessToken)
			if h.ExtraHeaders[jose.HeaderType] != "at+jwt" || h.Algorithm != "ES256" {
				t.Fatalf("header typ %v alg %s, want at+jwt ES256", h.ExtraHeaders[jose.HeaderType], h.Algorithm)
			}
			if c.Issuer != s.URL || c.Subject != login.Subject || c.ClientID != "app" || !slices.Contains(c.Audience, "app") ||
				c.JTI == "" || c.ACR != login.ACR || !slices.Equal(c.AMR, login.AMR) || c.AuthTime != login.AuthTime ||
				c.IssuedAt != s.Clock.Now().Unix() || c.Expiry != s.Clock.Now().Add(15*time.Minute).Unix() {
				t.Fatalf("claims = %+v, login %+v", c, login)
			}
			if h := tt.jwtHeader(tok.Extra("id_token").(string)); h.Algorithm != "RS256" {
				t.Fatalf("default ID token alg = %s, want RS256", h.Algorithm)
			}
		})
		t.Run("an opaque access token is not a JWT and works at userinfo", func(t *testing.T) {
			tt := tokenTest{t, s}
			tok := tt.signIn(tt.rp("opaque"))
			if _, err := jose.ParseSigned(tok.AccessToken, tokenAlgs); err == nil || strings.Count(tok.AccessToken, ".") == 2 {
				t.Fatalf("opaque access token looks like a JWT: %s", tok.AccessToken)
			}
			a := tt.userinfo(tok.AccessToken)
			tt.want("userinfo", a, http.StatusOK, "")
			if a.str("preferred_username") != "alice" {
				t.Fatalf("userinfo = %s", a.Body)
			}
			if in := tt.introspect("opaque", appSecret, tok.AccessToken); in.JSON["active"] != true || in.str("client_id") != "opaque" {
				t.Fatalf("introspection = %s", in.Body)
			}
		})
		t.Run("a client that registered EdDSA gets EdDSA ID tokens its library verifies", func(t *testing.T) {
			tt := tokenTest{t, s}
			rp := tt.rp("edclient")
			tok := tt.signIn(rp)
			raw, _ := tok.Extra("id_token").(string)
			if h := tt.jwtHeader(raw); h.Algorithm != "EdDSA" {
				t.Fatalf("ID token alg = %s, want EdDSA", h.Algorithm)
			}
			if _, c := rp.IDToken(tok); c.Username != "alice" || c.Nonce != "nonce-1" {
				t.Fatalf("claims = %+v", c)
			}
		})
	})
}

// --- 11. key rotation ------------------------------------------------------

func TestTokensSignedBeforeAKeyRotationStillVerify(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		ctx := context.Background()
		rp := tt.rp("app")
		oldTok := tt.signIn(rp)
		oldRaw := oldTok.Extra("id_token").(string)
		oldKid := tt.jwtHeader(oldRaw).KeyID

		if err := s.Keys.Rotate(ctx, idp.Actor{ID: "test"}, "RS256"); err != nil {
			t.Fatal(err)
		}
		// Published at once, signing only after the publish lead.
		if kids := tt.jwksKids("RS256"); len(kids) != 2 || !slices.Contains(kids, oldKid) {
			t.Fatalf("RS256 kids after rotation = %v, want the old and the new one", kids)
		}
		if kid := tt.jwtHeader(tt.signIn(rp).Extra("id_token").(string)).KeyID; kid != oldKid {
			t.Fatalf("a token signed before the publish lead used kid %s, want the old %s", kid, oldKid)
		}

		s.Clock.Advance(10*time.Minute + 11*time.Second) // publish lead + JWKS cache TTL
		newTok := tt.signIn(rp)
		newKid := tt.jwtHeader(newTok.Extra("id_token").(string)).KeyID
		if newKid == oldKid || !slices.Contains(tt.jwksKids("RS256"), newKid) {
			t.Fatalf("after the lead the ID token kid is %s (old %s)", newKid, oldKid)
		}

		// A relying party that discovers the provider only now.
		p, err := gooidc.NewProvider(ctx, s.URL)
		if err != nil {
			t.Fatal(err)
		}
		v := p.Verifier(&gooidc.Config{ClientID: "app", Now: s.Clock.Now})
		for name, raw := range map[string]string{"the old ID token": oldRaw, "the new ID token": newTok.Extra("id_token").(string)} {
			if _, err := v.Verify(ctx, raw); err != nil {
				t.Fatalf("%s does not verify after the rotation: %v", name, err)
			}
		}
		// Resource servers too: the old access token still verifies and works.
		tt.verifyJWT(oldTok.AccessToken)
		tt.want("userinfo with the old access token", tt.userinfo(oldTok.AccessToken), http.StatusOK, "")
	})
}

// jwksKids lists the kids /keys publishes for alg.
func (tt tokenTest) jwksKids(alg string) []string {
	tt.t.Helper()
	resp, err := http.Get(tt.s.URL + "/keys")
	if err != nil {
		tt.t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		tt.t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.Algorithm == alg {
			kids = append(kids, k.KeyID)
		}
	}
	return kids
}

// --- 12. client authentication at /token -----------------------------------

// SECURITY-RULES: "Bad client secret → 401 `invalid_client`"
func TestClientAuthenticationAtTheTokenEndpoint(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		rp := tokenTest{t, s}.rp("app")
		cases := []struct {
			name   string
			send   func(tt tokenTest, form url.Values) tokenAnswer
			status int
			code   string
		}{
			{"client_secret_basic with the right secret succeeds", func(tt tokenTest, form url.Values) tokenAnswer {
				return tt.post("/token", "app", appSecret, form)
			}, http.StatusOK, ""},
			{"client_secret_post with the right secret succeeds", func(tt tokenTest, form url.Values) tokenAnswer {
				form.Set("client_id", "app")
				form.Set("client_secret", appSecret)
				return tt.post("/token", "", "", form)
			}, http.StatusOK, ""},
			{"client_secret_basic with a wrong secret is 401 invalid_client", func(tt tokenTest, form url.Values) tokenAnswer {
				return tt.post("/token", "app", appSecret[:len(appSecret)-1]+"X", form)
			}, http.StatusUnauthorized, "invalid_client"},
			{"client_secret_post with a wrong secret is 401 invalid_client", func(tt tokenTest, form url.Values) tokenAnswer {
				form.Set("client_id", "app")
				form.Set("client_secret", "wrong-secret-0123456789")
				return tt.post("/token", "", "", form)
			}, http.StatusUnauthorized, "invalid_client"},
			{"a confidential client without its secret is 401 invalid_client", func(tt tokenTest, form url.Values) tokenAnswer {
				form.Set("client_id", "app")
				return tt.post("/token", "", "", form)
			}, http.StatusUnauthorized, "invalid_client"},
			{"an unknown client is 401 invalid_client", func(tt tokenTest, form url.Values) tokenAnswer {
				return tt.post("/token", "nobody", appSecret, form)
			}, http.StatusUnauthorized, "invalid_client"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tt := tokenTest{t, s}
				code := tt.code(apptest.NewBrowser(t, s), rp, tokVerifier)
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}, "code_verifier": {tokVerifier}}
				a := c.send(tt, form)
				tt.want("token", a, c.status, c.code)
				tt.wantNoStore("token", a)
				if c.status != http.StatusOK {
					// The refused attempt did not burn the code for the real client.
					tt.want("exchange by the client", tt.exchange("app", code, tokVerifier, appRedirect), http.StatusOK, "")
				}
			})
		}
	})
}

// --- 13. discovery ---------------------------------------------------------

// SECURITY-RULES: "`request_uri_parameter_supported` defaults to true in discovery: publish `false` if unsupported;
// an unsupported `request` object → `request_not_supported`, never silently ignored"
// SECURITY-RULES: "Every authorization response, success or error, carries `iss`; discovery says
// `authorization_response_iss_parameter_supported: true` (RFC 9207)"
// SECURITY-RULES: "PKCE: S256 only; a public client without a challenge is refused"
func TestDiscoveryDescribesWhatTheTokenSideDoes(t *testing.T) {
	eachServer(t, func(t *testing.T, s *apptest.Server) {
		resp, err := http.Get(s.URL + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d struct {
			Issuer                        string   `json:"issuer"`
			ACRValuesSupported            []string `json:"acr_values_supported"`
			ClaimsParameterSupported      *bool    `json:"claims_parameter_supported"`
			RequestURIParameterSupported  *bool    `json:"request_uri_parameter_supported"`
			RequestParameterSupported     *bool    `json:"request_parameter_supported"`
			IssParameterSupported         *bool    `json:"authorization_response_iss_parameter_supported"`
			ResponseTypesSupported        []string `json:"response_types_supported"`
			ResponseModesSupported        []string `json:"response_modes_supported"`
			GrantTypesSupported           []string `json:"grant_types_supported"`
			CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
			IDTokenSigningAlgs            []string `json:"id_token_signing_alg_values_supported"`
			TokenEndpoint                 string   `json:"token_endpoint"`
			IntrospectionEndpoint         string   `json:"introspection_endpoint"`
			RevocationEndpoint            string   `json:"revocation_endpoint"`
			UserinfoEndpoint              string   `json:"userinfo_endpoint"`
			JWKSURI                       string   `json:"jwks_uri"`
			DeviceAuthorizationEndpoint   string   `json:"device_authorization_endpoint"`
			DPoPAlgs                      []string `json:"dpop_signing_alg_values_supported"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
			t.Fatal(err)
		}
		sorted := func(v []string) []string { v = slices.Clone(v); slices.Sort(v); return v }
		isTrue := func(b *bool) bool { return b != nil && *b }
		isFalse := func(b *bool) bool { return b != nil && !*b }
		checks := []struct {
			name string
			ok   bool
		}{
			{"issuer is the server's URL", d.Issuer == s.URL},
			{"acr_values_supported lists every level and alias, phr and phrh included", slices.Equal(sorted(d.ACRValuesSupported), sorted([]string{idp.ACRPassword, idp.ACRMFA, idp.ACRPAPEMultiFactor, idp.ACRPhishingResistant, idp.ACRTwofoldPhishingResistant, idp.ACRPhishingResistantHardware}))},
			{"claims_parameter_supported is true", isTrue(d.ClaimsParameterSupported)},
			{"request_uri_parameter_supported is false", isFalse(d.RequestURIParameterSupported)},
			{"request_parameter_supported is false", isFalse(d.RequestParameterSupported)},
			{"authorization_response_iss_parameter_supported is true", isTrue(d.IssParameterSupported)},
			{"response_types_supported is exactly code", slices.Equal(d.ResponseTypesSupported, []string{"code"})},
			{"response_modes_supported is query and form_post", slices.Equal(sorted(d.ResponseModesSupported), []string{"form_post", "query"})},
			{"grant_types_supported is exactly what works", slices.Equal(sorted(d.GrantTypesSupported), []string{"authorization_code", "client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"})},
			{"device_authorization_endpoint is the issuer's (RFC 8628 §4)", d.DeviceAuthorizationEndpoint == s.URL+"/device_authorization"},
			{"dpop_signing_alg_values_supported lists asymmetric algorithms only (RFC 9449 §5.1)", slices.Equal(sorted(d.DPoPAlgs), []string{"ES256", "EdDSA", "PS256", "RS256"})},
			{"code_challenge_methods_supported is S256 only", slices.Equal(d.CodeChallengeMethodsSupported, []string{"S256"})},
			{"id_token_signing_alg_values_supported includes RS256", slices.Contains(d.IDTokenSigningAlgs, "RS256")},
			{"the endpoints are the issuer's", d.TokenEndpoint == s.URL+"/token" && d.IntrospectionEndpoint == s.URL+"/introspect" &&
				d.RevocationEndpoint == s.URL+"/revoke" && d.UserinfoEndpoint == s.URL+"/userinfo" && d.JWKSURI == s.URL+"/keys"},
		}
		for _, c := range checks {
			t.Run(c.name, func(t *testing.T) {
				if !c.ok {
					t.Fatalf("discovery: %+v", d)
				}
			})
		}
	})
}

// SECURITY-RULES: "`private_key_jwt` with a reused `jti`, expired `exp` or wrong `aud` → `invalid_client` (RFC 6749
// §5.2, RFC 7523 §3)"
// — a reused jti at introspection.
func TestIntrospectionWithAClientAssertionUsesItOnce(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "rs1", Algorithm: "RS256", Use: "sig"}}})
	st := staticFixture()
	st.Clients = append(st.Clients, directory.ClientSpec{ID: "resource", JWKS: string(jwks), GrantTypes: []string{directory.GrantClientCredentials}})
	eachDatabaseServer(t, st, func(t *testing.T, s *apptest.Server) {
		tt := tokenTest{t, s}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "rs1"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		assertion := func(jti string) url.Values {
			now := s.Clock.Now()
			b, _ := json.Marshal(map[string]any{"iss": "resource", "sub": "resource", "aud": s.URL, "jti": jti, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
			jws, err := signer.Sign(b)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := jws.CompactSerialize()
			return url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {raw}}
		}
		form := assertion("cc-1")
		form.Set("grant_type", "client_credentials")
		tok := tt.post("/token", "", "", form)
		tt.want("client_credentials with an assertion", tok, http.StatusOK, "")

		form = assertion("introspect-1")
		form.Set("token", tok.str("access_token"))
		first := tt.post("/introspect", "", "", form)
		tt.want("introspect", first, http.StatusOK, "")
		if first.JSON["active"] != true || first.str("client_id") != "resource" {
			t.Fatalf("introspection = %s", first.Body)
		}
		tt.want("introspect with a replayed assertion", tt.post("/introspect", "", "", form), http.StatusUnauthorized, "invalid_client")
	})
}
