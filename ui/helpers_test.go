package ui

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/account"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/mfa/totp"
)

// fakeSetup is an in-memory SetupService: this package's tests cover the HTTP layer, not idp.
type fakeSetup struct {
	mu          sync.Mutex
	tokens      map[string]bool // unused tokens
	done        bool
	completeErr error // when set, CompleteSetup returns it
	calls       int   // CompleteSetup calls
	created     []directory.NewUser
}

var _ SetupService = (*fakeSetup)(nil)

func newFakeSetup(tokens ...string) *fakeSetup {
	f := &fakeSetup{tokens: map[string]bool{}}
	for _, t := range tokens {
		f.tokens[t] = true
	}
	return f
}

func (f *fakeSetup) CheckSetupToken(_ context.Context, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.done:
		return idp.ErrSetupDone
	case !f.tokens[token]:
		return idp.ErrSetupTokenInvalid
	}
	return nil
}

func (f *fakeSetup) CompleteSetup(_ context.Context, token string, u directory.NewUser) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch {
	case f.completeErr != nil:
		return f.completeErr
	case f.done:
		return idp.ErrSetupDone
	case !f.tokens[token]:
		return idp.ErrSetupTokenInvalid
	case len(u.Password) < 8:
		return &idp.InputError{Field: "password", Message: "must be at least 8 characters"}
	}
	delete(f.tokens, token)
	f.done = true
	f.created = append(f.created, u)
	return nil
}

func (f *fakeSetup) completeCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fakeFlow is an in-memory LoginFlow, MFAFlow and LogoutFlow: a small state machine over the sign-in requests a
// test declares (password, then consent when the request lists scopes, then the redirect back to the client) and
// the logout tokens it knows. A test can script any method to return a given step or error instead. It records
// every call.
type fakeFlow struct {
	mu       sync.Mutex
	requests map[string]*fakeAuthRequest
	users    map[string]string // username → password
	logouts  map[string]fakeLogout
	session  idp.SessionCookie // what a password sign-in sets
	scripted map[string]scriptedStep
	calls    []flowCall
	sends    map[string]int // codes sent per request (SendCode)
}

var (
	_ LoginFlow  = (*fakeFlow)(nil)
	_ MFAFlow    = (*fakeFlow)(nil)
	_ LogoutFlow = (*fakeFlow)(nil)
)

type fakeAuthRequest struct {
	client      idp.ClientInfo
	loginHint   string
	scopes      []string // when set, consent is asked after the password
	binding     string   // when set, only the browser with this binding cookie may continue
	signedIn    bool
	consented   bool
	redirectURL string // where the finished request goes
	// Second factors, after the password and before consent.
	mfaMethods []string      // when set, one of them is asked (idp.StepSecondFactor)
	remember   time.Duration // the second-factor step's RememberDevice: how long the policy lets a browser skip it;
	// when set, a second factor submitted with remember returns the device cookie (Step.Device)
	enroll      []string // when set, one of them must be enrolled (idp.StepEnroll), then backupCodes are shown
	backupCodes []string // shown once (idp.StepBackupCodes) after an enrollment
	mfaDone     bool
	enrolled    bool
	codesShown  bool
}

type fakeLogout struct {
	clientName  string
	redirectURL string
}

// scriptedStep replaces what a method would do. Steps stand for LogoutPrompt and LogoutResult too: ClientName is
// taken from Client.Name and the redirect from RedirectURL.
type scriptedStep struct {
	step       idp.Step
	err        error
	data       []byte             // what the Begin… methods return
	enrollment idp.TOTPEnrollment // what StartTOTPEnrollment and TOTPEnrollment return
}

type flowCall struct {
	method     string
	id         string // the auth request id or logout token
	browser    idp.Browser
	username   string
	password   string
	allow      bool
	factor     string // SubmitFactor, BeginFactor: the second factor's method (idp.MethodTOTP, …)
	remember   bool   // SubmitFactor: the person asked to remember this browser
	code       string // SubmitFactor (totp, backup_code), ConfirmTOTPEnrollment
	enrollment string // TOTPEnrollment, ConfirmTOTPEnrollment
	body       string // SubmitFactor (webauthn), the Finish… methods
}

// Test fixtures of the fake flow.
const (
	fakeUser         = "alice"
	fakePassword     = "correct horse battery"
	fakeClientName   = "Demo App"
	fakeDoneURL      = "https://rp.example/callback?code=c0de&state=s1"
	fakeDeniedURL    = "https://rp.example/callback?error=access_denied&state=s1"
	fakeLogoutURL    = "https://rp.example/signed-out"
	fakeSessionValue = "session-value-1"
	fakeMFASession   = "session-value-2" // what a second factor or a passkey sign-in rotates the session to
	fakeTOTPCode     = "123456"
	fakeBackupCode   = "abcde-fghij"
	fakeMFAReason    = "Demo App asks for two-step verification."
	fakeEnrollmentID = "enr-1"
	fakeWebAuthnSess = "wa-session-1"
	fakeDeviceValue  = "device-value-1" // the device cookie SubmitFactor returns when asked to remember
)

// fakeBackupCodes are what "req-enroll" shows after the enrollment.
var fakeBackupCodes = []string{"k7p2m-x9qdf", "3nw8c-hv4tz", "q5rj6-b2mxe", "t9fk3-wp7na", "m4zc8-r6jvh",
	"e2ux7-n5kqd", "h8vb4-c3tyw", "p6dm2-z9fre", "w3ja5-k8ngu", "x7qe9-d4hsb"}

// fakeAssertionOptions and fakeCreationOptions are what the fake's Begin… methods return.
const (
	fakeAssertionOptions = `{"session":"` + fakeWebAuthnSess + `","publicKey":{"challenge":"AAECAwQFBgcICQoLDA0ODw","rpId":"localhost",` +
		`"allowCredentials":[{"type":"public-key","id":"AQID"}],"userVerification":"preferred","timeout":300000}}`
	fakeCreationOptions = `{"session":"` + fakeWebAuthnSess + `","publicKey":{"challenge":"AAECAwQFBgcICQoLDA0ODw",` +
		`"rp":{"id":"localhost","name":"Twofold"},"user":{"id":"dXNlci0x","name":"alice","displayName":"alice"},` +
		`"pubKeyCredParams":[{"type":"public-key","alg":-7},{"type":"public-key","alg":-257}],` +
		`"authenticatorSelection":{"residentKey":"preferred","userVerification":"preferred"},"attestation":"none","timeout":300000}}`
)

var (
	fakeSessionExpiry = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fakeDeviceExpiry  = time.Date(2030, 2, 1, 3, 4, 5, 0, time.UTC)
)

// newFakeFlow knows alice and these requests: "req-pw" (password, then done), "req-hint" (login_hint alice),
// "req-consent" (password, then consent to openid profile email offline_access), "req-sso" (already signed in:
// straight back to the client), "req-mfa" (password done, a second factor of webauthn, totp or backup_code
// pending), "req-enroll" (password done, a totp or webauthn enrollment pending, then backup codes); and the
// logout tokens "lt-app" (from Demo App, back to it) and "lt-anon" (no client, nowhere to go back to).
func newFakeFlow() *fakeFlow {
	app := idp.ClientInfo{ID: "app", Name: fakeClientName}
	return &fakeFlow{
		requests: map[string]*fakeAuthRequest{
			"req-pw":      {client: app, redirectURL: fakeDoneURL},
			"req-hint":    {client: app, loginHint: fakeUser, redirectURL: fakeDoneURL},
			"req-consent": {client: app, scopes: []string{"openid", "profile", "email", "offline_access"}, redirectURL: fakeDoneURL},
			"req-sso":     {client: app, signedIn: true, redirectURL: fakeDoneURL},
			"req-mfa": {client: app, signedIn: true, redirectURL: fakeDoneURL,
				mfaMethods: []string{idp.MethodWebAuthn, idp.MethodTOTP, idp.MethodBackupCode}},
			"req-enroll": {client: app, signedIn: true, redirectURL: fakeDoneURL,
				enroll: []string{idp.MethodTOTP, idp.MethodWebAuthn}, backupCodes: fakeBackupCodes},
		},
		users: map[string]string{fakeUser: fakePassword},
		logouts: map[string]fakeLogout{
			"lt-app":  {clientName: fakeClientName, redirectURL: fakeLogoutURL},
			"lt-anon": {},
		},
		session:  idp.SessionCookie{Value: fakeSessionValue, Expires: fakeSessionExpiry},
		scripted: map[string]scriptedStep{},
	}
}

// script makes every later call of method return step and err.
func (f *fakeFlow) script(method string, step idp.Step, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripted[method] = scriptedStep{step: step, err: err}
}

// scriptAnswer makes every later call of method return sc (for the methods whose answer is not a Step).
func (f *fakeFlow) scriptAnswer(method string, sc scriptedStep) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripted[method] = sc
}

func (f *fakeFlow) addRequest(id string, ar *fakeAuthRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[id] = ar
}

// callsOf returns the recorded calls of method ("" for all).
func (f *fakeFlow) callsOf(method string) []flowCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []flowCall
	for _, c := range f.calls {
		if method == "" || c.method == method {
			out = append(out, c)
		}
	}
	return out
}

// begin records a call and returns its scripted answer, if any. The caller holds f.mu.
func (f *fakeFlow) begin(c flowCall) (scriptedStep, bool) {
	f.calls = append(f.calls, c)
	sc, ok := f.scripted[c.method]
	return sc, ok
}

// request finds a sign-in request and checks it belongs to the browser. The caller holds f.mu.
func (f *fakeFlow) request(id string, b idp.Browser) (*fakeAuthRequest, error) {
	ar, ok := f.requests[id]
	if !ok {
		return nil, idp.ErrAuthRequestNotFound
	}
	if ar.binding != "" && ar.binding != b.BindingCookie {
		return nil, idp.ErrWrongBrowser
	}
	return ar, nil
}

func (f *fakeFlow) next(id string, ar *fakeAuthRequest) idp.Step {
	step := idp.Step{AuthRequestID: id, Client: ar.client}
	switch {
	case !ar.signedIn:
		step.Kind, step.LoginHint = idp.StepPassword, ar.loginHint
	case len(ar.mfaMethods) > 0 && !ar.mfaDone:
		step.Kind, step.Methods, step.Reason = idp.StepSecondFactor, ar.mfaMethods, fakeMFAReason
		step.RememberDevice = ar.remember
	case len(ar.enroll) > 0 && !ar.enrolled:
		step.Kind, step.Methods, step.Reason = idp.StepEnroll, ar.enroll, fakeMFAReason
	case len(ar.backupCodes) > 0 && !ar.codesShown:
		step.Kind, step.BackupCodes = idp.StepBackupCodes, ar.backupCodes
	case len(ar.scopes) > 0 && !ar.consented:
		step.Kind, step.Scopes = idp.StepConsent, ar.scopes
	default:
		step.Kind, step.RedirectURL = idp.StepRedirect, ar.redirectURL
	}
	return step
}

func (f *fakeFlow) Resume(_ context.Context, id string, b idp.Browser) (idp.Step, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sc, ok := f.begin(flowCall{method: "Resume", id: id, browser: b}); ok {
		return sc.step, sc.err
	}
	ar, err := f.request(id, b)
	if err != nil {
		return idp.Step{}, err
	}
	step := f.next(id, ar)
	if step.Kind == idp.StepBackupCodes {
		ar.codesShown = true // shown once, like the real flow
	}
	return step, nil
}

func (f *fakeFlow) SubmitPassword(_ context.Context, id string, b idp.Browser, username, password string) (idp.Step, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sc, ok := f.begin(flowCall{method: "SubmitPassword", id: id, browser: b, username: username, password: password}); ok {
		return sc.step, sc.err
	}
	ar, err := f.request(id, b)
	if err != nil {
		return idp.Step{}, err
	}
	if want, ok := f.users[username]; !ok || want != password {
		return idp.Step{}, idp.ErrInvalidCredentials
	}
	ar.signedIn = true
	step := f.next(id, ar)
	session := f.session
	step.Session = &session
	return step, nil
}

func (f *fakeFlow) SubmitConsent(_ context.Context, id string, b idp.Browser, allow bool) (idp.Step, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sc, ok := f.begin(flowCall{method: "SubmitConsent", id: id, browser: b, allow: allow}); ok {
		return sc.step, sc.err
	}
	ar, err := f.request(id, b)
	if err != nil {
		return idp.Step{}, err
	}
	if !ar.signedIn {
		return f.next(id, ar), nil
	}
	if !allow {
		delete(f.requests, id)
		return idp.Step{Kind: idp.StepRedirect, AuthRequestID: id, RedirectURL: fakeDeniedURL}, nil
	}
	ar.consented = true
	return f.next(id, ar), nil
}

func (f *fakeFlow) LogoutPrompt(_ context.Context, token string, b idp.Browser) (idp.LogoutPrompt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sc, ok := f.begin(flowCall{method: "LogoutPrompt", id: token, browser: b}); ok {
		return idp.LogoutPrompt{ClientName: sc.step.Client.Name}, sc.err
	}
	lo, ok := f.logouts[token]
	if !ok {
		return idp.LogoutPrompt{}, idp.ErrLogoutRequestInvalid
	}
	return idp.LogoutPrompt{ClientName: lo.clientName}, nil
}

func (f *fakeFlow) ConfirmLogout(_ context.Context, token string, b idp.Browser) (idp.LogoutResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sc, ok := f.begin(flowCall{method: "ConfirmLogout", id: token, browser: b}); ok {
		return idp.LogoutResult{RedirectURL: sc.step.RedirectURL, Session: sc.step.Session}, sc.err
	}
	lo, ok := f.logouts[token]
	if !ok {
		return idp.LogoutResult{}, idp.ErrLogoutRequestInvalid
	}
	delete(f.logouts, token)
	return idp.LogoutResult{RedirectURL: lo.redirectURL, Session: &idp.SessionCookie{}}, nil
}

// lockedBuffer collects log output written by server goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records returns the JSON log records written so far.
func (b *lockedBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// waitForRecord polls the log until a record satisfies match: the access log is written after the response went
// out, so it may trail the client by a moment.
func (b *lockedBuffer) waitForRecord(t *testing.T, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		for _, rec := range b.records(t) {
			if match(rec) {
				return rec
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching log record in:\n%s", b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var testCSRFKey = bytes.Repeat([]byte{0x42}, 32)

type harness struct {
	t       *testing.T
	srv     *Server
	ts      *httptest.Server
	client  *http.Client
	logs    *lockedBuffer
	setup   *fakeSetup
	flow    *fakeFlow
	account *fakeAccount // set by newAccountHarness
	issuer  string
}

type harnessConfig struct {
	opts   func(*Options)
	routes func(chi.Router)
}

// newHarness starts the real handler on an httptest server whose URL is the issuer, with a client that keeps
// cookies and does not follow redirects (tests look at each 303).
func newHarness(t *testing.T, cfg harnessConfig) *harness {
	t.Helper()
	h := &harness{t: t, logs: &lockedBuffer{}, setup: newFakeSetup("good-token"), flow: newFakeFlow()}
	h.ts = httptest.NewUnstartedServer(nil)
	h.issuer = "http://" + h.ts.Listener.Addr().String()
	opts := Options{
		Issuer:   h.issuer,
		Logger:   slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: prometheus.NewRegistry(),
		Setup:    h.setup,
		Flow:     h.flow,
		Logout:   h.flow,
		CSRFKey:  testCSRFKey,
	}
	if cfg.opts != nil {
		cfg.opts(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if cfg.routes != nil {
		cfg.routes(srv.Router())
	}
	h.srv = srv
	h.ts.Config.Handler = srv.Handler()
	h.ts.Start()
	t.Cleanup(h.ts.Close)
	h.client = h.newClient()
	return h
}

// newClient is a fresh browser: its own cookie jar.
func (h *harness) newClient() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type response struct {
	*http.Response
	body string
}

func (h *harness) do(c *http.Client, req *http.Request) response {
	h.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return response{Response: resp, body: string(b)}
}

func (h *harness) get(path string, header ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.ts.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return h.do(h.client, req)
}

func (h *harness) post(c *http.Client, path string, form url.Values, header http.Header) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return h.do(c, req)
}

var csrfFieldRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// csrfTokenIn returns the hidden csrf_token of the page, failing the test when there is none.
func csrfTokenIn(t *testing.T, body string) string {
	t.Helper()
	m := csrfFieldRE.FindStringSubmatch(body)
	if m == nil || m[1] == "" {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return m[1]
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
}

func wantContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("body lacks %q:\n%s", s, body)
		}
	}
}

func wantNotContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(body, s) {
			t.Errorf("body contains %q but must not:\n%s", s, body)
		}
	}
}

// mfaRotated is the step after a proven second factor: the next one, with the rotated session. The caller holds
// f.mu.
func (f *fakeFlow) mfaRotated(id string, ar *fakeAuthRequest) idp.Step {
	step := f.next(id, ar)
	step.Session = &idp.SessionCookie{Value: fakeMFASession, Expires: fakeSessionExpiry}
	return step
}

// SubmitFactor checks a TOTP or backup code against the fake's, or a WebAuthn body as finishCeremony does. Once
// the second factor is proven it returns the next step with the rotated session and, when remember is set and the
// request's policy offers it, the device cookie. A scripted answer is returned as it is.
func (f *fakeFlow) SubmitFactor(_ context.Context, id string, b idp.Browser, method string, input []byte, remember bool) (idp.Step, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := flowCall{method: "SubmitFactor", id: id, browser: b, factor: method, remember: remember}
	if method == idp.MethodWebAuthn {
		c.body = string(input)
	} else {
		c.code = string(input)
	}
	if sc, ok := f.begin(c); ok {
		return sc.step, sc.err
	}
	ar, err := f.request(id, b)
	if err != nil {
		return idp.Step{}, err
	}
	switch method {
	case idp.MethodTOTP, idp.MethodBackupCode:
		if !ar.signedIn || len(ar.mfaMethods) == 0 || ar.mfaDone {
			return f.next(id, ar), nil
		}
		want := fakeTOTPCode
		if method == idp.MethodBackupCode {
			want = fakeBackupCode
		}
		if string(input) != want {
			return idp.Step{}, idp.ErrInvalidCode
		}
	case idp.MethodWebAuthn:
		if !validCeremony(input) {
			return idp.Step{}, idp.ErrWebAuthn
		}
	default:
		return idp.Step{}, fmt.Errorf("fake flow: no second factor %q", method)
	}
	ar.mfaDone = true
	step := f.mfaRotated(id, ar)
	if remember && ar.remember > 0 {
		step.Device = &idp.SessionCookie{Value: fakeDeviceValue, Expires: fakeDeviceExpiry}
	}
	return step, nil
}

// BeginFactor answers the WebAuthn second factor's assertion options.
func (f *fakeFlow) BeginFactor(_ context.Context, id string, b idp.Browser, method string) ([]byte, error) {
	if method != idp.MethodWebAuthn {
		return nil, fmt.Errorf("fake flow: second factor %q has no challenge", method)
	}
	return f.beginCeremony(flowCall{method: "BeginFactor", id: id, browser: b, factor: method}, fakeAssertionOptions)
}

// beginCeremony records call and answers options.
func (f *fakeFlow) beginCeremony(call flowCall, options string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sc, ok := f.begin(call); ok {
		return sc.data, sc.err
	}
	if _, err := f.request(call.id, call.browser); err != nil {
		return nil, err
	}
	return []byte(options), nil
}

// validCeremony accepts any body with the fake's session and a credential object.
func validCeremony(body []byte) bool {
	var req struct {
		Session    string         `json:"session"`
		Credential map[string]any `json:"credential"`
	}
	return json.Unmarshal(body, &req) == nil && req.Session == fakeWebAuthnSess && req.Credential != nil
}

// finishCeremony accepts a valid ceremony (validCeremony), then lets done move the request on.
func (f *fakeFlow) finishCeremony(method, id string, b idp.Browser, body []byte, done func(*fakeAuthRequest)) (idp.Step, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sc, ok := f.begin(flowCall{method: method, id: id, browser: b, body: string(body)}); ok {
		return sc.step, sc.err
	}
	ar, err := f.request(id, b)
	if err != nil {
		return idp.Step{}, err
	}
	if !validCeremony(body) {
		return idp.Step{}, idp.ErrWebAuthn
	}
	done(ar)
	return f.mfaRotated(id, ar), nil
}

func (f *fakeFlow) BeginPasskey(_ context.Context, id string, b idp.Browser) ([]byte, error) {
	return f.beginCeremony(flowCall{method: "BeginPasskey", id: id, browser: b}, fakeAssertionOptions)
}

func (f *fakeFlow) FinishPasskey(_ context.Context, id string, b idp.Browser, body []byte) (idp.Step, error) {
	return f.finishCeremony("FinishPasskey", id, b, body, func(ar *fakeAuthRequest) {
		ar.signedIn, ar.mfaDone = true, true // a passkey with user verification is both factors
	})
}

func (f *fakeFlow) BeginWebAuthnRegistration(_ context.Context, id string, b idp.Browser) ([]byte, error) {
	return f.beginCeremony(flowCall{method: "BeginWebAuthnRegistration", id: id, browser: b}, fakeCreationOptions)
}

func (f *fakeFlow) FinishWebAuthnRegistration(_ context.Context, id string, b idp.Browser, body []byte) (idp.Step, error) {
	return f.finishCeremony("FinishWebAuthnRegistration", id, b, body, func(ar *fakeAuthRequest) { ar.enrolled = true })
}

// fakeTOTPKey is the authenticator the fake enrolls: the RFC 6238 test secret.
var fakeTOTPKey = totp.Key{Secret: []byte("12345678901234567890"), Issuer: "Twofold", Account: "alice"}

// fakeEnrollment is what StartTOTPEnrollment returns: a real otpauth URI and QR code.
func fakeEnrollment() idp.TOTPEnrollment {
	qr, err := fakeTOTPKey.QRPNG(256)
	if err != nil {
		panic(err)
	}
	return idp.TOTPEnrollment{
		ID:     fakeEnrollmentID,
		URI:    fakeTOTPKey.URI(),
		Secret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(fakeTOTPKey.Secret),
		QRPNG:  qr,
	}
}

func (f *fakeFlow) enrollment(method, id string, b idp.Browser, enrollmentID string) (idp.TOTPEnrollment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sc, ok := f.begin(flowCall{method: method, id: id, browser: b, enrollment: enrollmentID}); ok {
		return sc.enrollment, sc.err
	}
	if _, err := f.request(id, b); err != nil {
		return idp.TOTPEnrollment{}, err
	}
	if method == "TOTPEnrollment" && enrollmentID != fakeEnrollmentID {
		return idp.TOTPEnrollment{}, idp.ErrAuthRequestNotFound
	}
	return fakeEnrollment(), nil
}

func (f *fakeFlow) StartTOTPEnrollment(_ context.Context, id string, b idp.Browser) (idp.TOTPEnrollment, error) {
	return f.enrollment("StartTOTPEnrollment", id, b, "")
}

func (f *fakeFlow) TOTPEnrollment(_ context.Context, id string, b idp.Browser, enrollmentID string) (idp.TOTPEnrollment, error) {
	return f.enrollment("TOTPEnrollment", id, b, enrollmentID)
}

func (f *fakeFlow) ConfirmTOTPEnrollment(_ context.Context, id string, b idp.Browser, enrollmentID, code string) (idp.Step, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sc, ok := f.begin(flowCall{method: "ConfirmTOTPEnrollment", id: id, browser: b, enrollment: enrollmentID, code: code}); ok {
		return sc.step, sc.err
	}
	ar, err := f.request(id, b)
	if err != nil {
		return idp.Step{}, err
	}
	if enrollmentID != fakeEnrollmentID {
		return idp.Step{}, idp.ErrAuthRequestNotFound
	}
	if code != fakeTOTPCode {
		return idp.Step{}, idp.ErrInvalidCode
	}
	ar.enrolled = true
	return f.mfaRotated(id, ar), nil
}

// fakeAccount is an in-memory AccountService: alice, signed in when the browser carries the fake flow's session
// cookie, with an authenticator app, a passkey and a blocked security key, three backup codes left, two
// sessions and two remembered devices. Sensitive methods answer idp.ErrReauthRequired unless the view is Fresh.
// A test can script any method to return an error instead. It records every call.
type fakeAccount struct {
	mu        sync.Mutex
	view      account.View
	anyone    bool             // every browser counts as signed in (for a server a person looks at)
	signInURL map[bool]string  // AccountSignInURL's answer by reauth
	scripted  map[string]error // method → error
	// enrollment, when set, is what AccountStartTOTP and AccountTOTP return instead of fakeEnrollment().
	enrollment *idp.TOTPEnrollment
	calls      []accountCall
	nextID     int
}

var _ AccountService = (*fakeAccount)(nil)

type accountCall struct {
	method  string
	browser idp.Browser
	reauth  bool
	kind    string // the factor's method, which the forms post as kind
	id      string // factor, enrollment, session or device id
	name    string
	code    string
	current string
	next    string
	body    string
}

// Test fixtures of the fake account.
const (
	fakeAccountSignInURL = "/authorize?client_id=twofold-account&state=acc-1"
	fakeAccountReauthURL = "/authorize?client_id=twofold-account&prompt=login&state=acc-2"
	fakeCurrentSession   = "sess-current"
	fakeOtherSession     = "sess-laptop"
	fakeDeviceLaptop     = "dev-laptop"
	fakeDevicePhone      = "dev-phone"
	fakeChromeMac        = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	fakeFirefoxWindows   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0"
)

// fakeAccountNow is the harness clock of the account tests, which the fake's times are relative to.
var fakeAccountNow = time.Date(2026, 3, 14, 15, 9, 0, 0, time.UTC)

func newFakeAccount() *fakeAccount {
	ago := func(d time.Duration) time.Time { return fakeAccountNow.Add(-d) }
	at := func(t time.Time) *time.Time { return &t }
	return &fakeAccount{
		view: account.View{
			User: directory.User{ID: "user-1", Username: fakeUser, Email: "alice@example.com"},
			Factors: []idp.FactorView{
				{Method: idp.MethodTOTP, Kind: "Authenticator app", ID: "totp-1", Name: "Pixel 8",
					CreatedAt: ago(45 * 24 * time.Hour), LastUsedAt: at(ago(2 * time.Hour))},
				{Method: idp.MethodWebAuthn, Kind: "Passkey", ID: "wa-1", Name: "MacBook Touch ID", Passkey: true,
					CreatedAt: ago(12 * 24 * time.Hour), LastUsedAt: at(ago(5 * time.Minute))},
				{Method: idp.MethodWebAuthn, Kind: "Security key", ID: "wa-2", Name: "Old YubiKey", Blocked: true,
					CreatedAt: time.Date(2025, 6, 2, 9, 30, 0, 0, time.UTC)},
			},
			BackupCodesLeft: 3,
			Sessions: []idp.SessionView{
				{ID: fakeCurrentSession, Current: true, CreatedAt: ago(3 * time.Hour), LastSeenAt: ago(30 * time.Second),
					IP: "203.0.113.7", UserAgent: fakeChromeMac},
				{ID: fakeOtherSession, CreatedAt: ago(9 * 24 * time.Hour), LastSeenAt: ago(36 * time.Hour),
					IP: "198.51.100.23", UserAgent: fakeFirefoxWindows},
			},
			Devices: []idp.DeviceView{
				{ID: fakeDeviceLaptop, Label: "Firefox", CreatedAt: ago(9 * 24 * time.Hour),
					ExpiresAt: fakeAccountNow.Add(21 * 24 * time.Hour), LastUsedAt: at(ago(36 * time.Hour))},
				{ID: fakeDevicePhone, Label: "Safari", CreatedAt: ago(2 * time.Hour),
					ExpiresAt: time.Date(2026, 5, 13, 13, 9, 0, 0, time.UTC)},
			},
			Fresh:       true,
			FreshUntil:  fakeAccountNow.Add(4 * time.Minute),
			MFARequired: true,
		},
		signInURL: map[bool]string{false: fakeAccountSignInURL, true: fakeAccountReauthURL},
		scripted:  map[string]error{},
	}
}

// edit changes the fake's view under its lock.
func (f *fakeAccount) edit(change func(v *account.View)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.view)
}

// dropFactors removes v's factors of method, or all of them for "".
func dropFactors(v *account.View, method string) {
	v.Factors = slices.DeleteFunc(v.Factors, func(f idp.FactorView) bool { return method == "" || f.Method == method })
}

// script makes every later call of method return err.
func (f *fakeAccount) script(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripted[method] = err
}

// callsOf returns the recorded calls of method ("" for all).
func (f *fakeAccount) callsOf(method string) []accountCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []accountCall
	for _, c := range f.calls {
		if method == "" || c.method == method {
			out = append(out, c)
		}
	}
	return out
}

// enter records a call and answers what every method checks first: the session, a scripted error, and for a
// sensitive method a fresh proof. The caller holds f.mu.
func (f *fakeAccount) enter(c accountCall, sensitive bool) error {
	f.calls = append(f.calls, c)
	if !f.anyone && c.browser.SessionCookie != fakeSessionValue {
		return idp.ErrNotSignedIn
	}
	if err, ok := f.scripted[c.method]; ok {
		return err
	}
	if sensitive && !f.view.Fresh {
		return idp.ErrReauthRequired
	}
	return nil
}

func (f *fakeAccount) Account(_ context.Context, b idp.Browser) (account.View, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "Account", browser: b}, false); err != nil {
		return account.View{}, err
	}
	v := f.view
	v.Factors = slices.Clone(v.Factors)
	v.Sessions = slices.Clone(v.Sessions)
	v.Devices = slices.Clone(v.Devices)
	return v, nil
}

func (f *fakeAccount) AccountSignInURL(_ context.Context, b idp.Browser, reauth bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, accountCall{method: "AccountSignInURL", browser: b, reauth: reauth})
	if err, ok := f.scripted["AccountSignInURL"]; ok {
		return "", err
	}
	return f.signInURL[reauth], nil
}

func (f *fakeAccount) AccountStartTOTP(_ context.Context, b idp.Browser, name string) (idp.TOTPEnrollment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountStartTOTP", browser: b, name: name}, true); err != nil {
		return idp.TOTPEnrollment{}, err
	}
	return f.enrollmentShown(), nil
}

func (f *fakeAccount) AccountTOTP(_ context.Context, b idp.Browser, id string) (idp.TOTPEnrollment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountTOTP", browser: b, id: id}, true); err != nil {
		return idp.TOTPEnrollment{}, err
	}
	if id != fakeEnrollmentID {
		return idp.TOTPEnrollment{}, idp.ErrNotFound
	}
	return f.enrollmentShown(), nil
}

// enrollmentShown is the authenticator the TOTP enrollment shows. The caller holds f.mu.
func (f *fakeAccount) enrollmentShown() idp.TOTPEnrollment {
	if f.enrollment != nil {
		return *f.enrollment
	}
	return fakeEnrollment()
}

func (f *fakeAccount) AccountConfirmTOTP(_ context.Context, b idp.Browser, id, code string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountConfirmTOTP", browser: b, id: id, code: code}, true); err != nil {
		return err
	}
	switch {
	case id != fakeEnrollmentID:
		return idp.ErrNotFound
	case code != fakeTOTPCode:
		return idp.ErrInvalidCode
	}
	f.view.Factors = append(f.view.Factors, idp.FactorView{Method: idp.MethodTOTP, Kind: "Authenticator app",
		ID: f.newID("totp"), Name: "Authenticator app", CreatedAt: fakeAccountNow})
	return nil
}

func (f *fakeAccount) newID(prefix string) string {
	f.nextID++
	return prefix + "-new-" + strconv.Itoa(f.nextID)
}

func (f *fakeAccount) AccountBeginWebAuthnRegistration(_ context.Context, b idp.Browser) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountBeginWebAuthnRegistration", browser: b}, true); err != nil {
		return nil, err
	}
	return []byte(fakeCreationOptions), nil
}

func (f *fakeAccount) AccountFinishWebAuthnRegistration(_ context.Context, b idp.Browser, body []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountFinishWebAuthnRegistration", browser: b, body: string(body)}, true); err != nil {
		return err
	}
	var req struct {
		Session    string         `json:"session"`
		Name       string         `json:"name"`
		Credential map[string]any `json:"credential"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Session != fakeWebAuthnSess || req.Credential == nil {
		return idp.ErrWebAuthn
	}
	f.view.Factors = append(f.view.Factors, idp.FactorView{Method: idp.MethodWebAuthn, Kind: "Security key",
		ID: f.newID("wa"), Name: req.Name, CreatedAt: fakeAccountNow})
	return nil
}

// factor finds the factor of method with id, -1 when the user has none (a method the fake does not know
// included). The caller holds f.mu.
func (f *fakeAccount) factor(method, id string) int {
	return slices.IndexFunc(f.view.Factors, func(v idp.FactorView) bool { return v.Method == method && v.ID == id })
}

func (f *fakeAccount) AccountRemoveFactor(_ context.Context, b idp.Browser, method, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountRemoveFactor", browser: b, kind: method, id: id}, true); err != nil {
		return err
	}
	if f.view.MFARequired && len(f.view.Factors) <= 1 {
		return idp.ErrLastFactor
	}
	i := f.factor(method, id)
	if i < 0 {
		return idp.ErrNotFound
	}
	f.view.Factors = slices.Delete(f.view.Factors, i, i+1)
	return nil
}

func (f *fakeAccount) AccountRenameFactor(_ context.Context, b idp.Browser, method, id, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountRenameFactor", browser: b, kind: method, id: id, name: name}, false); err != nil {
		return err
	}
	if strings.TrimSpace(name) == "" {
		return &idp.InputError{Field: "name", Message: "is required"}
	}
	i := f.factor(method, id)
	if i < 0 {
		return idp.ErrNotFound
	}
	f.view.Factors[i].Name = strings.TrimSpace(name)
	return nil
}

func (f *fakeAccount) AccountRegenerateBackupCodes(_ context.Context, b idp.Browser) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountRegenerateBackupCodes", browser: b}, true); err != nil {
		return nil, err
	}
	if len(f.view.Factors) == 0 {
		return nil, &idp.InputError{Field: "backup_codes", Message: "add an authenticator app or a passkey first"}
	}
	f.view.BackupCodesLeft = len(fakeBackupCodes)
	return slices.Clone(fakeBackupCodes), nil
}

func (f *fakeAccount) AccountChangePassword(_ context.Context, b idp.Browser, current, next string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountChangePassword", browser: b, current: current, next: next}, true); err != nil {
		return err
	}
	switch {
	case current != fakePassword:
		return &idp.InputError{Field: "current_password", Message: "is not right"}
	case len(next) < directory.MinPasswordLength:
		return &idp.InputError{Field: "password", Message: "must be at least 8 characters"}
	}
	return nil
}

func (f *fakeAccount) AccountEndSession(_ context.Context, b idp.Browser, sessionID string) (*idp.SessionCookie, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountEndSession", browser: b, id: sessionID}, false); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(f.view.Sessions, func(s idp.SessionView) bool { return s.ID == sessionID })
	if i < 0 {
		return nil, idp.ErrNotFound
	}
	current := f.view.Sessions[i].Current
	f.view.Sessions = slices.Delete(f.view.Sessions, i, i+1)
	if current {
		return &idp.SessionCookie{}, nil
	}
	return nil, nil
}

func (f *fakeAccount) AccountEndAllSessions(_ context.Context, b idp.Browser) (*idp.SessionCookie, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountEndAllSessions", browser: b}, false); err != nil {
		return nil, err
	}
	f.view.Sessions = nil
	return &idp.SessionCookie{}, nil
}

func (f *fakeAccount) AccountForgetDevice(_ context.Context, b idp.Browser, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountForgetDevice", browser: b, id: id}, false); err != nil {
		return err
	}
	i := slices.IndexFunc(f.view.Devices, func(d idp.DeviceView) bool { return d.ID == id })
	if i < 0 {
		return idp.ErrNotFound
	}
	f.view.Devices = slices.Delete(f.view.Devices, i, i+1)
	return nil
}
