package webauthn_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/mfa/webauthn"
)

func TestNew(t *testing.T) {
	valid := func(edit func(*webauthn.Config)) webauthn.Config {
		c := webauthn.Config{RPID: "localhost", RPDisplayName: "Twofold", Origins: []string{"http://localhost:8080"}}
		edit(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  webauthn.Config
		ok   bool
	}{
		{"localhost over http is accepted", valid(func(*webauthn.Config) {}), true},
		{"a domain with an https subdomain origin is accepted", valid(func(c *webauthn.Config) {
			c.RPID, c.Origins = "example.com", []string{"https://login.example.com", "https://example.com:443"}
		}), true},
		{"an IPv4 RP ID is refused", valid(func(c *webauthn.Config) { c.RPID, c.Origins = "127.0.0.1", []string{"http://127.0.0.1:8080"} }), false},
		{"a shorthand IPv4 RP ID is refused", valid(func(c *webauthn.Config) { c.RPID = "127.1" }), false},
		{"an IPv6 RP ID is refused", valid(func(c *webauthn.Config) { c.RPID = "::1" }), false},
		{"a bracketed IPv6 RP ID is refused", valid(func(c *webauthn.Config) { c.RPID = "[::1]" }), false},
		{"an RP ID with a port is refused", valid(func(c *webauthn.Config) { c.RPID = "localhost:8080" }), false},
		{"an RP ID with a scheme is refused", valid(func(c *webauthn.Config) { c.RPID = "http://localhost" }), false},
		{"an upper-case RP ID is refused", valid(func(c *webauthn.Config) { c.RPID = "LocalHost" }), false},
		{"an empty RP ID is refused", valid(func(c *webauthn.Config) { c.RPID = "" }), false},
		{"no display name is refused", valid(func(c *webauthn.Config) { c.RPDisplayName = " " }), false},
		{"no origins are refused", valid(func(c *webauthn.Config) { c.Origins = nil }), false},
		{"an origin on another domain is refused", valid(func(c *webauthn.Config) { c.Origins = []string{"http://evil.localhost.example"} }), false},
		{"an origin with a path is refused", valid(func(c *webauthn.Config) { c.Origins = []string{"http://localhost:8080/login"} }), false},
		{"an http origin off localhost is refused", valid(func(c *webauthn.Config) {
			c.RPID, c.Origins = "example.com", []string{"http://example.com"}
		}), false},
		{"an origin without a scheme is refused", valid(func(c *webauthn.Config) { c.Origins = []string{"localhost:8080"} }), false},
		{"a timeout over 10 minutes is refused", valid(func(c *webauthn.Config) { c.Timeout = 11 * time.Minute }), false},
		{"a negative timeout is refused", valid(func(c *webauthn.Config) { c.Timeout = -time.Second }), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webauthn.New(tc.cfg)
			if tc.ok && err != nil {
				t.Errorf("New: %v", err)
			}
			if !tc.ok && !errors.Is(err, webauthn.ErrInvalidConfig) {
				t.Errorf("New: err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestSession(t *testing.T) {
	h := newHarness(t)
	u := newUser(t, "alice")
	_, s, err := h.c.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a session survives storage unchanged", func(t *testing.T) {
		got := roundTrip(t, s)
		if got.Challenge != s.Challenge || string(got.UserID) != string(u.ID) || !got.Expires.Equal(s.Expires) ||
			got.Ceremony != webauthn.CeremonyRegistration || got.UserVerification != "preferred" {
			t.Errorf("got %+v, want %+v", got, s)
		}
	})

	for _, tc := range []struct{ name, json string }{
		{"not JSON", `{`},
		{"an unknown ceremony", `{"ceremony":"x","challenge":"AAAAAAAAAAAAAAAAAAAAAA","user_id":"AQ==","user_verification":"preferred","expires":"2030-01-01T00:00:00Z"}`},
		{"a challenge under 16 bytes", `{"ceremony":"registration","challenge":"AAAA","user_id":"AQ==","user_verification":"preferred","expires":"2030-01-01T00:00:00Z"}`},
		{"a login without allowed credentials", `{"ceremony":"login","challenge":"AAAAAAAAAAAAAAAAAAAAAA","user_id":"AQ==","user_verification":"preferred","expires":"2030-01-01T00:00:00Z"}`},
		{"a discoverable login naming a user", `{"ceremony":"discoverable_login","challenge":"AAAAAAAAAAAAAAAAAAAAAA","user_id":"AQ==","user_verification":"required","expires":"2030-01-01T00:00:00Z"}`},
		{"an unknown user verification", `{"ceremony":"registration","challenge":"AAAAAAAAAAAAAAAAAAAAAA","user_id":"AQ==","user_verification":"discouraged","expires":"2030-01-01T00:00:00Z"}`},
		{"no expiry", `{"ceremony":"registration","challenge":"AAAAAAAAAAAAAAAAAAAAAA","user_id":"AQ==","user_verification":"preferred"}`},
	} {
		t.Run("a stored session with "+tc.name+" is refused", func(t *testing.T) {
			if _, err := webauthn.UnmarshalSession([]byte(tc.json)); !errors.Is(err, webauthn.ErrInvalidSession) {
				t.Errorf("err = %v, want ErrInvalidSession", err)
			}
		})
	}

	t.Run("a zero session is refused by Finish", func(t *testing.T) {
		if _, err := h.c.FinishLogin(u, webauthn.Session{}, []byte(`{}`)); !errors.Is(err, webauthn.ErrInvalidSession) {
			t.Errorf("err = %v, want ErrInvalidSession", err)
		}
	})
}
