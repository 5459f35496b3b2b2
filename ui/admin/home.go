package admin

import "net/http"

type homePage struct {
	base
	Policies string
	Default  string
}

func (c *Console) handleHome(w http.ResponseWriter, r *http.Request) {
	ps, err := c.dir.PolicyPage(r.Context(), "", maxList)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	p := homePage{base: c.page(w, r, "home")}
	p.Policies = plural(len(ps.Items), "policy", "policies")
	for _, x := range ps.Items {
		if x.Default {
			p.Default = x.Policy.Name
		}
	}
	c.render(w, r, 0, "home", p)
}
