package admin

import (
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/login"
	"github.com/twofold-idp/twofold/idp/policy"
)

// The simulator is a GET form: it changes nothing, so it needs neither a
// CSRF token nor the fresh second factor the console asks before a change,
// and a simulation is a link an administrator can bookmark or send.
func (c *Console) simulateRoutes(r chi.Router) {
	r.Get("/simulate", c.handleSimulate)
}

// simFactor is a factor the simulated session proved, as the form has it.
type simFactor struct {
	Method, Label string
	Checked       bool
	Minutes       string // proven this many minutes ago
	UV, Bound     bool   // with user verification; a device-bound credential
	CanUV         bool   // WebAuthn as a second factor may or may not verify the user
	CanBound      bool   // WebAuthn and passkeys may be device-bound
}

// simFactors are the factors a session can hold, in the order a sign-in
// proves them (login.SimulatedFactor's methods).
var simFactors = []simFactor{
	{Method: policy.FactorPassword, Label: "Password"},
	{Method: policy.FactorPasskey, Label: "Passkey sign-in (verifies the user)", CanBound: true},
	{Method: string(policy.TOTP), Label: "Authenticator app (TOTP)"},
	{Method: string(policy.WebAuthn), Label: "Security key or passkey as a second factor", CanUV: true, CanBound: true},
	{Method: string(policy.Email), Label: "Code sent by email"},
	{Method: string(policy.SMS), Label: "Code sent by text message (SMS)"},
	{Method: string(policy.BackupCode), Label: "Backup code"},
}

var promptValues = []string{"none", "login", "consent", "select_account"}

// simulateForm is the simulator's fields as typed.
type simulateForm struct {
	User, Client, ACRValues, Claims, MaxAge, Remembered string
	Prompt                                              []string
	Factors                                             []simFactor
}

func readSimulateForm(q url.Values) simulateForm {
	f := simulateForm{
		User: strings.TrimSpace(q.Get("user")), Client: q.Get("client"), ACRValues: q.Get("acr_values"), Claims: q.Get("claims"),
		MaxAge: strings.TrimSpace(q.Get("max_age")), Remembered: strings.TrimSpace(q.Get("remembered_device")), Prompt: q["prompt"],
	}
	checked := q["factor"]
	for _, sf := range simFactors {
		sf.Checked = slices.Contains(checked, sf.Method)
		sf.Minutes = strings.TrimSpace(q.Get("age_" + sf.Method))
		sf.UV = sf.CanUV && q.Get("uv_"+sf.Method) != ""
		sf.Bound = sf.CanBound && q.Get("bound_"+sf.Method) != ""
		f.Factors = append(f.Factors, sf)
	}
	return f
}

// simulation reads the form into what login.Simulate takes, and the
// factors' order (session[i] is order[i]); it only parses what a form
// cannot carry, the simulator judges the values.
func (f simulateForm) simulation() (login.Simulation, []string, map[string]string) {
	bad := map[string]string{}
	sim := login.Simulation{User: f.User, ClientID: f.Client, ACRValues: strings.Fields(f.ACRValues), Claims: strings.TrimSpace(f.Claims), Prompt: f.Prompt}
	if f.MaxAge != "" {
		n, err := strconv.ParseInt(f.MaxAge, 10, 64)
		if err != nil {
			bad["max_age"] = "must be a whole number of seconds, such as 0 or 3600; empty: not sent"
		}
		sim.MaxAge = &n
	}
	minutes := func(field, s string) *int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/60 {
			bad[field] = "must be a whole number of minutes, 0 or more"
			return nil
		}
		secs := n * 60
		return &secs
	}
	if f.Remembered != "" {
		sim.RememberedDeviceAge = minutes("remembered_device", f.Remembered)
	}
	var order []string
	for _, sf := range f.Factors {
		if !sf.Checked {
			continue
		}
		m := "0"
		if sf.Minutes != "" {
			m = sf.Minutes
		}
		age := minutes("age_"+sf.Method, m)
		if age == nil {
			continue
		}
		sim.Session = append(sim.Session, login.SimulatedFactor{Method: sf.Method, Age: *age, UserVerified: sf.UV, DeviceBound: sf.Bound})
		order = append(order, sf.Method)
	}
	return sim, order, bad
}

type simulatePage struct {
	base
	Form     simulateForm
	Clients  []directory.ClientRecord
	Prompts  []string
	Result   *login.SimulationResult
	Policies []simPolicy
}

// simPolicy is an effective policy as the result shows it.
type simPolicy struct {
	login.EffectivePolicy
	MFAMaxAge, RememberDevice string
	// Grace is the policy's enrollment grace in words ("7d or 5 sign-ins"); "" without one.
	Grace string
}

// graceText says a policy's enrollment grace.
func graceText(p login.EffectivePolicy) string {
	var parts []string
	if p.EnrollmentGrace > 0 {
		parts = append(parts, ageText(p.EnrollmentGrace, ""))
	}
	if p.EnrollmentGraceSignIns > 0 {
		parts = append(parts, strconv.Itoa(p.EnrollmentGraceSignIns)+" sign-ins")
	}
	return strings.Join(parts, " or ")
}

func (c *Console) handleSimulate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := simulatePage{base: c.page(w, r, "simulate"), Form: readSimulateForm(q), Prompts: promptValues}
	clients, err := all(r, c.dir.ClientPage)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	listed := p.Form.Client == ""
	for _, cl := range clients {
		if !cl.Disabled {
			p.Clients = append(p.Clients, cl)
			listed = listed || cl.ID == p.Form.Client
		}
	}
	if !listed {
		// Named by a link or typed into the address: keep it selected, and
		// let the simulator judge it.
		p.Clients = append(p.Clients, directory.ClientRecord{Client: directory.Client{ID: p.Form.Client}})
	}
	if q.Get("run") == "" {
		// The form alone, perhaps filled in by a link (?user=alice).
		c.render(w, r, 0, "simulate", p)
		return
	}
	sim, order, bad := p.Form.simulation()
	if len(bad) > 0 {
		p.outcome = outcome{Status: http.StatusBadRequest, Alert: "Nothing was simulated: correct the fields marked below.", Fields: bad}
		c.render(w, r, p.Status, "simulate", p)
		return
	}
	res, err := c.sim.Simulate(r.Context(), sim)
	if err != nil {
		o, ok := refusal(err)
		if !ok {
			c.internal(w, r, err)
			return
		}
		o.Alert = "Nothing was simulated: correct the fields marked below."
		o.Fields = simFields(o.Fields, order)
		p.outcome = o
		c.render(w, r, o.Status, "simulate", p)
		return
	}
	p.Result = &res
	for _, ep := range res.Policies {
		p.Policies = append(p.Policies, simPolicy{ep, ageText(ep.MFAMaxAge, "the session"), ageText(ep.RememberDevice, "off"), graceText(ep)})
	}
	c.render(w, r, 0, "simulate", p)
}

// sessionField is the simulator's name of a field of a session factor.
var sessionField = regexp.MustCompile(`^session\[(\d+)\]\.(\w+)$`)

// simFields puts the simulator's field errors (login.Simulation's JSON
// names) beside the form's fields; order[i] is the method of session[i].
func simFields(in map[string]string, order []string) map[string]string {
	out := map[string]string{}
	put := func(field, msg string) {
		if _, dup := out[field]; !dup {
			out[field] = msg
		}
	}
	for field, msg := range in {
		base, _, _ := strings.Cut(field, "[")
		switch {
		case field == "client_id":
			put("client", msg)
		case base == "acr_values" || base == "prompt":
			put(base, msg)
		case field == "remembered_device_age":
			put("remembered_device", msg)
		case sessionField.MatchString(field):
			m := sessionField.FindStringSubmatch(field)
			i, _ := strconv.Atoi(m[1])
			if i >= len(order) {
				put("factors", msg)
				break
			}
			switch m[2] {
			case "age":
				put("age_"+order[i], msg)
			default:
				put("factors", order[i]+": "+msg)
			}
		case field == "session":
			put("factors", msg)
		default:
			put(field, msg)
		}
	}
	return out
}

// ageText shows seconds as the policy editor writes durations.
func ageText(secs int64, zero string) string {
	if secs == 0 {
		return zero
	}
	return durationText(time.Duration(secs) * time.Second)
}
