package apptest_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/factors"
	"github.com/twofold-idp/twofold/idp/login"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/mfa/totp"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// simulatorFixture has a policy on the default, on groups and on clients, and users for each situation:
// no factor, TOTP (with backup codes), in a group that needs MFA, in a group whose policy allows only passkeys.
func simulatorFixture() directory.Static {
	st := staticFixture()
	st.Policies = []policy.Policy{
		{Name: "relaxed", RequireMFA: policy.OnRequest, RememberDevice: 30 * 24 * time.Hour},
		{Name: "strict", RequireMFA: policy.Always},
		{Name: "hourly", RequireMFA: policy.Always, MFAMaxAge: time.Hour},
		{Name: "remembering", RequireMFA: policy.Always, RememberDevice: 30 * 24 * time.Hour},
		{Name: "passkeys", RequireMFA: policy.Always, Methods: []policy.Method{policy.WebAuthn}},
		{Name: "kiosk", RequireMFA: policy.Never},
	}
	st.DefaultPolicy = "relaxed"
	st.Groups = []directory.Group{{Name: "staff", Policy: "strict"}, {Name: "keyholders", Policy: "passkeys"}}
	for _, c := range []struct{ id, policy string }{{"strictapp", "strict"}, {"hourlyapp", "hourly"}, {"remapp", "remembering"}, {"kioskapp", "kiosk"}} {
		st.Clients = append(st.Clients, directory.ClientSpec{ID: c.id, Secret: appSecret, RedirectURIs: []string{appRedirect}, SkipConsent: true, Policy: c.policy})
	}
	st.Users = append(st.Users,
		directory.NewUser{Username: "plain", Password: alicePassword},
		directory.NewUser{Username: "otto", Password: alicePassword},
		directory.NewUser{Username: "stan", Password: alicePassword, Groups: []string{"staff"}},
		directory.NewUser{Username: "kim", Password: alicePassword, Groups: []string{"keyholders"}},
	)
	return st
}

// prior is what the browser did before the simulated request: signed in at client (with TOTP when totp), some
// time ago; with remember, it ticked "remember this device" and then lost its session, keeping only the device.
type prior struct {
	client   string
	totp     bool
	remember bool
	ago      time.Duration
}

// simCase is one sign-in, run through the simulator and for real.
type simCase struct {
	name     string
	user     string
	client   string
	params   map[string]string // acr_values, claims, max_age, prompt
	prior    *prior
	signIn   bool          // the person is first asked for the password
	outcome  login.Outcome // then
	methods  []string      // second factor offered, or enrollment choices
	acr      string        // outcome none: the ID token's acr
	deviceIn bool          // the remembered device stood in
}

func simulatorCases() []simCase {
	return []simCase{
		{name: "the default policy lets a password through", user: "plain", client: "app",
			signIn: true, outcome: login.OutcomeNone, acr: idp.ACRPassword},
		{name: "a client policy asks a TOTP user for TOTP", user: "otto", client: "strictapp",
			signIn: true, outcome: login.OutcomeSecondFactor, methods: []string{"totp", "backup_code"}},
		{name: "a group policy sends a user without a factor to enrollment", user: "stan", client: "app",
			signIn: true, outcome: login.OutcomeEnrollment, methods: []string{"webauthn", "totp"}},
		{name: "acr_values mfa steps a TOTP user up under the relaxed default", user: "otto", client: "app", params: map[string]string{"acr_values": idp.ACRMFA},
			signIn: true, outcome: login.OutcomeSecondFactor, methods: []string{"totp", "backup_code"}},
		{name: "acr_values phr without a passkey asks for the closest factor, TOTP", user: "otto", client: "app", params: map[string]string{"acr_values": "phr"},
			signIn: true, outcome: login.OutcomeSecondFactor, methods: []string{"totp", "backup_code"}},
		{name: "acr_values mfa for a user without a factor is answered with the password level", user: "plain", client: "app", params: map[string]string{"acr_values": idp.ACRMFA},
			signIn: true, outcome: login.OutcomeNone, acr: idp.ACRPassword},
		{name: "an essential acr Twofold does not know is unmet", user: "otto", client: "app", params: map[string]string{"claims": `{"id_token":{"acr":{"essential":true,"values":["urn:example:gold"]}}}`},
			signIn: true, outcome: login.OutcomeUnmet},
		{name: "an essential mfa sends a user without a factor to enrollment", user: "plain", client: "app", params: map[string]string{"claims": `{"id_token":{"acr":{"essential":true,"value":"urn:twofold:acr:mfa"}}}`},
			signIn: true, outcome: login.OutcomeEnrollment, methods: []string{"webauthn", "totp"}},
		{name: "max_age older than the session asks for the password again", user: "otto", client: "app", params: map[string]string{"max_age": "60"}, prior: &prior{client: "app", ago: 10 * time.Minute},
			signIn: true, outcome: login.OutcomeNone, acr: idp.ACRPassword},
		{name: "max_age the session meets asks nothing", user: "otto", client: "app", params: map[string]string{"max_age": "3600"}, prior: &prior{client: "app", ago: 10 * time.Minute},
			outcome: login.OutcomeNone, acr: idp.ACRPassword},
		{name: "prompt=login asks for the password again", user: "plain", client: "app", params: map[string]string{"prompt": "login"}, prior: &prior{client: "app", ago: time.Minute},
			signIn: true, outcome: login.OutcomeNone, acr: idp.ACRPassword},
		{name: "policy methods that exclude the user's TOTP: TOTP proves it is them, then a passkey is enrolled", user: "kim", client: "app",
			signIn: true, outcome: login.OutcomeSecondFactor, methods: []string{"totp", "backup_code"}},
		{name: "a second factor within mfa_max_age asks nothing", user: "otto", client: "hourlyapp", prior: &prior{client: "hourlyapp", totp: true, ago: 30 * time.Minute},
			outcome: login.OutcomeNone, acr: idp.ACRMFA},
		{name: "a second factor older than mfa_max_age is asked again, without the password", user: "otto", client: "hourlyapp", prior: &prior{client: "hourlyapp", totp: true, ago: 2 * time.Hour},
			outcome: login.OutcomeSecondFactor, methods: []string{"totp", "backup_code"}},
		{name: "a session with TOTP meets a strict client silently", user: "otto", client: "strictapp", prior: &prior{client: "strictapp", totp: true, ago: time.Hour},
			outcome: login.OutcomeNone, acr: idp.ACRMFA},
		{name: "a remembered device stands in for the MFA a policy requires", user: "otto", client: "remapp", prior: &prior{client: "remapp", totp: true, remember: true, ago: 24 * time.Hour},
			signIn: true, outcome: login.OutcomeNone, acr: idp.ACRMFA, deviceIn: true},
		{name: "a remembered device does not stand in for an essential mfa", user: "otto", client: "remapp", params: map[string]string{"claims": `{"id_token":{"acr":{"essential":true,"value":"urn:twofold:acr:mfa"}}}`}, prior: &prior{client: "remapp", totp: true, remember: true, ago: 24 * time.Hour},
			signIn: true, outcome: login.OutcomeSecondFactor, methods: []string{"totp", "backup_code"}},
		{name: "a policy that never requires MFA ignores acr_values", user: "otto", client: "kioskapp", params: map[string]string{"acr_values": idp.ACRMFA},
			signIn: true, outcome: login.OutcomeNone, acr: idp.ACRPassword},
		{name: "prompt=select_account asks for the password again", user: "otto", client: "app", params: map[string]string{"prompt": "select_account"}, prior: &prior{client: "app", ago: time.Minute},
			signIn: true, outcome: login.OutcomeNone, acr: idp.ACRPassword},
		{name: "a voluntary acr claim is not acted on", user: "otto", client: "app", params: map[string]string{"claims": `{"id_token":{"acr":{"values":["urn:twofold:acr:mfa"]}}}`},
			signIn: true, outcome: login.OutcomeNone, acr: idp.ACRPassword},
		{name: "prompt=none without a session is login_required", user: "plain", client: "app", params: map[string]string{"prompt": "none"},
			outcome: login.OutcomeLoginRequired},
		{name: "prompt=none where a second factor is needed is interaction_required", user: "otto", client: "strictapp", params: map[string]string{"prompt": "none"}, prior: &prior{client: "app", ago: time.Minute},
			outcome: login.OutcomeInteractionRequired},
	}
}

// observed is what a real sign-in asked.
type observed struct {
	signIn  bool
	outcome login.Outcome
	methods []string
	acr     string
}

// The issue's promise: the simulator cannot drift from real sign-ins. Every case runs through Flow.Simulate
// and through the hosted pages with a real relying party, and both must ask the same; the simulation writes
// nothing.
func TestTheSimulatorAgreesWithRealSignIns(t *testing.T) {
	eachDatabaseServer(t, simulatorFixture(), func(t *testing.T, s *apptest.Server) {
		secrets := map[string][]byte{}
		for _, u := range []string{"otto", "kim"} {
			secrets[u] = enrollTOTPFor(t, s, u)
		}
		for _, tc := range simulatorCases() {
			t.Run(tc.name, func(t *testing.T) {
				rp := apptest.NewRP(t, s, tc.client, appSecret, appRedirect)
				b, sim := preparePrior(t, s, tc, secrets[tc.user])

				before := allRows(t, s)
				res, err := s.App.Flow.Simulate(t.Context(), sim)
				if err != nil {
					t.Fatal(err)
				}
				if after := allRows(t, s); after != before {
					t.Fatalf("the simulation wrote to the database:\nbefore:\n%s\nafter:\n%s", before, after)
				}
				got := observed{signIn: res.SignIn, outcome: res.Outcome, methods: res.Methods, acr: res.ACR}
				want := observed{signIn: tc.signIn, outcome: tc.outcome, methods: tc.methods, acr: tc.acr}
				explain := strings.Join(res.Explanation, "\n")
				if !sameObservation(got, want) || res.RememberedDeviceUsed != tc.deviceIn {
					t.Fatalf("simulated %+v (device used %v), want %+v (device %v)\n%s\n%s", got, res.RememberedDeviceUsed, want, tc.deviceIn, res.Summary, explain)
				}

				var opts []oauth2.AuthCodeOption
				for k, v := range tc.params {
					opts = append(opts, oauth2.SetAuthURLParam(k, v))
				}
				real := signInForReal(t, s, b, rp, rp.AuthURL("s", "n", pkce, opts...), tc.user)
				if !sameObservation(real, got) {
					t.Fatalf("the simulator drifted from the real sign-in:\nsimulated %+v\nreal      %+v\n%s\n%s", got, real, res.Summary, explain)
				}
			})
		}
	})
}

func sameObservation(a, b observed) bool {
	return a.signIn == b.signIn && a.outcome == b.outcome && slices.Equal(a.methods, b.methods) && a.acr == b.acr
}

// enrollTOTPFor gives username an authenticator app and backup codes through the factor services.
func enrollTOTPFor(t *testing.T, s *apptest.Server, username string) []byte {
	t.Helper()
	u, err := s.Store.GetUserByUsername(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	tf := factors.Find[*factors.TOTP](s.App.Factors)
	e, err := tf.StartEnrollment(t.Context(), u, "phone")
	if err != nil {
		t.Fatal(err)
	}
	key, err := totp.ParseURI(e.URI)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tf.ConfirmEnrollment(t.Context(), u, e.ID, totp.Code(key.Secret, totp.Step(s.Clock.Now()))); err != nil {
		t.Fatal(err)
	}
	if _, err := factors.Find[*factors.BackupCodes](s.App.Factors).Issue(t.Context(), u.ID); err != nil {
		t.Fatal(err)
	}
	return key.Secret
}

// submitTOTP answers the TOTP challenge page p with the code of a step not used before.
func submitTOTP(t *testing.T, s *apptest.Server, b *apptest.Browser, p *apptest.Page, secret []byte, remember bool) *apptest.Page {
	t.Helper()
	s.Clock.Advance(30 * time.Second)
	fields := map[string]string{"code": totp.Code(secret, totp.Step(s.Clock.Now()))}
	if remember {
		fields["remember_device"] = "1"
	}
	return b.Submit(p, "mfa-totp", fields)
}

// preparePrior makes the browser of tc's real sign-in (signed in before, or carrying only a remembered device,
// or new) and the simulation of the same situation.
func preparePrior(t *testing.T, s *apptest.Server, tc simCase, secret []byte) (*apptest.Browser, login.Simulation) {
	t.Helper()
	sim := login.Simulation{User: tc.user, ClientID: tc.client}
	if v, ok := tc.params["acr_values"]; ok {
		sim.ACRValues = strings.Fields(v)
	}
	if v, ok := tc.params["prompt"]; ok {
		sim.Prompt = strings.Fields(v)
	}
	sim.Claims = tc.params["claims"]
	if v, ok := tc.params["max_age"]; ok {
		var n int64
		fmt.Sscan(v, &n)
		sim.MaxAge = &n
	}
	b := apptest.NewBrowser(t, s)
	if tc.prior == nil {
		return b, sim
	}
	pr := tc.prior
	rp := apptest.NewRP(t, s, pr.client, appSecret, appRedirect)
	p := b.Login(rp.AuthURL("s", "n", pkce), tc.user, alicePassword)
	pwdAt, totpAt := s.Clock.Now(), time.Time{}
	if pr.totp {
		p = submitTOTP(t, s, b, p, secret, pr.remember)
		totpAt = s.Clock.Now()
	}
	apptest.Code(t, p)
	if pr.remember {
		// A new browser that kept only the remembered-device cookie.
		device := b.Cookie(idp.DeviceCookieBase)
		if device == "" {
			t.Fatal("no remembered-device cookie after ticking remember")
		}
		b = apptest.NewBrowser(t, s)
		u, _ := url.Parse(s.URL)
		b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: idp.DeviceCookieBase, Value: device, Path: "/"}})
	}
	s.Clock.Advance(pr.ago)
	now := s.Clock.Now()
	age := func(at time.Time) int64 { return int64(now.Sub(at) / time.Second) }
	if pr.remember {
		a := age(totpAt)
		sim.RememberedDeviceAge = &a
		return b, sim
	}
	sim.Session = []login.SimulatedFactor{{Method: policy.FactorPassword, Age: age(pwdAt)}}
	if pr.totp {
		sim.Session = append(sim.Session, login.SimulatedFactor{Method: string(policy.TOTP), Age: age(totpAt)})
	}
	return b, sim
}

var (
	enrollRE     = regexp.MustCompile(`data-enroll="([^"]+)"`)
	challengeRE  = regexp.MustCompile(`<form\b[^>]*\bid="mfa-([a-z-]+)"`)
	otherMethod  = regexp.MustCompile(`data-method="([^"]+)"`)
	loginFormTag = `id="login"`
)

// signInForReal opens authURL in b, signs in with the password when the login form shows, and says what the
// person was asked next.
func signInForReal(t *testing.T, s *apptest.Server, b *apptest.Browser, rp *apptest.RP, authURL, username string) observed {
	t.Helper()
	var o observed
	p := b.Get(authURL)
	if p.Redirect == nil && strings.Contains(p.Body, loginFormTag) {
		o.signIn = true
		p = b.Submit(p, "login", map[string]string{"username": username, "password": alicePassword})
	}
	switch {
	case p.Redirect != nil:
		q := apptest.Query(t, p)
		if e := q.Get("error"); e != "" {
			o.outcome = login.Outcome(e)
			return o
		}
		o.outcome = login.OutcomeNone
		tok, err := rp.Exchange(q.Get("code"), pkce)
		if err != nil {
			t.Fatal(err)
		}
		_, c := rp.IDToken(tok)
		o.acr = c.ACR
	case enrollRE.MatchString(p.Body):
		o.outcome = login.OutcomeEnrollment
		for _, m := range enrollRE.FindAllStringSubmatch(p.Body, -1) {
			o.methods = append(o.methods, m[1])
		}
	case challengeRE.MatchString(p.Body):
		o.outcome = login.OutcomeSecondFactor
		o.methods = []string{strings.ReplaceAll(challengeRE.FindStringSubmatch(p.Body)[1], "-", "_")}
		for _, m := range otherMethod.FindAllStringSubmatch(p.Body, -1) {
			o.methods = append(o.methods, m[1])
		}
	default:
		t.Fatalf("a page the comparison does not know: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	return o
}

// allRows is every row of every table, as text: what "writes nothing" compares.
func allRows(t *testing.T, s *apptest.Server) string {
	t.Helper()
	return storagetest.SnapshotTables(t, s.Store, "access_tokens", "audit_events", "auth_requests", "backup_codes",
		"client_assertions", "clients", "consents", "groups", "policies", "refresh_tokens", "remembered_devices", "sessions",
		"settings", "setup_tokens", "signing_keys", "throttles", "totp_authenticators", "user_groups", "users",
		"webauthn_credentials", "webauthn_sessions")
}

// Each step-up decision in the audit trail carries its explanation, so the audit log can show why.
func TestAStepUpDecisionIsAuditedWithItsExplanation(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: simulatorFixture()})
	enrollTOTPFor(t, s, "otto")
	rp := apptest.NewRP(t, s, "strictapp", appSecret, appRedirect)
	if p := apptest.NewBrowser(t, s).Login(rp.AuthURL("s", "n", pkce), "otto", alicePassword); !strings.Contains(p.Body, `id="mfa-totp"`) {
		t.Fatalf("no TOTP challenge:\n%s", p.Body)
	}
	events, err := s.Dir.Audit(t.Context(), "otto", "policy.decision", 10)
	if err != nil || len(events) != 1 {
		t.Fatalf("policy.decision events: %d, %v", len(events), err)
	}
	lines, _ := events[0].Details["explanation"].([]any)
	var text []string
	for _, l := range lines {
		s, _ := l.(string)
		text = append(text, s)
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{
		"policy strict (client strictapp): require_mfa=always",
		"policy relaxed (default): require_mfa=on_request",
		"session: factor=pwd, 0s ago: counts",
		"outcome: a second factor, one of totp, backup_code",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the audited explanation lacks %q:\n%s", want, all)
		}
	}
}

func TestTheSimulatorNamesTheFieldOfBadInput(t *testing.T) {
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: simulatorFixture()})
	neg := int64(-1)
	for _, tc := range []struct {
		name  string
		sim   login.Simulation
		field string
	}{
		{"an unknown user", login.Simulation{User: "nobody", ClientID: "app"}, "user"},
		{"an unknown client", login.Simulation{User: "plain", ClientID: "nope"}, "client_id"},
		{"claims that are not a JSON object", login.Simulation{User: "plain", ClientID: "app", Claims: `["acr"]`}, "claims"},
		{"a negative max_age", login.Simulation{User: "plain", ClientID: "app", MaxAge: &neg}, "max_age"},
		{"an unknown prompt", login.Simulation{User: "plain", ClientID: "app", Prompt: []string{"always"}}, "prompt[0]"},
		{"prompt=none with another value", login.Simulation{User: "plain", ClientID: "app", Prompt: []string{"none", "login"}}, "prompt"},
		{"an unknown factor", login.Simulation{User: "plain", ClientID: "app", Session: []login.SimulatedFactor{{Method: "pwd"}, {Method: "fax"}}}, "session[1].method"},
		{"a session without a first factor", login.Simulation{User: "plain", ClientID: "app", Session: []login.SimulatedFactor{{Method: "totp"}}}, "session"},
		{"a remembered device from the future", login.Simulation{User: "plain", ClientID: "app", RememberedDeviceAge: &neg}, "remembered_device_age"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.App.Flow.Simulate(t.Context(), tc.sim)
			var ie *idp.InputError
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Fatalf("Simulate = %v, want an input error on %s", err, tc.field)
			}
		})
	}
	// By id as well as by username.
	u, err := s.Store.GetUserByUsername(t.Context(), "stan")
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.App.Flow.Simulate(t.Context(), login.Simulation{User: u.ID, ClientID: "app"})
	if err != nil || res.User.Username != "stan" || len(res.Policies) != 2 || res.Policies[0].Via != (policy.Attachment{Kind: policy.AttachedGroup, Name: "staff"}) {
		t.Fatalf("Simulate by id = %+v, %v", res, err)
	}
	// What the simulator cannot see in the policy code it says itself.
	res, err = s.App.Flow.Simulate(t.Context(), login.Simulation{User: "plain", ClientID: "app", Claims: `{"id_token":{"acr":{"value":"phr"}}}`})
	if err != nil || !slices.ContainsFunc(res.Rules, func(r policy.Rule) bool { return r.Field == "acr_claim" && strings.Contains(r.Effect, "not acted on") }) {
		t.Fatalf("a voluntary acr claim is not explained: %+v, %v", res.Rules, err)
	}
	res, err = s.App.Flow.Simulate(t.Context(), login.Simulation{User: "plain", ClientID: "app", Prompt: []string{"select_account"}, Session: []login.SimulatedFactor{{Method: "pwd", Age: 60}}})
	if err != nil || !res.SignIn || !strings.Contains(res.SignInReason, "select_account") {
		t.Fatalf("prompt=select_account: %+v, %v", res, err)
	}
}
