package login

import (
	"encoding/json"
	"errors"
)

// claimsRequest is the part of the OIDC claims request parameter Twofold
// acts on (OIDC Core §5.5): the acr claim of the ID token.
type claimsRequest struct {
	IDToken map[string]*claimRequest `json:"id_token"`
}

type claimRequest struct {
	Essential bool     `json:"essential"`
	Value     string   `json:"value"`
	Values    []string `json:"values"`
}

// ErrClaimsNotObject: the claims request parameter is not a JSON object.
var ErrClaimsNotObject = errors.New("the claims parameter is not a JSON object")

// CheckClaims checks the claims request parameter (OIDC Core §5.5) as
// /authorize and the policy simulator both take it: absent, or a JSON
// object. What Twofold acts on in it is read by essentialACR.
func CheckClaims(raw string) error {
	if raw == "" {
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(raw), &obj) != nil {
		return ErrClaimsNotObject
	}
	return nil
}

// essentialACR returns the acr values an essential acr claim demands (one
// of them must be met, OIDC Core §5.5.1.1), or nil when acr is not
// essential. raw was checked to be a JSON object at /authorize.
func essentialACR(raw string) []string {
	if raw == "" {
		return nil
	}
	var cr claimsRequest
	if json.Unmarshal([]byte(raw), &cr) != nil {
		return nil
	}
	acr := cr.IDToken["acr"]
	if acr == nil || !acr.Essential {
		return nil
	}
	if acr.Value != "" {
		return []string{acr.Value}
	}
	return acr.Values
}

// voluntaryACR returns the values of a voluntary (not essential) acr claim
// of the ID token, which the policy does not act on.
func voluntaryACR(raw string) []string {
	if raw == "" {
		return nil
	}
	var cr claimsRequest
	if json.Unmarshal([]byte(raw), &cr) != nil {
		return nil
	}
	acr := cr.IDToken["acr"]
	if acr == nil || acr.Essential {
		return nil
	}
	if acr.Value != "" {
		return []string{acr.Value}
	}
	return acr.Values
}
