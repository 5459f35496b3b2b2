package admin

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp/keys"
)

func (c *Console) keyRoutes(r chi.Router) {
	r.Get("/keys", c.handleKeys)
	r.Post("/keys/rotate", c.handleRotateKey)
}

var keyNotices = map[string]string{
	"rotated": "New signing key created. It is published in /keys now and signs once every server and relying party has had time to fetch it; the key it replaces stays published until the last token it signed has expired.",
}

type keysPage struct {
	base
	Keys      []keys.KeyStatus
	Rotations []keys.AlgorithmStatus
	Algs      []string
	Alg       string // the algorithm chosen in the rotate form
}

func (c *Console) handleKeys(w http.ResponseWriter, r *http.Request) {
	b := c.page(w, r, "keys")
	b.Notice = notice(r, keyNotices)
	c.showKeys(w, r, 0, b, "")
}

func (c *Console) showKeys(w http.ResponseWriter, r *http.Request, status int, b base, alg string) {
	ks, algs, err := c.keys.Status(r.Context())
	if err != nil {
		c.internal(w, r, err)
		return
	}
	c.render(w, r, status, "keys", keysPage{base: b, Keys: ks, Rotations: algs, Algs: c.keys.Algorithms(), Alg: alg})
}

// handleRotateKey gives an algorithm a new key now, as twofold keys rotate
// and the admin API do (keys.Manager.Rotate, which audits it).
func (c *Console) handleRotateKey(w http.ResponseWriter, r *http.Request) {
	alg := r.PostFormValue("alg")
	err := c.keys.Rotate(r.Context(), c.actor(r), alg)
	if err == nil {
		c.kit.SeeOther(w, r, Prefix+"/keys?done=rotated")
		return
	}
	o, ok := refusal(err)
	if !ok {
		c.internal(w, r, err)
		return
	}
	b := c.page(w, r, "keys")
	b.outcome = o
	c.showKeys(w, r, o.Status, b, alg)
}
