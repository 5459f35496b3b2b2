package mailtest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp/notify"
)

// SMSReceiver is an SMS gateway's webhook on loopback (plain http, which
// notify allows to a loopback address). It verifies every call's signature
// and timestamp (notify.VerifyWebhook): a call that fails is answered 401
// and delivers nothing. By default every verified call is answered 200;
// Respond scripts other answers.
type SMSReceiver struct {
	URL    string
	Secret string

	mu        sync.Mutex
	responses []int
	onCall    func(Call)
	calls     []Call
	q         *queues[*SMSMessage]
}

// Call is one request the receiver got.
type Call struct {
	Verified bool // the signature and timestamp were right
	Status   int  // what the receiver answered
	Payload  notify.WebhookPayload
}

// SMSMessage is one text message the receiver accepted (answered 2xx).
type SMSMessage struct {
	notify.WebhookPayload
	Header http.Header
	// Codes and Links as in Message.
	Codes []string
	Links []string
}

// Code is the message's one code; the test fails unless there is exactly one.
func (m *SMSMessage) Code(t testing.TB) string {
	t.Helper()
	if len(m.Codes) != 1 {
		t.Fatalf("SMS %q has codes %v, want exactly one", m.Text, m.Codes)
	}
	return m.Codes[0]
}

// NewSMSReceiver starts a webhook receiver for the test, stopped at cleanup.
func NewSMSReceiver(t testing.TB) *SMSReceiver {
	t.Helper()
	r := &SMSReceiver{Secret: "sms-webhook-test-secret-0123456789", q: newQueues[*SMSMessage]()}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/sms"
	return r
}

// Config is the webhook configuration that reaches this receiver.
func (r *SMSReceiver) Config() notify.WebhookConfig {
	return notify.WebhookConfig{URL: r.URL, Secret: r.Secret}
}

// Sender is a notify.Webhook that calls this receiver, retrying after 1 ms
// instead of the production backoff (opts may override).
func (r *SMSReceiver) Sender(t testing.TB, opts ...notify.WebhookOption) *notify.Webhook {
	t.Helper()
	w, err := notify.NewWebhook(r.Config(), slog.New(slog.DiscardHandler), append([]notify.WebhookOption{notify.WithRetries(3, time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Respond makes the next verified calls answer these statuses, in order
// (e.g. 503 then the default 200).
func (r *SMSReceiver) Respond(statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.responses = append(r.responses, statuses...)
}

// OnCall runs fn for each call, before it is answered (a test can cancel the
// sender's context there).
func (r *SMSReceiver) OnCall(fn func(Call)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onCall = fn
}

// Calls is every call so far, in order.
func (r *SMSReceiver) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Next takes the oldest accepted message to the number to not taken yet,
// waiting for it; the test fails if none arrives in time.
func (r *SMSReceiver) Next(t testing.TB, to string) *SMSMessage {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	m, err := r.Wait(ctx, to)
	if err != nil {
		t.Fatalf("no SMS to %s: %v (calls: %d)", to, err, len(r.Calls()))
	}
	return m
}

// Wait is Next for any goroutine.
func (r *SMSReceiver) Wait(ctx context.Context, to string) (*SMSMessage, error) {
	return r.q.wait(ctx, to)
}

// Received is every message accepted for to so far, taken by Next or not.
func (r *SMSReceiver) Received(to string) []*SMSMessage { return r.q.received(to) }

func (r *SMSReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<10))
	if err != nil || req.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	call := Call{Verified: notify.VerifyWebhook([]byte(r.Secret), req.Header, body, time.Now(), 5*time.Minute) == nil}
	if err := json.Unmarshal(body, &call.Payload); err != nil {
		call.Verified = false
	}
	r.mu.Lock()
	switch {
	case !call.Verified:
		call.Status = http.StatusUnauthorized
	case len(r.responses) > 0:
		call.Status, r.responses = r.responses[0], r.responses[1:]
	default:
		call.Status = http.StatusOK
	}
	r.calls = append(r.calls, call)
	onCall := r.onCall
	r.mu.Unlock()
	if onCall != nil {
		onCall(call)
	}
	if call.Status >= 200 && call.Status < 300 {
		m := &SMSMessage{WebhookPayload: call.Payload, Header: req.Header.Clone()}
		parsed := &Message{Text: m.Text}
		for _, l := range urlRE.FindAllString(m.Text, -1) {
			parsed.addLink(l)
		}
		m.Links = parsed.Links
		m.Codes = codesOf(m.Text)
		r.q.deliver(m.To, m)
	}
	w.WriteHeader(call.Status)
}
