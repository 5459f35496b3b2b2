package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/channels"
)

// fakeSentTo is where the fake flow says codes go.
const fakeSentTo = "a•••@example.com"

// SendCode records the call and answers where the code went: sent unless a code was already sent for the request
// (resend sends anyway). A scripted answer's err is returned as it is.
func (f *fakeFlow) SendCode(_ context.Context, id string, b idp.Browser, method string, resend bool) (idp.CodeSent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := flowCall{method: "SendCode", id: id, browser: b, factor: method, remember: resend}
	if sc, ok := f.begin(c); ok {
		return idp.CodeSent{To: fakeSentTo, Sent: sc.err == nil}, sc.err
	}
	if _, err := f.request(id, b); err != nil {
		return idp.CodeSent{}, err
	}
	if method != idp.MethodEmail && method != idp.MethodSMS {
		return idp.CodeSent{}, fmt.Errorf("fake flow: second factor %q sends no code", method)
	}
	sent := resend || f.sends[id] == 0
	if sent {
		if f.sends == nil {
			f.sends = map[string]int{}
		}
		f.sends[id]++
	}
	return idp.CodeSent{To: fakeSentTo, Sent: sent}, nil
}

// sendCalls are the SendCode calls made so far.
func (f *fakeFlow) sendCalls() []flowCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []flowCall
	for _, c := range f.calls {
		if c.method == "SendCode" {
			out = append(out, c)
		}
	}
	return out
}

func newCodeHarness(t *testing.T) *harness {
	h := newMFAHarness(t)
	h.flow.addRequest("req-codes", &fakeAuthRequest{signedIn: true, redirectURL: fakeDoneURL,
		mfaMethods: []string{idp.MethodTOTP, idp.MethodEmail, idp.MethodSMS, idp.MethodBackupCode}})
	return h
}

func TestTheEmailAndSMSCodePagesSendTheCodeWhenFirstShown(t *testing.T) {
	h := newCodeHarness(t)
	r := h.get("/login?id=req-codes")
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, `<form id="mfa-totp"`,
		`<a data-method="email" href="/login?id=req-codes&amp;method=email">Email me a code instead</a>`,
		`<a data-method="sms" href="/login?id=req-codes&amp;method=sms">Text me a code instead</a>`)
	if n := len(h.flow.sendCalls()); n != 0 {
		t.Fatalf("the TOTP page sent %d codes", n)
	}
	for _, m := range []string{idp.MethodEmail, idp.MethodSMS} {
		r = h.get("/login?id=req-codes&method=" + m)
		wantStatus(t, r, http.StatusOK)
		wantMFAPage(t, r)
		wantContains(t, r.body,
			`<form id="mfa-`+m+`" method="post" action="/login/mfa/`+m+`">`,
			`<form id="mfa-resend" class="inline-form resend-form" method="post" action="/login/mfa/`+m+`/resend">`,
			`name="code" type="text" class="code-input" inputmode="numeric" autocomplete="one-time-code"`,
			`<strong class="sent-to">`+fakeSentTo+`</strong>`, fakeMFAReason)
		wantNotContains(t, r.body, `role="alert"`, `data-method="`+m+`"`)
	}
	calls := h.flow.sendCalls()
	if len(calls) != 2 || calls[0].factor != idp.MethodEmail || calls[1].factor != idp.MethodSMS || calls[0].remember || calls[1].remember {
		t.Fatalf("SendCode calls %+v, want email then sms, not resends", calls)
	}
}

func TestSendANewCodeSendsAndShowsThePageAgain(t *testing.T) {
	h := newCodeHarness(t)
	p := h.get("/login?id=req-codes&method=email")
	token := csrfTokenIn(t, p.body)
	r := h.post(h.client, "/login/mfa/email/resend", url.Values{"csrf_token": {token}, "id": {"req-codes"}}, nil)
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/login?id=req-codes&method=email&sent=1" {
		t.Fatalf("Location %q", loc)
	}
	calls := h.flow.sendCalls()
	if len(calls) != 2 || !calls[1].remember {
		t.Fatalf("SendCode calls %+v, want a resend", calls)
	}
	r = h.get("/login?id=req-codes&method=email&sent=1")
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, `role="status" id="mfa-notice">`+msgCodeResent)

	// Without the CSRF token nothing is sent.
	r = h.post(h.client, "/login/mfa/email/resend", url.Values{"id": {"req-codes"}}, nil)
	wantStatus(t, r, http.StatusForbidden)
	wantContains(t, r.body, `role="alert"`, `<form id="mfa-email"`)
	if n := len(h.flow.sendCalls()); n != 3 { // the page view above, which sent nothing new
		t.Fatalf("%d SendCode calls after a refused resend, want 3", n)
	}
}

func TestARefusedOrFailedSendKeepsTheFormAndSaysWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		alert  string
	}{
		{"a sending limit is 429 with Retry-After", &idp.ThrottledError{RetryAfter: 90 * time.Second}, http.StatusTooManyRequests,
			msgTooManySends + " You can ask again in 90 seconds."},
		{"a failed send is 503 and offers another try or another way", fmt.Errorf("%w: smtp: 451", channels.ErrSendFailed), http.StatusServiceUnavailable,
			"We could not send the code. Ask for a new code in a few minutes, or choose another way below."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newCodeHarness(t)
			token := csrfTokenIn(t, h.get("/login?id=req-codes&method=sms").body)
			h.flow.scriptAnswer("SendCode", scriptedStep{err: tc.err})
			for _, r := range []response{
				h.get("/login?id=req-codes&method=email"),
				h.post(h.client, "/login/mfa/email/resend", url.Values{"csrf_token": {token}, "id": {"req-codes"}}, nil),
			} {
				wantStatus(t, r, tc.status)
				wantMFAPage(t, r)
				wantContains(t, r.body, `role="alert" aria-live="assertive" id="mfa-error">`+tc.alert, `<form id="mfa-email"`, `<form id="mfa-resend"`,
					`data-method="totp"`, `data-method="backup_code"`)
				if tc.status == http.StatusTooManyRequests && r.Header.Get("Retry-After") != "90" {
					t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
				}
			}
		})
	}
}
