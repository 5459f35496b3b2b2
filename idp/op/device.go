package op

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/throttle"
	"github.com/twofold-idp/twofold/storage"
)

// The device authorization grant (RFC 8628). A CLI or TV asks
// /device_authorization for a device code and a user code; the person
// enters the user code at /device, signs in through the normal login flow
// (an auth request for the device's client, so step-up and enrollment
// apply exactly as for a browser sign-in), and approves on /device/approve;
// the device polls /token until it gets the tokens of that sign-in.

// deviceStore is what the device grant keeps in the database.
type deviceStore interface {
	throttle.Store
	GetAuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error)
	CreateDeviceGrant(ctx context.Context, g *storage.DeviceGrant) error
	GetDeviceGrantByDeviceCode(ctx context.Context, hash string) (*storage.DeviceGrant, error)
	GetDeviceGrantByUserCode(ctx context.Context, hash string) (*storage.DeviceGrant, error)
	GetDeviceGrantByAuthRequest(ctx context.Context, authRequestID string) (*storage.DeviceGrant, error)
	AttachDeviceGrantSignIn(ctx context.Context, id, authRequestID string) error
	DecideDeviceGrant(ctx context.Context, authRequestID string, approve bool, userID, sessionID string, authTime time.Time, amr []string, acr string) error
	PollDeviceGrant(ctx context.Context, id string, interval time.Duration) (bool, error)
	IssueDeviceGrant(ctx context.Context, id string) (*storage.DeviceGrant, error)
}

var _ deviceStore = (*storage.Store)(nil)

const (
	// DeviceCodeTTL is how long a device code and its user code live.
	DeviceCodeTTL = 10 * time.Minute
	// DevicePollInterval is the polling interval a device is given
	// (RFC 8628 §3.2 default).
	DevicePollInterval = 5 * time.Second
	// DevicePath is the verification URI's path.
	DevicePath = "/device"

	// userCodeAlphabet is RFC 8628 §6.1's base-20 set: consonants only, no
	// look-alikes (no vowels, so no words; no 0/O or 1/I). Eight of them
	// are 34.5 bits, guessed at most deviceGuessRule's rate per address.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8
)

// deviceGuessRule limits user-code guesses per client address (RFC 8628
// §5.1): 10 at once, then one more a minute. A success gives its attempt
// back; a stranger can slow an address down, never lock it for good.
var deviceGuessRule = throttle.Rule{Burst: 10, Every: time.Minute}

// newUserCode draws a user code uniformly from userCodeAlphabet.
func newUserCode() string {
	const n = byte(len(userCodeAlphabet))
	limit := 256 - 256%int(n) // reject bytes that would bias the draw
	out := make([]byte, 0, userCodeLength)
	var buf [16]byte
	for len(out) < userCodeLength {
		rand.Read(buf[:])
		for _, b := range buf {
			if int(b) < limit && len(out) < userCodeLength {
				out = append(out, userCodeAlphabet[b%n])
			}
		}
	}
	return string(out)
}

// groupUserCode shows a normalised code in two groups: BCDF-GHJK.
func groupUserCode(code string) string { return code[:4] + "-" + code[4:] }

// NormalizeUserCode reads what a person typed: case, spaces and dashes do
// not matter (RFC 8628 §6.1). It reports false for anything that cannot be
// a user code.
func NormalizeUserCode(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != userCodeLength {
		return "", false
	}
	return b.String(), true
}

// userCodeHash is the stored form of a user code: keyed, as 34 bits would
// fall to a brute force of a plain hash from a copy of the database.
func (p *Provider) userCodeHash(code string) string {
	m := hmac.New(sha256.New, p.userCodeKey)
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// DeviceAuthorization answers /device_authorization (RFC 8628 §3.1-3.2)
// for a client authenticated as at /token (a public client by its id).
func (s *opServer) DeviceAuthorization(ctx context.Context, r *op.ClientRequest[oidc.DeviceAuthorizationRequest]) (*op.Response, error) {
	client := r.Client.(opClient)
	if !slices.Contains(client.row.GrantTypes, directory.GrantDeviceCode) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("The client may not use the device code grant.")
	}
	var scopes []string
	for _, sc := range r.Data.Scopes {
		known := slices.Contains([]string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess}, sc)
		if (known || client.IsScopeAllowed(sc)) && !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc) // others are dropped, as at /authorize
		}
	}
	p := s.p
	now := p.now()
	deviceCode := idp.RandomToken(32)
	var userCode string
	for attempt := 0; ; attempt++ {
		userCode = newUserCode()
		err := p.store.CreateDeviceGrant(ctx, &storage.DeviceGrant{
			ID: idp.RandomToken(16), DeviceCodeHash: idp.HashSecret(deviceCode), UserCodeHash: p.userCodeHash(userCode),
			ClientID: client.GetID(), Scopes: scopes, IntervalSeconds: int(DevicePollInterval / time.Second),
			NextPollAt: now, CreatedAt: now, ExpiresAt: now.Add(DeviceCodeTTL),
		})
		if err == nil {
			break
		}
		// A live user code drawn twice (unlikely, but the space is small):
		// draw again.
		if !errors.Is(err, storage.ErrConflict) || attempt == 2 {
			return nil, oidc.ErrServerError().WithParent(err)
		}
	}
	verification := p.cfg.Issuer + DevicePath
	return op.NewResponse(&oidc.DeviceAuthorizationResponse{
		DeviceCode:              deviceCode,
		UserCode:                groupUserCode(userCode),
		VerificationURI:         verification,
		VerificationURIComplete: verification + "?user_code=" + url.QueryEscape(groupUserCode(userCode)),
		ExpiresIn:               int(DeviceCodeTTL / time.Second),
		Interval:                int(DevicePollInterval / time.Second),
	}), nil
}

// deviceError is a device token error (RFC 8628 §3.5) with a description
// safe to send.
func deviceError(base func() *oidc.Error, description string) *oidc.Error {
	e := base()
	e.Description = description
	return e
}

// DeviceToken answers a device's poll at /token (RFC 8628 §3.4-3.5): the
// tokens once the person approved, exactly once under any number of
// parallel polls; until then authorization_pending, slow_down when it polls
// faster than its interval, access_denied or expired_token. Nothing but the
// polling turn changes on a refused poll.
func (s *opServer) DeviceToken(ctx context.Context, r *op.ClientRequest[oidc.DeviceAccessTokenRequest]) (*op.Response, error) {
	p := s.p
	client := r.Client.(opClient)
	tc, err := dpopTokenClient(ctx, client)
	if err != nil {
		return nil, err
	}
	g, err := p.store.GetDeviceGrantByDeviceCode(ctx, idp.HashSecret(r.Data.DeviceCode))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, invalidGrant("The device code is invalid.")
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	case g.ClientID != client.GetID():
		return nil, invalidGrant("The device code was issued to another client.")
	case !p.now().Before(g.ExpiresAt):
		return nil, deviceError(oidc.ErrExpiredDeviceCode, "The device code has expired.")
	case g.Status == storage.DeviceGrantDenied:
		return nil, deviceError(oidc.ErrAccessDenied, "The user denied the request.")
	case g.Status == storage.DeviceGrantIssued:
		return nil, invalidGrant("The device code was already used.")
	}
	turn, err := p.store.PollDeviceGrant(ctx, g.ID, time.Duration(g.IntervalSeconds)*time.Second)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if !turn {
		return nil, deviceError(oidc.ErrSlowDown, "Polling too fast: wait 5 seconds longer between requests.")
	}
	if g.Status == storage.DeviceGrantPending {
		return nil, deviceError(oidc.ErrAuthorizationPending, "The user has not yet approved the request.")
	}
	issued, err := p.store.IssueDeviceGrant(ctx, g.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, invalidGrant("The device code was already used.")
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	resp, err := p.tokens.DeviceGrant(ctx, tc, issued)
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

func invalidGrant(description string) *oidc.Error {
	return oidc.ErrInvalidGrant().WithDescription("%s", description)
}

// DeviceSignIn answers the /device form: for a live, undecided user code it
// starts a sign-in for the device's client bound to this browser and
// redirects (303) to the login page. Every guess counts against the
// client's address (RFC 8628 §5.1); while it is throttled even the right
// code is refused. It writes nothing and returns idp.ErrDeviceCodeInvalid
// (a wrong code), idp.ErrDeviceCodeExpired (expired or decided),
// *idp.ThrottledError, or another error.
func (p *Provider) DeviceSignIn(w http.ResponseWriter, r *http.Request, userCode string) error {
	ctx := op.ContextWithIssuer(r.Context(), p.cfg.Issuer)
	addr := requestAddress(r)
	attempt, err := p.guesses.Begin(ctx, throttle.Limit{Key: "device:ip:" + addr, Rule: deviceGuessRule})
	if err != nil {
		return err
	}
	code, ok := NormalizeUserCode(userCode)
	if !ok {
		return idp.ErrDeviceCodeInvalid
	}
	g, err := p.store.GetDeviceGrantByUserCode(ctx, p.userCodeHash(code))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return idp.ErrDeviceCodeInvalid
	case err != nil:
		attempt.Release(ctx)
		return err
	}
	attempt.Succeeded(ctx)
	if g.Status != storage.DeviceGrantPending || !p.now().Before(g.ExpiresAt) {
		return idp.ErrDeviceCodeExpired
	}
	row, err := p.store.GetClient(ctx, g.ClientID)
	if err != nil {
		return err
	}
	if err := p.checkPending(ctx, addr); err != nil {
		return err
	}
	req := &oidc.AuthRequest{
		ClientID: row.ID, Scopes: oidc.SpaceDelimitedArray(g.Scopes), ResponseType: oidc.ResponseTypeCode,
		// Where the login flow sends an error (the user denied, or the
		// policy cannot be met): the device pages say what happened.
		RedirectURI: p.cfg.Issuer + DevicePath + "/done",
	}
	redirect, id, err := p.startAuthRequestWith(ctx, opClient{row: row}, req, "", "", addr, r.Header, true)
	if err != nil {
		return err
	}
	if err := p.store.AttachDeviceGrantSignIn(ctx, g.ID, id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return idp.ErrDeviceCodeExpired
		}
		return err
	}
	for k, v := range redirect.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, redirect.URL, http.StatusSeeOther)
	return nil
}

// deviceSignIn loads the completed sign-in id of a device grant for the
// browser it belongs to, and the grant, still pending and live.
func (p *Provider) deviceSignIn(ctx context.Context, id string, b idp.Browser) (*storage.AuthRequest, *storage.DeviceGrant, error) {
	ar, err := p.store.GetAuthRequest(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, idp.ErrAuthRequestNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	// SECURITY-RULES: "A step-up completes only the authorization request
	// and browser session it belongs to." — the approval is the last step
	// of this sign-in, so only its browser may take it.
	if b.BindingCookie == "" || subtle.ConstantTimeCompare([]byte(ar.BrowserHash), []byte(idp.HashSecret(b.BindingCookie))) != 1 {
		return nil, nil, idp.ErrWrongBrowser
	}
	if !ar.Done || ar.UserID == nil || ar.SessionID == nil || ar.AuthTime == nil {
		return nil, nil, idp.ErrAuthRequestNotFound
	}
	g, err := p.store.GetDeviceGrantByAuthRequest(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, idp.ErrAuthRequestNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	if g.Status != storage.DeviceGrantPending || !p.now().Before(g.ExpiresAt) {
		return nil, nil, idp.ErrDeviceCodeExpired
	}
	return ar, g, nil
}

// DeviceApproval is what the approval page of device sign-in id shows.
func (p *Provider) DeviceApproval(ctx context.Context, id string, b idp.Browser) (idp.DevicePrompt, error) {
	ar, g, err := p.deviceSignIn(ctx, id, b)
	if err != nil {
		return idp.DevicePrompt{}, err
	}
	c, err := p.store.GetClient(ctx, g.ClientID)
	if err != nil {
		return idp.DevicePrompt{}, err
	}
	u, err := p.store.GetUser(ctx, *ar.UserID)
	if err != nil {
		return idp.DevicePrompt{}, err
	}
	return idp.DevicePrompt{Client: idp.ClientInfo{ID: c.ID, Name: c.Name}, Scopes: g.Scopes, Username: u.Username}, nil
}

// DecideDevice records the person's decision on device sign-in id, once: an
// approval gives the device the user, session, amr, acr and auth_time of
// that sign-in. A second decision, or one after expiry, is
// idp.ErrDeviceCodeExpired and changes nothing.
func (p *Provider) DecideDevice(ctx context.Context, id string, b idp.Browser, allow bool) error {
	ar, g, err := p.deviceSignIn(ctx, id, b)
	if err != nil {
		return err
	}
	err = p.store.DecideDeviceGrant(ctx, id, allow, *ar.UserID, *ar.SessionID, *ar.AuthTime, ar.AMR, ar.ACR)
	if errors.Is(err, storage.ErrNotFound) {
		return idp.ErrDeviceCodeExpired
	}
	if err != nil {
		return err
	}
	action := "device_grant.approved"
	if !allow {
		action = "device_grant.denied"
	}
	p.audit.Record(ctx, idp.Actor{ID: *ar.UserID, IP: b.IP, RequestID: b.RequestID}, action, g.ClientID, map[string]any{"scopes": []string(g.Scopes)})
	return nil
}

// deviceCallback is where the authorization callback sends a completed
// device sign-in: to its approval page, never a code.
func (p *Provider) deviceCallback(ctx context.Context, id string) (idp.AuthResponse, bool, error) {
	_, err := p.store.GetDeviceGrantByAuthRequest(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return idp.AuthResponse{}, false, nil
	}
	if err != nil {
		return idp.AuthResponse{}, true, err
	}
	return idp.AuthResponse{RedirectURI: p.cfg.Issuer + DevicePath + "/approve", Params: url.Values{"id": {id}}}, true, nil
}
