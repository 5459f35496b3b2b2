package idptest

import (
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
	inputRE = regexp.MustCompile(`<input\b[^>]*>`)
	attrRE  = regexp.MustCompile(`\b(name|value|type)="([^"]*)"`)
)

// Form finds the form with id on the page: its action and its inputs'
// current values (hidden ones included).
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
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(in, -1) {
			attrs[a[1]] = html.UnescapeString(a[2])
		}
		if attrs["name"] != "" && attrs["type"] != "submit" {
			values.Set(attrs["name"], attrs["value"])
		}
	}
	return action, values
}

// Submit fills form id on p with fields (on top of its current values) and
// posts it, following redirects.
func (b *Browser) Submit(p *Page, id string, fields map[string]string) *Page {
	b.t.Helper()
	action, values := p.Form(b.t, id)
	for k, v := range fields {
		values.Set(k, v)
	}
	target, err := p.URL.Parse(action)
	if err != nil {
		b.t.Fatal(err)
	}
	resp, err := b.Client.PostForm(target.String(), values)
	if err != nil {
		b.t.Fatalf("POST %s: %v", target, err)
	}
	return b.page(resp)
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
