package channels

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/throttle"
)

// Limits on sending, against mail bombing and SMS pumping (OWASP ASVS 5.0
// asks for both; NIST SP 800-63B §5.2.2 for rate limits on authenticators).
// Each is a decaying counter per key in the
// database: a burst, then one more send per period. A send counts before it
// is attempted and stays counted even if it fails (it may have been
// delivered, and a gateway bills it either way).
//
// Messages a person asks for (codes, verification and reset links):
//   - per recipient and channel: 5, then one more every 2 minutes;
//   - per client address (an IPv6 /64) and channel: by mail 20, then one
//     more every 3 minutes; by SMS, which costs money, 10, then one more
//     every 6 minutes.
//
// Security notifications (notify.Kind.IsNotice), which nobody asks for and
// no browser sends from one address: per recipient and channel, 10, then one
// more every 6 minutes, counted apart from the requested messages so that
// asking for codes never silences a warning. A notification a limit refuses
// is dropped: the caller logs it and goes on, the event itself stands.
var (
	RequestedPerRecipient = throttle.Rule{Burst: 5, Every: 2 * time.Minute}
	MailPerAddress        = throttle.Rule{Burst: 20, Every: 3 * time.Minute}
	SMSPerAddress         = throttle.Rule{Burst: 10, Every: 6 * time.Minute}
	NoticesPerRecipient   = throttle.Rule{Burst: 10, Every: 6 * time.Minute}
)

// ErrSendFailed: the message could not be handed to the mail server or the
// SMS gateway. Pages show its text (safe, and true whatever the cause) and
// let the person try again; the cause is in the wrapped error, for the log.
var ErrSendFailed = errors.New("we could not send the message; please try again in a few minutes")

// ErrSMSOff: no SMS gateway is configured (sms_webhook), so no text message
// can be sent. Features offering SMS check SMSEnabled first.
var ErrSMSOff = errors.New("channels: SMS is not configured")

// Message is one message to send.
type Message struct {
	Kind notify.Kind
	// To is an email address (SendEmail) or a phone number (SendSMS, any
	// form notify.ParsePhoneNumber accepts).
	To string
	// Data fills the kind's template; Site is set by the service.
	Data notify.Data
	// ClientIP is the address of the browser whose request caused the
	// message (idp.Browser.IP), counted by the per-address limit. Required
	// for messages a person asks for; ignored for security notifications.
	ClientIP string
}

// Service sends messages within the limits. It is safe for concurrent use.
type Service struct {
	site    string
	mailer  notify.Mailer
	sms     notify.SMSSender
	limiter *throttle.Limiter
	log     *slog.Logger
}

// New wires a Service for the issuer (its host names the site in every
// message). sms may be nil: SMS is then off (ErrSMSOff).
func New(issuer string, mailer notify.Mailer, sms notify.SMSSender, limiter *throttle.Limiter, logger *slog.Logger) *Service {
	site := issuer
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		site = u.Hostname()
	}
	return &Service{site: site, mailer: mailer, sms: sms, limiter: limiter, log: logger}
}

// SMSEnabled reports whether text messages can be sent.
func (s *Service) SMSEnabled() bool { return s.sms != nil }

// SendEmail renders m by mail and sends it to m.To, within the limits.
//
// Errors: an *idp.InputError (field "email") when To is not an address; an
// *idp.ThrottledError (with RetryAfter) when a limit refuses — nothing was
// sent; ErrSendFailed (wrapping the cause) when the mail server did not
// take it. Any other error is a programming mistake (a kind without a mail
// template, Data missing what the kind needs) and nothing was counted.
func (s *Service) SendEmail(ctx context.Context, m Message) error {
	addr, err := mail.ParseAddress(m.To)
	if err != nil || addr.Name != "" || strings.ContainsAny(m.To, "<>,\r\n") {
		return idp.InputErrorf("email", "is not an email address")
	}
	to := addr.Address
	m.Data.Site = s.site
	rendered, err := notify.RenderMail(m.Kind, to, m.Data)
	if err != nil {
		return err
	}
	limits, err := s.limits(m, "mail", strings.ToLower(to), MailPerAddress)
	if err != nil {
		return err
	}
	if _, err := s.limiter.Begin(ctx, limits...); err != nil {
		return err
	}
	if err := s.mailer.SendMail(ctx, rendered); err != nil {
		s.log.ErrorContext(ctx, "send mail", "kind", m.Kind, "err", err)
		return fmt.Errorf("%w: %w", ErrSendFailed, err)
	}
	s.log.InfoContext(ctx, "mail sent", "kind", m.Kind)
	return nil
}

// SendSMS renders m as a text message and sends it to m.To, within the
// limits. Errors as SendEmail's (the InputError's field is "phone"), and
// ErrSMSOff when no gateway is configured.
func (s *Service) SendSMS(ctx context.Context, m Message) error {
	if s.sms == nil {
		return ErrSMSOff
	}
	to, err := notify.ParsePhoneNumber(m.To)
	if err != nil {
		return idp.InputErrorf("phone", "is not a phone number with its country code, like +1 555 123 4567")
	}
	m.Data.Site = s.site
	rendered, err := notify.RenderSMS(m.Kind, to, m.Data)
	if err != nil {
		return err
	}
	limits, err := s.limits(m, "sms", to, SMSPerAddress)
	if err != nil {
		return err
	}
	if _, err := s.limiter.Begin(ctx, limits...); err != nil {
		return err
	}
	if err := s.sms.SendSMS(ctx, rendered); err != nil {
		s.log.ErrorContext(ctx, "send sms", "kind", m.Kind, "err", err)
		return fmt.Errorf("%w: %w", ErrSendFailed, err)
	}
	s.log.InfoContext(ctx, "sms sent", "kind", m.Kind)
	return nil
}

// limits are the throttle keys a send of m to the normalised recipient to
// counts under.
func (s *Service) limits(m Message, channel, to string, perAddress throttle.Rule) ([]throttle.Limit, error) {
	if m.Kind.IsNotice() {
		return []throttle.Limit{{Key: "notify:" + channel + ":notice:" + to, Rule: NoticesPerRecipient}}, nil
	}
	if m.ClientIP == "" {
		return nil, fmt.Errorf("channels: a %s message needs the client's address (Message.ClientIP)", m.Kind)
	}
	return []throttle.Limit{
		{Key: "notify:" + channel + ":to:" + to, Rule: RequestedPerRecipient},
		{Key: "notify:" + channel + ":ip:" + addressKey(m.ClientIP), Rule: perAddress},
	}, nil
}

// addressKey counts an IPv6 client by its /64, which one host usually has
// to itself, as the other per-address limits do.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
