package op

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/keys"
	"github.com/twofold-idp/twofold/storage"
)

// BackchannelLogoutEvent is the event a logout token carries (OpenID
// Connect Back-Channel Logout 1.0 §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutTokenType is the logout token's typ header (§2.4, "explicit
// typing" as RFC 8725 §3.11 recommends).
const LogoutTokenType = "logout+jwt"

// LogoutStore is what the back-channel logout sender needs: the outbox
// that ending a session fills (storage.Store.EndSession and friends).
type LogoutStore interface {
	ClaimBackchannelLogouts(ctx context.Context, limit int, lease time.Duration) ([]storage.BackchannelLogout, error)
	FinishBackchannelLogout(ctx context.Context, id, errText string, retryAt time.Time, giveUp bool) error
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

var _ LogoutStore = (*storage.Store)(nil)

// LogoutSenderConfig tunes the sender; zero values take defaults.
type LogoutSenderConfig struct {
	Every         time.Duration // how often the outbox is looked at; default 2s
	Lease         time.Duration // how long a claimed logout is this sender's; default 1m
	Timeout       time.Duration // one POST, answer included; default 10s
	FirstRetry    time.Duration // the delay after the first failure, doubling after each; default 10s
	MaxRetryDelay time.Duration // the longest delay; default 1h
	MaxAttempts   int           // attempts before giving up; default 8 (about 40 minutes)
	Batch         int           // logouts claimed at once; default 20
	// HTTPClient sends the POSTs (nil: one that follows no redirects).
	HTTPClient *http.Client
}

func (c *LogoutSenderConfig) applyDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Every, 2*time.Second)
	def(&c.Lease, time.Minute)
	def(&c.Timeout, 10*time.Second)
	def(&c.FirstRetry, 10*time.Second)
	def(&c.MaxRetryDelay, time.Hour)
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.Batch <= 0 {
		c.Batch = 20
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			// A logout endpoint answers; it does not send Twofold elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
}

// LogoutSender delivers the back-channel logouts of the outbox: it signs a
// logout token per row and POSTs it to the client's
// backchannel_logout_uri, retrying with exponential backoff and giving up
// (audited) after MaxAttempts. Any number of replicas may run one: each row
// is claimed by one sender at a time.
type LogoutSender struct {
	cfg    LogoutSenderConfig
	store  LogoutStore
	keys   *keys.Manager
	issuer string
	audit  idp.Auditor
	log    *slog.Logger
	now    func() time.Time
}

// NewLogoutSender wires a sender. now may be nil (time.Now).
func NewLogoutSender(cfg LogoutSenderConfig, store LogoutStore, km *keys.Manager, issuer string, logger *slog.Logger, now func() time.Time) *LogoutSender {
	cfg.applyDefaults()
	if now == nil {
		now = time.Now
	}
	return &LogoutSender{cfg: cfg, store: store, keys: km, issuer: issuer, audit: idp.Auditor{Store: store, Log: logger}, log: logger, now: now}
}

// Run delivers logouts until ctx ends, then returns once the deliveries
// under way have finished (each is bounded by Timeout).
func (s *LogoutSender) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Every)
	defer t.Stop()
	for {
		n, err := s.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "back-channel logouts", "err", err)
		}
		if n == s.cfg.Batch && ctx.Err() == nil {
			continue // a full batch: there may be more due
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce claims the logouts due now and tries each once, in parallel; it
// returns how many it claimed. A delivery under way is not cut short by
// ctx: a stopping server finishes what it claimed (or the lease runs out
// and another sender retries).
func (s *LogoutSender) RunOnce(ctx context.Context) (int, error) {
	rows, err := s.store.ClaimBackchannelLogouts(ctx, s.cfg.Batch, s.cfg.Lease)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, row := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.deliver(context.WithoutCancel(ctx), row)
		}()
	}
	wg.Wait()
	return len(rows), nil
}

// errClientGone: the client was deleted or disabled, or no longer has a
// back-channel logout URI; nobody is left to tell.
var errClientGone = errors.New("the client no longer has a back-channel logout URI")

func (s *LogoutSender) deliver(ctx context.Context, row storage.BackchannelLogout) {
	err := s.send(ctx, row)
	if err == nil {
		if err := s.store.FinishBackchannelLogout(ctx, row.ID, "", time.Time{}, false); err != nil {
			s.log.ErrorContext(ctx, "record a back-channel logout delivered", "err", err)
		}
		s.log.InfoContext(ctx, "back-channel logout delivered", "client_id", row.ClientID, "session_id", row.SessionID, "attempt", row.Attempts)
		return
	}
	giveUp := row.Attempts >= s.cfg.MaxAttempts || errors.Is(err, errClientGone)
	retryAt := s.now().Add(s.backoff(row.Attempts))
	if ferr := s.store.FinishBackchannelLogout(ctx, row.ID, err.Error(), retryAt, giveUp); ferr != nil {
		s.log.ErrorContext(ctx, "record a back-channel logout attempt", "err", ferr)
	}
	if giveUp {
		s.log.WarnContext(ctx, "back-channel logout given up", "client_id", row.ClientID, "session_id", row.SessionID, "attempts", row.Attempts, "err", err)
		s.audit.Record(ctx, idp.Actor{ID: "system"}, "backchannel_logout.failed", row.ClientID,
			map[string]any{"session_id": row.SessionID, "user_id": row.UserID, "attempts": row.Attempts, "error": err.Error()})
		return
	}
	s.log.InfoContext(ctx, "back-channel logout failed, will retry", "client_id", row.ClientID, "attempt", row.Attempts, "retry_at", retryAt, "err", err)
}

// backoff is the delay after the attempt-th failed attempt: FirstRetry,
// doubling, at most MaxRetryDelay.
func (s *LogoutSender) backoff(attempt int) time.Duration {
	d := s.cfg.FirstRetry
	for i := 1; i < attempt && d < s.cfg.MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxRetryDelay)
}

// SECURITY-RULES: "Logs never contain passwords, codes, backup codes, tokens or secrets." — neither the logout
// token nor the request URL (which may carry a relying party's secret query) reaches the log or the outbox's
// last_error.
//
// send signs the row's logout token and POSTs it (§2.5): form-encoded
// logout_token; any 2xx is success (§2.8 says 200, some relying parties
// answer 204), anything else a failure to retry.
func (s *LogoutSender) send(ctx context.Context, row storage.BackchannelLogout) error {
	c, err := s.store.GetClient(ctx, row.ClientID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && c.BackchannelLogoutURI == "") {
		return errClientGone
	}
	if err != nil {
		return err
	}
	token, err := s.LogoutToken(ctx, c, row)
	if err != nil {
		return fmt.Errorf("sign the logout token: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // not the URL again: the row names the client
		}
		return fmt.Errorf("POST: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the relying party answered %d", resp.StatusCode)
	}
	return nil
}

// logoutClaims are a logout token's claims (§2.4): never a nonce, always
// both sub and sid (which satisfies backchannel_logout_session_required).
type logoutClaims struct {
	Issuer    string                    `json:"iss"`
	Audience  string                    `json:"aud"`
	IssuedAt  int64                     `json:"iat"`
	Expiry    int64                     `json:"exp"`
	JTI       string                    `json:"jti"`
	Subject   string                    `json:"sub"`
	SessionID string                    `json:"sid"`
	Events    map[string]map[string]any `json:"events"`
}

// logoutTokenLifetime: the token is signed at each attempt, so it can be
// short (§2.4 suggests at most two minutes); its jti is the row's, the same
// at every attempt, so a relying party can discard a repeat.
const logoutTokenLifetime = 2 * time.Minute

// LogoutToken signs the logout token of row for client c, with the
// client's ID token algorithm (id_token_signed_response_alg, §2.4: signed
// as ID tokens are).
func (s *LogoutSender) LogoutToken(ctx context.Context, c *storage.Client, row storage.BackchannelLogout) (string, error) {
	alg := c.IDTokenAlg
	if alg == "" {
		alg = "RS256"
	}
	key, err := s.keys.SigningKey(ctx, alg)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: key.SignatureAlgorithm(), Key: &jose.JSONWebKey{Key: key.Key(), KeyID: key.ID()}},
		(&jose.SignerOptions{}).WithType(LogoutTokenType),
	)
	if err != nil {
		return "", err
	}
	now := s.now()
	payload, err := json.Marshal(logoutClaims{
		Issuer: s.issuer, Audience: c.ID, IssuedAt: now.Unix(), Expiry: now.Add(logoutTokenLifetime).Unix(),
		JTI: row.ID, Subject: row.UserID, SessionID: row.SessionID,
		Events: map[string]map[string]any{BackchannelLogoutEvent: {}},
	})
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
