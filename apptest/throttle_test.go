package apptest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/password"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage"
	"github.com/twofold-idp/twofold/storage/storagetest"
	"golang.org/x/oauth2"
)

// loopback trusts the test's own connections as a load balancer, so that
// Browser.From can say which address a request comes from.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}

// eachReplicaPair runs fn, on SQLite and on PostgreSQL, against two
// servers on one database (two replicas behind a load balancer) sharing
// the clock, the keys and a gate on their password checks.
func eachReplicaPair(t *testing.T, st directory.Static, fn func(t *testing.T, a, b *apptest.Server, g *checkGate)) {
	for name, newURL := range storagetest.URLs() {
		t.Run(name, func(t *testing.T) {
			g := &checkGate{}
			open := storagetest.OpenURL(newURL(t))
			o := apptest.Options{Static: st, TrustedProxies: loopback, WrapHasher: g.wrap}
			a := apptest.New(t, open, o)
			o.Clock, o.Ring = a.Clock, a.Ring
			fn(t, a, apptest.New(t, open, o), g)
		})
	}
}

// checkGate, once armed for n requests, holds every password check until
// each of the n requests is either held or answered; then the held checks
// go on together. So no check finishes while another request could still
// reach one, and how many reach a check depends only on what is decided
// before it: with the attempt counted first, at most the limit; checked
// first and counted after a failure (the race), all n.
type checkGate struct {
	mu                       sync.Mutex
	n, held, answered, calls int
	open                     chan struct{}
}

func (g *checkGate) wrap(h directory.PasswordHasher) directory.PasswordHasher {
	return gatedHasher{PasswordHasher: h, g: g}
}

// arm starts holding checks for the next n requests.
func (g *checkGate) arm(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n, g.held, g.answered, g.calls, g.open = n, 0, 0, 0, make(chan struct{})
}

// disarm stops holding checks and returns how many passwords were checked
// while armed.
func (g *checkGate) disarm() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n = 0
	return g.calls
}

// arrive counts a request at the gate: held (at a password check, which
// waits for the gate to open) or answered.
func (g *checkGate) arrive(held bool) {
	g.mu.Lock()
	if g.n == 0 {
		g.mu.Unlock()
		return
	}
	if held {
		g.held++
		g.calls++
	} else {
		g.answered++
	}
	if g.held+g.answered == g.n {
		close(g.open)
	}
	open := g.open
	g.mu.Unlock()
	if held {
		<-open
	}
}

type gatedHasher struct {
	directory.PasswordHasher
	g *checkGate
}

func (h gatedHasher) Verify(ctx context.Context, encoded, password string) (bool, bool, error) {
	h.g.arrive(true)
	return h.PasswordHasher.Verify(ctx, encoded, password)
}

// onServer is page p as if s had served it: its forms post to s.
func onServer(p *apptest.Page, s *apptest.Server) *apptest.Page {
	su, _ := url.Parse(s.URL)
	u := *p.URL
	u.Host = su.Host
	q := *p
	q.URL = &u
	return &q
}

// audits counts the audit rows of action.
func audits(t *testing.T, s *apptest.Server, action string) int {
	t.Helper()
	ev, err := s.Store.ListAudit(context.Background(), storage.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return len(ev)
}

// guessInParallel submits form on page n times at once, spread over the
// replicas, with fields(i), calls answered after each answer, and returns
// how many answers had each status.
func guessInParallel(br *apptest.Browser, page *apptest.Page, form string, n int, fields func(i int) map[string]string, answered func(), replicas ...*apptest.Server) map[int]int {
	statuses := make([]int, n)
	// Open the n connections first, so that the guesses arrive together
	// rather than spread over n connection set-ups.
	br.Client.Transport = &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if resp, err := br.Client.Get(replicas[i%len(replicas)].URL + "/healthz"); err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			p := onServer(page, replicas[i%len(replicas)])
			<-start
			statuses[i] = br.Submit(p, form, fields(i)).Status
			answered()
		})
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	return count
}

// SECURITY-RULES: "Failed-attempt limiting per account …; while throttled even the correct code is refused"
// — applied to passwords as to codes (NIST SP 800-63B §5.2.2 limits guesses at every authenticator): the
// attempt is counted before the password is verified, so parallel guesses cannot all be checked.
func TestParallelWrongPasswordsOnTwoReplicasAreVerifiedAtMostFiveTimes(t *testing.T) {
	eachReplicaPair(t, staticFixture(), func(t *testing.T, a, b *apptest.Server, g *checkGate) {
		rp := apptest.NewRP(t, a, "app", appSecret, appRedirect)
		br := apptest.NewBrowser(t, a)
		page := br.Get(rp.AuthURL("s", "n", pkce))
		const n = 40
		g.arm(n)
		got := guessInParallel(br, page, "login", n, func(i int) map[string]string {
			return map[string]string{"username": "alice", "password": fmt.Sprintf("wrong guess %d", i)}
		}, func() { g.arrive(false) }, a, b)
		checked := g.disarm()
		verified := audits(t, a, "login.failed")
		t.Logf("%d parallel wrong passwords over two replicas: %d checked, statuses %v", n, checked, got)
		if checked > 5 || checked == 0 || verified != checked || got[http.StatusUnauthorized] != checked || got[http.StatusTooManyRequests] != n-checked {
			t.Fatalf("%d parallel guesses: %d checked (want 1 to 5), %d failures audited, statuses %v", n, checked, verified, got)
		}
		// The limit holds for the right password too.
		if p := br.Submit(page, "login", map[string]string{"username": "alice", "password": alicePassword}); p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" {
			t.Fatalf("the right password after the guesses: %d, Retry-After %q", p.Status, p.Header.Get("Retry-After"))
		}
	})
}

// SECURITY-RULES: "Failed-attempt limiting per account across the OTP-type factors (TOTP + backup codes
// together), ≤ 100 consecutive failures by NIST, far fewer by our choice; while throttled even the correct code
// is refused" — the attempt is counted before the code is verified, on every replica.
func TestParallelWrongTOTPCodesOnTwoReplicasAreVerifiedAtMostFiveTimes(t *testing.T) {
	eachReplicaPair(t, mfaFixture(), func(t *testing.T, a, b *apptest.Server, _ *checkGate) {
		rp := apptest.NewRP(t, a, "app", appSecret, appRedirect)
		secret, _, _ := enrollTOTP(t, a, apptest.NewBrowser(t, a), rp)
		a.Clock.Advance(30 * time.Second)
		br := apptest.NewBrowser(t, a)
		page := br.Login(rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		if !strings.Contains(page.Body, `id="mfa-totp"`) {
			t.Fatalf("no TOTP challenge after the password: %d\n%s", page.Status, page.Body)
		}
		now := totp.Step(a.Clock.Now())
		valid := map[string]bool{}
		for _, step := range []int64{now - 1, now, now + 1} {
			valid[totp.Code(secret, step)] = true
		}
		before := audits(t, a, "mfa.failed") // the wrong code enrollTOTP tried
		const n = 100
		got := guessInParallel(br, page, "mfa-totp", n, func(i int) map[string]string {
			code := fmt.Sprintf("%06d", i)
			if valid[code] {
				code = fmt.Sprintf("%06d", 999999-i)
			}
			return map[string]string{"code": code}
		}, func() {}, a, b)
		verified := audits(t, a, "mfa.failed") - before
		t.Logf("%d parallel wrong TOTP codes over two replicas: %d verified, statuses %v", n, verified, got)
		if verified > 5 || verified == 0 || got[http.StatusUnauthorized] != verified || got[http.StatusTooManyRequests] != n-verified {
			t.Fatalf("%d parallel guesses: %d verified (want 1 to 5), statuses %v", n, verified, got)
		}
		right := map[string]string{"code": totp.Code(secret, totp.Step(a.Clock.Now()))}
		if p := br.Submit(page, "mfa-totp", right); p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" {
			t.Fatalf("the right code after the guesses: %d, Retry-After %q", p.Status, p.Header.Get("Retry-After"))
		}
		// The counter decays: one attempt comes back after 15 minutes.
		a.Clock.Advance(15 * time.Minute)
		right = map[string]string{"code": totp.Code(secret, totp.Step(a.Clock.Now()))}
		apptest.Code(t, br.Submit(onServer(page, b), "mfa-totp", right))
	})
}

// signIns is a server behind a trusted proxy, and password(from, user, pw)
// tries a password from an address with a fresh browser.
type signIns struct {
	s  *apptest.Server
	rp *apptest.RP
	t  *testing.T
}

func eachProxiedServer(t *testing.T, fn func(t *testing.T, si signIns)) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			s := apptest.New(t, newStore, apptest.Options{Static: mfaFixture(), TrustedProxies: loopback})
			fn(t, signIns{s: s, rp: apptest.NewRP(t, s, "app", appSecret, appRedirect), t: t})
		})
	}
}

func (si signIns) password(from, username, pw string) *apptest.Page {
	si.t.Helper()
	return apptest.NewBrowser(si.t, si.s).From(from).Login(si.rp.AuthURL("s", "n", pkce), username, pw)
}

// accepted: the password was right and not throttled, so the next page is
// the second step (a challenge or the enrollment), not the password form.
func accepted(p *apptest.Page) bool {
	return p.Status == http.StatusOK && !strings.Contains(p.Body, `<form id="login"`) &&
		(strings.Contains(p.Body, "data-method=") || strings.Contains(p.Body, "data-enroll="))
}

// SECURITY-RULES: "throttling must not enable a permanent lock-out by a stranger" (NIST SP 800-63B §5.2.2):
// guessing from many addresses trips the account-wide limit for new addresses only — the owner's known address
// and a passkey still sign in — and the account-wide counter decays.
func TestGuessingFromManyAddressesLeavesTheOwnersAddressAndPasskeyWorking(t *testing.T) {
	eachProxiedServer(t, func(t *testing.T, si signIns) {
		s := si.s
		alice, err := s.Dir.GetUserByUsername(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		key := apptest.NewAuthenticator(t, s, alice.ID, true)

		// Alice signs in at home and registers a passkey.
		const home = "198.51.100.7"
		hb := apptest.NewBrowser(t, s).From(home)
		p := hb.Login(si.rp.AuthURL("s", "n", pkce), "alice", alicePassword)
		p = hb.Get(s.URL + "/login/enroll/webauthn?id=" + p.URL.Query().Get("id"))
		p = hb.WebAuthn(p, "/login/webauthn/register/begin", "/login/webauthn/register/finish", func(begin []byte, id string) []byte {
			return key.Register(begin, id, "Laptop")
		})
		apptest.Code(t, hb.Submit(p, "backup-codes-ack", nil))

		// Strangers guess from 25 addresses, 5 each: more than the account-wide 100.
		refused := 0
		for i := range 25 {
			for range 5 {
				if si.password(fmt.Sprintf("203.0.113.%d", 10+i), "alice", "a wrong guess").Status == http.StatusTooManyRequests {
					refused++
				}
			}
		}
		// A new address is refused now, even with the right password…
		if p := si.password("192.0.2.20", "alice", alicePassword); p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" {
			t.Fatalf("the right password from a new address past the account-wide limit: %d, Retry-After %q", p.Status, p.Header.Get("Retry-After"))
		}
		// …but the owner's known address still signs in with the password,
		if p := si.password(home, "alice", alicePassword); !accepted(p) {
			t.Fatalf("the right password from the known address: %d\n%s", p.Status, p.Body)
		}
		// …and the passkey from anywhere.
		pb := apptest.NewBrowser(t, s).From("192.0.2.30")
		p = pb.Get(si.rp.AuthURL("s", "n", pkce))
		apptest.Code(t, pb.WebAuthn(p, "/login/passkey/begin", "/login/passkey/finish", key.Assert))
		if refused != 25 {
			t.Fatalf("of 125 guesses from 25 addresses %d were refused, want 25 past the account-wide 100", refused)
		}
		// The counter decays: an hour later one more attempt is allowed.
		s.Clock.Advance(time.Hour)
		if p := si.password("192.0.2.20", "alice", alicePassword); !accepted(p) {
			t.Fatalf("the right password from a new address an hour later: %d\n%s", p.Status, p.Body)
		}
	})
}

// SECURITY-RULES: "throttling must not enable a permanent lock-out by a stranger" (NIST SP 800-63B §5.2.2):
// one wrong password every 15 minutes from one address, after a burst, is checked each time and fails — and the
// owner still signs in from elsewhere right after the last one (today: 429 for ever).
func TestOneWrongPasswordEveryQuarterHourNeverLocksTheOwnerOut(t *testing.T) {
	eachProxiedServer(t, func(t *testing.T, si signIns) {
		const stranger = "203.0.113.200"
		for range 5 {
			si.password(stranger, "alice", "a wrong guess")
		}
		for i := range 16 {
			si.s.Clock.Advance(15 * time.Minute)
			if p := si.password(stranger, "alice", "a wrong guess"); p.Status != http.StatusUnauthorized {
				t.Fatalf("slow guess %d: %d", i, p.Status)
			}
		}
		if p := si.password("192.0.2.40", "alice", alicePassword); !accepted(p) {
			t.Fatalf("the right password after a stranger's slow guessing: %d\n%s", p.Status, p.Body)
		}
	})
}

// SECURITY-RULES: "throttling must not enable a permanent lock-out by a stranger" (NIST SP 800-63B §5.2.2): a
// browser the owner chose to remember still signs in with the password from a new address while guessing from
// many addresses keeps new addresses out; another browser at that address does not.
func TestARememberedBrowserSignsInFromANewAddressDuringAnAttack(t *testing.T) {
	st := mfaFixture()
	st.Policies[0].RememberDevice = 30 * 24 * time.Hour
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			s := apptest.New(t, newStore, apptest.Options{Static: st, TrustedProxies: loopback})
			si := signIns{s: s, rp: apptest.NewRP(t, s, "app", appSecret, appRedirect), t: t}
			laptop := apptest.NewBrowser(t, s).From("198.51.100.7")
			secret, _, end := enrollTOTP(t, s, laptop, si.rp)
			apptest.Code(t, end)
			s.Clock.Advance(time.Minute)
			p := laptop.Get(si.rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "login")))
			p = laptop.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword})
			apptest.Code(t, laptop.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now())), "remember_device": "1"}))

			for i := range 25 {
				for range 5 {
					si.password(fmt.Sprintf("203.0.113.%d", 10+i), "alice", "a wrong guess")
				}
			}
			s.Clock.Advance(time.Minute)
			const cafe = "192.0.2.50"
			if p := si.password(cafe, "alice", alicePassword); p.Status != http.StatusTooManyRequests {
				t.Fatalf("another browser at a new address past the account-wide limit: %d", p.Status)
			}
			laptop.From(cafe)
			p = laptop.Get(si.rp.AuthURL("s", "n", pkce, oauth2.SetAuthURLParam("prompt", "login")))
			apptest.Code(t, laptop.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword}))
		})
	}
}

// busyHasher answers every password check with password.ErrBusy while busy
// is set: the server's argon2 admission refusing the excess of a flood.
type busyHasher struct {
	directory.PasswordHasher
	busy *atomic.Bool
}

func (h busyHasher) Verify(ctx context.Context, encoded, pw string) (bool, bool, error) {
	if h.busy.Load() {
		return false, false, password.ErrBusy
	}
	return h.PasswordHasher.Verify(ctx, encoded, pw)
}

func (h busyHasher) VerifyDummy(ctx context.Context, pw string) error {
	if h.busy.Load() {
		return password.ErrBusy
	}
	return h.PasswordHasher.VerifyDummy(ctx, pw)
}

// SECURITY-RULES: "throttling must not enable a permanent lock-out by a stranger" — a flood that fills the password
// checks' queue is answered 503 with Retry-After, and those refusals are not counted as failed attempts: once the
// flood passes, the owner signs in at once.
// SECURITY-RULES: "Unknown user, wrong password, disabled account, with or without MFA: the same status, message,
// redirects" — while busy, a known and an unknown account get the same 503.
func TestAFloodOfSignInsIsRefusedWith503AndCountsNoAttempt(t *testing.T) {
	for name, newStore := range storagetest.Databases() {
		t.Run(name, func(t *testing.T) {
			var busy atomic.Bool
			s := apptest.New(t, newStore, apptest.Options{Static: mfaFixture(), TrustedProxies: loopback,
				WrapHasher: func(h directory.PasswordHasher) directory.PasswordHasher { return busyHasher{h, &busy} }})
			si := signIns{s: s, rp: apptest.NewRP(t, s, "app", appSecret, appRedirect), t: t}
			busy.Store(true)
			for _, user := range []string{"alice", "nobody"} { // known and unknown alike
				if p := si.password("192.0.2.50", user, alicePassword); p.Status != http.StatusServiceUnavailable ||
					p.Header.Get("Retry-After") == "" || !strings.Contains(p.Body, `role="alert"`) || !strings.Contains(p.Body, `<form id="login"`) {
					t.Fatalf("%s while the checks are full: %d, Retry-After %q\n%s", user, p.Status, p.Header.Get("Retry-After"), p.Body)
				}
			}
			// In parallel, attempts in flight also count against the address
			// and account limits (counted before the check), so some of the
			// flood may be 429 rather than 503: both say when to come back.
			var wg sync.WaitGroup
			pages := make([]*apptest.Page, 24)
			for i := range pages {
				wg.Go(func() {
					user, pw := "alice", alicePassword
					if i%2 == 1 {
						user, pw = "nobody", "a guess"
					}
					pages[i] = si.password("192.0.2.50", user, pw)
				})
			}
			wg.Wait()
			for i, p := range pages {
				if (p.Status != http.StatusServiceUnavailable && p.Status != http.StatusTooManyRequests) || p.Header.Get("Retry-After") == "" {
					t.Fatalf("sign-in %d during the flood: %d, Retry-After %q\n%s", i, p.Status, p.Header.Get("Retry-After"), p.Body)
				}
			}
			busy.Store(false)
			if p := si.password("192.0.2.50", "alice", alicePassword); !accepted(p) {
				t.Fatalf("the owner after the flood: %d\n%s", p.Status, p.Body)
			}
		})
	}
}
