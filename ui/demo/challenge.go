package demo

import (
	"net/http"
	"strings"
)

// challenge is one authentication challenge of a WWW-Authenticate header (RFC 9110 §11.6.1, §11.2).
type challenge struct {
	Scheme  string            // as sent; schemes are case-insensitive
	Token68 string            // the token68 form, if the challenge uses it
	Params  map[string]string // auth-params by lower-cased name (names are case-insensitive); the first wins
}

// stepUp is what a resource server asks for in an RFC 9470 challenge.
type stepUp struct {
	Error       string // e.g. insufficient_user_authentication
	Description string
	ACRValues   string // space-separated, in order of preference
	MaxAge      *int   // seconds, when the challenge had a valid max_age
}

// bearerChallenge finds the first Bearer challenge among the WWW-Authenticate fields of a response and reads its
// RFC 6750 / RFC 9470 parameters.
func bearerChallenge(h http.Header) (stepUp, bool) {
	for _, field := range h.Values("WWW-Authenticate") {
		for _, c := range parseChallenges(field) {
			if !strings.EqualFold(c.Scheme, "Bearer") {
				continue
			}
			su := stepUp{Error: c.Params["error"], Description: c.Params["error_description"],
				ACRValues: c.Params["acr_values"]}
			if v, ok := c.Params["max_age"]; ok {
				if n, err := parseMaxAge(v); err == nil {
					su.MaxAge = &n
				}
			}
			return su, true
		}
	}
	return stepUp{}, false
}

// parseChallenges parses one WWW-Authenticate field value: a comma-separated list of challenges, each a scheme
// followed by a token68 or by comma-separated auth-params (name=token or name="quoted string"). The grammar
// makes a comma ambiguous (the next parameter, or the next challenge); a comma followed by `token =` continues the
// parameters. Parsing stops at the first malformed part and returns the challenges read until then.
func parseChallenges(s string) []challenge {
	p := &challengeParser{s: s}
	var out []challenge
	for {
		p.skipListSeparators()
		if p.done() {
			return out
		}
		scheme := p.token()
		if scheme == "" {
			return out
		}
		c := challenge{Scheme: scheme, Params: map[string]string{}}
		if p.spaces() {
			if t, ok := p.token68(); ok {
				c.Token68 = t
			} else {
				p.params(&c)
			}
		}
		out = append(out, c)
		p.ows()
		if !p.done() && p.peek() != ',' {
			return out
		}
	}
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) done() bool { return p.i >= len(p.s) }

func (p *challengeParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

// ows skips optional whitespace (RFC 9110 §5.6.3).
func (p *challengeParser) ows() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// spaces skips 1*SP and reports whether there was any.
func (p *challengeParser) spaces() bool {
	start := p.i
	for !p.done() && p.s[p.i] == ' ' {
		p.i++
	}
	return p.i > start
}

// skipListSeparators skips whitespace and empty list elements (RFC 9110 §5.6.1).
func (p *challengeParser) skipListSeparators() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

func (p *challengeParser) token() string {
	start := p.i
	for !p.done() && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// token68 reads 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" when it stands alone, i.e. is followed
// by the end or a comma; otherwise it reads nothing.
func (p *challengeParser) token68() (string, bool) {
	start := p.i
	for !p.done() && isToken68Char(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return "", false
	}
	for !p.done() && p.s[p.i] == '=' {
		p.i++
	}
	end := p.i
	p.ows()
	if p.done() || p.peek() == ',' {
		p.i = end
		return p.s[start:end], true
	}
	p.i = start
	return "", false
}

// params reads auth-params into c until the list ends or a comma starts the next challenge.
func (p *challengeParser) params(c *challenge) {
	for {
		save := p.i
		name, value, ok := p.param()
		if !ok {
			p.i = save
			return
		}
		name = strings.ToLower(name)
		if _, dup := c.Params[name]; !dup {
			c.Params[name] = value
		}
		save = p.i
		p.ows()
		if p.peek() != ',' {
			p.i = save
			return
		}
		p.skipListSeparators()
		if !p.paramAhead() {
			p.i = save // the comma belongs to the challenge list
			return
		}
	}
}

// param reads name BWS "=" BWS ( token / quoted-string ).
func (p *challengeParser) param() (name, value string, ok bool) {
	name = p.token()
	if name == "" {
		return "", "", false
	}
	p.ows()
	if p.peek() != '=' {
		return "", "", false
	}
	p.i++
	p.ows()
	if p.peek() == '"' {
		value, ok = p.quotedString()
		return name, value, ok
	}
	value = p.token()
	return name, value, value != ""
}

// paramAhead reports whether `token BWS =` follows, without consuming it.
func (p *challengeParser) paramAhead() bool {
	save := p.i
	defer func() { p.i = save }()
	if p.token() == "" {
		return false
	}
	p.ows()
	return p.peek() == '='
}

// quotedString reads a quoted-string and returns its value with quoted-pairs resolved (RFC 9110 §5.6.4).
func (p *challengeParser) quotedString() (string, bool) {
	p.i++ // the opening quote
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), true
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", false
			}
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		case c < ' ' && c != '\t', c == 0x7f:
			return "", false
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", false // unterminated
}

// isTchar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}
