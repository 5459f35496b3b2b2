// Package notify owns Twofold's outbound channels and what they say: mail
// over SMTP (SMTPMailer), an SMS gateway reached by a signed webhook
// (Webhook), a console stand-in for either when none is configured
// (ConsoleMailer, ConsoleSMS), and the message templates, one Kind per
// message, all rendered from one Data struct (RenderMail, RenderSMS).
//
// It imports no project package (ARCHITECTURE.md): who may be sent what, and
// how often, is decided above it, in idp/channels.
package notify
