package ui

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/twofold-idp/twofold/idp"
)

// Enrollment during sign-in: when a policy requires a second factor and the user has none, the flow answers
// StepEnroll and the user sets one up here, then sees the backup codes once, then the sign-in finishes.

// enrollOption is one factor the choose page can offer, with the page that sets it up.
type enrollOption struct {
	Title string
	Hint  string
	Path  string
}

var enrollOptions = map[string]enrollOption{
	idp.MethodTOTP: {
		Title: "Authenticator app",
		Hint:  "An app such as Google Authenticator, Microsoft Authenticator or 1Password shows a new code every 30 seconds.",
		Path:  "/login/enroll/totp",
	},
	idp.MethodWebAuthn: {
		Title: "Passkey or security key",
		Hint:  "Touch ID, Face ID, Windows Hello, your phone, or a USB or NFC security key. The safest choice.",
		Path:  "/login/enroll/webauthn",
	},
}

// enrollChoosePage lets the user pick the second factor to set up.
type enrollChoosePage struct {
	AuthRequestID string
	Reason        string
	Choices       []enrollChoice
	// The enrollment grace: EnrollLater says what is left of it ("" when there is none, or no GraceFlow), and
	// form#enroll-later ("Not now") puts enrolling off; CSRFToken is that form's.
	EnrollLater string
	CSRFToken   string
	Error       string // shown in the role="alert" box
}

// enrollChoosePage is the choice page of step, with "Not now" when the grace allows it.
func (s *Server) enrollChoosePage(w http.ResponseWriter, r *http.Request, id string, step idp.Step) enrollChoosePage {
	p := newEnrollChoosePage(id, step)
	if s.grace != nil && step.EnrollLater != "" {
		p.EnrollLater, p.CSRFToken = step.EnrollLater, s.csrfToken(w, r)
	}
	return p
}

// enrollChoice is one a[data-enroll] link.
type enrollChoice struct {
	Method string
	enrollOption
}

// newEnrollChoosePage offers step.Methods in the flow's order (most phishing-resistant first), skipping any
// without a page here.
func newEnrollChoosePage(id string, step idp.Step) enrollChoosePage {
	p := enrollChoosePage{AuthRequestID: id, Reason: step.Reason}
	for i, m := range step.Methods {
		o, ok := enrollOptions[m]
		if !ok || slices.Contains(step.Methods[:i], m) {
			continue
		}
		p.Choices = append(p.Choices, enrollChoice{Method: m, enrollOption: o})
	}
	return p
}

// enrollTOTPPage sets up an authenticator app: scan the QR code (or open the otpauth: link on a phone, or type
// the secret), then prove it works with one code.
type enrollTOTPPage struct {
	CSRFToken     string
	AuthRequestID string // the sign-in's; "" on the account page, which needs none
	EnrollmentID  string
	// Action is where form#enroll-totp posts; BackURL and BackText are the link away from the page. The sign-in
	// and the account page share the template.
	Action   string
	BackURL  string
	BackText string
	// URI is the otpauth://totp/ link. html/template would rewrite any scheme but http, https and mailto to
	// #ZgotmplZ; validOTPAuthURI checked it first, which is what makes the template.URL conversion safe.
	URI template.URL
	// QR is a data:image/png;base64 URL of the flow's PNG (the CSP allows data: images), checked to be a PNG.
	QR                template.URL
	QRWidth, QRHeight int
	Secret            string // grouped by four characters for typing in by hand
	Error             string // shown in the role="alert" box
	Invalid           bool   // Error is about the code field
}

// Bounds on what the flow hands the TOTP enrollment page; real values are far smaller.
const (
	maxOTPAuthURILen = 2048
	maxQRPNGBytes    = 256 << 10
	maxQRPixels      = 4096
)

// newEnrollTOTPPage checks the enrollment the flow returned before any of it reaches a page: a URI or image
// that is not what it claims to be is the flow's bug, and an error here.
func newEnrollTOTPPage(id string, e idp.TOTPEnrollment) (enrollTOTPPage, error) {
	if err := validOTPAuthURI(e.URI); err != nil {
		return enrollTOTPPage{}, err
	}
	if len(e.QRPNG) == 0 || len(e.QRPNG) > maxQRPNGBytes {
		return enrollTOTPPage{}, fmt.Errorf("ui: TOTP enrollment QR code of %d bytes", len(e.QRPNG))
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(e.QRPNG))
	if err != nil {
		return enrollTOTPPage{}, fmt.Errorf("ui: TOTP enrollment QR code: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxQRPixels || cfg.Height > maxQRPixels {
		return enrollTOTPPage{}, fmt.Errorf("ui: TOTP enrollment QR code of %d×%d pixels", cfg.Width, cfg.Height)
	}
	if e.ID == "" || len(e.ID) > maxAuthRequestIDLen {
		return enrollTOTPPage{}, errors.New("ui: TOTP enrollment without a usable id")
	}
	return enrollTOTPPage{
		AuthRequestID: id,
		EnrollmentID:  e.ID,
		Action:        "/login/enroll/totp",
		BackURL:       loginURL(id),
		BackText:      "Choose another way",
		URI:           template.URL(e.URI), // validated above
		QR:            template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRPNG)),
		QRWidth:       cfg.Width,
		QRHeight:      cfg.Height,
		Secret:        groupSecret(e.Secret),
	}, nil
}

// validOTPAuthURI accepts only an otpauth://totp/ URI (Key Uri Format) made of URI characters that net/url
// parses back to that scheme and type: nothing else may become a link on the page.
func validOTPAuthURI(s string) error {
	if !strings.HasPrefix(s, "otpauth://totp/") || len(s) > maxOTPAuthURILen {
		return errors.New("ui: TOTP enrollment URI is not an otpauth://totp/ URI")
	}
	for i := 0; i < len(s); i++ {
		if !uriChar(s[i]) {
			return fmt.Errorf("ui: TOTP enrollment URI has byte %#x at %d", s[i], i)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("ui: TOTP enrollment URI: %w", err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.User != nil || u.Opaque != "" {
		return errors.New("ui: TOTP enrollment URI is not an otpauth://totp/ URI")
	}
	return nil
}

// uriChar reports whether c may appear in a URI (RFC 3986 §2: unreserved, reserved and "%" of an escape).
func uriChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}

// groupSecret writes a base32 secret in groups of four, as authenticator apps accept it typed with spaces.
func groupSecret(secret string) string {
	var b strings.Builder
	for i := 0; i < len(secret); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(secret[i:min(i+4, len(secret))])
	}
	return b.String()
}

func (s *Server) renderEnrollTOTP(w http.ResponseWriter, r *http.Request, status int, p enrollTOTPPage) {
	p.CSRFToken = s.csrfToken(w, r)
	s.render(w, r, status, "enroll_totp", p)
}

// handleEnrollTOTPPage starts a new authenticator: each visit makes a fresh secret, which the flow keeps
// inactive until a code proves the user has it.
func (s *Server) handleEnrollTOTPPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return
	}
	e, err := s.mfa.StartTOTPEnrollment(r.Context(), id, s.browser(r))
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	p, err := newEnrollTOTPPage(id, e)
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	s.renderEnrollTOTP(w, r, http.StatusOK, p)
}

func (s *Server) handleEnrollTOTPSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	id, enrollment, code := r.PostForm.Get("id"), r.PostForm.Get("enrollment"), r.PostForm.Get("code")
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("TOTP enrollment form refused", "reason", err)
		s.enrollTOTPRejected(w, r, id, enrollment, http.StatusForbidden, csrfMessage, false)
		return
	}
	if !validFlowID(id) || !validFlowID(enrollment) {
		s.badSignInLink(w, r)
		return
	}
	switch {
	case code == "":
		s.enrollTOTPRejected(w, r, id, enrollment, http.StatusBadRequest, msgEnterTOTP, true)
		return
	case len(code) > maxCodeLen:
		s.enrollTOTPRejected(w, r, id, enrollment, http.StatusBadRequest, msgCodeTooLong, true)
		return
	}
	step, err := s.mfa.ConfirmTOTPEnrollment(r.Context(), id, s.browser(r), enrollment, code)
	var throttled *idp.ThrottledError
	switch {
	case err == nil:
		s.advance(w, r, id, step)
	case errors.Is(err, idp.ErrInvalidCode):
		s.log(r.Context()).Info("TOTP enrollment refused", "reason", "invalid code")
		s.enrollTOTPRejected(w, r, id, enrollment, http.StatusUnauthorized, msgWrongCode, true)
	case errors.As(err, &throttled):
		s.log(r.Context()).Info("TOTP enrollment refused", "reason", "throttled", "retry_after", throttled.RetryAfter)
		s.enrollTOTPRejected(w, r, id, enrollment, http.StatusTooManyRequests, retryAfter(w, throttled.RetryAfter), false)
	default:
		s.flowError(w, r, err)
	}
}

// enrollTOTPRejected shows the same authenticator again (the QR code the user may already have scanned) with
// an alert; TOTPEnrollment only reads it.
func (s *Server) enrollTOTPRejected(w http.ResponseWriter, r *http.Request, id, enrollment string, status int, alert string, invalid bool) {
	if !validFlowID(id) || !validFlowID(enrollment) {
		s.badSignInLink(w, r)
		return
	}
	e, err := s.mfa.TOTPEnrollment(r.Context(), id, s.browser(r), enrollment)
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	p, err := newEnrollTOTPPage(id, e)
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	p.Error, p.Invalid = alert, invalid
	s.renderEnrollTOTP(w, r, status, p)
}

// enrollWebAuthnPage registers a passkey or security key through webauthn.js and the JSON API.
type enrollWebAuthnPage struct {
	CSRFToken     string
	AuthRequestID string
	Reason        string
	OtherChoices  bool // the user may enroll something else instead: link back to the choice
}

// handleEnrollWebAuthnPage shows the registration page while the sign-in is at the enrollment step and offers
// WebAuthn; at any other step the browser goes to /login, which shows where the sign-in really is.
func (s *Server) handleEnrollWebAuthnPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if !validFlowID(id) {
		s.badSignInLink(w, r)
		return
	}
	step, err := s.flow.Resume(r.Context(), id, s.browser(r))
	if err == nil {
		err = s.setSessionCookie(w, step.Session)
	}
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	id = stepID(step, id)
	if step.Kind != idp.StepEnroll || !slices.Contains(step.Methods, idp.MethodWebAuthn) {
		s.seeOther(w, r, loginURL(id))
		return
	}
	s.render(w, r, http.StatusOK, "enroll_webauthn", enrollWebAuthnPage{
		CSRFToken:     s.csrfToken(w, r),
		AuthRequestID: id,
		Reason:        step.Reason,
		OtherChoices:  len(newEnrollChoosePage(id, step).Choices) > 1,
	})
}
