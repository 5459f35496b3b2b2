// Package admin is the admin console at /admin: server-rendered pages in the
// hosted-page design (ui.Kit) over the same domain operations as the admin
// API. The console is a built-in client of Twofold (account.Console): it
// signs in through the normal flow under its own policy, binds itself to the
// SSO session with a host-only SameSite=Strict cookie, and every change
// re-checks that the administrator proved a second factor in the last 15
// minutes, stepping up when it has gone stale.
package admin
