package apptest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/mfa/totp"
)

const (
	tvClientID  = "tv"
	cliClientID = "cli"
)

// deviceFixture: mfaFixture ("app" always requires MFA) plus a public TV
// app under the same policy and a confidential command-line tool, both for
// the device grant.
func deviceFixture() directory.Static {
	st := mfaFixture()
	st.Clients = append(st.Clients,
		directory.ClientSpec{ID: tvClientID, Name: "Living Room TV", Policy: "strict",
			GrantTypes: []string{directory.GrantDeviceCode, directory.GrantRefreshToken}},
		directory.ClientSpec{ID: cliClientID, Name: "Acme CLI", Secret: appSecret, GrantTypes: []string{directory.GrantDeviceCode}},
	)
	return st
}

// deviceConfig is the device's x/oauth2 configuration, from discovery.
func deviceConfig(t *testing.T, s *apptest.Server, clientID, secret string, scopes ...string) *oauth2.Config {
	t.Helper()
	rp := apptest.NewRP(t, s, clientID, secret, "", scopes...)
	if rp.Config.Endpoint.DeviceAuthURL != s.URL+"/device_authorization" {
		t.Fatalf("discovery device_authorization_endpoint = %q", rp.Config.Endpoint.DeviceAuthURL)
	}
	cfg := rp.Config
	if secret == "" {
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	return &cfg
}

// withSecret authenticates a confidential client at /device_authorization:
// x/oauth2's DeviceAuth sends only client_id.
func withSecret(secret string) oauth2.AuthCodeOption {
	return oauth2.SetAuthURLParam("client_secret", secret)
}

// poll is one device token request, as a device sends it.
func poll(t *testing.T, s *apptest.Server, clientID, secret, deviceCode string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {directory.GrantDeviceCode}, "device_code": {deviceCode}, "client_id": {clientID}}
	if secret != "" {
		form.Set("client_secret", secret)
	}
	resp, err := http.PostForm(s.URL+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error       string `json:"error"`
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	if resp.StatusCode == http.StatusOK && body.AccessToken == "" {
		t.Fatalf("200 without an access token")
	}
	return resp.StatusCode, body.Error
}

var userCodeRE = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// enterDeviceCode opens the verification URI in b and enters the code.
func enterDeviceCode(t *testing.T, s *apptest.Server, b *apptest.Browser, userCode string) *apptest.Page {
	t.Helper()
	p := b.Get(s.URL + "/device")
	if p.Status != http.StatusOK {
		t.Fatalf("GET /device: %d", p.Status)
	}
	return b.Submit(p, "device-code", map[string]string{"user_code": userCode})
}

// clockTransport moves the server's clock past the polling interval before
// each request, so that a device polling with x/oauth2 in a test is never
// told slow_down by the server's (frozen) clock.
type clockTransport struct {
	s    *apptest.Server
	step time.Duration
}

func (c clockTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/token" {
		c.s.Clock.Advance(c.step)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// SECURITY-RULES: "A step-up completes only the authorization request and browser session it belongs to."
// — RFC 8628 end to end with x/oauth2 as the device: the person enters the code, signs in with the password, is
// stepped up to TOTP by the client's policy and only then approves; the device polls (authorization_pending, then
// slow_down for polling too fast) and gets tokens whose ID token carries the acr/amr/auth_time of that sign-in.
func TestDeviceGrantWithTOTPStepUp(t *testing.T) {
	eachDatabaseServer(t, deviceFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		secret, _, _ := enrollTOTP(t, s, apptest.NewBrowser(t, s), apptest.NewRP(t, s, "app", appSecret, appRedirect))
		s.Clock.Advance(30 * time.Second) // a fresh TOTP step

		cfg := deviceConfig(t, s, tvClientID, "", "openid", "profile", "offline_access")
		da, err := cfg.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !userCodeRE.MatchString(da.UserCode) || da.VerificationURI != s.URL+"/device" || da.Interval != 5 ||
			da.VerificationURIComplete != s.URL+"/device?user_code="+da.UserCode || time.Until(da.Expiry) < 9*time.Minute {
			t.Fatalf("device authorization response = %+v", da)
		}
		if st, e := poll(t, s, tvClientID, "", da.DeviceCode); st != http.StatusBadRequest || e != "authorization_pending" {
			t.Fatalf("first poll: %d %s", st, e)
		}
		if st, e := poll(t, s, tvClientID, "", da.DeviceCode); st != http.StatusBadRequest || e != "slow_down" {
			t.Fatalf("a poll within the interval: %d %s", st, e)
		}

		// The person: verification_uri_complete prefills the code; then the normal login.
		b := apptest.NewBrowser(t, s)
		p := b.Get(da.VerificationURIComplete)
		if !strings.Contains(p.Body, `value="`+da.UserCode+`"`) {
			t.Fatalf("the code is not prefilled:\n%s", p.Body)
		}
		p = b.Submit(p, "device-code", nil)
		p = b.Submit(p, "login", map[string]string{"username": "alice", "password": alicePassword})
		if !strings.Contains(p.Body, `id="mfa-totp"`) || strings.Contains(p.Body, `id="device-approve"`) {
			t.Fatalf("no TOTP challenge before the approval: %d\n%s", p.Status, p.Body)
		}
		if st, e := poll(t, s, tvClientID, "", da.DeviceCode); e != "slow_down" && e != "authorization_pending" {
			t.Fatalf("poll during the sign-in: %d %s", st, e)
		}
		p = b.Submit(p, "mfa-totp", map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))})
		authTime := s.Clock.Now().Unix()
		if !strings.Contains(p.Body, `id="device-approve"`) || !strings.Contains(p.Body, "Living Room TV") || !strings.Contains(p.Body, `id="device-account">alice<`) ||
			p.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("no approval page after the TOTP challenge: %d %s\n%s", p.Status, p.URL, p.Body)
		}
		// Another browser cannot take the approval of this sign-in.
		other := apptest.NewBrowser(t, s)
		if q := other.Get(p.URL.String()); q.Status != http.StatusForbidden || strings.Contains(q.Body, `id="device-approve"`) {
			t.Fatalf("approval page in another browser: %d", q.Status)
		}
		done := b.Submit(p, "device-approve", map[string]string{"decision": "allow"})
		if done.URL.Path != "/device/done" || !strings.Contains(done.Body, `data-result="approved"`) {
			t.Fatalf("after allow: %s\n%s", done.URL, done.Body)
		}
		oneAudit(t, s, tvClientID, "device_grant.approved")
		// A second approval of the same sign-in changes nothing.
		if again := b.Submit(p, "device-approve", map[string]string{"decision": "deny"}); again.Status != http.StatusBadRequest {
			t.Fatalf("a second decision: %d", again.Status)
		}

		// The device, with x/oauth2: the test's transport moves the server's clock on, the interval is shortened
		// on the client side only so the library's ticker fires quickly.
		da.Interval = 1
		pctx := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: clockTransport{s: s, step: 15 * time.Second}})
		tok, err := cfg.DeviceAccessToken(pctx, da)
		if err != nil {
			t.Fatal(err)
		}
		rp := apptest.NewRP(t, s, tvClientID, "", "")
		_, c := rp.IDToken(tok)
		if c.ACR != idp.ACRMFA || !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.AuthTime != authTime || c.Username != "alice" {
			t.Fatalf("ID token claims = %+v (auth_time want %d)", c, authTime)
		}
		if tok.RefreshToken == "" {
			t.Fatal("offline_access: no refresh token")
		}
		// The device code is spent.
		s.Clock.Advance(time.Minute)
		if st, e := poll(t, s, tvClientID, "", da.DeviceCode); st != http.StatusBadRequest || e != "invalid_grant" {
			t.Fatalf("a poll after the tokens: %d %s", st, e)
		}
	})
}

// deviceApproved runs the device flow to an approval by alice (no second
// factor for cli) and returns the device code.
func deviceApproved(t *testing.T, s *apptest.Server, decision string) string {
	t.Helper()
	da, err := deviceConfig(t, s, cliClientID, appSecret, "openid").DeviceAuth(context.Background(), withSecret(appSecret))
	if err != nil {
		t.Fatal(err)
	}
	b := apptest.NewBrowser(t, s)
	p := enterDeviceCode(t, s, b, strings.ToLower(strings.ReplaceAll(da.UserCode, "-", " ")))
	p = b.Submit(p, "login", map[string]string{"username": "bob", "password": alicePassword})
	p = b.Submit(p, "device-approve", map[string]string{"decision": decision})
	if p.URL.Path != "/device/done" {
		t.Fatalf("after %s: %d %s\n%s", decision, p.Status, p.URL, p.Body)
	}
	return da.DeviceCode
}

// SECURITY-RULES: "A code is single-use and short-lived; … two parallel redemptions → at most one success" — the
// device code alike: parallel polls after the approval get exactly one token response.
func TestDeviceGrantParallelPollsIssueOnce(t *testing.T) {
	eachDatabaseServer(t, deviceFixture(), func(t *testing.T, s *apptest.Server) {
		code := deviceApproved(t, s, "allow")
		s.Clock.Advance(time.Minute)
		const n = 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		statuses := make([]int, n)
		errs := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses[i], errs[i] = poll(t, s, cliClientID, appSecret, code)
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for i := range n {
			switch {
			case statuses[i] == http.StatusOK:
				ok++
			case errs[i] != "slow_down" && errs[i] != "invalid_grant":
				t.Errorf("poll %d: %d %s", i, statuses[i], errs[i])
			}
		}
		if ok != 1 {
			t.Fatalf("%d token responses, want exactly 1 (%v %v)", ok, statuses, errs)
		}
		// Another client cannot use the code either.
		if st, e := poll(t, s, tvClientID, "", code); st != http.StatusBadRequest || e != "invalid_grant" {
			t.Fatalf("another client's poll: %d %s", st, e)
		}
	})
}

// RFC 8628 §3.5: a denial is access_denied (x/oauth2 stops polling), an expired code expired_token, and an expired
// code entered at /device a clear page; a client without the grant is unauthorized_client.
func TestDeviceGrantDeniedExpiredAndRefused(t *testing.T) {
	eachDatabaseServer(t, deviceFixture(), func(t *testing.T, s *apptest.Server) {
		ctx := context.Background()
		code := deviceApproved(t, s, "deny")
		cfg := deviceConfig(t, s, cliClientID, appSecret, "openid")
		s.Clock.Advance(time.Minute)
		_, err := cfg.DeviceAccessToken(ctx, &oauth2.DeviceAuthResponse{DeviceCode: code, Interval: 1})
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "access_denied" {
			t.Fatalf("after deny: %v", err)
		}

		da, err := cfg.DeviceAuth(ctx, withSecret(appSecret))
		if err != nil {
			t.Fatal(err)
		}
		s.Clock.Advance(10*time.Minute + time.Second)
		if st, e := poll(t, s, cliClientID, appSecret, da.DeviceCode); st != http.StatusBadRequest || e != "expired_token" {
			t.Fatalf("an expired device code: %d %s", st, e)
		}
		p := enterDeviceCode(t, s, apptest.NewBrowser(t, s), da.UserCode)
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "expired") || strings.Contains(p.Body, `id="login"`) {
			t.Fatalf("an expired user code at /device: %d\n%s", p.Status, p.Body)
		}

		if _, err := deviceConfig(t, s, "app", appSecret, "openid").DeviceAuth(ctx, withSecret(appSecret)); err == nil || !strings.Contains(err.Error(), "unauthorized_client") {
			t.Fatalf("a client without the device grant: %v", err)
		}
		if st, e := poll(t, s, cliClientID, appSecret, "not-a-device-code"); st != http.StatusBadRequest || e != "invalid_grant" {
			t.Fatalf("an unknown device code: %d %s", st, e)
		}
	})
}

// RFC 8628 §5.1: user-code guesses are throttled per client address; while throttled even the right code is
// refused (429 with Retry-After), and nothing is started.
func TestDeviceUserCodeGuessesThrottled(t *testing.T) {
	eachDatabaseServer(t, deviceFixture(), func(t *testing.T, s *apptest.Server) {
		da, err := deviceConfig(t, s, cliClientID, appSecret, "openid").DeviceAuth(context.Background(), withSecret(appSecret))
		if err != nil {
			t.Fatal(err)
		}
		b := apptest.NewBrowser(t, s)
		for i := range 10 {
			p := enterDeviceCode(t, s, b, "BCDF-GHJK")
			if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, `role="alert"`) {
				t.Fatalf("wrong guess %d: %d", i, p.Status)
			}
		}
		p := enterDeviceCode(t, s, b, da.UserCode)
		if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" || strings.Contains(p.Body, `id="login"`) {
			t.Fatalf("the right code while throttled: %d %q", p.Status, p.Header.Get("Retry-After"))
		}
		// A missing CSRF token is 403 and counts nothing.
		if q := b.PostForm(s.URL+"/device", map[string]string{"user_code": da.UserCode}); q.Status != http.StatusForbidden {
			t.Fatalf("no CSRF token: %d", q.Status)
		}
		s.Clock.Advance(2 * time.Minute) // the rule gives one attempt back a minute
		if p := enterDeviceCode(t, s, b, da.UserCode); !strings.Contains(p.Body, `id="login"`) {
			t.Fatalf("the right code after the wait: %d\n%s", p.Status, p.Body)
		}
	})
}
