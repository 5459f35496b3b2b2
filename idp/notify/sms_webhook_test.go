package notify_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/apptest/mailtest"
	"github.com/twofold-idp/twofold/idp/notify"
)

const phone = "+15551234567"

func smsCode(t *testing.T) notify.SMS {
	t.Helper()
	s, err := notify.RenderSMS(notify.SignInCode, phone, full())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWebhookCallsAreSignedAndCarryTheDocumentedPayload(t *testing.T) {
	r := mailtest.NewSMSReceiver(t)
	sent := smsCode(t)
	if err := r.Sender(t).SendSMS(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	got := r.Next(t, phone)
	if got.To != phone || got.Text != sent.Text || got.Code(t) != "493817" {
		t.Fatalf("received %+v", got)
	}
	if id, err := hex.DecodeString(got.ID); err != nil || len(id) != 16 {
		t.Fatalf("id %q is not 128 random bits in hex", got.ID)
	}
	if got.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(got.Header.Get(notify.HeaderSignature), "sha256=") {
		t.Fatalf("headers %v", got.Header)
	}
	if calls := r.Calls(); len(calls) != 1 || !calls[0].Verified {
		t.Fatalf("calls %+v", calls)
	}
}

func TestWebhookRetriesAfterA503AndSucceedsWithTheSameID(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusInternalServerError} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			r := mailtest.NewSMSReceiver(t)
			r.Respond(status)
			if err := r.Sender(t).SendSMS(context.Background(), smsCode(t)); err != nil {
				t.Fatal(err)
			}
			calls := r.Calls()
			if len(calls) != 2 || calls[0].Status != status || calls[1].Status != 200 || calls[0].Payload.ID != calls[1].Payload.ID {
				t.Fatalf("calls %+v", calls)
			}
			if n := len(r.Received(phone)); n != 1 {
				t.Fatalf("%d messages accepted", n)
			}
		})
	}
}

func TestWebhookDoesNotRetryARefusal(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusForbidden, http.StatusUnprocessableEntity} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			r := mailtest.NewSMSReceiver(t)
			r.Respond(status)
			err := r.Sender(t).SendSMS(context.Background(), smsCode(t))
			var we *notify.WebhookError
			if !errors.As(err, &we) || we.Status != status || we.Attempts != 1 {
				t.Fatalf("got %v", err)
			}
			if len(r.Calls()) != 1 {
				t.Fatalf("calls %+v", r.Calls())
			}
		})
	}
}

func TestWebhookGivesUpAfterTheLastAttemptWithAClearError(t *testing.T) {
	r := mailtest.NewSMSReceiver(t)
	r.Respond(503, 503, 503, 503)
	err := r.Sender(t).SendSMS(context.Background(), smsCode(t))
	if err == nil || err.Error() != "sms webhook: the gateway answered 503 Service Unavailable after 3 attempt(s)" {
		t.Fatalf("got %v", err)
	}
	if len(r.Calls()) != 3 {
		t.Fatalf("%d calls, want 3", len(r.Calls()))
	}
}

func TestWebhookStopsRetryingWhenTheContextEnds(t *testing.T) {
	r := mailtest.NewSMSReceiver(t)
	ctx, cancel := context.WithCancel(context.Background())
	r.Respond(503)
	r.OnCall(func(mailtest.Call) { cancel() })
	// An hour's backoff: the send can only return early because ctx ended.
	err := r.Sender(t, notify.WithRetries(3, time.Hour)).SendSMS(ctx, smsCode(t))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if len(r.Calls()) != 1 {
		t.Fatalf("%d calls", len(r.Calls()))
	}
}

func TestWebhookSignedWithAnotherSecretIsRefusedByTheReceiver(t *testing.T) {
	r := mailtest.NewSMSReceiver(t)
	w, err := notify.NewWebhook(notify.WebhookConfig{URL: r.URL, Secret: "another-secret-of-some-length"}, discard, notify.WithRetries(3, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var we *notify.WebhookError
	if err := w.SendSMS(context.Background(), smsCode(t)); !errors.As(err, &we) || we.Status != 401 {
		t.Fatalf("got %v", err)
	}
	if calls := r.Calls(); len(calls) != 1 || calls[0].Verified || len(r.Received(phone)) != 0 {
		t.Fatalf("calls %+v", calls)
	}
}

func TestWebhookNeverFollowsARedirect(t *testing.T) {
	r := mailtest.NewSMSReceiver(t)
	redirect := httptest.NewServer(http.RedirectHandler(r.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	w, err := notify.NewWebhook(notify.WebhookConfig{URL: redirect.URL, Secret: r.Secret}, discard)
	if err != nil {
		t.Fatal(err)
	}
	var we *notify.WebhookError
	if err := w.SendSMS(context.Background(), smsCode(t)); !errors.As(err, &we) || we.Status != http.StatusTemporaryRedirect || we.Attempts != 1 {
		t.Fatalf("got %v", err)
	}
	if len(r.Calls()) != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestWebhookRetriesWhenNobodyAnswers(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // connection refused from now on
	w, err := notify.NewWebhook(notify.WebhookConfig{URL: url, Secret: "0123456789abcdef"}, discard, notify.WithRetries(2, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var we *notify.WebhookError
	err = w.SendSMS(context.Background(), smsCode(t))
	if !errors.As(err, &we) || we.Status != 0 || we.Attempts != 2 || !strings.Contains(err.Error(), "no answer after 2 attempt(s)") {
		t.Fatalf("got %v", err)
	}
}

func TestWebhookSendsOnlyToE164Numbers(t *testing.T) {
	r := mailtest.NewSMSReceiver(t)
	s := smsCode(t)
	s.To = "555 123 4567"
	if err := r.Sender(t).SendSMS(context.Background(), s); err == nil {
		t.Fatal("sent to a number without its country code")
	}
	if len(r.Calls()) != 0 {
		t.Fatal("called")
	}
}

func TestVerifyWebhook(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1767225600, 0)
	body := []byte(`{"to":"+15551234567","text":"hi","id":"1"}`)
	signed := func(ts int64, b []byte) http.Header {
		h := http.Header{}
		s := strconv.FormatInt(ts, 10)
		h.Set(notify.HeaderTimestamp, s)
		h.Set(notify.HeaderSignature, notify.SignWebhook(secret, s, b))
		return h
	}
	if err := notify.VerifyWebhook(secret, signed(now.Unix(), body), body, now, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"a tampered body", signed(now.Unix(), body), []byte(`{"to":"+15550000000","text":"hi","id":"1"}`), notify.ErrWebhookSignature},
		{"another secret", func() http.Header {
			h := signed(now.Unix(), body)
			h.Set(notify.HeaderSignature, notify.SignWebhook([]byte("another secret!!"), strconv.FormatInt(now.Unix(), 10), body))
			return h
		}(), body, notify.ErrWebhookSignature},
		{"a stale timestamp", signed(now.Add(-6*time.Minute).Unix(), body), body, notify.ErrWebhookTimestamp},
		{"a future timestamp", signed(now.Add(6*time.Minute).Unix(), body), body, notify.ErrWebhookTimestamp},
		{"a timestamp changed after signing", func() http.Header {
			h := signed(now.Unix(), body)
			h.Set(notify.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
			return h
		}(), body, notify.ErrWebhookSignature},
		{"no headers", http.Header{}, body, notify.ErrWebhookTimestamp},
		{"no signature", func() http.Header { h := signed(now.Unix(), body); h.Del(notify.HeaderSignature); return h }(), body, notify.ErrWebhookSignature},
		{"a bare hex signature", func() http.Header {
			h := signed(now.Unix(), body)
			h.Set(notify.HeaderSignature, strings.TrimPrefix(h.Get(notify.HeaderSignature), "sha256="))
			return h
		}(), body, notify.ErrWebhookSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := notify.VerifyWebhook(secret, tc.h, tc.body, now, 5*time.Minute); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzVerifyWebhook(f *testing.F) {
	f.Add("1767225600", "sha256=00", []byte(`{}`))
	f.Add("", "", []byte{})
	f.Add("-1", "sha256=", []byte("x"))
	secret := []byte("0123456789abcdef")
	now := time.Unix(1767225600, 0)
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(notify.HeaderTimestamp, ts)
		h.Set(notify.HeaderSignature, sig)
		err := notify.VerifyWebhook(secret, h, body, now, 5*time.Minute)
		if err == nil && sig != notify.SignWebhook(secret, ts, body) {
			t.Fatalf("accepted a signature that is not the HMAC: %q", sig)
		}
	})
}

func TestWebhookConfigValidation(t *testing.T) {
	for _, ok := range []notify.WebhookConfig{
		{URL: "https://sms-gateway.example/send", Secret: "a-long-random-signing-key"},
		{URL: "http://127.0.0.1:9000/sms", Secret: "0123456789abcdef"},
		{URL: "http://localhost/sms", Secret: "0123456789abcdef"},
		{URL: "http://[::1]:8080/sms", Secret: "0123456789abcdef"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		name string
		c    notify.WebhookConfig
		want string
	}{
		{"a URL is required", notify.WebhookConfig{Secret: "0123456789abcdef"}, "url: must be set"},
		{"http to another host is refused", notify.WebhookConfig{URL: "http://sms-gateway.example/send", Secret: "0123456789abcdef"}, "url: must use https (http is allowed only to a loopback address)"},
		{"another scheme is refused", notify.WebhookConfig{URL: "ftp://sms-gateway.example/send", Secret: "0123456789abcdef"}, "url: must use https"},
		{"a relative URL is refused", notify.WebhookConfig{URL: "/send", Secret: "0123456789abcdef"}, "url: is not an absolute URL"},
		{"user info is refused", notify.WebhookConfig{URL: "https://u:p@sms-gateway.example/", Secret: "0123456789abcdef"}, "url: must not contain a user name"},
		{"a short secret is refused", notify.WebhookConfig{URL: "https://sms-gateway.example/send", Secret: "short"}, "secret: must be at least 16 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if tc.c.Secret != "" && strings.Contains(err.Error(), tc.c.Secret) {
				t.Fatalf("the secret shows: %v", err)
			}
			if _, err := notify.NewWebhook(tc.c, discard); err == nil {
				t.Fatal("NewWebhook accepted it")
			}
		})
	}
}
