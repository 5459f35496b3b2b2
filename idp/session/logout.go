package session

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/secrets"
)

// LogoutRequest is what a logout confirmation link carries, sealed so it
// can be neither read nor forged.
type LogoutRequest struct {
	ClientName  string    `json:"n,omitempty"`
	RedirectURI string    `json:"r,omitempty"` // with state already added
	Expires     time.Time `json:"e"`
}

const logoutPurpose = "logout-request"

// Logouts seals and opens logout confirmation links and ends the browser's
// session once the person confirms.
type Logouts struct {
	sessions *Service
	ring     *secrets.Keyring
}

// NewLogouts wires the logout confirmation.
func NewLogouts(sessions *Service, ring *secrets.Keyring) *Logouts {
	return &Logouts{sessions: sessions, ring: ring}
}

// Seal makes the token of a confirmation link.
func (l *Logouts) Seal(r LogoutRequest) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	sealed, err := l.ring.Seal(logoutPurpose, b, nil)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

func (l *Logouts) open(token string) (LogoutRequest, error) {
	var r LogoutRequest
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return r, idp.ErrLogoutRequestInvalid
	}
	b, err := l.ring.Open(logoutPurpose, raw, nil)
	if err != nil || json.Unmarshal(b, &r) != nil || l.sessions.now().After(r.Expires) {
		return r, idp.ErrLogoutRequestInvalid
	}
	return r, nil
}

// LogoutPrompt says what the confirmation page shows.
func (l *Logouts) LogoutPrompt(_ context.Context, token string, _ idp.Browser) (idp.LogoutPrompt, error) {
	r, err := l.open(token)
	if err != nil {
		return idp.LogoutPrompt{}, err
	}
	return idp.LogoutPrompt{ClientName: r.ClientName}, nil
}

// ConfirmLogout ends the browser's session after the user confirmed.
func (l *Logouts) ConfirmLogout(ctx context.Context, token string, b idp.Browser) (idp.LogoutResult, error) {
	r, err := l.open(token)
	if err != nil {
		return idp.LogoutResult{}, err
	}
	sess, _, err := l.sessions.loadAny(ctx, b.SessionCookie) // a pending sign-in ends too
	if err != nil {
		return idp.LogoutResult{}, err
	}
	if sess != nil {
		if err := l.sessions.Terminate(ctx, sess, "confirmed"); err != nil {
			return idp.LogoutResult{}, err
		}
	}
	return idp.LogoutResult{RedirectURL: r.RedirectURI, Session: &idp.SessionCookie{}}, nil
}
