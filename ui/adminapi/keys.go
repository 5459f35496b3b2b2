package adminapi

import (
	"net/http"
	"time"

	"github.com/twofold-idp/twofold/idp/keys"
)

type keyJSON struct {
	ID        string     `json:"kid"`
	Alg       string     `json:"alg"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	ActiveAt  time.Time  `json:"active_at"`
	RetireAt  *time.Time `json:"retire_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

type rotationJSON struct {
	Alg          string    `json:"alg"`
	NextRotation time.Time `json:"next_rotation"`
}

func (a *API) listKeys(r *http.Request, c *call) (*response, error) {
	ks, algs, err := a.keys.Status(r.Context())
	if err != nil {
		return nil, err
	}
	return ok(keysJSON{
		mapItems(ks, func(k keys.KeyStatus) keyJSON {
			return keyJSON{k.ID, k.Alg, k.State, k.CreatedAt, k.ActiveAt, k.RetireAt, k.ExpiresAt}
		}),
		mapItems(algs, func(s keys.AlgorithmStatus) rotationJSON { return rotationJSON{s.Alg, s.NextRotation} }),
	}, "")
}

// rotateKey gives an algorithm a new key now: published at once, signing
// after the publish lead (audited by keys.Manager.Rotate).
func (a *API) rotateKey(r *http.Request, c *call) (*response, error) {
	var b rotateKeyBody
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	if err := a.keys.Rotate(r.Context(), a.actor(r), b.Alg); err != nil {
		return nil, err
	}
	return a.listKeys(r, c)
}
