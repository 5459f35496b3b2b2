// Package notices tells people out of band what happened to their account
// (issue 11, SECURITY-RULES "…and the user is told out of band when a
// channel exists"): a security notification by mail to the verified
// address after each sensitive change — a factor added or removed, a backup
// code used, new backup codes, the password or the email address changed,
// second factors reset by an administrator, a sign-in from a new device.
// Each carries a "this wasn't me" link; following it (Report) ends every
// session of the user, revokes their tokens and blocks changes to their
// sign-in methods until a sign-in proves every kind of factor they have.
//
// A notification is sent after the change it tells of has been made, and a
// failure to send it is logged and audited, never undoing the change. An
// account without a verified address gets none: that is audited too.
package notices
