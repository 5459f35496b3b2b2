package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/cmd/twofold-bench/internal/bench"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// dirAdmin seeds through the test server's directory, as the CLI would.
type dirAdmin struct{ d *directory.Directory }

func (a dirAdmin) SetMFAPolicy(ctx context.Context, name string) error {
	_, err := a.d.SetPolicy(ctx, idp.ActorCLI, policy.Policy{Name: name, RequireMFA: policy.Always, Methods: []policy.Method{policy.TOTP}})
	return err
}

func (a dirAdmin) AddClient(ctx context.Context, id, redirectURI, pol string) (string, error) {
	_, secret, err := a.d.AddClient(ctx, idp.ActorCLI, directory.ClientSpec{
		ID: id, GenerateSecret: true, RedirectURIs: []string{redirectURI}, SkipConsent: true, Policy: pol,
		GrantTypes: []string{directory.GrantAuthorizationCode, directory.GrantRefreshToken, directory.GrantClientCredentials},
	})
	return secret, err
}

func (a dirAdmin) AddUser(ctx context.Context, username, password string) error {
	_, err := a.d.CreateUser(ctx, idp.ActorCLI, directory.NewUser{Username: username, Password: password})
	return err
}

// The test server's clock stands still: every account has enrolled at its
// step and can sign in with TOTP once more (the next step), so the test
// seeds more accounts than it makes TOTP sign-ins.
const (
	users   = 12
	workers = 3
	count   = 6
)

func seeded(t *testing.T) (*apptest.Server, *bench.Setup) {
	t.Helper()
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{})
	setup, err := bench.Seed(context.Background(), dirAdmin{s.Dir}, s.URL, bench.SeedOptions{Users: users, Parallel: workers, Now: s.Clock.Now})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	if len(setup.Users) != users || setup.Users[0].TOTPSecret == "" || setup.Client.Secret == "" || setup.MFAClient.Secret == "" {
		t.Fatalf("setup = %+v", setup)
	}
	return s, setup
}

// Every path with one worker; TestConcurrentWorkers runs several. (With
// several workers, concurrent TOTP sign-ins on SQLite can fail server-side
// with "database is locked (517)" — see seedUser — which the benchmark
// rightly counts as errors, so a test asking for zero errors runs the
// paths that prove a second factor with one worker.)
func TestEveryPathRunsWithoutErrors(t *testing.T) {
	s, setup := seeded(t)
	var progress bytes.Buffer
	r, err := bench.Run(context.Background(), bench.Config{Issuer: s.URL, Workers: 1, Count: count, Setup: setup,
		Now: s.Clock.Now, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range r.Paths {
		got = append(got, p.Path)
		t.Run(p.Path, func(t *testing.T) {
			if p.Errors != 0 || p.Requests != count {
				t.Fatalf("%d requests, %d errors: %v", p.Requests, p.Errors, p.ErrorSamples)
			}
			if p.PerSec <= 0 || p.P50 <= 0 || p.P50 > p.P95 || p.P95 > p.P99 {
				t.Fatalf("req/s %.1f, p50 %.3f, p95 %.3f, p99 %.3f ms", p.PerSec, p.P50, p.P95, p.P99)
			}
		})
	}
	if !slices.Equal(got, bench.Paths()) {
		t.Fatalf("paths run: %v, want %v", got, bench.Paths())
	}
	for _, want := range []string{"discovery", "mix", "100%", "\n"} {
		if !bytes.Contains(progress.Bytes(), []byte(want)) {
			t.Fatalf("no %q in the progress output:\n%s", want, progress.String())
		}
	}
}

// The password+TOTP path really passes TOTP: its verified ID token says
// otp (and mfa); the password path's says pwd alone.
func TestTheTOTPPathProvesTheSecondFactor(t *testing.T) {
	s, setup := seeded(t)
	before := setup.Users[0].LastStep
	r, err := bench.Run(context.Background(), bench.Config{Issuer: s.URL, Workers: 1, Count: count,
		Paths: []string{"password", "totp"}, Setup: setup, Now: s.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	amr := map[string][]string{}
	for _, p := range r.Paths {
		if p.Errors != 0 {
			t.Fatalf("%s: %v", p.Path, p.ErrorSamples)
		}
		amr[p.Path] = p.AMR
	}
	if !slices.Equal(amr["password"], []string{"pwd"}) || !slices.Equal(amr["totp"], []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("amr: %v", amr)
	}
	used := 0
	for _, u := range setup.Users {
		if u.LastStep > before {
			used++
		}
	}
	if used != count {
		t.Fatalf("%d accounts used a new TOTP step, want %d (one per TOTP sign-in)", used, count)
	}
}

func TestTheReportIsSaneJSON(t *testing.T) {
	s, setup := seeded(t)
	r, err := bench.Run(context.Background(), bench.Config{Issuer: s.URL, Workers: 1, Count: 4,
		Paths: []string{"jwks", "mix"}, Setup: setup, Now: s.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Issuer  string `json:"issuer"`
		Workers int    `json:"workers"`
		Count   int    `json:"count"`
		Users   int    `json:"users"`
		Machine struct {
			CPUs int `json:"cpus"`
		} `json:"machine"`
		Paths []struct {
			Path     string  `json:"path"`
			Requests int     `json:"requests"`
			Errors   int     `json:"errors"`
			PerSec   float64 `json:"req_per_s"`
			P99      float64 `json:"p99_ms"`
			Ops      []struct {
				Path     string `json:"path"`
				Requests int    `json:"requests"`
			} `json:"ops"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if back.Issuer != s.URL || back.Workers != 1 || back.Count != 4 || back.Users != users || back.Machine.CPUs < 1 || len(back.Paths) != 2 {
		t.Fatalf("report:\n%s", b.String())
	}
	mix := back.Paths[1]
	sum := 0
	for _, o := range mix.Ops {
		sum += o.Requests
	}
	if mix.Path != "mix" || mix.Requests != 4 || mix.Errors != 0 || sum != 4 || mix.PerSec <= 0 || mix.P99 <= 0 {
		t.Fatalf("mix:\n%s", b.String())
	}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(table.Bytes(), []byte("req/s")) || !bytes.Contains(table.Bytes(), []byte("mix/")) {
		t.Fatalf("table:\n%s", table.String())
	}
}

// Several workers share a count exactly, each with its own browser or token.
func TestConcurrentWorkers(t *testing.T) {
	s, setup := seeded(t)
	paths := []string{"discovery", "password", "sso", "code", "refresh", "introspection", "client_credentials"}
	r, err := bench.Run(context.Background(), bench.Config{Issuer: s.URL, Workers: workers, Count: 4 * workers,
		Paths: paths, Setup: setup, Now: s.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Paths {
		if p.Requests != 4*workers || p.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors: %v", p.Path, p.Requests, p.Errors, p.ErrorSamples)
		}
	}
}

func TestPathsNeedingAccountsRefuseToRunWithoutASetup(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{})
	_, err := bench.Run(context.Background(), bench.Config{Issuer: s.URL, Workers: 1, Count: 1, Paths: []string{"discovery", "sso"}})
	if err == nil {
		t.Fatal("sso ran without accounts")
	}
	r, err := bench.Run(context.Background(), bench.Config{Issuer: s.URL, Workers: 2, Count: 3, Paths: []string{"discovery", "jwks"}})
	if err != nil || r.Paths[0].Requests != 3 || r.Paths[1].Errors != 0 {
		t.Fatalf("anonymous paths: %+v, %v", r, err)
	}
}

// A burst of simultaneous sign-ins is accounted for in full: each one
// succeeded or was refused with 429/503, none failed otherwise, and
// discovery kept answering meanwhile.
func TestOverloadAccountsForEverySignIn(t *testing.T) {
	s, setup := seeded(t)
	const n = 40
	r, err := bench.Overload(context.Background(), bench.Config{Issuer: s.URL, Setup: setup}, n)
	if err != nil {
		t.Fatal(err)
	}
	if r.Succeeded+r.TooMany+r.Unavailable+r.Other != n || r.Other != 0 || r.Succeeded == 0 ||
		r.WithRetryAfter != r.TooMany+r.Unavailable || r.Discovery.Requests == 0 || r.Discovery.Errors != 0 {
		t.Fatalf("overload report: %+v", r)
	}
}

// A soak runs the mix for its duration and reports it.
func TestSoakRunsTheMix(t *testing.T) {
	s, setup := seeded(t)
	r, err := bench.Soak(context.Background(), bench.Config{Issuer: s.URL, Workers: 2, Duration: 500 * time.Millisecond,
		Setup: setup, Now: s.Clock.Now}, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mix.Path != "mix" || r.Mix.Requests == 0 || r.Mix.Errors != 0 {
		t.Fatalf("soak: %+v", r.Mix)
	}
}
