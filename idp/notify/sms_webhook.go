package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The SMS webhook. Twofold POSTs one JSON object per message:
//
//	{"to": "+15551234567", "text": "123456 is your … code …", "id": "9f2c…"}
//
// with Content-Type application/json and two headers:
//
//	X-Twofold-Timestamp: 1767225600
//	X-Twofold-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>
//
// A receiver recomputes the HMAC over the timestamp header, a dot and the raw
// body, compares it in constant time, and refuses a timestamp more than a few
// minutes away from its clock (VerifyWebhook does all three). id is the same
// for every attempt at one message, so that a gateway can drop a repeat.
// Any 2xx answer means sent; 429 and 5xx are retried with backoff; any other
// answer, and any redirect, is a refusal.
const (
	HeaderTimestamp = "X-Twofold-Timestamp"
	HeaderSignature = "X-Twofold-Signature"
)

// WebhookPayload is the JSON body of a webhook call.
type WebhookPayload struct {
	To   string `json:"to"`
	Text string `json:"text"`
	ID   string `json:"id"`
}

// MinWebhookSecret is the shortest signing secret accepted.
const MinWebhookSecret = 16

// WebhookConfig is the configuration's sms_webhook block.
type WebhookConfig struct {
	// URL is the gateway's endpoint: https, or http to a loopback address.
	URL string
	// Secret signs every call; at least MinWebhookSecret characters.
	Secret string
}

// Validate reports every problem as a *FieldError naming the key ("url").
// The secret never appears in a message.
func (c WebhookConfig) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, fieldErrorf(field, format, args...)) }
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		bad("url", "must be set (the SMS gateway's https endpoint)")
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		bad("url", "is not an absolute URL such as https://sms-gateway.example/send")
	case u.User != nil:
		bad("url", "must not contain a user name or password (the secret authenticates the calls)")
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		bad("url", "must use https (http is allowed only to a loopback address)")
	case u.Scheme != "https" && u.Scheme != "http":
		bad("url", "must use https")
	case u.Fragment != "":
		bad("url", "must not have a fragment (#...)")
	}
	if len(c.Secret) < MinWebhookSecret {
		bad("secret", "must be at least %d characters (e.g. openssl rand -hex 32)", MinWebhookSecret)
	}
	return errors.Join(errs...)
}

// Webhook sends text messages by calling an SMS gateway's webhook. It is
// safe for concurrent use.
type Webhook struct {
	url      string
	secret   []byte
	client   *http.Client
	attempts int
	backoff  time.Duration
	maxWait  time.Duration
	log      *slog.Logger
	now      func() time.Time
}

var _ SMSSender = (*Webhook)(nil)

// WebhookOption tunes a Webhook.
type WebhookOption func(*Webhook)

// WithHTTPClient replaces the HTTP client (default: 10 s per attempt, no
// redirects followed). A redirect is never followed whatever the client
// says: the signed message goes to the configured URL or nowhere.
func WithHTTPClient(c *http.Client) WebhookOption {
	return func(w *Webhook) { w.client = c }
}

// WithRetries sets how many attempts a message gets (default 3) and the
// wait before the second (default 500 ms), doubled before each next one.
func WithRetries(attempts int, backoff time.Duration) WebhookOption {
	return func(w *Webhook) { w.attempts, w.backoff = max(attempts, 1), backoff }
}

// WithWebhookClock sets the clock of the timestamp header (default time.Now).
func WithWebhookClock(now func() time.Time) WebhookOption {
	return func(w *Webhook) { w.now = now }
}

// NewWebhook validates cfg and returns a sender for it.
func NewWebhook(cfg WebhookConfig, logger *slog.Logger, opts ...WebhookOption) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sms_webhook: %w", err)
	}
	w := &Webhook{
		url: cfg.URL, secret: []byte(cfg.Secret), client: &http.Client{Timeout: 10 * time.Second},
		attempts: 3, backoff: 500 * time.Millisecond, maxWait: 5 * time.Second, log: logger, now: time.Now,
	}
	for _, o := range opts {
		o(w)
	}
	c := *w.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w.client = &c
	return w, nil
}

// WebhookError is a gateway's final answer to a message (after the retries,
// or at once for an answer that is not worth retrying).
type WebhookError struct {
	Status   int // the HTTP status of the last attempt; 0: no answer
	Attempts int
	Err      error // no answer: why
}

func (e *WebhookError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("sms webhook: no answer after %d attempt(s): %v", e.Attempts, e.Err)
	}
	return fmt.Sprintf("sms webhook: the gateway answered %d %s after %d attempt(s)", e.Status, http.StatusText(e.Status), e.Attempts)
}

func (e *WebhookError) Unwrap() error { return e.Err }

// SendSMS posts m, retrying on 429, 5xx and network errors with exponential
// backoff, for at most the configured attempts and never past ctx.
func (w *Webhook) SendSMS(ctx context.Context, m SMS) error {
	if n, err := ParsePhoneNumber(m.To); err != nil || n != m.To {
		return fmt.Errorf("sms webhook: %q is not an E.164 number (see ParsePhoneNumber)", truncate(m.To, 20))
	}
	var id [16]byte
	rand.Read(id[:]) // never fails (Go 1.24+)
	body, err := json.Marshal(WebhookPayload{To: m.To, Text: m.Text, ID: hex.EncodeToString(id[:])})
	if err != nil {
		return err
	}
	wait := w.backoff
	var last *WebhookError
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := w.post(ctx, body)
		switch {
		case err == nil && status >= 200 && status < 300:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("sms webhook: %w", ctx.Err())
		}
		last = &WebhookError{Status: status, Attempts: attempt, Err: err}
		if (err == nil && status != http.StatusTooManyRequests && status < 500) || attempt >= w.attempts {
			return last
		}
		pause := wait
		if retryAfter > pause {
			pause = min(retryAfter, w.maxWait)
		}
		w.log.WarnContext(ctx, "sms webhook: retrying", "attempt", attempt, "status", status, "err", err, "wait", pause.String())
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("sms webhook: %w (after %w)", ctx.Err(), last)
		case <-t.C:
		}
		wait *= 2
	}
}

// post makes one attempt: the status, the Retry-After it asked for, or why
// there was no answer.
func (w *Webhook) post(ctx context.Context, body []byte) (int, time.Duration, error) {
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Twofold-SMS-Webhook")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, SignWebhook(w.secret, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	var retryAfter time.Duration
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retryAfter, nil
}

// SignWebhook returns the X-Twofold-Signature value of body sent with the
// timestamp header ts: "sha256=" and the hex HMAC-SHA256 of ts + "." + body.
func SignWebhook(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of VerifyWebhook.
var (
	ErrWebhookSignature = errors.New("webhook: missing or wrong signature")
	ErrWebhookTimestamp = errors.New("webhook: missing or stale timestamp")
)

// VerifyWebhook checks a webhook call as a receiver must: the signature over
// the timestamp header and the raw body, compared in constant time, and a
// timestamp within tolerance of now (a replayed old call is refused).
func VerifyWebhook(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) > 12 {
		return ErrWebhookTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrWebhookTimestamp
	}
	want := SignWebhook(secret, ts, body)
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(want)) {
		return ErrWebhookSignature
	}
	return nil
}
