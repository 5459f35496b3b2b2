// Package channels sends a kind of message (idp/notify) to a person by mail
// or SMS, within limits: per recipient and per client address, counted in the
// database by idp/throttle so that every replica agrees, against mail
// bombing and SMS pumping. It turns channel failures into one error the
// pages can show (ErrSendFailed) and keeps the cause for the log.
//
// It is apart from idp/notify because notify may import no project package
// (ARCHITECTURE.md: the channels and templates are a leaf), while limits
// need idp/throttle, storage and the idp vocabulary (ThrottledError,
// InputError).
//
// The features that send call Service, e.g. a sign-in code:
//
//	err := svc.SendEmail(ctx, channels.Message{
//		Kind: notify.SignInCode, To: user.Email, ClientIP: browser.IP,
//		Data: notify.Data{Username: user.Username, Code: code, ExpiresIn: 10 * time.Minute},
//	})
//	var throttled *idp.ThrottledError
//	switch {
//	case errors.As(err, &throttled): // 429, Retry-After: throttled.RetryAfter
//	case errors.Is(err, channels.ErrSendFailed): // show ErrSendFailed's text; the form stays usable
//	case err != nil: // a bad address (*idp.InputError) or a programming mistake
//	}
//
// and a security notification, which needs no client address and whose
// errors are logged, never shown (the event has happened either way):
//
//	svc.SendEmail(ctx, channels.Message{Kind: notify.FactorAdded, To: user.Email,
//		Data: notify.Data{Factor: "Authenticator app", When: now, IP: browser.IP, ReportLink: link}})
//
// Links are absolute URLs the caller builds from the issuer; Data.Site is
// filled here.
package channels
