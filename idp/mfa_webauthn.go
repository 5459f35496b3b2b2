package idp

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/twofold-idp/twofold/mfa/webauthn"
	"github.com/twofold-idp/twofold/storage"
)

var b64url = base64.RawURLEncoding

// webauthnUser loads what a ceremony needs about user: every credential
// not suspected of being cloned.
func (p *Provider) webauthnUser(ctx context.Context, user *storage.User) (webauthn.User, error) {
	rows, err := p.store.ListWebAuthnCredentials(ctx, user.ID)
	if err != nil {
		return webauthn.User{}, err
	}
	u := webauthn.User{ID: []byte(user.ID), Name: user.Username, DisplayName: user.Username}
	for _, r := range rows {
		if r.PossiblyCloned {
			continue
		}
		c, err := credentialFromStorage(r)
		if err != nil {
			p.log.ErrorContext(ctx, "unreadable WebAuthn credential", "credential", r.ID, "err", err)
			continue
		}
		u.Credentials = append(u.Credentials, c)
	}
	return u, nil
}

func credentialFromStorage(r storage.WebAuthnCredential) (webauthn.Credential, error) {
	id, err := b64url.DecodeString(r.ID)
	if err != nil {
		return webauthn.Credential{}, err
	}
	pub, err := base64.StdEncoding.DecodeString(r.PublicKey)
	if err != nil {
		return webauthn.Credential{}, err
	}
	aaguid, _ := hex.DecodeString(r.AAGUID)
	return webauthn.Credential{
		ID: id, PublicKey: pub, AAGUID: aaguid, SignCount: r.SignCount, Transports: r.Transports,
		Flags: r.Flags, Discoverable: r.Discoverable, AttestationType: r.AttestationType,
	}, nil
}

// ceremonyStart is what the page's script receives from a Begin call.
type ceremonyStart struct {
	Session   string          `json:"session"`
	PublicKey json.RawMessage `json:"publicKey"`
}

// ceremonyFinish is what the page's script sends to a Finish call.
type ceremonyFinish struct {
	Session    string          `json:"session"`
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

// beginCeremony stores the ceremony state server-side (single use, expiring)
// and returns the options for the browser with the state's id.
func (p *Provider) beginCeremony(ctx context.Context, purpose string, userID *string, options []byte, s webauthn.Session) ([]byte, error) {
	data, err := s.Marshal()
	if err != nil {
		return nil, err
	}
	ws := &storage.WebAuthnSession{ID: randomToken(16), UserID: userID, Purpose: purpose, Data: string(data), ExpiresAt: s.Expires}
	if err := p.store.CreateWebAuthnSession(ctx, ws); err != nil {
		return nil, err
	}
	return json.Marshal(ceremonyStart{Session: ws.ID, PublicKey: options})
}

// finishCeremony parses the script's body and consumes the stored state of
// the ceremony it names: a replayed response finds nothing.
func (p *Provider) finishCeremony(ctx context.Context, purpose string, userID *string, body []byte) (ceremonyFinish, webauthn.Session, error) {
	var f ceremonyFinish
	if err := json.Unmarshal(body, &f); err != nil || f.Session == "" || len(f.Credential) == 0 {
		return f, webauthn.Session{}, fmt.Errorf("%w: malformed request", ErrWebAuthn)
	}
	ws, err := p.store.ConsumeWebAuthnSession(ctx, f.Session, purpose)
	if isNotFound(err) {
		return f, webauthn.Session{}, fmt.Errorf("%w: the check expired or was already used", ErrWebAuthn)
	}
	if err != nil {
		return f, webauthn.Session{}, err
	}
	if (userID == nil) != (ws.UserID == nil) || (userID != nil && *userID != *ws.UserID) {
		return f, webauthn.Session{}, fmt.Errorf("%w: the check belongs to another account", ErrWebAuthn)
	}
	s, err := webauthn.UnmarshalSession([]byte(ws.Data))
	if err != nil {
		return f, webauthn.Session{}, err
	}
	return f, s, nil
}

// recordAssertion applies a verified assertion's counter; a regression
// means a cloned authenticator: the credential is refused from now on and
// the event audited (WebAuthn §6.1.1).
func (p *Provider) recordAssertion(ctx context.Context, userID string, a webauthn.Assertion, verifyErr error) error {
	credID := b64url.EncodeToString(a.CredentialID)
	if errors.Is(verifyErr, webauthn.ErrCloned) || verifyErr == nil {
		err := verifyErr
		if err == nil {
			err = p.store.UseWebAuthnCredential(ctx, credID, a.SignCount)
			if err != nil && !errors.Is(err, storage.ErrConflict) {
				return err
			}
		}
		if err != nil {
			if merr := p.store.MarkWebAuthnCredentialCloned(ctx, credID); merr != nil {
				p.log.ErrorContext(ctx, "mark credential cloned", "err", merr)
			}
			p.audit(ctx, userID, "webauthn.clone_warning", userID, map[string]any{"credential": credID, "sign_count": a.SignCount})
			return fmt.Errorf("%w: this security key may have been copied and is blocked", ErrWebAuthn)
		}
		p.audit(ctx, userID, "mfa.used", userID, map[string]any{"method": "webauthn", "credential": credID, "user_verified": a.UserVerified})
		return nil
	}
	p.log.InfoContext(ctx, "WebAuthn assertion refused", "user_id", userID, "err", verifyErr)
	p.audit(ctx, userID, "mfa.failed", userID, map[string]any{"method": "webauthn"})
	return fmt.Errorf("%w: %s", ErrWebAuthn, webauthnMessage(verifyErr))
}

// webauthnMessage says what went wrong in words for people; library
// diagnostics stay in the log.
func webauthnMessage(err error) string {
	switch {
	case errors.Is(err, webauthn.ErrUserVerificationRequired):
		return "this sign-in needs your PIN or biometric on the authenticator"
	case errors.Is(err, webauthn.ErrExpired):
		return "the check took too long; try again"
	case errors.Is(err, webauthn.ErrUnknownCredential):
		return "this security key or passkey is not registered to your account"
	case errors.Is(err, webauthn.ErrCredentialExists):
		return "this security key or passkey is already registered"
	}
	return "the security key or passkey check did not succeed; try again"
}

// saveCredential stores a newly registered credential under a name the
// user gave (trimmed, at most 64 characters).
func (p *Provider) saveCredential(ctx context.Context, user *storage.User, name string, c webauthn.Credential) error {
	fallback := "Passkey"
	if !c.Discoverable {
		fallback = "Security key"
	}
	name = factorName(name, fallback)
	row := &storage.WebAuthnCredential{
		ID: b64url.EncodeToString(c.ID), UserID: user.ID, Name: name,
		PublicKey: base64.StdEncoding.EncodeToString(c.PublicKey), AAGUID: hex.EncodeToString(c.AAGUID),
		SignCount: c.SignCount, Transports: c.Transports, Flags: c.Flags,
		AttestationType: c.AttestationType, Discoverable: c.Discoverable,
	}
	if err := p.store.CreateWebAuthnCredential(ctx, row); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("%w: this security key or passkey is already registered", ErrWebAuthn)
		}
		return err
	}
	p.audit(ctx, user.ID, "webauthn.enrolled", user.ID, map[string]any{"credential": row.ID, "passkey": c.Discoverable})
	return nil
}

// beginRegistration starts registering a credential for user.
func (p *Provider) beginRegistration(ctx context.Context, user *storage.User) ([]byte, error) {
	wu, err := p.webauthnUser(ctx, user)
	if err != nil {
		return nil, err
	}
	opts, s, err := p.wa.BeginRegistration(wu)
	if err != nil {
		return nil, err
	}
	return p.beginCeremony(ctx, storage.WebAuthnRegister, &user.ID, opts, s)
}

// finishRegistration verifies and stores the credential the script sent.
func (p *Provider) finishRegistration(ctx context.Context, user *storage.User, body []byte) (webauthn.Credential, error) {
	f, s, err := p.finishCeremony(ctx, storage.WebAuthnRegister, &user.ID, body)
	if err != nil {
		return webauthn.Credential{}, err
	}
	wu, err := p.webauthnUser(ctx, user)
	if err != nil {
		return webauthn.Credential{}, err
	}
	c, err := p.wa.FinishRegistration(wu, s, f.Credential)
	if err != nil {
		p.log.InfoContext(ctx, "WebAuthn registration refused", "user_id", user.ID, "err", err)
		return webauthn.Credential{}, fmt.Errorf("%w: %s", ErrWebAuthn, webauthnMessage(err))
	}
	return c, p.saveCredential(ctx, user, f.Name, c)
}
