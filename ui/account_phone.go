package ui

import (
	"context"
	"errors"
	"net/http"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/account"
	"github.com/twofold-idp/twofold/idp/channels"
)

// "Phone for text messages" on the account page: add a number (form#add-phone, field phone), prove it with the
// code texted to it (form#verify-phone, field code; form#phone-resend sends a new one), remove it
// (form#remove-phone). Each is a change to a second factor, so the service asks for a fresh proof first. Only a
// verified number receives sign-in codes.

// AccountPhones is what the phone section needs from the account service (sensitive, like every factor change).
type AccountPhones interface {
	// AccountAddPhone texts a code to the number as typed. Errors: *idp.InputError (field phone) for a number
	// that is not international, channels.ErrSMSOff, *idp.ThrottledError, channels.ErrSendFailed.
	AccountAddPhone(ctx context.Context, b idp.Browser, number string) (idp.CodeSent, error)
	// AccountResendPhoneCode texts a new code to the number waiting for one (idp.ErrNotFound when none is).
	AccountResendPhoneCode(ctx context.Context, b idp.Browser) (idp.CodeSent, error)
	// AccountConfirmPhone keeps the waiting number, verified: idp.ErrInvalidCode for a wrong code,
	// *idp.ThrottledError while throttled.
	AccountConfirmPhone(ctx context.Context, b idp.Browser, code string) error
	// AccountRemovePhone forgets the number: idp.ErrLastFactor when it is the only second factor a policy that
	// requires MFA counts, idp.ErrNotFound when there is none.
	AccountRemovePhone(ctx context.Context, b idp.Browser) error
}

// Messages of the phone section.
const (
	sectionPhone        = "phone"
	maxPhoneLen         = 64
	msgEnterPhone       = "Enter a phone number."
	msgPhoneTooLong     = "That phone number is too long."
	msgEnterPhoneCode   = "Enter the code we texted to your phone."
	msgPhoneSMSOff      = "Text messages are not available here. Ask your administrator."
	msgPhoneSendFailed  = "We could not send the text message. Check the number, or try again in a few minutes."
	msgPhoneTooMany     = "Too many text messages were sent."
	msgPhoneLast        = "Your organisation requires two-step sign-in, and text messages are your only way to do it. Add an authenticator app or a passkey first, then remove this number."
	msgPhoneGone        = "There is no phone number to remove."
	msgPhoneNoPending   = "No number is waiting for a code. Add the number again."
	msgPhoneCodeSent    = "We texted a code to the number. Enter it below to confirm the number."
	msgPhoneVerified    = "Your phone number was confirmed. Sign-in codes can now be sent to it by text message."
	msgPhoneRemoved     = "Your phone number was removed."
	noticePhoneSent     = "phone-sent"
	noticePhoneVerified = "phone"
	noticePhoneRemoved  = "phone-removed"
)

// accountPhone is the phone section of the account page.
type accountPhone struct {
	Shown     bool   // an SMS gateway is configured, or the user has a number to remove
	Available bool   // numbers can be added and checked
	Number    string // the verified number; "" when none
	Pending   string // a number waiting for its code; "" when none
}

func newAccountPhone(v account.PhoneView) accountPhone {
	return accountPhone{
		Shown: v.Available || v.Number != "" || v.Pending != "", Available: v.Available, Number: v.Number, Pending: v.Pending,
	}
}

// phoneAlert shows a refused phone change on the account page, in the phone section, and reports whether it knew
// the error.
func (s *Server) phoneAlert(w http.ResponseWriter, r *http.Request, err error, field string) bool {
	var (
		inputErr  *idp.InputError
		throttled *idp.ThrottledError
	)
	switch {
	case errors.As(err, &inputErr):
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionPhone, Field: "phone", Message: accountInputMessage(inputErr)})
	case errors.Is(err, idp.ErrInvalidCode):
		s.showAccount(w, r, http.StatusUnauthorized, "", accountAlert{Section: sectionPhone, Field: field, Message: msgWrongCode})
	case errors.As(err, &throttled):
		s.showAccount(w, r, http.StatusTooManyRequests, "", accountAlert{Section: sectionPhone, Field: field,
			Message: msgPhoneTooMany + " " + retryAfter(w, throttled.RetryAfter)})
	case errors.Is(err, channels.ErrSendFailed):
		s.showAccount(w, r, http.StatusServiceUnavailable, "", accountAlert{Section: sectionPhone, Field: field, Message: msgPhoneSendFailed})
	case errors.Is(err, channels.ErrSMSOff):
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionPhone, Message: msgPhoneSMSOff})
	case errors.Is(err, idp.ErrLastFactor):
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionPhone, Message: msgPhoneLast})
	default:
		return false
	}
	return true
}

// handleAccountAddPhone texts a code to a new number.
func (s *Server) handleAccountAddPhone(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "add phone") {
		return
	}
	number := r.PostForm.Get("phone")
	switch {
	case number == "":
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionPhone, Field: "phone", Message: msgEnterPhone})
		return
	case len(number) > maxPhoneLen:
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionPhone, Field: "phone", Message: msgPhoneTooLong})
		return
	}
	_, err := s.account.AccountAddPhone(r.Context(), s.browser(r), number)
	switch {
	case err == nil:
		s.log(r.Context()).Info("phone verification code sent")
		s.seeOther(w, r, accountPath+"?changed="+noticePhoneSent+"#phone")
	case s.phoneAlert(w, r, err, "phone"):
	default:
		s.accountError(w, r, err)
	}
}

// handleAccountResendPhoneCode texts a new code to the number waiting for one.
func (s *Server) handleAccountResendPhoneCode(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "resend phone code") {
		return
	}
	_, err := s.account.AccountResendPhoneCode(r.Context(), s.browser(r))
	switch {
	case err == nil:
		s.seeOther(w, r, accountPath+"?changed="+noticePhoneSent+"#phone")
	case errors.Is(err, idp.ErrNotFound):
		s.showAccount(w, r, http.StatusNotFound, "", accountAlert{Section: sectionPhone, Message: msgPhoneNoPending})
	case s.phoneAlert(w, r, err, "code"):
	default:
		s.accountError(w, r, err)
	}
}

// accountCode reads the code field of an account form of section; empty (emptyMsg) or too long, the account page
// shows why beside it with 400 and ok is false.
func (s *Server) accountCode(w http.ResponseWriter, r *http.Request, section, emptyMsg string) (code string, ok bool) {
	code = r.PostForm.Get("code")
	msg := ""
	switch {
	case code == "":
		msg = emptyMsg
	case len(code) > maxCodeLen:
		msg = msgCodeTooLong
	default:
		return code, true
	}
	s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: section, Field: "code", Message: msg})
	return "", false
}

// handleAccountConfirmPhone checks the code texted to the waiting number.
func (s *Server) handleAccountConfirmPhone(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "confirm phone") {
		return
	}
	code, ok := s.accountCode(w, r, sectionPhone, msgEnterPhoneCode)
	if !ok {
		return
	}
	err := s.account.AccountConfirmPhone(r.Context(), s.browser(r), code)
	switch {
	case err == nil:
		s.log(r.Context()).Info("phone number confirmed")
		s.seeOther(w, r, accountPath+"?changed="+noticePhoneVerified+"#phone")
	case s.phoneAlert(w, r, err, "code"):
	default:
		s.accountError(w, r, err)
	}
}

// handleAccountRemovePhone forgets the number (or the one waiting for its code).
func (s *Server) handleAccountRemovePhone(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "remove phone") {
		return
	}
	err := s.account.AccountRemovePhone(r.Context(), s.browser(r))
	switch {
	case err == nil:
		s.log(r.Context()).Info("phone number removed")
		s.seeOther(w, r, accountPath+"?changed="+noticePhoneRemoved+"#phone")
	case errors.Is(err, idp.ErrNotFound):
		s.showAccount(w, r, http.StatusNotFound, "", accountAlert{Section: sectionPhone, Message: msgPhoneGone})
	case s.phoneAlert(w, r, err, ""):
	default:
		s.accountError(w, r, err)
	}
}
