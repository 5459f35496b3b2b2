package main

import (
	"context"

	"github.com/twofold-idp/twofold/idp/channels"
	"github.com/twofold-idp/twofold/idp/notices"
	"github.com/twofold-idp/twofold/idp/notify"
	"github.com/twofold-idp/twofold/idp/session"
	"github.com/twofold-idp/twofold/idp/throttle"
)

// notifyMFAReset tells the user called username, by mail to their verified
// address, that an administrator removed their second factors, through the
// channels the configuration names (smtp; none: the mail is printed to
// stderr), as the server would. It reports whether the mail went out; a
// failure is logged and audited, never undoing the reset.
func (a *app) notifyMFAReset(ctx context.Context, e env, username string) bool {
	mailer, sms, err := outboundChannels(a.cfg, e.stderr, false, a.log)
	if err != nil {
		a.log.Warn("no channel to tell the user", "err", err)
		return false
	}
	u, err := a.store.GetUserByUsername(ctx, username)
	if err != nil {
		a.log.Warn("no user to tell", "err", err)
		return false
	}
	ch := channels.New(a.cfg.Issuer, mailer, sms, throttle.New(a.store, a.log, nil), a.log)
	sessions := session.New(a.store, session.Config{}, a.log, nil)
	n := notices.New(a.cfg.Issuer, a.store, ch, sessions, a.keys.SubKey(notices.KeyPurpose), a.log, nil)
	return n.Notify(ctx, u, notices.Notice{Kind: notify.MFAReset})
}
