package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/twofold-idp/twofold/cmd/twofold/config"
)

// publicJWKS is a client's public key set for private_key_jwt.
func publicJWKS(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTheFileAndTheCLIGiveOneAnswer runs each input through the configuration file and through the
// matching CLI command: both must accept it, or both refuse it with the domain's message (issue 4's table).
func TestTheFileAndTheCLIGiveOneAnswer(t *testing.T) {
	jwks := publicJWKS(t)
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, []byte(jwks), 0o600); err != nil {
		t.Fatal(err)
	}
	user := func(name string) (string, []string, string) {
		return "users: [{username: '" + name + "', password: correct horse battery}]\n",
			[]string{"user", "add", "--username", name, "--password-stdin"}, "correct horse battery\n"
	}
	type row struct {
		name  string
		yaml  string
		args  []string
		stdin string
		want  string // "" = accepted; else a part of the message both give
	}
	rows := []row{
		{"a private-use scheme that is not a reverse domain is refused (RFC 8252 §7.1)",
			"clients: [{id: app, redirect_uris: ['myapp:/cb']}]\n",
			[]string{"client", "add", "--id", "app", "--public", "--redirect-uri", "myapp:/cb"}, "",
			`redirect_uris[0]: "myapp:/cb" must use https, http on loopback, or a reverse-domain app scheme`},
		{"a reverse-domain private-use scheme is accepted",
			"clients: [{id: app, redirect_uris: ['com.example.app:/cb']}]\n",
			[]string{"client", "add", "--id", "app", "--public", "--redirect-uri", "com.example.app:/cb"}, "", ""},
		{"http on any loopback address is accepted (RFC 8252 §7.3)",
			"clients: [{id: app, redirect_uris: ['http://127.0.0.2/cb']}]\n",
			[]string{"client", "add", "--id", "app", "--public", "--redirect-uri", "http://127.0.0.2/cb"}, "", ""},
		{"http on a public host is refused",
			"clients: [{id: app, redirect_uris: ['http://app.example.com/cb']}]\n",
			[]string{"client", "add", "--id", "app", "--public", "--redirect-uri", "http://app.example.com/cb"}, "",
			"http is only allowed for localhost and loopback addresses"},
		{"a private_key_jwt service client may use client_credentials",
			"clients: [{id: svc, grant_types: [client_credentials], jwks: '" + jwks + "'}]\n",
			[]string{"client", "add", "--id", "svc", "--grant-type", "client_credentials", "--jwks-file", jwksFile}, "", ""},
		{"a public client may not use client_credentials",
			"clients: [{id: svc, grant_types: [client_credentials]}]\n",
			[]string{"client", "add", "--id", "svc", "--public", "--grant-type", "client_credentials"}, "",
			"grant_types: client_credentials needs a confidential client"},
		{"backup codes alone cannot satisfy an always-MFA policy",
			"policies: [{name: strict, require_mfa: always, methods: [backup_code]}]\n",
			[]string{"policy", "set", "strict", "--require-mfa", "always", "--methods", "backup_code"}, "",
			"methods: backup codes alone cannot satisfy a policy that always requires MFA"},
		{"an always-MFA policy with TOTP and backup codes is accepted",
			"policies: [{name: strict, require_mfa: always, methods: [totp, backup_code]}]\n",
			[]string{"policy", "set", "strict", "--require-mfa", "always", "--methods", "totp,backup_code"}, "", ""},
		{"no policy may be called none",
			"policies: [{name: none}]\n",
			[]string{"policy", "set", "none"}, "", `name: "none" means no policy`},
	}
	for _, u := range []struct {
		name, want string
	}{
		{"alice", ""}, {"zoë", ""}, {"a.b-c_d@example.com+x", ""},
		{"alice smith", "username: may contain letters, digits and . _ - @ + only"},
		{"alice!", "username: may contain letters, digits and . _ - @ + only"},
		{"<script>", "username: may contain letters, digits and . _ - @ + only"},
	} {
		yaml, args, stdin := user(u.name)
		verdict := "accepted"
		if u.want != "" {
			verdict = "refused"
		}
		rows = append(rows, row{"the username " + u.name + " is " + verdict, yaml, args, stdin, u.want})
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			_, fileErr := config.Parse([]byte(r.yaml), nil)
			code, _, stderr := newCLI(t).run(r.stdin, r.args...)
			if r.want == "" {
				if fileErr != nil || code != 0 {
					t.Fatalf("want accepted; file: %v; CLI: exit %d %s", fileErr, code, stderr)
				}
				return
			}
			if fileErr == nil || !strings.Contains(fileErr.Error(), r.want) {
				t.Errorf("file: %v\nwant a refusal containing %q", fileErr, r.want)
			}
			if code != 1 || !strings.Contains(stderr, r.want) {
				t.Errorf("CLI: exit %d, %q\nwant a refusal containing %q", code, stderr, r.want)
			}
		})
	}
}
