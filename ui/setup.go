package ui

import (
	"context"
	"errors"
	"net/http"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
)

// SetupService is what the first-run page needs from idp.
type SetupService interface {
	// CheckSetupToken returns nil when token can still be used, idp.ErrSetupTokenInvalid or idp.ErrSetupDone otherwise.
	CheckSetupToken(ctx context.Context, token string) error
	// CompleteSetup consumes the token and creates the first admin in one step. Returns *idp.InputError for bad input
	// (the token is then NOT consumed), idp.ErrSetupTokenInvalid, idp.ErrSetupDone, or another (internal) error.
	CompleteSetup(ctx context.Context, token string, u directory.NewUser) error
}

const (
	// maxSetupTokenLen bounds what reaches the database; real tokens are far shorter.
	maxSetupTokenLen = 512
	// maxFormBytes bounds a urlencoded form body; ours hold a few short fields.
	maxFormBytes = 64 << 10
)

// setupPage is the first-run form that creates the first administrator. It never holds the password: a re-render
// after an error asks for it again.
type setupPage struct {
	CSRFToken  string
	Token      string // the one-time setup token from the link, carried in a hidden field
	Username   string
	Email      string
	Error      string // shown in the role="alert" box above the form
	ErrorField string // the field Error is about, if any: it gets aria-invalid and the focus
}

// setupFields are the visible fields, first one first.
var setupFields = []string{"username", "email", "password", "password_confirm"}

// Invalid reports whether the error is about field.
func (p setupPage) Invalid(field string) bool { return p.Error != "" && p.ErrorField == field }

// Autofocus puts the focus on the field the error is about, else on the first field; exactly one field gets it.
func (p setupPage) Autofocus(field string) bool {
	for _, f := range setupFields {
		if p.Invalid(f) {
			return f == field
		}
	}
	return field == setupFields[0]
}

func (s *Server) renderSetup(w http.ResponseWriter, r *http.Request, status int, p setupPage) {
	s.render(w, r, status, "setup", p)
}

// setupDonePage confirms that the first administrator exists.
type setupDonePage struct{}

func (s *Server) renderSetupDone(w http.ResponseWriter, r *http.Request, status int, p setupDonePage) {
	s.render(w, r, status, "setup_done", p)
}

func (s *Server) handleSetupForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if err := s.checkSetupToken(r.Context(), token); err != nil {
		s.setupUnavailable(w, r, err)
		return
	}
	s.renderSetup(w, r, http.StatusOK, setupPage{CSRFToken: s.csrfToken(w, r), Token: token})
}

func (s *Server) handleSetupSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, errorPage{
			Title:   "Bad request",
			Message: "The form could not be read. Go back and try again.",
		})
		return
	}
	p := setupPage{
		Token:    r.PostForm.Get("token"),
		Username: r.PostForm.Get("username"),
		Email:    r.PostForm.Get("email"),
	}
	if err := s.checkCSRF(r); err != nil {
		s.log(r.Context()).Info("setup form refused", "reason", err)
		p.Error = csrfMessage
		p.CSRFToken = s.csrfToken(w, r)
		s.renderSetup(w, r, http.StatusForbidden, p)
		return
	}
	if len(p.Token) == 0 || len(p.Token) > maxSetupTokenLen {
		s.setupUnavailable(w, r, idp.ErrSetupTokenInvalid)
		return
	}
	password := r.PostForm.Get("password")
	if password != r.PostForm.Get("password_confirm") {
		p.Error, p.ErrorField = "The two passwords do not match. Please enter them again.", "password"
		p.CSRFToken = s.csrfToken(w, r)
		s.renderSetup(w, r, http.StatusBadRequest, p)
		return
	}
	err := s.setup.CompleteSetup(r.Context(), p.Token, directory.NewUser{
		Username: p.Username,
		Email:    p.Email,
		Password: password,
		Admin:    true,
	})
	var inputErr *idp.InputError
	switch {
	case err == nil:
		s.log(r.Context()).Info("first administrator created", "username", p.Username)
		w.Header().Set("Cache-Control", "no-store")
		// 303 so the browser follows with a GET and a reload cannot resubmit the form (RFC 9110 §15.4.4).
		http.Redirect(w, r, "/setup/done", http.StatusSeeOther)
	case errors.As(err, &inputErr):
		p.Error, p.ErrorField = inputErrorMessage(inputErr), inputErr.Field
		p.CSRFToken = s.csrfToken(w, r)
		s.renderSetup(w, r, http.StatusBadRequest, p)
	default:
		s.setupUnavailable(w, r, err)
	}
}

func (s *Server) handleSetupDone(w http.ResponseWriter, r *http.Request) {
	s.renderSetupDone(w, r, http.StatusOK, setupDonePage{})
}

// checkSetupToken refuses empty and oversized tokens without asking idp.
func (s *Server) checkSetupToken(ctx context.Context, token string) error {
	if len(token) == 0 || len(token) > maxSetupTokenLen {
		return idp.ErrSetupTokenInvalid
	}
	return s.setup.CheckSetupToken(ctx, token)
}

// setupUnavailable answers a setup link that cannot be used. Unknown, expired and used tokens get one message so
// the token space cannot be probed; a completed setup may say so, as that is no secret once an admin exists.
func (s *Server) setupUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	const invalid = "This setup link is invalid or has already been used."
	switch {
	case errors.Is(err, idp.ErrSetupDone):
		s.renderError(w, r, http.StatusNotFound, errorPage{
			Title:   "Setup link not valid",
			Message: invalid + " Setup is complete: sign in with the administrator account.",
		})
	case errors.Is(err, idp.ErrSetupTokenInvalid):
		s.renderError(w, r, http.StatusNotFound, errorPage{Title: "Setup link not valid", Message: invalid})
	default:
		s.log(r.Context()).Error("setup", "err", err)
		s.renderError(w, r, http.StatusInternalServerError, errorPage{
			Title:   "Something went wrong",
			Message: "Setup could not be completed because of an internal error. Please try again later.",
		})
	}
}

// fieldLabels names form fields as the page labels them.
var fieldLabels = map[string]string{
	"username":         "Username",
	"email":            "Email",
	"password":         "Password",
	"password_confirm": "Confirm password",
}

// inputErrorMessage shows an idp.InputError with the field's visible label; its Message is safe to show by contract.
func inputErrorMessage(e *idp.InputError) string {
	if label, ok := fieldLabels[e.Field]; ok {
		return label + ": " + e.Message
	}
	return e.Message
}
