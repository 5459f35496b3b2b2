package login

import (
	"context"
	"errors"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// Login throttling: an account (by name, so unknown names behave like
// known ones) locks after 5 consecutive failures, an address after 20; the
// lock doubles with every further failure, capped at 15 minutes, so a
// stranger can slow an account down but never lock it out for good.
const (
	accountFailureThreshold = 5
	ipFailureThreshold      = 20
)

// SubmitPassword checks a password for the login of request id.
func (f *Flow) SubmitPassword(ctx context.Context, id string, b idp.Browser, username, password string) (idp.Step, error) {
	ar, err := f.loadAuthRequest(ctx, id, b)
	if err != nil {
		return idp.Step{}, err
	}
	nameKey, ipKey := "login:name:"+storage.NormalizeUsername(username), "login:ip:"+b.IP
	anonymous := idp.Actor{ID: "anonymous"}
	if wait, err := f.throttle.Wait(ctx, nameKey, ipKey); err != nil {
		return idp.Step{}, err
	} else if wait > 0 {
		f.audit.Record(ctx, anonymous, "login.throttled", "", map[string]any{"ip": b.IP})
		return idp.Step{}, &idp.ThrottledError{RetryAfter: wait}
	}
	user, err := f.users.Authenticate(ctx, username, password)
	if errors.Is(err, idp.ErrInvalidCredentials) {
		f.throttle.Fail(ctx, nameKey, accountFailureThreshold)
		f.throttle.Fail(ctx, ipKey, ipFailureThreshold)
		f.audit.Record(ctx, anonymous, "login.failed", "", map[string]any{"ip": b.IP, "client_id": ar.ClientID})
		return idp.Step{}, idp.ErrInvalidCredentials
	}
	if err != nil {
		return idp.Step{}, err
	}
	f.throttle.Reset(ctx, nameKey)
	cookie, err := f.sessions.Start(ctx, user.ID, ar.ID, b, storage.SessionFactor{Method: "pwd", At: f.now(), AMR: []string{"pwd"}})
	if err != nil {
		return idp.Step{}, err
	}
	f.audit.Record(ctx, idp.UserActor(user.ID), "login.password", user.ID, map[string]any{"ip": b.IP, "client_id": ar.ClientID})
	b.SessionCookie = cookie.Value
	step, err := f.next(ctx, ar, b, true)
	step.Session = cookie
	return step, err
}
