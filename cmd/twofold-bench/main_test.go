package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/cmd/twofold-bench/internal/bench"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// buildTwofold builds the real twofold command, as an operator has it.
func buildTwofold(t *testing.T) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	bin := filepath.Join(t.TempDir(), "twofold")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/twofold-idp/twofold/cmd/twofold").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The seeding path an operator uses: the twofold CLI with the server's
// database and master key in TWOFOLD_* variables, then the hosted
// enrollment pages; the setup file lets a second run skip seeding.
func TestSeedThroughTheCLIThenRunFromTheSetupFile(t *testing.T) {
	bin := buildTwofold(t)
	key, err := secrets.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secrets.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	db := storagetest.SQLiteURL(t)
	s := apptest.New(t, storagetest.OpenURL(db), apptest.Options{Ring: ring})
	dir := t.TempDir()
	environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TWOFOLD_DATABASE_URL=" + db,
		"TWOFOLD_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key), "TWOFOLD_LOG_LEVEL=error"}
	state, report := filepath.Join(dir, "setup.json"), filepath.Join(dir, "report.json")

	var stdout, stderr bytes.Buffer
	args := []string{"--issuer", s.URL, "--seed", "2", "--twofold", bin, "--state", state, "--json", report,
		"--workers", "2", "--count", "4", "--paths", "discovery,password,client_credentials"}
	if code := run(context.Background(), args, environ, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	setup, err := bench.LoadSetup(state)
	if err != nil {
		t.Fatal(err)
	}
	if len(setup.Users) != 2 || setup.Users[1].TOTPSecret == "" || !strings.HasPrefix(setup.Client.ID, "bench-") {
		t.Fatalf("setup = %+v", setup)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the setup file holds secrets: mode %v, %v", fi.Mode(), err)
	}
	// What the CLI made is what the server has.
	if _, err := s.Dir.GetUserByUsername(context.Background(), setup.Users[0].Username); err != nil {
		t.Fatalf("seeded user: %v", err)
	}
	var r bench.Report
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, p := range r.Paths {
		paths = append(paths, p.Path)
		if p.Requests != 4 || p.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors: %v", p.Path, p.Requests, p.Errors, p.ErrorSamples)
		}
	}
	if !slices.Equal(paths, []string{"discovery", "password", "client_credentials"}) || r.Users != 2 {
		t.Fatalf("report:\n%s", b)
	}
	for _, want := range []string{"path", "req/s", "p99 ms", "client_credentials"} {
		if !strings.Contains(stdout.String(), want) {
			t.Fatalf("no %q in the table:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "seeding: 2 accounts") || !strings.Contains(stderr.String(), "100%") {
		t.Fatalf("progress:\n%s", stderr.String())
	}

	// Again from the setup file alone: no CLI (a binary that does not exist).
	stdout.Reset()
	stderr.Reset()
	args = []string{"--issuer", s.URL + "/", "--state", state, "--twofold", filepath.Join(dir, "absent"),
		"--workers", "1", "--count", "2", "--paths", "sso"}
	if code := run(context.Background(), args, environ, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
}

func TestBadFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--issuer", "http://localhost:1", "--duration", "1s", "--count", "3"},
		{"--issuer", "http://localhost:1", "--workers", "0"},
		{"--issuer", "http://localhost:1", "extra"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, nil, &bytes.Buffer{}, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, nil, &bytes.Buffer{}, &stderr); code != 0 ||
		!strings.Contains(stderr.String(), "client_credentials") {
		t.Fatalf("--help: exit %d\n%s", code, stderr.String())
	}
}
