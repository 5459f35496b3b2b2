package idp

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Browser is what the login flow knows of the browser making a request.
// The hosted pages fill it from cookies and the request.
type Browser struct {
	SessionCookie string // value of the SSO session cookie, "" if none
	BindingCookie string // value of the browser-binding cookie set at /authorize, "" if none
	DeviceCookie  string // value of the remembered-device cookie, "" if none
	IP            string
	UserAgent     string
	RequestID     string

	// KnownDeviceCookie is the value of the known-device cookie (see
	// KnownDeviceCookieBase), "" if none.
	KnownDeviceCookie string
}

// StepKind is what the hosted pages must do next.
type StepKind string

const (
	StepPassword StepKind = "password" // show the password form
	StepConsent  StepKind = "consent"  // ask the user to allow the client
	StepRedirect StepKind = "redirect" // send the browser to Step.RedirectURL with 303 See Other
	// StepSecondFactor: show the challenge page of one of Step.Methods (the
	// one the browser asked for with ?method=, else the first).
	StepSecondFactor StepKind = "second_factor"
	// StepEnroll: a second factor is required and the user has none: let
	// them choose one of Step.Methods to enroll.
	StepEnroll StepKind = "enroll"
	// StepBackupCodes: show Step.BackupCodes once, then continue.
	StepBackupCodes StepKind = "backup_codes"
)

// Second-factor methods as the pages name them (a[data-method=…]).
const (
	MethodWebAuthn   = "webauthn"
	MethodTOTP       = "totp"
	MethodBackupCode = "backup_code"
	MethodEmail      = "email" // a one-time code sent to the user's verified email address
	MethodSMS        = "sms"   // a one-time code sent by text message to the user's verified phone number
)

// CodeSent says where a one-time code went (the email and SMS factors, the
// phone number check), for the page that asks for it.
type CodeSent struct {
	// To describes the destination without revealing it all:
	// "a•••@example.com", "the number ending in 4567".
	To string
	// Sent is false when nothing was sent because the code sent earlier for
	// the same sign-in is still good.
	Sent bool
}

// ClientInfo is what a page may show about the relying party.
type ClientInfo struct {
	ID   string
	Name string
}

// Step is the flow's answer: the next thing the browser must see.
type Step struct {
	Kind          StepKind
	RedirectURL   string // StepRedirect
	AuthRequestID string
	Client        ClientInfo
	LoginHint     string   // StepPassword: prefill the username
	Scopes        []string // StepConsent: what the client asks for
	// Methods: StepSecondFactor, what the user may prove; StepEnroll, what
	// may be enrolled. Most phishing-resistant first.
	Methods []string
	// RequireUV: the WebAuthn check must verify the user (PIN, biometric).
	RequireUV bool
	// RememberDevice: StepSecondFactor, how long the policy lets this
	// browser skip the second factor if the person asks (0: not offered).
	RememberDevice time.Duration
	// BackupCodes: StepBackupCodes, shown exactly once.
	BackupCodes []string
	// Reason says in plain words why a second factor is asked.
	Reason string
	// Session, when not nil, is a new value for the SSO session cookie (the
	// session was created, rotated or ended); the pages must set it.
	Session *SessionCookie
	// Device, when not nil, is the remembered-device cookie to set: the
	// person asked to remember this browser with the factor just proven.
	Device *SessionCookie

	// Email: StepVerifyEmail, the address to verify, partly hidden
	// ("a•••e@example.com") for the page to name.
	Email string
	// EnrollLater: StepEnroll, the enrollment grace lets the person put
	// enrolling off ("Not now"): what is left of it in words ("6 more
	// sign-ins or until Saturday, 12 December 2026"); "" when it does not.
	EnrollLater string
	// Recovery: StepSecondFactor, the user's lost-factor recovery that is
	// waiting or ready (nil: none).
	Recovery *RecoveryStatus
}

// RecoveryStatus is a lost-factor recovery as the sign-in pages show it.
type RecoveryStatus struct {
	ReadyAt time.Time // it may be completed from then on
	Ready   bool      // now is past ReadyAt
}

// LostFactor is what the "I can't use my authenticator" page of a sign-in
// offers: a backup code first, else self-service recovery by email.
type LostFactor struct {
	// BackupCode: the sign-in accepts a backup code the user has.
	BackupCode bool
	// Email is the verified address recovery codes go to, masked
	// ("a••••@example.com"); "": none, so no self-service recovery.
	Email string
	// Recovery is the user's recovery that is waiting or ready (nil: none).
	Recovery *RecoveryStatus
	// CodeSent: a code for the next step was mailed and still works: show
	// the form to type it (recovery-start, or recovery-complete when
	// Recovery is ready).
	CodeSent bool
	// Wait is how long a new recovery waits before it may be completed.
	Wait time.Duration
}

// ErrGraceOver: "Not now" came after the enrollment grace ended (its last
// sign-in was taken meanwhile): the person must enroll now. Pages answer
// 403 and show the enrollment page.
var ErrGraceOver = errors.New("idp: the enrollment grace is over")

// TOTPEnrollment is an authenticator waiting for its first code.
type TOTPEnrollment struct {
	ID     string
	URI    string // otpauth://totp/… (validated: safe to use as a link)
	Secret string // base32, for typing in by hand
	QRPNG  []byte
}

// ErrInvalidCode: a TOTP or backup code that is wrong, malformed or
// already used. Pages answer 401.
var ErrInvalidCode = errors.New("idp: the code is not right")

// ErrWebAuthn: a WebAuthn ceremony failed (wrong authenticator, expired
// or replayed challenge, cloned credential, cancelled). Pages answer 400.
var ErrWebAuthn = errors.New("idp: the security key or passkey check failed")

// SessionCookie is a value for the SSO session cookie. An empty Value means
// "delete the cookie".
type SessionCookie struct {
	Value   string
	Expires time.Time
}

// Cookie names. On https issuers they carry the __Host- prefix (the pages
// add it; see CookieName).
const (
	SessionCookieBase = "twofold_session"
	BindingCookieBase = "twofold_browser"
	DeviceCookieBase  = "twofold_device"
)

// CookieName returns base with the __Host- prefix when secure (https).
func CookieName(base string, secure bool) string {
	if secure {
		return "__Host-" + base
	}
	return base
}

var (
	// ErrAuthRequestNotFound: the sign-in request is unknown, expired or
	// already finished. Pages say the link expired and to go back to the app.
	ErrAuthRequestNotFound = errors.New("idp: sign-in request not found or expired")
	// ErrWrongBrowser: the sign-in request was started in another browser.
	ErrWrongBrowser = errors.New("idp: sign-in request belongs to another browser")
	// ErrLogoutRequestInvalid: a logout confirmation link that is malformed
	// or expired, or an /end_session request that cannot be honoured (an
	// invalid id_token_hint, an unregistered post_logout_redirect_uri).
	ErrLogoutRequestInvalid = errors.New("idp: logout request invalid or expired")
)

// ErrBusy: too many password checks are running or queued on this server
// (admission control for argon2id). Pages answer 503 with Retry-After;
// the attempt is not counted against the account.
var ErrBusy = errors.New("idp: too busy to check a password now")

// BusyRetryAfter is what a page tells a client refused with ErrBusy.
const BusyRetryAfter = 2 * time.Second

// ThrottledError says too many recent failures: try again after RetryAfter.
// Even a correct password is refused while throttled.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("idp: too many attempts, retry after %s", e.RetryAfter)
}

// LogoutPrompt is what the logout confirmation page shows.
type LogoutPrompt struct {
	ClientName string // "" when the request came from no known client
}

// LogoutResult is where to send the browser after logging out.
type LogoutResult struct {
	RedirectURL string         // "" → show the "you are signed out" page
	Session     *SessionCookie // the cleared cookie
}

// AuthResponse is the successful authorization response the callback page
// delivers to the client: a redirect with Params in the query, or an
// auto-submitted form (response_mode=form_post).
type AuthResponse struct {
	RedirectURI string
	Params      url.Values
	FormPost    bool
}

// FactorView is one second factor as the account page lists it.
type FactorView struct {
	Method     string // the factor's method (totp, webauthn), posted back by the account forms
	Kind       string // what to call it: "Authenticator app", "Passkey", "Security key"
	ID         string
	Name       string
	Passkey    bool // WebAuthn: a discoverable credential (signs in without a password)
	Blocked    bool // WebAuthn: possibly cloned, refused
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// SessionView is one of the user's live sessions.
type SessionView struct {
	ID         string
	Current    bool
	CreatedAt  time.Time
	LastSeenAt time.Time
	IP         string
	UserAgent  string
}

// DeviceView is a remembered device.
type DeviceView struct {
	ID         string
	Label      string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt *time.Time
}

var (
	// ErrNotSignedIn: the browser has no live session; sign in first.
	ErrNotSignedIn = errors.New("idp: not signed in")
	// ErrReauthRequired: a sensitive change needs a fresh proof of the
	// strongest factor the user has (within 5 minutes).
	ErrReauthRequired = errors.New("idp: confirm it is you first")
	// ErrLastFactor: removing it would leave a user whom a policy requires
	// to use MFA without any second factor.
	ErrLastFactor = errors.New("idp: a policy requires a second factor; add another before removing this one")
)
