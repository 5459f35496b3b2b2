package totp

import (
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
)

// Key describes one enrollment: the shared secret, the issuer shown by the
// authenticator app ("Twofold" or the issuer host) and the account label
// (the username).
//
// Key's String, GoString and LogValue leave the secret out, so a Key that
// reaches a log or an error message does not leak it.
type Key struct {
	Secret  []byte
	Issuer  string
	Account string
}

// b32 is the secret encoding of the Key Uri Format: RFC 4648 base32, upper
// case, padding omitted.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// URI returns the otpauth URI of k in the Key Uri Format
// (https://github.com/google/google-authenticator/wiki/Key-Uri-Format):
//
//	otpauth://totp/Issuer:Account?secret=…&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//
// Label and values are percent-encoded, with %20 for a space (some apps show
// a literal "+"). The format forbids a colon inside the issuer or account
// because the label splits at the first colon; an issuer that contains one
// (a development host such as "localhost:8080") is therefore left out of
// the label and carried by the issuer parameter alone, which the format
// prefers anyway. URI does not validate k: ParseURI(k.URI()) does.
func (k Key) URI() string {
	label := escape(k.Account)
	if !strings.Contains(k.Issuer, ":") {
		label = escape(k.Issuer) + ":" + label
	}
	// Parameters in a fixed order: the same key always renders the same URI
	// (and the same QR code).
	return "otpauth://totp/" + label +
		"?secret=" + b32.EncodeToString(k.Secret) +
		"&issuer=" + escape(k.Issuer) +
		"&algorithm=SHA1" +
		"&digits=" + strconv.Itoa(Digits) +
		"&period=" + strconv.FormatInt(periodSeconds, 10)
}

// escape percent-encodes everything but RFC 3986 unreserved characters and
// "@" (which the Key Uri Format's examples keep, in "alice@google.com").
// Stricter than url.PathEscape, which keeps "+" and ":" that some apps
// decode differently in a label.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '@':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// maxURILength bounds what ParseURI reads: ours are about 150 bytes.
const maxURILength = 2048

// minSecretBytes is RFC 4226 §4 R6's minimum shared secret: 128 bits.
const minSecretBytes = 16

// ParseURI parses an otpauth URI into a Key. It is strict about everything
// Verify assumes: type totp, algorithm SHA1, 6 digits, period 30 (each may be
// omitted, their Key Uri Format defaults being exactly these), a base32
// secret of at least 128 bits (RFC 4226 §4 R6), a non-empty account and an
// issuer (from the issuer parameter or the label prefix; when both are
// present they must be equal). Parameters may not repeat; unknown ones are
// ignored, as apps do. Errors say what is wrong and never quote the secret.
//
// pquerna/otp's NewKeyFromURL does not fit here: its error quotes the whole
// URI, secret included; it trims surrounding white space; its Key hides the
// parsed URL and its accessors drop malformed query pairs, read an unknown
// algorithm as SHA1 and digits "06" as 6, so each check above would still
// need a parse of its own.
func ParseURI(s string) (Key, error) {
	if len(s) > maxURILength {
		return Key{}, fmt.Errorf("totp: otpauth URI longer than %d bytes", maxURILength)
	}
	u, err := url.Parse(s)
	if err != nil {
		// url's errors quote the input, secret included: keep only the kind.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Key{}, fmt.Errorf("totp: otpauth URI does not parse: %v", err)
	}
	if !strings.EqualFold(u.Scheme, "otpauth") {
		return Key{}, fmt.Errorf("totp: scheme %q, want otpauth", u.Scheme)
	}
	if u.Opaque != "" || u.User != nil {
		return Key{}, errors.New("totp: otpauth URI must be otpauth://totp/label?…")
	}
	if !strings.EqualFold(u.Host, "totp") {
		return Key{}, fmt.Errorf("totp: type %q, want totp", u.Host)
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Key{}, errors.New("totp: otpauth URI query is not valid percent-encoding")
	}
	for name, vs := range q {
		if len(vs) > 1 {
			return Key{}, fmt.Errorf("totp: parameter %q repeated", name)
		}
	}

	var k Key
	label := strings.TrimPrefix(u.Path, "/")
	if prefix, account, ok := strings.Cut(label, ":"); ok {
		k.Issuer, k.Account = prefix, account
	} else {
		k.Account = label
	}
	// The format allows optional spaces before the account name.
	k.Account = strings.TrimLeft(k.Account, " ")
	if k.Account == "" {
		return Key{}, errors.New("totp: label has no account name")
	}
	if issuer, ok := q["issuer"]; ok {
		if k.Issuer != "" && k.Issuer != issuer[0] {
			return Key{}, fmt.Errorf("totp: label issuer %q differs from issuer parameter %q", k.Issuer, issuer[0])
		}
		k.Issuer = issuer[0]
	}
	if k.Issuer == "" {
		return Key{}, errors.New("totp: no issuer")
	}

	secret, ok := q["secret"]
	if !ok || secret[0] == "" {
		return Key{}, errors.New("totp: no secret")
	}
	// Apps emit lower case and, rarely, padding; both decode the same bytes.
	k.Secret, err = b32.DecodeString(strings.ToUpper(strings.TrimRight(secret[0], "=")))
	if err != nil {
		return Key{}, errors.New("totp: secret is not base32")
	}
	if len(k.Secret) < minSecretBytes {
		return Key{}, fmt.Errorf("totp: secret of %d bits, want at least %d", 8*len(k.Secret), 8*minSecretBytes)
	}

	if a, ok := q["algorithm"]; ok && !strings.EqualFold(a[0], "SHA1") {
		return Key{}, fmt.Errorf("totp: algorithm %q, want SHA1", a[0])
	}
	if d, ok := q["digits"]; ok && d[0] != strconv.Itoa(Digits) {
		return Key{}, fmt.Errorf("totp: digits %q, want %d", d[0], Digits)
	}
	if p, ok := q["period"]; ok && p[0] != strconv.FormatInt(periodSeconds, 10) {
		return Key{}, fmt.Errorf("totp: period %q, want %d", p[0], periodSeconds)
	}
	return k, nil
}

// String describes k without its secret.
func (k Key) String() string {
	return fmt.Sprintf("totp.Key{Issuer: %q, Account: %q, Secret: [%d bytes]}", k.Issuer, k.Account, len(k.Secret))
}

// GoString is String, so %#v does not print the secret either.
func (k Key) GoString() string { return k.String() }

// LogValue keeps the secret out of structured logs (log/slog).
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("issuer", k.Issuer),
		slog.String("account", k.Account),
		slog.Int("secret_bytes", len(k.Secret)),
	)
}
