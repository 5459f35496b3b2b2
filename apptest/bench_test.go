package apptest_test

import (
	"io"
	"net/http"
	"testing"

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
