package bench

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// maxPage bounds what the browser reads of one response.
const maxPage = 1 << 20

// browser is one simulated person: its own cookie jar on the shared
// transport. It follows redirects inside the issuer and stops at the first
// one that leaves it — the relying party's redirect_uri, which is never
// requested: the code is read from the Location header.
type browser struct {
	client *http.Client
	issuer *url.URL
}

func newBrowser(t http.RoundTripper, issuer *url.URL) *browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &browser{issuer: issuer, client: &http.Client{Transport: t, Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !sameOrigin(req.URL, issuer) {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("more than 10 redirects")
			}
			return nil
		}}}
}

func sameOrigin(a, b *url.URL) bool { return a.Scheme == b.Scheme && a.Host == b.Host }

// page is where a request ended: a page of the issuer, or a redirect away
// from it (Redirect set).
type page struct {
	status   int
	header   http.Header
	url      *url.URL
	body     string
	redirect *url.URL
}

func (b *browser) get(ctx context.Context, u string) (*page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

func (b *browser) post(ctx context.Context, u string, form url.Values) (*page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// What a browser sends with a same-origin form post.
	req.Header.Set("Origin", b.issuer.Scheme+"://"+b.issuer.Host)
	return b.do(req)
}

func (b *browser) do(req *http.Request) (*page, error) {
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	if err != nil {
		return nil, err
	}
	p := &page{status: resp.StatusCode, header: resp.Header, url: resp.Request.URL, body: string(body)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			return nil, fmt.Errorf("redirect to an unparsable Location: %w", err)
		}
		p.redirect = loc
	}
	return p, nil
}

// has reports whether the page shows the form with this id.
func (p *page) has(formID string) bool {
	return strings.Contains(p.body, `id="`+formID+`"`)
}

var (
	inputRE  = regexp.MustCompile(`<input\b[^>]*>`)
	attrRE   = regexp.MustCompile(`\b(name|value|type)="([^"]*)"`)
	actionRE = regexp.MustCompile(`\baction="([^"]*)"`)
)

// submit fills the form with id formID (its hidden fields, csrf_token
// among them, kept) and posts it.
func (b *browser) submit(ctx context.Context, p *page, formID string, fields map[string]string) (*page, error) {
	start := formRE(formID).FindStringIndex(p.body)
	if start == nil {
		return nil, fmt.Errorf("no form#%s at %s (status %d)%s", formID, p.url.Path, p.status, alertOf(p))
	}
	end := strings.Index(p.body[start[1]:], "</form>")
	if end < 0 {
		return nil, fmt.Errorf("form#%s at %s is not closed", formID, p.url.Path)
	}
	action := p.url.String()
	if m := actionRE.FindStringSubmatch(p.body[start[0]:start[1]]); m != nil {
		action = html.UnescapeString(m[1])
	}
	values := url.Values{}
	for _, in := range inputRE.FindAllString(p.body[start[1]:start[1]+end], -1) {
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(in, -1) {
			attrs[a[1]] = html.UnescapeString(a[2])
		}
		if attrs["name"] != "" && attrs["type"] != "submit" {
			values.Set(attrs["name"], attrs["value"])
		}
	}
	for k, v := range fields {
		values.Set(k, v)
	}
	target, err := p.url.Parse(action)
	if err != nil {
		return nil, err
	}
	if !sameOrigin(target, b.issuer) {
		return nil, fmt.Errorf("form#%s posts off the issuer (%s)", formID, target.Host)
	}
	return b.post(ctx, target.String(), values)
}

// formREs caches a compiled pattern per form id: a sign-in submits two or
// three forms, and the benchmark shares the machine's cores with the server.
var formREs sync.Map

func formRE(id string) *regexp.Regexp {
	if re, ok := formREs.Load(id); ok {
		return re.(*regexp.Regexp)
	}
	re, _ := formREs.LoadOrStore(id, regexp.MustCompile(`<form\b[^>]*\bid="`+regexp.QuoteMeta(id)+`"[^>]*>`))
	return re.(*regexp.Regexp)
}

var alertRE = regexp.MustCompile(`(?s)role="alert"[^>]*>(.*?)<`)

// alertOf is the page's error message, for error reports.
func alertOf(p *page) string {
	if m := alertRE.FindStringSubmatch(p.body); m != nil {
		return ": " + strings.TrimSpace(html.UnescapeString(m[1]))
	}
	return ""
}

// codeFrom checks that p is the redirect to redirectURI carrying a code,
// the state sent and the issuer (RFC 9207), and returns the code.
func codeFrom(p *page, redirectURI, state, issuer string) (string, error) {
	if p.redirect == nil {
		return "", fmt.Errorf("no redirect to the client: status %d at %s%s", p.status, p.url.Path, alertOf(p))
	}
	want, _ := url.Parse(redirectURI)
	if !sameOrigin(p.redirect, want) || p.redirect.Path != want.Path {
		return "", fmt.Errorf("redirected to %s, not to the client", p.redirect.Redacted())
	}
	q := p.redirect.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("the client got error=%s: %s", e, q.Get("error_description"))
	}
	switch {
	case q.Get("code") == "":
		return "", errors.New("redirect without a code")
	case q.Get("state") != state:
		return "", errors.New("redirect with the wrong state")
	case q.Get("iss") != issuer:
		return "", fmt.Errorf("redirect with iss %q, want %q", q.Get("iss"), issuer)
	}
	return q.Get("code"), nil
}
