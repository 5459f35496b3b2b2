package adminapi

import (
	"net/http"

	"github.com/twofold-idp/twofold/idp/login"
)

// simulate runs the policy simulator: the same effective-policy lookup and
// decision as a real sign-in, writing nothing.
func (a *API) simulate(r *http.Request, c *call) (*response, error) {
	var sim login.Simulation
	if err := decode(c, &sim); err != nil {
		return nil, err
	}
	res, err := a.sim.Simulate(r.Context(), sim)
	if err != nil {
		return nil, err
	}
	return ok(res, "")
}
