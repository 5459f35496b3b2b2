package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/account"
	"github.com/twofold-idp/twofold/idp/channels"
)

// The fake account's phone: a number typed with + is pending until the code 123456 comes back.
const fakePhoneCode = "123456"

func (f *fakeAccount) AccountAddPhone(_ context.Context, b idp.Browser, number string) (idp.CodeSent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountAddPhone", browser: b, name: number}, true); err != nil {
		return idp.CodeSent{}, err
	}
	if number == "" || number[0] != '+' {
		return idp.CodeSent{}, idp.InputErrorf("phone", "is not a phone number with its country code, like +1 555 123 4567")
	}
	f.view.Phone.Pending = number
	return idp.CodeSent{To: "the number ending in " + number[len(number)-4:], Sent: true}, nil
}

func (f *fakeAccount) AccountResendPhoneCode(_ context.Context, b idp.Browser) (idp.CodeSent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountResendPhoneCode", browser: b}, true); err != nil {
		return idp.CodeSent{}, err
	}
	if f.view.Phone.Pending == "" {
		return idp.CodeSent{}, idp.ErrNotFound
	}
	return idp.CodeSent{Sent: true}, nil
}

func (f *fakeAccount) AccountConfirmPhone(_ context.Context, b idp.Browser, code string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountConfirmPhone", browser: b, code: code}, true); err != nil {
		return err
	}
	if f.view.Phone.Pending == "" || code != fakePhoneCode {
		return idp.ErrInvalidCode
	}
	f.view.Phone.Number, f.view.Phone.Pending = f.view.Phone.Pending, ""
	return nil
}

func (f *fakeAccount) AccountRemovePhone(_ context.Context, b idp.Browser) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(accountCall{method: "AccountRemovePhone", browser: b}, true); err != nil {
		return err
	}
	if f.view.Phone.Number == "" && f.view.Phone.Pending == "" {
		return idp.ErrNotFound
	}
	f.view.Phone.Number, f.view.Phone.Pending = "", ""
	return nil
}

func TestThePhoneSectionAddsConfirmsAndRemovesANumber(t *testing.T) {
	h := newAccountHarness(t)
	h.signIn()
	r, _ := accountPageOf(t, h)
	wantNotContains(t, r.body, `id="phone"`) // no SMS gateway, no number: nothing to show

	h.account.edit(func(v *account.View) { v.Phone.Available = true })
	r, _ = accountPageOf(t, h)
	wantContains(t, r.body, `<h2 id="phone-title">Phone for text messages</h2>`, "weaker way to sign in",
		`<form id="add-phone" method="post" action="/account/phone">`, `name="phone" type="tel" autocomplete="tel"`)
	wantNotContains(t, r.body, `id="verify-phone"`, `id="remove-phone"`)

	// A number without its country code is a field error; nothing is pending.
	r = postAccount(t, h, "/account/phone", url.Values{"phone": {"555 123 4567"}})
	wantStatus(t, r, http.StatusBadRequest)
	wantContains(t, r.body, `role="alert" aria-live="assertive" id="phone-error">Phone number is not a phone number with its country code`,
		`aria-describedby="phone-hint phone-error" aria-invalid="true" autofocus`)
	r = postAccount(t, h, "/account/phone", url.Values{"phone": {""}})
	wantStatus(t, r, http.StatusBadRequest)
	wantContains(t, r.body, msgEnterPhone)

	wantRedirect(t, postAccount(t, h, "/account/phone", url.Values{"phone": {"+1 555 123 4567"}}), "/account?changed=phone-sent#phone")
	r = h.get("/account?changed=phone-sent")
	wantContains(t, r.body, msgPhoneCodeSent, `<form id="verify-phone" class="panel" method="post" action="/account/phone/verify">`,
		"<h3>Confirm &#43;1 555 123 4567</h3>", `<form id="phone-resend"`)

	// A wrong code is 401 by the code field.
	r = postAccount(t, h, "/account/phone/verify", url.Values{"code": {"000000"}})
	wantStatus(t, r, http.StatusUnauthorized)
	wantContains(t, r.body, `id="phone-error">`+msgWrongCode, `aria-describedby="phone-code-hint phone-error" aria-invalid="true" autofocus`)
	wantRedirect(t, postAccount(t, h, "/account/phone/resend", nil), "/account?changed=phone-sent#phone")
	wantRedirect(t, postAccount(t, h, "/account/phone/verify", url.Values{"code": {fakePhoneCode}}), "/account?changed=phone#phone")
	r = h.get("/account?changed=phone")
	wantContains(t, r.body, msgPhoneVerified, `<span class="item-name phone-number">&#43;1 555 123 4567</span> <span class="badge">Confirmed</span>`,
		`<form id="remove-phone"`, "Change your number")
	wantNotContains(t, r.body, `id="verify-phone"`)

	wantRedirect(t, postAccount(t, h, "/account/phone/remove", nil), "/account?changed=phone-removed#phone")
	r = postAccount(t, h, "/account/phone/remove", nil)
	wantStatus(t, r, http.StatusNotFound)
	wantContains(t, r.body, msgPhoneGone)
	r = postAccount(t, h, "/account/phone/resend", nil)
	wantStatus(t, r, http.StatusNotFound)
	wantContains(t, r.body, msgPhoneNoPending)
}

func TestPhoneChangesNeedAFreshProofAndACSRFToken(t *testing.T) {
	h := newAccountHarness(t)
	h.signIn()
	h.account.edit(func(v *account.View) { v.Phone.Available, v.Fresh = true, false })
	for _, path := range []string{"/account/phone", "/account/phone/verify", "/account/phone/resend", "/account/phone/remove"} {
		wantRedirect(t, postAccount(t, h, path, url.Values{"phone": {"+15551234567"}, "code": {"123456"}}), fakeAccountReauthURL)
		r := h.post(h.client, path, url.Values{"phone": {"+15551234567"}, "code": {"123456"}}, nil)
		wantStatus(t, r, http.StatusForbidden)
	}
	if calls := h.account.callsOf("AccountAddPhone"); len(calls) != 1 {
		t.Fatalf("%d AccountAddPhone calls, want the one with a CSRF token", len(calls))
	}
}

func TestARefusedPhoneChangeSaysWhyInThePhoneSection(t *testing.T) {
	for _, tc := range []struct {
		name, method, path string
		err                error
		status             int
		alert              string
	}{
		{"a sending limit", "AccountAddPhone", "/account/phone", &idp.ThrottledError{RetryAfter: 3 * time.Minute}, http.StatusTooManyRequests, msgPhoneTooMany},
		{"a failed send", "AccountAddPhone", "/account/phone", fmt.Errorf("%w: 502", channels.ErrSendFailed), http.StatusServiceUnavailable, msgPhoneSendFailed},
		{"no SMS gateway", "AccountAddPhone", "/account/phone", channels.ErrSMSOff, http.StatusBadRequest, msgPhoneSMSOff},
		{"too many wrong codes", "AccountConfirmPhone", "/account/phone/verify", &idp.ThrottledError{RetryAfter: time.Minute}, http.StatusTooManyRequests, msgPhoneTooMany},
		{"the last factor", "AccountRemovePhone", "/account/phone/remove", idp.ErrLastFactor, http.StatusBadRequest, msgPhoneLast},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newAccountHarness(t)
			h.signIn()
			h.account.edit(func(v *account.View) { v.Phone.Available, v.Phone.Number = true, "+15551234567" })
			h.account.script(tc.method, tc.err)
			r := postAccount(t, h, tc.path, url.Values{"phone": {"+15557654321"}, "code": {"123456"}})
			wantStatus(t, r, tc.status)
			wantContains(t, r.body, `id="phone-error">`+tc.alert, `<form id="add-phone"`)
			if tc.status == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		})
	}
}
