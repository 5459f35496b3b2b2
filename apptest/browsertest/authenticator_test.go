package browsertest

import (
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// platformPasskey is a built-in authenticator (Touch ID, Windows Hello):
// discoverable credentials and a user verified by biometrics or PIN.
var platformPasskey = webauthn.VirtualAuthenticatorOptions{
	Protocol:            webauthn.AuthenticatorProtocolCtap2,
	Transport:           webauthn.AuthenticatorTransportInternal,
	HasResidentKey:      true,
	HasUserVerification: true,
	IsUserVerified:      true,
	// The protocol's default is true, but cdproto always sends the field:
	// left at Go's false, navigator.credentials.create() waits for a touch
	// that never comes. Set on every authenticator, explicitly.
	AutomaticPresenceSimulation: true,
}

// securityKey is a plain USB key without PIN: user presence (a touch)
// only, no discoverable credentials.
var securityKey = webauthn.VirtualAuthenticatorOptions{
	Protocol:                    webauthn.AuthenticatorProtocolCtap2,
	Transport:                   webauthn.AuthenticatorTransportUsb,
	HasResidentKey:              false,
	HasUserVerification:         false,
	IsUserVerified:              false,
	AutomaticPresenceSimulation: true,
}

// addAuthenticator plugs a virtual authenticator into the tab (WebAuthn
// domain of the DevTools protocol); the page's navigator.credentials
// calls then reach it instead of real hardware.
func (tb *tab) addAuthenticator(opts webauthn.VirtualAuthenticatorOptions) webauthn.AuthenticatorID {
	tb.t.Helper()
	if !tb.webauthnOn {
		if _, err := chromedp.Call(tb.ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: new(false)}); err != nil {
			tb.fail("WebAuthn.enable", err)
		}
		tb.webauthnOn = true
	}
	res, err := chromedp.Call(tb.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &opts})
	if err != nil {
		tb.fail("WebAuthn.addVirtualAuthenticator", err)
	}
	return res.AuthenticatorID
}

// credentials lists what the authenticator holds, private keys included.
func (tb *tab) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		tb.fail("WebAuthn.getCredentials", err)
	}
	return res.Credentials
}

// carryAuthenticator gives tab to a fresh authenticator of kind opts
// holding the credentials of authenticator id in tab from: the same key,
// plugged into another browser.
func (tb *tab) carryAuthenticator(from *tab, id webauthn.AuthenticatorID, opts webauthn.VirtualAuthenticatorOptions) webauthn.AuthenticatorID {
	tb.t.Helper()
	creds := from.credentials(id)
	if len(creds) == 0 {
		tb.t.Fatal("the authenticator holds no credential to carry over")
	}
	to := tb.addAuthenticator(opts)
	for _, c := range creds {
		params := addCredentialParams{AuthenticatorID: to, Credential: carriedCredential{
			CredentialID: c.CredentialID, IsResidentCredential: c.IsResidentCredential, RpID: c.RpID,
			PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, SignCount: c.SignCount,
			BackupEligibility: c.BackupEligibility, BackupState: c.BackupState,
			UserName: c.UserName, UserDisplayName: c.UserDisplayName,
		}}
		if _, err := chromedp.Call(tb.ctx, addCredential, params); err != nil {
			tb.fail("WebAuthn.addCredential", err)
		}
	}
	return to
}

// addCredential is WebAuthn.addCredential with a credential that leaves
// out the CMTG fields: cdproto's webauthn.Credential always sends
// generateCmtgKeyOnNextOperation (no omitempty), which Chromium refuses
// ("CMTG is not supported by this authenticator") for any authenticator
// without the extension.
var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      carriedCredential        `json:"credential"`
}

// carriedCredential is the part of webauthn.Credential that makes the
// same credential in another authenticator: key, ids, counter, flags.
type carriedCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
	BackupEligibility    bool    `json:"backupEligibility"`
	BackupState          bool    `json:"backupState"`
	UserName             string  `json:"userName,omitempty"`
	UserDisplayName      string  `json:"userDisplayName,omitempty"`
}
