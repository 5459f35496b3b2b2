package apptest

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser is a scripted person: a cookie jar that follows redirects inside
// the issuer and stops at the first redirect that leaves it (to a relying
// party), the way a browser would hand the code over.
type Browser struct {
	t      testing.TB
	Client *http.Client
	issuer *url.URL
}

// NewBrowser returns a browser with empty cookies.
func NewBrowser(t testing.TB, s *Server) *Browser {
	jar, _ := cookiejar.New(nil)
	iu, _ := url.Parse(s.URL)
	b := &Browser{t: t, issuer: iu}
	b.Client = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != iu.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

// From makes every later request of b arrive through a proxy that says the
// client is addr (X-Forwarded-For); the server believes it only from a
// trusted proxy (Options.TrustedProxies).
func (b *Browser) From(addr string) *Browser {
	b.Client.Transport = forwardedFor{addr: addr, next: http.DefaultTransport}
	return b
}

type forwardedFor struct {
	addr string
	next http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return f.next.RoundTrip(r)
}

// Page is what the browser ended on.
type Page struct {
	Status   int
	URL      *url.URL
	Header   http.Header
	Body     string
	Redirect *url.URL // set when the server sent the browser to another site
}

// Get opens u.
func (b *Browser) Get(u string) *Page {
	b.t.Helper()
	resp, err := b.Client.Get(u)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	return b.page(resp)
}

func (b *Browser) page(resp *http.Response) *Page {
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := &Page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(body)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc, err := resp.Request.URL.Parse(resp.Header.Get("Location")); err == nil {
			p.Redirect = loc
		}
	}
	return p
}

var (
	inputRE    = regexp.MustCompile(`<input\b[^>]*>`)
	attrRE     = regexp.MustCompile(`\b(name|value|type)="([^"]*)"`)
	checkedRE  = regexp.MustCompile(`\s(checked|selected)[\s>/]`)
	selectRE   = regexp.MustCompile(`(?s)<select\b([^>]*)>(.*?)</select>`)
	optionRE   = regexp.MustCompile(`<option\b[^>]*>`)
	textareaRE = regexp.MustCompile(`(?s)<textarea\b([^>]*)>(.*?)</textarea>`)
)

// attrs reads the name, value and type attributes of a tag.
func attrs(tag string) map[string]string {
	out := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(tag, -1) {
		if _, seen := out[a[1]]; !seen {
			out[a[1]] = html.UnescapeString(a[2])
		}
	}
	return out
}

// Form finds the form with id on the page: its action and what a browser
// would submit: its inputs' current values (hidden ones included; checkboxes
// and radio buttons only when checked), each select's selected option (else
// its first) and each textarea's text.
func (p *Page) Form(t testing.TB, id string) (action string, values url.Values) {
	t.Helper()
	start := regexp.MustCompile(`<form\b[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindStringIndex(p.Body)
	if start == nil {
		t.Fatalf("no form#%s on %s (status %d):\n%s", id, p.URL, p.Status, p.Body)
	}
	tag := p.Body[start[0]:start[1]]
	end := strings.Index(p.Body[start[1]:], "</form>")
	inner := p.Body[start[1] : start[1]+end]
	if m := regexp.MustCompile(`action="([^"]*)"`).FindStringSubmatch(tag); m != nil {
		action = html.UnescapeString(m[1])
	}
	values = url.Values{}
	for _, in := range inputRE.FindAllString(inner, -1) {
		a := attrs(in)
		switch {
		case a["name"] == "" || a["type"] == "submit":
		case a["type"] == "checkbox" || a["type"] == "radio":
			if checkedRE.MatchString(in) {
				values.Add(a["name"], a["value"])
			}
		default:
			values.Set(a["name"], a["value"])
		}
	}
	for _, sel := range selectRE.FindAllStringSubmatch(inner, -1) {
		name := attrs("<select" + sel[1] + ">")["name"]
		options := optionRE.FindAllString(sel[2], -1)
		if name == "" || len(options) == 0 {
			continue
		}
		chosen := attrs(options[0])["value"]
		for _, o := range options {
			if checkedRE.MatchString(o) {
				chosen = attrs(o)["value"]
				break
			}
		}
		values.Set(name, chosen)
	}
	for _, ta := range textareaRE.FindAllStringSubmatch(inner, -1) {
		if name := attrs("<textarea" + ta[1] + ">")["name"]; name != "" {
			values.Set(name, html.UnescapeString(strings.TrimPrefix(ta[2], "\n")))
		}
	}
	return action, values
}

// Submit fills form id on p with fields (on top of its current values) and
// posts it, following redirects.
func (b *Browser) Submit(p *Page, id string, fields map[string]string) *Page {
	b.t.Helper()
	values := url.Values{}
	for k, v := range fields {
		values.Set(k, v)
	}
	return b.SubmitValues(p, id, values)
}

// SubmitValues is Submit with fields that may have several values (a set
// of checkboxes): each replaces the form's values of its name, and an empty
// list submits none (every box unchecked).
func (b *Browser) SubmitValues(p *Page, id string, fields url.Values) *Page {
	b.t.Helper()
	action, values := p.Form(b.t, id)
	for k, v := range fields {
		values[k] = v
	}
	target, err := p.URL.Parse(action)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.Post(target.String(), values)
}

// Post posts values to u as a form, following redirects.
func (b *Browser) Post(u string, values url.Values) *Page {
	b.t.Helper()
	resp, err := b.Client.PostForm(u, values)
	if err != nil {
		b.t.Fatalf("POST %s: %v", u, err)
	}
	return b.page(resp)
}

// PostForm posts fields to u as a hand-made form would (a scripted client
// posting to a step the page did not offer), following redirects.
func (b *Browser) PostForm(u string, fields map[string]string) *Page {
	b.t.Helper()
	values := url.Values{}
	for k, v := range fields {
		values.Set(k, v)
	}
	return b.Post(u, values)
}

// Login opens an authorization URL, signs in with the password form and
// returns where the server finally sent the browser (the relying party's
// redirect URI with code or error).
func (b *Browser) Login(authURL, username, password string) *Page {
	b.t.Helper()
	p := b.Get(authURL)
	if p.Redirect != nil {
		return p // answered without a page (SSO, or an error to the client)
	}
	return b.Submit(p, "login", map[string]string{"username": username, "password": password})
}

// Cookie returns the value of the issuer's cookie called name ("" if none).
func (b *Browser) Cookie(name string) string {
	for _, c := range b.Client.Jar.Cookies(b.issuer) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var dataAttrRE = regexp.MustCompile(`data-(csrf|id)="([^"]*)"`)

// Data returns the data-csrf and data-id attributes the page gives its
// script (the WebAuthn buttons' forms).
func (p *Page) Data(t testing.TB) (csrf, id string) {
	t.Helper()
	for _, m := range dataAttrRE.FindAllStringSubmatch(p.Body, -1) {
		switch m[1] {
		case "csrf":
			csrf = html.UnescapeString(m[2])
		case "id":
			id = html.UnescapeString(m[2])
		}
	}
	if csrf == "" || id == "" {
		t.Fatalf("no data-csrf/data-id on %s:\n%s", p.URL, p.Body)
	}
	return csrf, id
}

// PostJSON posts body as the pages' script does (same-origin fetch with
// the CSRF header) and returns the status and the response body.
func (b *Browser) PostJSON(path, csrf string, body []byte) (int, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.issuer.String()+path, bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", b.issuer.Scheme+"://"+b.issuer.Host)
	resp, err := b.Client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// WebAuthn runs one ceremony from a page that offers it: Begin at
// beginPath, the authenticator's answer (respond), Finish at finishPath;
// then it follows the redirect the script would follow.
func (b *Browser) WebAuthn(p *Page, beginPath, finishPath string, respond func(begin []byte, id string) []byte) *Page {
	b.t.Helper()
	csrf, id := p.Data(b.t)
	status, begin := b.PostJSON(beginPath, csrf, []byte(`{"id":"`+id+`"}`))
	if status != http.StatusOK {
		b.t.Fatalf("%s: %d %s", beginPath, status, begin)
	}
	status, fin := b.PostJSON(finishPath, csrf, respond(begin, id))
	if status != http.StatusOK {
		b.t.Fatalf("%s: %d %s", finishPath, status, fin)
	}
	var r struct {
		Redirect string `json:"redirect"`
	}
	if err := json.Unmarshal(fin, &r); err != nil || r.Redirect == "" {
		b.t.Fatalf("%s answered %s", finishPath, fin)
	}
	target, _ := b.issuer.Parse(r.Redirect)
	if target.Host != b.issuer.Host {
		return &Page{Status: http.StatusSeeOther, URL: p.URL, Redirect: target}
	}
	return b.Get(target.String())
}
