package bench

import (
	"encoding/json"
	"fmt"
	"os"
)

// Setup is what the benchmark signs in with: its clients and users. Seed
// makes one; SaveSetup/LoadSetup keep it between runs (it holds passwords,
// client secrets and TOTP secrets of throwaway accounts: the file is 0600).
type Setup struct {
	Issuer string `json:"issuer"`
	// Client is confidential, first-party, with authorization_code,
	// refresh_token and client_credentials; no policy of its own.
	Client Client `json:"client"`
	// MFAClient is the same under a policy that requires TOTP always: a
	// sign-in there is password + TOTP.
	MFAClient Client `json:"mfa_client"`
	Users     []User `json:"users"`
}

// Client is a registered relying party.
type Client struct {
	ID          string `json:"id"`
	Secret      string `json:"secret"`
	RedirectURI string `json:"redirect_uri"`
}

// User is a seeded account with an enrolled authenticator app.
type User struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// TOTPSecret is the base32 secret of the otpauth URI.
	TOTPSecret string `json:"totp_secret"`
	// LastStep is the last TOTP time step used: the server refuses it and
	// every earlier one (RFC 6238 §5.2).
	LastStep int64 `json:"last_step"`
}

// LoadSetup reads a setup written by SaveSetup.
func LoadSetup(path string) (*Setup, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Setup
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Issuer == "" || s.Client.ID == "" || s.MFAClient.ID == "" {
		return nil, fmt.Errorf("%s: not a twofold-bench setup", path)
	}
	return &s, nil
}

// SaveSetup writes s to path, readable by its owner only.
func SaveSetup(path string, s *Setup) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}
