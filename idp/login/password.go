package login

import (
	"context"
	"errors"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/throttle"
	"github.com/twofold-idp/twofold/storage"
)

// Sign-in throttling (NIST SP 800-63B §5.2.2). Every attempt is counted
// before the password is checked, and counters decay, so a stranger can
// slow an account down but never lock it out for good:
//   - per account name and address: 5, then one more every 15 minutes
//     (a success forgets them and makes the address known);
//   - per account name from anywhere: 100, then one more an hour, against
//     guessing from many addresses;
//   - per address for any name: 20, then one more every 5 minutes, against
//     trying one password on many accounts.
//
// From an address the account signed in from in the last 90 days, and
// from a browser the user chose to remember (a valid remembered-device
// cookie of that account), only the first applies: whoever trips the other
// two from elsewhere cannot lock the account's owner out. Names, not user
// ids, so that unknown names behave like known ones.
var (
	pairRule    = throttle.Rule{Burst: 5, Every: 15 * time.Minute, ForgetOnSuccess: true}
	accountRule = throttle.Rule{Burst: 100, Every: time.Hour}
	addressRule = throttle.Rule{Burst: 20, Every: 5 * time.Minute}
)

// passwordLimits are the limits an attempt at name's password from
// browser b counts under.
func (f *Flow) passwordLimits(ctx context.Context, name string, b idp.Browser) ([]throttle.Limit, error) {
	// An address never holds a space: the pair key splits at the first.
	pair := throttle.Limit{Key: "login:ip-name:" + b.IP + " " + name, Rule: pairRule}
	known, err := f.throttle.Known(ctx, pair.Key)
	if err == nil && !known {
		known, err = f.rememberedBrowser(ctx, name, b)
	}
	if err != nil || known {
		return []throttle.Limit{pair}, err
	}
	return []throttle.Limit{
		pair,
		{Key: AccountThrottleKey(name), Rule: accountRule},
		{Key: "login:ip:" + b.IP, Rule: addressRule},
	}, nil
}

// AccountThrottleKey is the key under which password attempts at the
// account called name (normalised) are counted from unknown browsers.
func AccountThrottleKey(name string) string { return "login:name:" + name }

// rememberedBrowser reports whether b carries a live remembered-device
// cookie of the account called name.
func (f *Flow) rememberedBrowser(ctx context.Context, name string, b idp.Browser) (bool, error) {
	if b.DeviceCookie == "" {
		return false, nil
	}
	// The same two queries for an unknown name (matching no device), so
	// that timing does not tell which names exist.
	userID := ""
	user, err := f.store.GetUserByUsername(ctx, name)
	switch {
	case err == nil:
		userID = user.ID
	case !errors.Is(err, storage.ErrNotFound):
		return false, err
	}
	_, err = f.store.UseRememberedDevice(ctx, userID, idp.HashSecret(b.DeviceCookie))
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// SubmitPassword checks a password for the login of request id.
func (f *Flow) SubmitPassword(ctx context.Context, id string, b idp.Browser, username, password string) (idp.Step, error) {
	ar, err := f.loadAuthRequest(ctx, id, b)
	if err != nil {
		return idp.Step{}, err
	}
	anonymous := idp.Actor{ID: "anonymous"}
	limits, err := f.passwordLimits(ctx, storage.NormalizeUsername(username), b)
	if err != nil {
		return idp.Step{}, err
	}
	attempt, err := f.throttle.Begin(ctx, limits...)
	var throttled *idp.ThrottledError
	if errors.As(err, &throttled) {
		f.audit.Record(ctx, anonymous, "login.throttled", "", map[string]any{"ip": b.IP})
	}
	if err != nil {
		return idp.Step{}, err
	}
	user, err := f.users.Authenticate(ctx, username, password)
	if errors.Is(err, idp.ErrInvalidCredentials) {
		f.audit.Record(ctx, anonymous, "login.failed", "", map[string]any{"ip": b.IP, "client_id": ar.ClientID})
		return idp.Step{}, idp.ErrInvalidCredentials // the attempt stays counted
	}
	if err != nil {
		attempt.Release(ctx)
		return idp.Step{}, err
	}
	attempt.Succeeded(ctx)
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
