package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/account"
	"github.com/twofold-idp/twofold/idp/directory"
)

// The account pages (/account): the signed-in user's second factors, backup codes, password, sessions and
// remembered devices. They
// sign in through the same flow as any application (a built-in first-party client), and the service, not the
// pages, decides when a change needs a fresh proof: the pages only follow idp.ErrReauthRequired to the sign-in
// it asks for, and come back through /account/callback.

// AccountService is what the account pages need from idp. Every method finds the user from the Browser's session
// cookie and returns idp.ErrNotSignedIn without one. The sensitive ones (adding or removing a factor, new backup
// codes, a password change) return idp.ErrReauthRequired unless the session proved the user's strongest factor
// recently (SECURITY-RULES, "Second factors").
type AccountService interface {
	// Account describes the user's factors, backup codes, sessions and remembered devices.
	Account(ctx context.Context, b idp.Browser) (account.View, error)
	// AccountSignInURL is a relative /authorize?… URL that signs in (reauth=false) or proves the user again
	// (reauth=true), and then comes back to /account/callback.
	AccountSignInURL(ctx context.Context, b idp.Browser, reauth bool) (string, error)
	// AccountStartTOTP creates an authenticator that becomes active only once AccountConfirmTOTP accepts a code
	// from it; AccountTOTP returns the same one again, to re-render the page after a wrong code.
	AccountStartTOTP(ctx context.Context, b idp.Browser, name string) (idp.TOTPEnrollment, error)
	AccountTOTP(ctx context.Context, b idp.Browser, id string) (idp.TOTPEnrollment, error)
	// AccountConfirmTOTP returns idp.ErrInvalidCode for a wrong code and *idp.ThrottledError while throttled.
	AccountConfirmTOTP(ctx context.Context, b idp.Browser, id, code string) error
	// AccountBeginWebAuthnRegistration returns {"session","publicKey"} for navigator.credentials.create;
	// AccountFinishWebAuthnRegistration takes webauthn.js's JSON body unchanged and returns idp.ErrWebAuthn when
	// the ceremony fails.
	AccountBeginWebAuthnRegistration(ctx context.Context, b idp.Browser) ([]byte, error)
	AccountFinishWebAuthnRegistration(ctx context.Context, b idp.Browser, body []byte) error
	// AccountRemoveFactor returns idp.ErrLastFactor when a policy requires MFA and it is the only factor left;
	// it and AccountRenameFactor return idp.ErrNotFound for a factor the user does not have. method is the
	// factor's idp.FactorView.Method.
	AccountRemoveFactor(ctx context.Context, b idp.Browser, method, id string) error
	AccountRenameFactor(ctx context.Context, b idp.Browser, method, id, name string) error
	// AccountRegenerateBackupCodes replaces every backup code; the new ones are shown once.
	AccountRegenerateBackupCodes(ctx context.Context, b idp.Browser) ([]string, error)
	// AccountChangePassword returns *idp.InputError for a wrong current password (field current_password) or a
	// weak new one (field password).
	AccountChangePassword(ctx context.Context, b idp.Browser, current, next string) error
	// AccountEndSession ends one of the user's sessions; a non-nil cookie means it was this browser's, whose
	// cookie must be cleared.
	AccountEndSession(ctx context.Context, b idp.Browser, sessionID string) (*idp.SessionCookie, error)
	// AccountEndAllSessions ends every session of the user, this browser's too, and revokes every token issued to
	// the user; it returns the cleared session cookie.
	AccountEndAllSessions(ctx context.Context, b idp.Browser) (*idp.SessionCookie, error)
	// AccountForgetDevice stops trusting one of the user's remembered devices: it is asked for the second
	// factor again. idp.ErrNotFound for a device the user does not have.
	AccountForgetDevice(ctx context.Context, b idp.Browser, id string) error
	// The phone number for text messages (account_phone.go).
	AccountPhones
}

const (
	accountPath = "/account"
	// maxFactorNameLen bounds a submitted name; the service keeps 64 characters of it.
	maxFactorNameLen = 256
	// maxMethodLen bounds the factor method a form posts back; the service refuses one it does not know.
	maxMethodLen = 32
	// lowBackupCodes is when the page starts warning that backup codes are running out (issue 4).
	lowBackupCodes = 3
)

// Messages of the account pages.
const (
	msgReauthJSON      = "For your security, confirm it’s you first. Taking you to sign in…"
	msgSignInJSON      = "You are no longer signed in. Taking you to sign in…"
	msgAccountWebAuthn = "The passkey or security key could not be added. Try again."
	msgLastFactor      = "Your organisation requires two-step sign-in, so you cannot remove your only authenticator app or key. Add another one first, then remove this one."
	msgFactorGone      = "That authenticator app or key no longer exists. It may have been removed in another window."
	msgSessionGone     = "That session has already ended."
	msgDeviceGone      = "That device is no longer remembered."
	msgNameTooLong     = "That name is too long. Use at most 64 characters."
	msgEnterCurrent    = "Enter your current password."
	msgEnterNew        = "Enter a new password."
	msgPasswordsDiffer = "The new password and its confirmation do not match. Enter them again."
	msgPasswordChanged = "Your password was changed. Your other sessions were signed out."
)

// Sections of the account page an alert can belong to: it is shown next to the form it is about.
const (
	sectionTop      = ""
	sectionFactors  = "factors"
	sectionBackup   = "backup"
	sectionPassword = "password"
	sectionSessions = "sessions"
	sectionDevices  = "devices"
)

// accountPage is the account overview.
type accountPage struct {
	CSRFToken        string
	Username         string
	Email            string
	Factors          []accountFactor // authenticator apps, then passkeys and security keys
	CanRemove        bool            // false when a policy requires MFA and only one factor is left
	BackupCodesLeft  int
	BackupCodesLow   bool   // warn: lowBackupCodes or fewer left
	CurrentSessionID string // "" when the service listed no session as this browser's
	Sessions         []accountSession
	Devices          []accountDevice
	Fresh            bool // sensitive changes go through without signing in again
	MinPassword      int
	EmailVerified    bool   // the address is verified (issue 11: the email section)
	ChangesBlocked   bool   // "this wasn't me" blocks sensitive changes until a full sign-in
	Notice           string // shown in a role="status" box
	Error            string // shown in a role="alert" box in ErrorSection
	ErrorSection     string
	ErrorField       string // the password field Error is about, if any
	Phone            accountPhone
}

// AlertIn reports whether the alert belongs to section.
func (p accountPage) AlertIn(section string) bool { return p.Error != "" && p.ErrorSection == section }

// Invalid reports whether the error is about field.
func (p accountPage) Invalid(field string) bool { return p.Error != "" && p.ErrorField == field }

// accountFactor is one authenticator app, passkey or security key.
type accountFactor struct {
	Kind     string // the factor's method (idp.FactorView.Method), posted back by the forms
	ID       string
	Name     string
	Type     string // what it is, in words: the badge
	Passkey  bool
	Blocked  bool
	Created  accountTime
	LastUsed accountTime // zero: never used
}

// accountSession is one signed-in browser.
type accountSession struct {
	ID        string
	Current   bool
	Device    string // the user agent, shortened ("Firefox on Windows")
	UserAgent string // in full, for the tooltip
	IP        string
	Created   accountTime
	LastSeen  accountTime
}

// accountDevice is one remembered device: a browser that may skip the second factor until Until.
type accountDevice struct {
	ID       string
	Label    string
	Since    accountTime
	Until    accountTime
	LastUsed accountTime // zero: never used since it was remembered
}

// accountTime is a time as the page shows it: in words, with the exact value for <time> and its tooltip.
type accountTime struct {
	Text string // "3 days ago"; "" for a time that never was
	ISO  string // RFC 3339, for the datetime attribute
	Full string // "2 Jan 2026, 15:04 UTC"
}

func newAccountTime(t, now time.Time) accountTime {
	if t.IsZero() {
		return accountTime{}
	}
	return accountTime{
		Text: humanTime(t, now),
		ISO:  t.UTC().Format(time.RFC3339),
		Full: t.UTC().Format("2 Jan 2006, 15:04 MST"),
	}
}

// humanTime says how long ago t was. The server does not know the visitor's time zone, so recent times are
// relative and older ones are dates, which need none.
func humanTime(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute: // a clock a little ahead counts as now too
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 48*time.Hour:
		return "yesterday"
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	case t.Year() == now.Year():
		return t.UTC().Format("2 Jan")
	default:
		return t.UTC().Format("2 Jan 2006")
	}
}

// newAccountDeadline is newAccountTime for a time to come.
func newAccountDeadline(t, now time.Time) accountTime {
	a := newAccountTime(t, now)
	if a.Text != "" {
		a.Text = humanFuture(t, now)
	}
	return a
}

// humanFuture says when t comes, to follow "expires": relative while it is near, a date after that.
func humanFuture(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d < time.Minute:
		return "in under a minute"
	case d < time.Hour:
		return "in " + plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return "in " + plural(int(d/time.Hour), "hour")
	case d < 30*24*time.Hour:
		return "in " + plural(int(d/(24*time.Hour)), "day")
	case t.Year() == now.Year():
		return "on " + t.UTC().Format("2 Jan")
	default:
		return "on " + t.UTC().Format("2 Jan 2006")
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// newAccountPage turns the service's view into what the page shows.
func newAccountPage(v account.View, now time.Time) accountPage {
	p := accountPage{
		Username:        v.User.Username,
		Email:           v.User.Email,
		BackupCodesLeft: v.BackupCodesLeft,
		Fresh:           v.Fresh,
		MinPassword:     directory.MinPasswordLength,
		EmailVerified:   v.EmailVerified,
		ChangesBlocked:  v.ChangesBlocked,
	}
	for _, f := range v.Factors {
		p.Factors = append(p.Factors, newAccountFactor(f.Method, f.Kind, f, now))
	}
	p.CanRemove = !v.MFARequired || len(p.Factors) > 1
	p.Phone = newAccountPhone(v.Phone)
	// Backup codes only work beside a factor: without one, no count is worth a warning.
	p.BackupCodesLow = len(p.Factors) > 0 && v.BackupCodesLeft <= lowBackupCodes
	for _, s := range v.Sessions {
		if s.Current {
			p.CurrentSessionID = s.ID
		}
		p.Sessions = append(p.Sessions, accountSession{
			ID:        s.ID,
			Current:   s.Current,
			Device:    shortUserAgent(s.UserAgent),
			UserAgent: s.UserAgent,
			IP:        s.IP,
			Created:   newAccountTime(s.CreatedAt, now),
			LastSeen:  newAccountTime(s.LastSeenAt, now),
		})
	}
	for _, d := range v.Devices {
		a := accountDevice{
			ID:    d.ID,
			Label: d.Label,
			Since: newAccountTime(d.CreatedAt, now),
			Until: newAccountDeadline(d.ExpiresAt, now),
		}
		if a.Label == "" {
			a.Label = "Unknown browser"
		}
		if d.LastUsedAt != nil {
			a.LastUsed = newAccountTime(*d.LastUsedAt, now)
		}
		p.Devices = append(p.Devices, a)
	}
	return p
}

func newAccountFactor(kind, typ string, f idp.FactorView, now time.Time) accountFactor {
	a := accountFactor{
		Kind:    kind,
		ID:      f.ID,
		Name:    f.Name,
		Type:    typ,
		Passkey: f.Passkey,
		Blocked: f.Blocked,
		Created: newAccountTime(f.CreatedAt, now),
	}
	if a.Name == "" {
		a.Name = typ
	}
	if f.LastUsedAt != nil {
		a.LastUsed = newAccountTime(*f.LastUsedAt, now)
	}
	return a
}

// shortUserAgent names the browser and system of a User-Agent string ("Chrome on macOS"), or shows its start
// when it names neither in a way we know.
func shortUserAgent(ua string) string {
	has := func(s string) bool { return strings.Contains(ua, s) }
	var browser, system string
	switch {
	case has("Edg/") || has("EdgA/") || has("EdgiOS/"):
		browser = "Edge"
	case has("OPR/") || has("Opera"):
		browser = "Opera"
	case has("Firefox/") || has("FxiOS/"):
		browser = "Firefox"
	case has("SamsungBrowser/"):
		browser = "Samsung Internet"
	case has("Chrome/") || has("CriOS/") || has("Chromium/"):
		browser = "Chrome"
	case has("Safari/") && has("Version/"):
		browser = "Safari"
	}
	switch {
	case has("Windows"):
		system = "Windows"
	case has("Android"):
		system = "Android"
	case has("iPhone") || has("iPod"):
		system = "iPhone"
	case has("iPad"):
		system = "iPad"
	case has("CrOS"):
		system = "ChromeOS"
	case has("Mac OS X") || has("Macintosh"):
		system = "macOS"
	case has("Linux"):
		system = "Linux"
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "A browser on " + system
	case strings.TrimSpace(ua) == "":
		return "Unknown browser"
	}
	const maxShown = 40
	ua = strings.TrimSpace(ua)
	if utf8.RuneCountInString(ua) <= maxShown {
		return ua
	}
	return string([]rune(ua)[:maxShown]) + "…"
}

// accountAlert is what a refused form re-renders the account page with.
type accountAlert struct {
	Section string
	Field   string
	Message string
}

// accountNotices are the notes GET /account?changed=… shows after a change that has nothing else to show for it.
var accountNotices = map[string]string{
	"password": msgPasswordChanged,
	// The phone number (account_phone.go).
	noticePhoneSent: msgPhoneCodeSent, noticePhoneVerified: msgPhoneVerified, noticePhoneRemoved: msgPhoneRemoved,
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, p accountPage) {
	p.CSRFToken = s.csrfToken(w, r)
	s.render(w, r, status, "account", p)
}

// showAccount renders the account page from the service's current view, with a notice or an alert.
func (s *Server) showAccount(w http.ResponseWriter, r *http.Request, status int, notice string, alert accountAlert) {
	v, err := s.account.Account(r.Context(), s.browser(r))
	if err != nil {
		s.accountError(w, r, err)
		return
	}
	p := newAccountPage(v, s.now())
	p.Notice = notice
	p.Error, p.ErrorSection, p.ErrorField = alert.Message, alert.Section, alert.Field
	s.renderAccount(w, r, status, p)
}

func (s *Server) handleAccountPage(w http.ResponseWriter, r *http.Request) {
	s.showAccount(w, r, http.StatusOK, accountNotices[r.URL.Query().Get("changed")], accountAlert{})
}

// handleAccountCallback is where the account client's sign-in comes back to. The code is never redeemed: the
// session cookie the sign-in set is what the pages use. A sign-in that failed is not sent round again, which
// could loop.
func (s *Server) handleAccountCallback(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("error") {
		s.log(r.Context()).Info("account sign-in did not complete")
		s.renderError(w, r, http.StatusBadRequest, errorPage{
			Title:   "Sign-in did not complete",
			Message: "You were not signed in to your account. Open your account page to try again.",
		})
		return
	}
	s.seeOther(w, r, accountPath)
}

// toAccountSignIn sends the browser to sign in, or to prove it is the user again.
func (s *Server) toAccountSignIn(w http.ResponseWriter, r *http.Request, reauth bool) {
	target, err := s.accountSignInURL(r, reauth)
	if err != nil {
		s.accountError(w, r, err)
		return
	}
	s.seeOther(w, r, target)
}

// accountSignInURL asks the service where to sign in and checks it stays on this site.
func (s *Server) accountSignInURL(r *http.Request, reauth bool) (string, error) {
	target, err := s.account.AccountSignInURL(r.Context(), s.browser(r), reauth)
	if err != nil {
		return "", err
	}
	if !sameOriginPath(target) {
		return "", fmt.Errorf("ui: the account sign-in URL %q is not a path on this site", target)
	}
	if reauth {
		s.log(r.Context()).Info("account change needs a fresh proof", "route", routeLabel(r))
	}
	return target, nil
}

// sameOriginPath accepts "/…" but not "//host" or "/\host", which browsers read as another site.
func sameOriginPath(u string) bool {
	return strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && !strings.HasPrefix(u, `/\`)
}

// accountError answers the errors every account page can get from the service: the two that mean "sign in" by
// sending the browser there, the rest as a page. The cause of anything unexpected goes to the log only.
func (s *Server) accountError(w http.ResponseWriter, r *http.Request, err error) {
	var throttled *idp.ThrottledError
	switch {
	case errors.Is(err, idp.ErrNotSignedIn):
		s.toAccountSignIn(w, r, false)
	case errors.Is(err, idp.ErrReauthRequired):
		s.toAccountSignIn(w, r, true)
	case errors.Is(err, idp.ErrChangesBlocked):
		s.blockedError(w, r)
	case errors.Is(err, idp.ErrNotFound):
		s.renderError(w, r, http.StatusNotFound, errorPage{
			Title:   "Not found",
			Message: "What you were changing no longer exists: it was removed, or the setup expired. Open your account page and try again.",
		})
	case errors.As(err, &throttled):
		s.renderError(w, r, http.StatusTooManyRequests, errorPage{
			Title:   "Too many attempts",
			Message: retryAfter(w, throttled.RetryAfter),
		})
	default:
		s.log(r.Context()).Error("account", "method", r.Method, "route", routeLabel(r), "err", err)
		s.renderError(w, r, http.StatusInternalServerError, errorPage{
			Title:   "Something went wrong",
			Message: "An unexpected error stopped this change. Please try again; if it keeps happening, give the reference below to your administrator.",
		})
	}
}

// accountForm parses a form and checks its CSRF token. A refused form gets the account page again with 403 and
// the service is not asked to change anything.
func (s *Server) accountForm(w http.ResponseWriter, r *http.Request, form string) bool {
	if !s.parseForm(w, r) {
		return false
	}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("account form refused", "form", form, "reason", err)
		v, err := s.account.Account(r.Context(), s.browser(r))
		if err != nil {
			// Not signed in, say: still a 403, nothing to show but the message.
			s.renderError(w, r, http.StatusForbidden, errorPage{Title: "Please try again", Message: csrfMessage})
			return false
		}
		p := newAccountPage(v, s.now())
		p.Error = csrfMessage
		s.renderAccount(w, r, http.StatusForbidden, p)
		return false
	}
	return true
}

// accountFactorForm reads the kind and id of the factor a form is about.
func accountFactorForm(r *http.Request) (kind, id string, ok bool) {
	kind, id = r.PostForm.Get("kind"), r.PostForm.Get("id")
	ok = kind != "" && len(kind) <= maxMethodLen && validFlowID(id)
	return kind, id, ok
}

func (s *Server) handleAccountRemoveFactor(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "remove factor") {
		return
	}
	kind, id, ok := accountFactorForm(r)
	if !ok {
		s.showAccount(w, r, http.StatusNotFound, "", accountAlert{Section: sectionFactors, Message: msgFactorGone})
		return
	}
	err := s.account.AccountRemoveFactor(r.Context(), s.browser(r), kind, id)
	switch {
	case err == nil:
		s.log(r.Context()).Info("second factor removed", "kind", kind)
		s.seeOther(w, r, accountPath)
	case errors.Is(err, idp.ErrLastFactor):
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionFactors, Message: msgLastFactor})
	case errors.Is(err, idp.ErrNotFound):
		s.showAccount(w, r, http.StatusNotFound, "", accountAlert{Section: sectionFactors, Message: msgFactorGone})
	default:
		s.accountError(w, r, err)
	}
}

func (s *Server) handleAccountRenameFactor(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "rename factor") {
		return
	}
	kind, id, ok := accountFactorForm(r)
	if !ok {
		s.showAccount(w, r, http.StatusNotFound, "", accountAlert{Section: sectionFactors, Message: msgFactorGone})
		return
	}
	name := r.PostForm.Get("name")
	if len(name) > maxFactorNameLen {
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionFactors, Message: msgNameTooLong})
		return
	}
	err := s.account.AccountRenameFactor(r.Context(), s.browser(r), kind, id, name)
	var inputErr *idp.InputError
	switch {
	case err == nil:
		s.seeOther(w, r, accountPath)
	case errors.As(err, &inputErr):
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionFactors, Message: accountInputMessage(inputErr)})
	case errors.Is(err, idp.ErrNotFound):
		s.showAccount(w, r, http.StatusNotFound, "", accountAlert{Section: sectionFactors, Message: msgFactorGone})
	default:
		s.accountError(w, r, err)
	}
}

// handleAccountStartTOTP answers "Add an authenticator app" with the enrollment page the sign-in uses, posting
// to the account's confirmation instead. A POST, not a GET: it creates the (inactive) authenticator.
func (s *Server) handleAccountStartTOTP(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "add authenticator app") {
		return
	}
	name := r.PostForm.Get("name")
	if len(name) > maxFactorNameLen {
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionFactors, Message: msgNameTooLong})
		return
	}
	e, err := s.account.AccountStartTOTP(r.Context(), s.browser(r), name)
	if err != nil {
		s.accountError(w, r, err)
		return
	}
	p, err := newAccountTOTPPage(e)
	if err != nil {
		s.accountError(w, r, err)
		return
	}
	s.renderEnrollTOTP(w, r, http.StatusOK, p)
}

// newAccountTOTPPage is the sign-in's enrollment page (with its checks of the URI and image) for the account.
func newAccountTOTPPage(e idp.TOTPEnrollment) (enrollTOTPPage, error) {
	p, err := newEnrollTOTPPage("", e)
	if err != nil {
		return p, err
	}
	p.Action, p.BackURL, p.BackText = "/account/totp/confirm", accountPath, "Cancel"
	return p, nil
}

func (s *Server) handleAccountConfirmTOTP(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	enrollment, code := r.PostForm.Get("enrollment"), r.PostForm.Get("code")
	if !validFlowID(enrollment) {
		s.accountError(w, r, idp.ErrNotFound)
		return
	}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("account form refused", "form", "confirm authenticator app", "reason", err)
		s.accountTOTPRejected(w, r, enrollment, http.StatusForbidden, csrfMessage, false)
		return
	}
	switch {
	case code == "":
		s.accountTOTPRejected(w, r, enrollment, http.StatusBadRequest, msgEnterTOTP, true)
		return
	case len(code) > maxCodeLen:
		s.accountTOTPRejected(w, r, enrollment, http.StatusBadRequest, msgCodeTooLong, true)
		return
	}
	err := s.account.AccountConfirmTOTP(r.Context(), s.browser(r), enrollment, code)
	var throttled *idp.ThrottledError
	switch {
	case err == nil:
		s.log(r.Context()).Info("authenticator app added")
		s.seeOther(w, r, accountPath)
	case errors.Is(err, idp.ErrInvalidCode):
		s.log(r.Context()).Info("authenticator app refused", "reason", "invalid code")
		s.accountTOTPRejected(w, r, enrollment, http.StatusUnauthorized, msgWrongCode, true)
	case errors.As(err, &throttled):
		s.log(r.Context()).Info("authenticator app refused", "reason", "throttled", "retry_after", throttled.RetryAfter)
		s.accountTOTPRejected(w, r, enrollment, http.StatusTooManyRequests, retryAfter(w, throttled.RetryAfter), false)
	default:
		s.accountError(w, r, err)
	}
}

// accountTOTPRejected shows the same authenticator again (the QR code the user may have scanned) with an alert.
func (s *Server) accountTOTPRejected(w http.ResponseWriter, r *http.Request, enrollment string, status int, alert string, invalid bool) {
	e, err := s.account.AccountTOTP(r.Context(), s.browser(r), enrollment)
	if err != nil && status == http.StatusForbidden {
		// A refused form is answered 403 whatever else is wrong: no redirect to sign in on its behalf.
		s.renderError(w, r, http.StatusForbidden, errorPage{Title: "Please try again", Message: alert})
		return
	}
	if err != nil {
		s.accountError(w, r, err)
		return
	}
	p, err := newAccountTOTPPage(e)
	if err != nil {
		s.accountError(w, r, err)
		return
	}
	p.Error, p.Invalid = alert, invalid
	s.renderEnrollTOTP(w, r, status, p)
}

// handleAccountBackupCodes replaces the backup codes and shows the new ones, once, on the sign-in's page.
func (s *Server) handleAccountBackupCodes(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "new backup codes") {
		return
	}
	codes, err := s.account.AccountRegenerateBackupCodes(r.Context(), s.browser(r))
	var inputErr *idp.InputError
	switch {
	case err == nil && len(codes) == 0:
		s.accountError(w, r, errors.New("ui: the service made no backup codes"))
	case err == nil:
		s.log(r.Context()).Info("backup codes replaced")
		s.renderBackupCodes(w, r, http.StatusOK, backupCodesPage{
			CSRFToken: s.csrfToken(w, r),
			Action:    accountPath,
			Codes:     codes,
			Replaced:  true,
		})
	case errors.As(err, &inputErr):
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionBackup, Message: accountInputMessage(inputErr)})
	default:
		s.accountError(w, r, err)
	}
}

// handleAccountBackupCodesAck is the "I have saved these codes" of the account's backup codes page: it changes
// nothing, but like every form it is checked for CSRF, and the codes are not shown again when it is refused.
func (s *Server) handleAccountBackupCodesAck(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("account form refused", "form", "backup codes saved", "reason", err)
		s.renderBackupCodes(w, r, http.StatusForbidden, backupCodesPage{
			CSRFToken: s.csrfToken(w, r),
			Action:    accountPath,
			Error:     csrfMessage,
		})
		return
	}
	s.seeOther(w, r, accountPath)
}

// accountFieldLabels names the fields an idp.InputError can be about as the account page labels them.
var accountFieldLabels = map[string]string{
	"current_password": "Current password",
	"password":         "New password",
	"password_confirm": "Confirm new password",
	"name":             "Name",
	"phone":            "Phone number",
}

// accountInputMessage shows an idp.InputError as a sentence naming the field; its Message is safe to show by
// contract and reads as a predicate ("is not right", "must be at least 8 characters").
func accountInputMessage(e *idp.InputError) string {
	msg := strings.TrimSuffix(e.Message, ".")
	if label, ok := accountFieldLabels[e.Field]; ok {
		return label + " " + msg + "."
	}
	r, size := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[size:] + "."
}

func (s *Server) handleAccountPassword(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "change password") {
		return
	}
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("password")
	var alert accountAlert
	switch {
	case current == "":
		alert = accountAlert{Section: sectionPassword, Field: "current_password", Message: msgEnterCurrent}
	case next == "":
		alert = accountAlert{Section: sectionPassword, Field: "password", Message: msgEnterNew}
	case next != r.PostForm.Get("password_confirm"):
		alert = accountAlert{Section: sectionPassword, Field: "password_confirm", Message: msgPasswordsDiffer}
	}
	if alert.Message != "" {
		s.showAccount(w, r, http.StatusBadRequest, "", alert)
		return
	}
	err := s.account.AccountChangePassword(r.Context(), s.browser(r), current, next)
	var inputErr *idp.InputError
	switch {
	case err == nil:
		s.log(r.Context()).Info("password changed")
		s.seeOther(w, r, accountPath+"?changed=password")
	case errors.As(err, &inputErr):
		field := inputErr.Field
		if _, ok := accountFieldLabels[field]; !ok {
			field = "password"
		}
		s.showAccount(w, r, http.StatusBadRequest, "", accountAlert{Section: sectionPassword, Field: field,
			Message: accountInputMessage(inputErr)})
	default:
		s.accountError(w, r, err)
	}
}

// handleAccountEndSession ends one of the user's sessions. Ending this browser's own is signing out: its cookie
// is cleared and it lands on the signed-out page.
func (s *Server) handleAccountEndSession(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "end session") {
		return
	}
	id := r.PostForm.Get("session")
	if !validFlowID(id) {
		s.showAccount(w, r, http.StatusNotFound, "", accountAlert{Section: sectionSessions, Message: msgSessionGone})
		return
	}
	cookie, err := s.account.AccountEndSession(r.Context(), s.browser(r), id)
	switch {
	case err == nil && cookie != nil:
		if err := s.setSessionCookie(w, cookie); err != nil {
			s.accountError(w, r, err)
			return
		}
		s.log(r.Context()).Info("signed out from the account page")
		s.seeOther(w, r, "/logout/done")
	case err == nil:
		s.log(r.Context()).Info("session ended from the account page")
		s.seeOther(w, r, accountPath)
	case errors.Is(err, idp.ErrNotFound):
		s.showAccount(w, r, http.StatusNotFound, "", accountAlert{Section: sectionSessions, Message: msgSessionGone})
	default:
		s.accountError(w, r, err)
	}
}

// handleAccountEndAllSessions signs the user out everywhere: every session ends, this browser lands on the
// signed-out page.
func (s *Server) handleAccountEndAllSessions(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "end all sessions") {
		return
	}
	cookie, err := s.account.AccountEndAllSessions(r.Context(), s.browser(r))
	if err == nil {
		err = s.setSessionCookie(w, cookie)
	}
	if err != nil {
		s.accountError(w, r, err)
		return
	}
	s.log(r.Context()).Info("signed out everywhere from the account page")
	s.seeOther(w, r, "/logout/done")
}

// handleAccountForgetDevice stops trusting a remembered device; its cookie, wherever it is, then means nothing.
func (s *Server) handleAccountForgetDevice(w http.ResponseWriter, r *http.Request) {
	if !s.accountForm(w, r, "forget device") {
		return
	}
	id := r.PostForm.Get("device")
	if !validFlowID(id) {
		s.showAccount(w, r, http.StatusNotFound, "", accountAlert{Section: sectionDevices, Message: msgDeviceGone})
		return
	}
	err := s.account.AccountForgetDevice(r.Context(), s.browser(r), id)
	switch {
	case err == nil:
		s.log(r.Context()).Info("remembered device forgotten from the account page")
		s.seeOther(w, r, accountPath)
	case errors.Is(err, idp.ErrNotFound):
		s.showAccount(w, r, http.StatusNotFound, "", accountAlert{Section: sectionDevices, Message: msgDeviceGone})
	default:
		s.accountError(w, r, err)
	}
}

// The WebAuthn JSON API of the account page: the sign-in's (webauthn_api.go) without a sign-in request id, as
// the session cookie says whose account it is. When the service wants a fresh proof, the answer is 401 with
// {"reauth": URL}, where webauthn.js takes the browser.

func (s *Server) handleAccountWebAuthnBegin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxWebAuthnBody)
	if !s.apiCSRF(w, r) {
		return
	}
	options, err := s.account.AccountBeginWebAuthnRegistration(r.Context(), s.browser(r))
	if err == nil && !json.Valid(options) {
		err = errors.New("ui: the service's WebAuthn options are not JSON")
	}
	if err != nil {
		s.accountAPIError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, json.RawMessage(options))
}

func (s *Server) handleAccountWebAuthnFinish(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxWebAuthnBody)
	if !s.apiCSRF(w, r) {
		return
	}
	if !isJSON(r) {
		s.writeJSONError(w, http.StatusUnsupportedMediaType, msgRequestNotJSON)
		return
	}
	body, ok := s.apiBody(w, r)
	if !ok {
		return
	}
	if !json.Valid(body) {
		s.writeJSONError(w, http.StatusBadRequest, msgRequestMalformed)
		return
	}
	if err := s.account.AccountFinishWebAuthnRegistration(r.Context(), s.browser(r), body); err != nil {
		s.accountAPIError(w, r, err)
		return
	}
	s.log(r.Context()).Info("passkey or security key added")
	s.writeJSON(w, http.StatusOK, struct {
		Redirect string `json:"redirect"`
	}{accountPath})
}

// accountAPIError is accountError for the JSON API.
func (s *Server) accountAPIError(w http.ResponseWriter, r *http.Request, err error) {
	reauth := errors.Is(err, idp.ErrReauthRequired)
	switch {
	case reauth || errors.Is(err, idp.ErrNotSignedIn):
		target, uerr := s.accountSignInURL(r, reauth)
		if uerr != nil {
			s.apiFlowError(w, r, uerr)
			return
		}
		msg := msgSignInJSON
		if reauth {
			msg = msgReauthJSON
		}
		s.writeJSON(w, http.StatusUnauthorized, struct {
			Error  string `json:"error"`
			Reauth string `json:"reauth"`
		}{msg, target})
	case errors.Is(err, idp.ErrWebAuthn):
		s.log(r.Context()).Info("WebAuthn registration refused", "route", routeLabel(r), "err", err)
		s.writeJSONError(w, http.StatusBadRequest, msgAccountWebAuthn)
	case errors.Is(err, idp.ErrChangesBlocked):
		s.writeJSONError(w, http.StatusForbidden, msgChangesBlocked)
	default:
		s.apiFlowError(w, r, err) // throttling, and the 500 with the cause in the log only
	}
}
