package main

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/twofold-idp/twofold/cmd/twofold/config"
)

func TestDockerComposeRunsTwofoldOnPostgres16(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       string            `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Healthcheck *struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
			DependsOn map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	pg, ok := compose.Services["postgres"]
	if !ok || pg.Image != "postgres:16" || pg.Healthcheck == nil {
		t.Fatalf("postgres service = %+v", pg)
	}
	tf, ok := compose.Services["twofold"]
	if !ok || tf.Build != "." {
		t.Fatalf("twofold service = %+v", tf)
	}
	if tf.DependsOn["postgres"].Condition != "service_healthy" {
		t.Fatalf("twofold does not wait for a healthy database: %+v", tf.DependsOn)
	}
	known := config.EnvNames()
	for k := range tf.Environment {
		if !slices.Contains(known, k) {
			t.Errorf("environment %s is not a configuration variable", k)
		}
	}
	db, err := url.Parse(tf.Environment["TWOFOLD_DATABASE_URL"])
	if err != nil || db.Scheme != "postgres" || db.Hostname() != "postgres" {
		t.Fatalf("TWOFOLD_DATABASE_URL = %q does not point at the postgres service", tf.Environment["TWOFOLD_DATABASE_URL"])
	}
	if user := db.User.Username(); user != pg.Environment["POSTGRES_USER"] || strings.TrimPrefix(db.Path, "/") != pg.Environment["POSTGRES_DB"] {
		t.Fatalf("database URL user/db %q/%q do not match the postgres service", user, db.Path)
	}
	if !strings.HasPrefix(tf.Environment["TWOFOLD_SECRET_KEY"], "${TWOFOLD_SECRET_KEY:?") {
		t.Fatalf("the master key must come from the operator, got %q", tf.Environment["TWOFOLD_SECRET_KEY"])
	}
	if !strings.HasPrefix(tf.Environment["TWOFOLD_LISTEN"], "0.0.0.0:") || len(tf.Ports) == 0 {
		t.Fatalf("twofold is not reachable from the host: listen %q, ports %v", tf.Environment["TWOFOLD_LISTEN"], tf.Ports)
	}

	// Mail goes to Mailpit, whose inbox is on the host's loopback only.
	mp, ok := compose.Services["mailpit"]
	if !ok || !strings.HasPrefix(mp.Image, "axllent/mailpit") || !slices.Contains(mp.Ports, "127.0.0.1:8025:8025") {
		t.Fatalf("mailpit service = %+v", mp)
	}
	if tf.DependsOn["mailpit"].Condition == "" {
		t.Errorf("twofold does not start after mailpit: %+v", tf.DependsOn)
	}
	environ := []string{"TWOFOLD_SECRET_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
	for k, v := range tf.Environment {
		if k != "TWOFOLD_SECRET_KEY" {
			environ = append(environ, k+"="+v)
		}
	}
	cfg, err := config.Parse(nil, environ)
	if err != nil {
		t.Fatalf("the compose environment is not a valid configuration: %v", err)
	}
	smtp, ok := cfg.SMTPConfig()
	if !ok || smtp.Host != "mailpit" || smtp.Port != 1025 || smtp.TLS != "none" || smtp.From == "" {
		t.Fatalf("smtp = %+v, want Mailpit's SMTP port on the compose network", smtp)
	}
}

func TestDockerfileBuildsAStaticNonRootImage(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, want := range []string{"AS build", "CGO_ENABLED=0", "COPY --from=build", "USER nonroot", "./cmd/twofold"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Count(df, "\nFROM ") < 2 {
		t.Errorf("Dockerfile is not multi-stage")
	}
}
