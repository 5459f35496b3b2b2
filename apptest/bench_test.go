package apptest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// BenchmarkLoginAndCodeExchange measures one whole sign-in: /authorize,
// the login page, the password POST (argon2id with the harness's cheap test
// parameters, so this is the provider's own cost), the callback, and the
// code exchange with ID token verification by the relying party library.
func BenchmarkLoginAndCodeExchange(b *testing.B) {
	for name, newStore := range storagetest.Databases() {
		b.Run(name, func(b *testing.B) {
			s := apptest.New(b, newStore, apptest.Options{Static: staticFixture()})
			rp := apptest.NewRP(b, s, "app", appSecret, appRedirect)
			b.ResetTimer()
			for b.Loop() {
				br := apptest.NewBrowser(b, s)
				p := br.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
				code, _ := apptest.Code(b, p)
				tok, err := rp.Exchange(code, pkce)
				if err != nil {
					b.Fatal(err)
				}
				rp.IDToken(tok)
			}
		})
	}
}

// BenchmarkDiscoveryAndKeysOverHTTP measures /keys and the discovery
// document through the whole stack (middleware, router, loopback HTTP with
// keep-alive), client and server sharing the machine's cores.
func BenchmarkDiscoveryAndKeysOverHTTP(b *testing.B) {
	s := apptest.New(b, storagetest.NewSQLite, apptest.Options{Static: staticFixture()})
	for _, path := range []string{"/keys", "/.well-known/openid-configuration"} {
		b.Run(path, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.SetParallelism(16) // many clients in flight, as a load balancer would bring
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(s.URL + path)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("%s: %d", path, resp.StatusCode)
					}
				}
			})
		})
	}
}

// benchSignIn signs alice in at rp in a new browser and redeems the code:
// the starting point of the token-side benchmarks.
func benchSignIn(b *testing.B, s *apptest.Server, rp *apptest.RP) (*apptest.Browser, *oauth2.Token) {
	b.Helper()
	br := apptest.NewBrowser(b, s)
	code, _ := apptest.Code(b, br.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword))
	tok, err := rp.Exchange(code, pkce)
	if err != nil {
		b.Fatal(err)
	}
	return br, tok
}

// BenchmarkRefreshRotation measures one refresh_token grant through the
// relying-party library: the old token redeemed, a new one stored, an
// access token and an ID token minted. Each new refresh token is used for
// the next round, as a client would.
func BenchmarkRefreshRotation(b *testing.B) {
	for name, newStore := range storagetest.Databases() {
		b.Run(name, func(b *testing.B) {
			s := apptest.New(b, newStore, apptest.Options{Static: staticFixture()})
			rp := apptest.NewRP(b, s, "app", appSecret, appRedirect, "openid", "offline_access")
			rp.Config.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
			_, tok := benchSignIn(b, s, rp)
			ctx := context.Background()
			refresh := tok.RefreshToken
			if refresh == "" {
				b.Fatal("no refresh token for offline_access")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				// A token without an access token is refreshed at once.
				next, err := rp.Config.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
				if err != nil {
					b.Fatal(err) // a non-2xx answer is an *oauth2.RetrieveError
				}
				if next.AccessToken == "" || next.RefreshToken == "" || next.RefreshToken == refresh {
					b.Fatalf("refresh answered access %t, refresh %t (rotated: %t)",
						next.AccessToken != "", next.RefreshToken != "", next.RefreshToken != refresh)
				}
				refresh = next.RefreshToken
			}
		})
	}
}

// BenchmarkIntrospection measures RFC 7662 introspection of a live JWT
// access token by the client it was issued to.
func BenchmarkIntrospection(b *testing.B) {
	for name, newStore := range storagetest.Databases() {
		b.Run(name, func(b *testing.B) {
			s := apptest.New(b, newStore, apptest.Options{Static: staticFixture()})
			rp := apptest.NewRP(b, s, "app", appSecret, appRedirect)
			_, tok := benchSignIn(b, s, rp)
			client := &http.Client{}
			body := url.Values{"token": {tok.AccessToken}}.Encode()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req, err := http.NewRequest(http.MethodPost, s.URL+"/introspect", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("app", appSecret)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var answer struct {
					Active bool `json:"active"`
				}
				err = json.NewDecoder(resp.Body).Decode(&answer)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || err != nil || !answer.Active {
					b.Fatalf("introspection: status %d, active %t, %v", resp.StatusCode, answer.Active, err)
				}
			}
		})
	}
}

// BenchmarkClientCredentials measures the client_credentials grant through
// x/oauth2's clientcredentials package.
func BenchmarkClientCredentials(b *testing.B) {
	for name, newStore := range storagetest.Databases() {
		b.Run(name, func(b *testing.B) {
			s := apptest.New(b, newStore, apptest.Options{Static: staticFixture()})
			cc := clientcredentials.Config{ClientID: machineClientID, ClientSecret: machineSecret,
				TokenURL: s.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tok, err := cc.Token(ctx)
				if err != nil {
					b.Fatal(err) // a non-2xx answer is an *oauth2.RetrieveError
				}
				if tok.AccessToken == "" {
					b.Fatal("client_credentials answered without an access token")
				}
			}
		})
	}
}

// BenchmarkSilentSSO measures what a relying party costs a signed-in
// browser: /authorize with prompt=none, the callback, the redirect with a
// code, and the code exchange with ID token verification.
func BenchmarkSilentSSO(b *testing.B) {
	for name, newStore := range storagetest.Databases() {
		b.Run(name, func(b *testing.B) {
			s := apptest.New(b, newStore, apptest.Options{Static: staticFixture()})
			rp := apptest.NewRP(b, s, "app", appSecret, appRedirect)
			rp.Config.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
			br, _ := benchSignIn(b, s, rp)
			authURL := rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "none"))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p := br.Get(authURL)
				if p.Redirect == nil || p.Status != http.StatusFound && p.Status != http.StatusSeeOther {
					b.Fatalf("prompt=none in a signed-in browser: status %d at %s", p.Status, p.URL)
				}
				code, _ := apptest.Code(b, p) // fails on an error redirect
				tok, err := rp.Exchange(code, pkce)
				if err != nil {
					b.Fatal(err)
				}
				rp.IDToken(tok)
			}
		})
	}
}
