// Package mailtest is test support for the outbound channels (idp/notify):
// Mailbox, a real SMTP server in process (emersion/go-smtp) that demands
// STARTTLS with a certificate made at test time and authentication, and
// SMSReceiver, an HTTP receiver of the SMS webhook that verifies each call's
// signature. Tests wait for a message to an address and read its subject,
// bodies, links and codes. Package apptest re-exports both for whole-app
// tests; this package stays small so that idp packages can use it without
// building the app. Test support only: nothing but tests imports it.
package mailtest
