package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// CLIAdmin seeds with the twofold command line, as an operator would: it
// runs Path with the same --config file and TWOFOLD_* environment as the
// server, so it writes to the server's database with its master key.
type CLIAdmin struct {
	Path    string   // the twofold binary
	Config  string   // passed as --config when set
	Environ []string // the environment of every run (TWOFOLD_* included)
	// IDTokenAlg is the seeded clients' id_token_signed_response_alg ("": the server's default, RS256).
	IDTokenAlg string
}

var _ Admin = CLIAdmin{}

func (c CLIAdmin) run(ctx context.Context, stdin string, args ...string) (string, error) {
	if c.Config != "" {
		args = append(args[:2:2], append([]string{"--config", c.Config}, args[2:]...)...)
	}
	cmd := exec.CommandContext(ctx, c.Path, args...)
	cmd.Env = c.Environ
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("twofold %s %s: %w: %s", args[0], args[1], err, lastLine(errb.String()))
	}
	return out.String(), nil
}

// lastLine is the CLI's message (the log lines before it are noise here).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func (c CLIAdmin) SetMFAPolicy(ctx context.Context, name string) error {
	_, err := c.run(ctx, "", "policy", "set", "--require-mfa", "always", "--methods", "totp", name)
	return err
}

var secretRE = regexp.MustCompile(`(?m)^client secret \(shown once, store it now\): (\S+)$`)

func (c CLIAdmin) AddClient(ctx context.Context, id, redirectURI, policy string) (string, error) {
	args := []string{"client", "add", "--id", id, "--redirect-uri", redirectURI, "--skip-consent",
		"--grant-type", "authorization_code,refresh_token,client_credentials"}
	if policy != "" {
		args = append(args, "--policy", policy)
	}
	if c.IDTokenAlg != "" {
		args = append(args, "--id-token-alg", c.IDTokenAlg)
	}
	out, err := c.run(ctx, "", args...)
	if err != nil {
		return "", err
	}
	m := secretRE.FindStringSubmatch(out)
	if m == nil {
		return "", errors.New("twofold client add printed no secret")
	}
	return m[1], nil
}

func (c CLIAdmin) AddUser(ctx context.Context, username, password string) error {
	_, err := c.run(ctx, password+"\n", "user", "add", "--username", username, "--password-stdin")
	return err
}
