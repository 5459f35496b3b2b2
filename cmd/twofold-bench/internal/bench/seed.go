package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/twofold-idp/twofold/mfa/totp"
)

// Admin creates what the benchmark signs in with. CLIAdmin does it with
// the twofold binary; tests may use the directory directly.
type Admin interface {
	// SetMFAPolicy creates (or updates) the policy name: a second factor
	// always, TOTP only.
	SetMFAPolicy(ctx context.Context, name string) error
	// AddClient registers a confidential first-party client (no consent)
	// with authorization_code, refresh_token and client_credentials, under
	// policy (none: "") and returns its secret.
	AddClient(ctx context.Context, id, redirectURI, policy string) (secret string, err error)
	AddUser(ctx context.Context, username, password string) error
}

// MFAPolicy is the policy Seed attaches to its MFA client.
const MFAPolicy = "twofold-bench-totp"

// RedirectURI is the seeded clients' redirect URI: on loopback and never
// requested — the code is read from the Location header.
const RedirectURI = "http://127.0.0.1:9999/twofold-bench/callback"

// SeedOptions tune Seed.
type SeedOptions struct {
	Users       int
	Parallel    int              // accounts created and enrolled at once
	Now         func() time.Time // the TOTP clock; nil: time.Now
	HTTPTimeout time.Duration
	// Progress, when set, is called after each enrolled account.
	Progress func(done int)
}

// Seed creates two clients (one under MFAPolicy) and o.Users accounts
// through admin, all named after a fresh run id so that seeding again never
// collides, then enrolls an authenticator app for each account through the
// hosted pages — a first sign-in at the MFA client is forced into TOTP
// enrollment (a#otpauth-uri, form#enroll-totp, form#backup-codes-ack).
func Seed(ctx context.Context, admin Admin, issuer string, o SeedOptions) (*Setup, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Parallel = max(o.Parallel, 1)
	run := make([]byte, 4)
	_, _ = rand.Read(run)
	prefix := "bench-" + hex.EncodeToString(run)
	s := &Setup{Issuer: issuer}
	if err := admin.SetMFAPolicy(ctx, MFAPolicy); err != nil {
		return nil, fmt.Errorf("policy %s: %w", MFAPolicy, err)
	}
	for _, c := range []struct {
		into   *Client
		id, pc string
	}{{&s.Client, prefix, ""}, {&s.MFAClient, prefix + "-mfa", MFAPolicy}} {
		secret, err := admin.AddClient(ctx, c.id, RedirectURI, c.pc)
		if err != nil {
			return nil, fmt.Errorf("client %s: %w", c.id, err)
		}
		*c.into = Client{ID: c.id, Secret: secret, RedirectURI: RedirectURI}
	}
	w, err := newWorld(ctx, issuer, o.Parallel, o.HTTPTimeout, s, o.Now)
	if err != nil {
		return nil, err
	}
	s.Users = make([]User, o.Users)
	var (
		mu       sync.Mutex
		done     int
		firstErr error
		wg       sync.WaitGroup
	)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, o.Parallel)
	var enrolling sync.Mutex
	for i := range s.Users {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := seedUser(gctx, admin, w, prefix, i, o, &enrolling, &s.Users[i]); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
				return
			}
			mu.Lock()
			done++
			if o.Progress != nil {
				o.Progress(done)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return s, nil
}

// seedUser creates account i and enrolls its authenticator app. Accounts
// are created in parallel but enrolled one at a time: on SQLite, second
// factors proven at the same moment in different sessions can fail with
// "database is locked (517)" (storage.AddSessionFactor reads before it
// writes in a transaction that does not take the write lock first), and a
// setup must not depend on that. The totp path does not serialise: it
// measures, and reports such failures as errors.
func seedUser(ctx context.Context, admin Admin, w *world, prefix string, i int, o SeedOptions, enrolling *sync.Mutex, into *User) error {
	u := User{Username: fmt.Sprintf("%s-%04d", prefix, i+1), Password: random()}
	if err := admin.AddUser(ctx, u.Username, u.Password); err != nil {
		return fmt.Errorf("user %s: %w", u.Username, err)
	}
	enrolling.Lock()
	err := w.enroll(ctx, &u, o.Now)
	enrolling.Unlock()
	if err != nil {
		return fmt.Errorf("user %s: enroll TOTP: %w", u.Username, err)
	}
	*into = u
	return nil
}

var (
	enrollLinkRE = regexp.MustCompile(`data-enroll="totp"[^>]*\bhref="([^"]+)"`)
	otpauthRE    = regexp.MustCompile(`id="otpauth-uri"[^>]*\bhref="([^"]+)"`)
)

// enroll signs u in at the MFA client, where the policy forces enrollment,
// enrolls an authenticator app from the otpauth URI the page shows, and
// finishes the sign-in; u gets the secret and the step it used.
func (w *world) enroll(ctx context.Context, u *User, now func() time.Time) error {
	b := w.browser()
	a := newAuthorization(&w.mfa)
	p, err := b.get(ctx, a.url())
	if err != nil {
		return err
	}
	if p, err = b.submit(ctx, p, "login", map[string]string{"username": u.Username, "password": u.Password}); err != nil {
		return err
	}
	if !p.has("enroll-totp") {
		m := enrollLinkRE.FindStringSubmatch(p.body)
		if m == nil {
			return fmt.Errorf("no TOTP enrollment offered after the password (status %d at %s)%s", p.status, p.url.Path, alertOf(p))
		}
		link, err := p.url.Parse(html.UnescapeString(m[1]))
		if err != nil || !sameOrigin(link, w.issuerURL) {
			return fmt.Errorf("enrollment link %q", m[1])
		}
		if p, err = b.get(ctx, link.String()); err != nil {
			return err
		}
	}
	m := otpauthRE.FindStringSubmatch(p.body)
	if m == nil {
		return errors.New("no a#otpauth-uri on the enrollment page")
	}
	key, err := totp.ParseURI(html.UnescapeString(m[1]))
	if err != nil {
		return err
	}
	step := totp.Step(now())
	if p, err = b.submit(ctx, p, "enroll-totp", map[string]string{"code": totp.Code(key.Secret, step)}); err != nil {
		return err
	}
	if p.has("backup-codes-ack") {
		if p, err = b.submit(ctx, p, "backup-codes-ack", nil); err != nil {
			return err
		}
	}
	code, err := w.code(a, p)
	if err != nil {
		return err
	}
	tok, err := w.exchange(ctx, a, code)
	if err != nil {
		return err
	}
	amr, err := w.amr(ctx, a, tok)
	if err != nil {
		return err
	}
	if !strings.Contains(" "+strings.Join(amr, " ")+" ", " otp ") {
		return fmt.Errorf("after enrollment amr is %v, without otp", amr)
	}
	u.TOTPSecret, u.LastStep = b32.EncodeToString(key.Secret), step
	return nil
}
