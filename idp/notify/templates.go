package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"regexp"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind names one message. Each kind has a mail template, an SMS template or
// both (HasMail, HasSMS), and requires some fields of Data.
type Kind string

// The kinds of message. Security notifications (IsNotice) tell a person that
// something happened to their account and carry a "This wasn't me" link;
// the others carry a code or link the person asked for.
const (
	// EmailVerification proves an address: Code and Link (either works), ExpiresIn. Mail only.
	EmailVerification Kind = "email_verification"
	// SignInCode is a one-time sign-in code (the email and SMS second factors): Code, ExpiresIn.
	SignInCode Kind = "sign_in_code"
	// PhoneVerification proves a phone number before it becomes a factor: Code, ExpiresIn. SMS only.
	PhoneVerification Kind = "phone_verification"
	// PasswordReset links to choosing a new password: Link, ExpiresIn. Mail only.
	PasswordReset Kind = "password_reset"
	// FactorAdded: Factor, When, ReportLink.
	FactorAdded Kind = "factor_added"
	// FactorRemoved: Factor, When, ReportLink.
	FactorRemoved Kind = "factor_removed"
	// BackupCodeUsed: Remaining (0 is shown as none left), When, ReportLink.
	BackupCodeUsed Kind = "backup_code_used"
	// PasswordChanged: When, ReportLink.
	PasswordChanged Kind = "password_changed"
	// MFAReset: an administrator removed the account's second factors. When, ReportLink.
	MFAReset Kind = "mfa_reset"
	// NewDeviceSignIn: Device (e.g. "Firefox on Linux"; optional), IP (optional), When, ReportLink.
	NewDeviceSignIn Kind = "new_device_sign_in"
	// RecoveryStarted: lost-factor recovery will complete at CompletesAt unless cancelled at CancelLink.
	RecoveryStarted Kind = "recovery_started"
	// RecoveryCompleted: the old factors were removed. When, ReportLink.
	RecoveryCompleted Kind = "recovery_completed"
	// EmailChanged, to the old address: the account's address was changed.
	// When, IP (optional), ReportLink.
	EmailChanged Kind = "email_changed"
	// BackupCodesRegenerated: a new set of backup codes replaced the old
	// one. When, IP (optional), ReportLink.
	BackupCodesRegenerated Kind = "backup_codes_regenerated"
)

// field names a Data field a kind requires.
type field int

const (
	needCode field = iota
	needLink
	needExpiresIn
	needReportLink
	needCancelLink
	needWhen
	needCompletesAt
	needFactor
)

type kindSpec struct {
	mail, sms bool
	notice    bool
	needs     []field
}

var kinds = map[Kind]kindSpec{
	EmailVerification: {mail: true, needs: []field{needCode, needLink, needExpiresIn}},
	SignInCode:        {mail: true, sms: true, needs: []field{needCode, needExpiresIn}},
	PhoneVerification: {sms: true, needs: []field{needCode, needExpiresIn}},
	PasswordReset:     {mail: true, needs: []field{needLink, needExpiresIn}},
	FactorAdded:       {mail: true, sms: true, notice: true, needs: []field{needFactor, needWhen, needReportLink}},
	FactorRemoved:     {mail: true, sms: true, notice: true, needs: []field{needFactor, needWhen, needReportLink}},
	BackupCodeUsed:    {mail: true, sms: true, notice: true, needs: []field{needWhen, needReportLink}},
	PasswordChanged:   {mail: true, sms: true, notice: true, needs: []field{needWhen, needReportLink}},
	MFAReset:          {mail: true, sms: true, notice: true, needs: []field{needWhen, needReportLink}},
	NewDeviceSignIn:   {mail: true, sms: true, notice: true, needs: []field{needWhen, needReportLink}},
	RecoveryStarted:   {mail: true, sms: true, notice: true, needs: []field{needCompletesAt, needCancelLink}},
	RecoveryCompleted: {mail: true, sms: true, notice: true, needs: []field{needWhen, needReportLink}},
	// Issue 11's security notifications beyond the first set.
	EmailChanged:           {mail: true, sms: true, notice: true, needs: []field{needWhen, needReportLink}},
	BackupCodesRegenerated: {mail: true, sms: true, notice: true, needs: []field{needWhen, needReportLink}},
}

// Kinds lists every kind, sorted.
func Kinds() []Kind {
	out := make([]Kind, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// HasMail reports whether k can be sent by mail.
func (k Kind) HasMail() bool { return kinds[k].mail }

// HasSMS reports whether k can be sent by SMS.
func (k Kind) HasSMS() bool { return kinds[k].sms }

// IsNotice reports whether k is a security notification: something happened
// to the account, as opposed to a code or link the person asked for.
func (k Kind) IsNotice() bool { return kinds[k].notice }

// Data is everything a message may show; each kind uses the fields its
// constant documents and refuses to render without the ones it requires, so
// that a caller's mistake never sends an empty code. Strings are the
// caller's, shown as text: HTML escapes them, control characters become
// spaces, and the free-text ones (Username, Factor, Device) are cut at 100
// characters. Never put a secret here other than the message's own Code or
// Link.
type Data struct {
	// Site names the service in subjects and footers, and binds SMS codes to
	// their origin (WebOTP, "@id.example.com #123456"): the issuer's host
	// name. idp/channels sets it; empty: "Twofold".
	Site string
	// Username greets the person; optional.
	Username string
	// Code is the one-time code the person types (EmailVerification,
	// SignInCode, PhoneVerification): 4–12 letters, digits or dashes.
	Code string
	// Link is the absolute https (or http on localhost) URL of the action
	// the message is for: the verification link (EmailVerification), the
	// reset page (PasswordReset). Built by the caller, with its token.
	Link string
	// ExpiresIn is how long Code or Link stays valid.
	ExpiresIn time.Duration
	// ReportLink is the absolute URL behind "This wasn't me" in security
	// notifications: following it ends every session, revokes tokens and
	// blocks factor changes until the next full sign-in.
	ReportLink string
	// CancelLink is the absolute URL that stops a lost-factor recovery
	// (RecoveryStarted).
	CancelLink string
	// When is when the event happened; shown in UTC.
	When time.Time
	// CompletesAt is when a lost-factor recovery completes (RecoveryStarted).
	CompletesAt time.Time
	// Factor describes the factor added or removed, as the account page
	// names it ("Authenticator app", "Security key “YubiKey 5”").
	Factor string
	// Remaining is how many backup codes are left (BackupCodeUsed).
	Remaining int
	// Device describes the browser of a new sign-in ("Firefox on Linux"):
	// a description the caller derived, not a raw User-Agent.
	Device string
	// IP is the address the event came from; optional.
	IP string
}

const maxTextField = 100

var codeRE = regexp.MustCompile(`^[A-Za-z0-9-]{4,12}$`)

// check refuses Data that k cannot be rendered from, and returns it cleaned.
func (d Data) check(k Kind) (Data, error) {
	spec, ok := kinds[k]
	if !ok {
		return d, fmt.Errorf("notify: unknown message kind %q", k)
	}
	d.Site = cleanText(d.Site, maxTextField)
	if d.Site == "" {
		d.Site = "Twofold"
	}
	d.Username = cleanText(d.Username, maxTextField)
	d.Factor = cleanText(d.Factor, maxTextField)
	d.Device = cleanText(d.Device, maxTextField)
	d.IP = cleanText(d.IP, 45) // the longest IPv6 text form
	var errs []error
	missing := func(name string) { errs = append(errs, fmt.Errorf("notify: %s needs %s", k, name)) }
	for _, f := range spec.needs {
		switch f {
		case needCode:
			if d.Code == "" {
				missing("Code")
			}
		case needLink:
			if d.Link == "" {
				missing("Link")
			}
		case needExpiresIn:
			if d.ExpiresIn <= 0 {
				missing("ExpiresIn")
			}
		case needReportLink:
			if d.ReportLink == "" {
				missing("ReportLink")
			}
		case needCancelLink:
			if d.CancelLink == "" {
				missing("CancelLink")
			}
		case needWhen:
			if d.When.IsZero() {
				missing("When")
			}
		case needCompletesAt:
			if d.CompletesAt.IsZero() {
				missing("CompletesAt")
			}
		case needFactor:
			if d.Factor == "" {
				missing("Factor")
			}
		}
	}
	if d.Code != "" && !codeRE.MatchString(d.Code) {
		errs = append(errs, fmt.Errorf("notify: %s: Code must be 4-12 letters, digits or dashes", k))
	}
	for _, l := range [...]struct{ name, url string }{{"Link", d.Link}, {"ReportLink", d.ReportLink}, {"CancelLink", d.CancelLink}} {
		if l.url != "" {
			if err := checkLink(l.url); err != nil {
				errs = append(errs, fmt.Errorf("notify: %s: %s %w", k, l.name, err))
			}
		}
	}
	if d.Remaining < 0 {
		errs = append(errs, fmt.Errorf("notify: %s: Remaining is negative", k))
	}
	return d, errors.Join(errs...)
}

// checkLink accepts an absolute http(s) URL with a host and no user info:
// the only kind of link a message may carry.
func checkLink(s string) error {
	if len(s) > 2048 {
		return errors.New("is longer than 2048 characters")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return errors.New("must be an absolute http(s) URL")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return errors.New("must not contain spaces or control characters")
	}
	return nil
}

// cleanText makes s safe to show as one line of text: control characters
// (newlines, terminal escapes) become spaces, runs of space shrink to one,
// and it is cut at max runes.
func cleanText(s string, max int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError ||
			unicode.Is(unicode.Cf, r) // format characters: bidi overrides, zero-width joiners
	}), " ")
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}

//go:embed templates
var templateFS embed.FS

var funcs = map[string]any{
	"duration": durationWords,
	"date":     dateWords,
	"plural":   plural,
	"btn":      func(url, text string) button { return button{URL: url, Text: text} },
	"origin":   origin,
}

var hostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)

// origin is site when it is a host name, for the origin-bound code line of
// an SMS (WebOTP: "@id.example.com #123456" lets the browser offer the code
// on that site only); "" otherwise.
func origin(site string) string {
	if hostRE.MatchString(site) {
		return site
	}
	return ""
}

type button struct{ URL, Text string }

var (
	textTemplates = map[Kind]*texttemplate.Template{}
	htmlTemplates = map[Kind]*htmltemplate.Template{}
)

func init() {
	textBase := texttemplate.Must(texttemplate.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.txt"))
	htmlBase := htmltemplate.Must(htmltemplate.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	for k, spec := range kinds {
		textTemplates[k] = texttemplate.Must(texttemplate.Must(textBase.Clone()).ParseFS(templateFS, "templates/"+string(k)+".txt"))
		if spec.mail {
			htmlTemplates[k] = htmltemplate.Must(htmltemplate.Must(htmlBase.Clone()).ParseFS(templateFS, "templates/"+string(k)+".html"))
		}
		for block, want := range map[string]bool{"subject": spec.mail, "text": spec.mail, "sms": spec.sms} {
			if (textTemplates[k].Lookup(block) != nil) != want {
				panic(fmt.Sprintf("notify: template %s.txt: block %q defined: %v, want %v", k, block, !want, want))
			}
		}
	}
}

// mailView is what the mail templates see: the data and the subject.
type mailView struct {
	Data
	Subject string
}

// RenderMail renders the mail of kind k to the address to.
func RenderMail(k Kind, to string, d Data) (Mail, error) {
	if !k.HasMail() {
		return Mail{}, fmt.Errorf("notify: %q has no mail template", k)
	}
	d, err := d.check(k)
	if err != nil {
		return Mail{}, err
	}
	subject, err := execText(k, "subject", d)
	if err != nil {
		return Mail{}, err
	}
	subject = cleanText(subject, 200)
	text, err := execText(k, "text", mailView{Data: d, Subject: subject})
	if err != nil {
		return Mail{}, err
	}
	text += "\n"
	var html bytes.Buffer
	if err := htmlTemplates[k].ExecuteTemplate(&html, "layout", mailView{Data: d, Subject: subject}); err != nil {
		return Mail{}, fmt.Errorf("notify: render %s: %w", k, err)
	}
	return Mail{Kind: k, To: to, Subject: subject, Text: text, HTML: html.String()}, nil
}

// RenderSMS renders the text message of kind k to the number to.
func RenderSMS(k Kind, to string, d Data) (SMS, error) {
	if !k.HasSMS() {
		return SMS{}, fmt.Errorf("notify: %q has no SMS template", k)
	}
	d, err := d.check(k)
	if err != nil {
		return SMS{}, err
	}
	text, err := execText(k, "sms", d)
	if err != nil {
		return SMS{}, err
	}
	return SMS{Kind: k, To: to, Text: text}, nil
}

func execText(k Kind, block string, v any) (string, error) {
	var b bytes.Buffer
	if err := textTemplates[k].ExecuteTemplate(&b, block, v); err != nil {
		return "", fmt.Errorf("notify: render %s: %w", k, err)
	}
	return strings.TrimSpace(b.String()), nil
}

// durationWords says d as people do: "10 minutes", "1 hour", "24 hours".
func durationWords(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour", "hours")
	case d >= time.Minute:
		return plural(int((d+time.Minute-1)/time.Minute), "minute", "minutes")
	default:
		return plural(int((d+time.Second-1)/time.Second), "second", "seconds")
	}
}

// dateWords says t in UTC, unambiguously for every reader:
// "Tuesday, 5 May 2026 at 14:03 UTC".
func dateWords(t time.Time) string {
	return t.UTC().Format("Monday, 2 January 2006 at 15:04 UTC")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
