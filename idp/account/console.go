package account

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/storage"
)

// The admin console is a built-in client of Twofold, like the account
// pages: it signs in through the normal flow and obeys its own policy.
const (
	// ConsoleClientID is the console's client.
	ConsoleClientID = "twofold-admin"
	// ConsolePolicy names the console's own policy, created with the client
	// when it does not exist: an administrator may make it stricter (phr,
	// say), and the console never accepts less than ConsoleLevel proven
	// within ConsoleMaxAge for a change, whatever the policy says.
	ConsolePolicy = "twofold-admin"
	// ConsoleMaxAge is how long a second factor counts in the console.
	ConsoleMaxAge = 15 * time.Minute
	// ConsoleLevel is the weakest level the console accepts.
	ConsoleLevel = policy.LevelMFA
	// ConsoleCallbackPath is where the console's sign-in comes back to.
	ConsoleCallbackPath = "/admin/callback"
)

// ErrNotAdmin: the signed-in user is not a member of the admin group (or
// is disabled).
var ErrNotAdmin = errors.New("account: not an administrator")

// Admins says who administers Twofold and keeps the policies
// (*directory.Directory).
type Admins interface {
	IsAdmin(ctx context.Context, userID string) (bool, error)
	Policy(ctx context.Context, name string) (directory.PolicyRecord, error)
	CreatePolicy(ctx context.Context, actor idp.Actor, p policy.Policy) (directory.PolicyRecord, error)
}

// Console decides who may use the admin console and sends the others to
// sign in or to step up.
type Console struct {
	acc    *Service
	admins Admins
}

// NewConsole builds the console's access check on the account service's
// sessions and step-up policy.
func NewConsole(acc *Service, admins Admins) *Console { return &Console{acc: acc, admins: admins} }

// The built-in clients' own policies, created with the clients when they
// do not exist; an administrator may then change them (an edited policy is
// kept). The account pages' adds nothing to the user's groups' and the
// default policy until an administrator tightens it. The console's asks for
// a second factor (any method, phishing-resistant ones first) proven in the
// last 15 minutes.
var (
	accountPolicy = policy.Policy{Name: AccountPolicy, RequireMFA: policy.OnRequest, Methods: policy.AllMethods, Enrollment: policy.EnrollRequired}
	consolePolicy = policy.Policy{
		Name: ConsolePolicy, RequireMFA: policy.Always, Methods: policy.AllMethods, MinLevel: ConsoleLevel,
		MFAMaxAge: ConsoleMaxAge, Enrollment: policy.EnrollRequired,
	}
)

// AccountPolicy names the account pages' own policy.
const AccountPolicy = "twofold-account"

// EnsureClients registers Twofold's two built-in clients, the account pages
// and the admin console, each under its own policy. They are built in: no
// source of truth but the server changes them (their policies can be).
func EnsureClients(ctx context.Context, acc *Service, admins Admins) error {
	for _, c := range []struct {
		client   storage.Client
		callback string
		pol      policy.Policy
	}{
		{storage.Client{ID: ClientID, Name: "Your Twofold account"}, "/account/callback", accountPolicy},
		{storage.Client{ID: ConsoleClientID, Name: "Twofold admin console"}, ConsoleCallbackPath, consolePolicy},
	} {
		_, err := admins.Policy(ctx, c.pol.Name)
		if errors.Is(err, idp.ErrNotFound) {
			_, err = admins.CreatePolicy(ctx, idp.Actor{ID: "system"}, c.pol)
			if errors.Is(err, idp.ErrConflict) {
				err = nil // another replica created it
			}
		}
		if err != nil {
			return fmt.Errorf("built-in client %s: %w", c.client.ID, err)
		}
		row := c.client
		name := c.pol.Name
		row.RedirectURIs = []string{acc.issuer + c.callback}
		row.GrantTypes = []string{directory.GrantAuthorizationCode}
		row.SkipConsent, row.Policy, row.ManagedBy = true, &name, storage.ManagedByBuiltIn
		if err := acc.store.UpsertClient(ctx, &row); err != nil {
			return fmt.Errorf("built-in client %s: %w", c.client.ID, err)
		}
	}
	return nil
}

// Admin is a signed-in administrator.
type Admin struct {
	UserID   string
	Username string
	// FreshUntil: until then the second factor counts for changes.
	FreshUntil time.Time
}

// Admin checks the browser's session for the console. Every page needs an
// administrator whose session meets the console client's policy (which
// includes their groups' and the default policy): else ErrNotSignedIn,
// and signing in through ConsoleSignInURL steps the session up. A change
// (write) also needs a second factor of ConsoleLevel proven within
// ConsoleMaxAge, whatever the policy says: else ErrReauthRequired.
// ErrNotAdmin: signed in, but not an administrator.
func (c *Console) Admin(ctx context.Context, b idp.Browser, write bool) (Admin, error) {
	sess, user, err := c.acc.sessions.Load(ctx, b.SessionCookie)
	if err != nil {
		return Admin{}, err
	}
	if sess == nil {
		return Admin{}, idp.ErrNotSignedIn
	}
	ok, err := c.admins.IsAdmin(ctx, user.ID)
	if err != nil {
		return Admin{}, err
	}
	if !ok {
		return Admin{}, ErrNotAdmin
	}
	client, err := c.acc.store.GetClient(ctx, ConsoleClientID)
	if err != nil {
		return Admin{}, err
	}
	d, _, err := c.acc.decider.Decide(ctx, client, user, sess, b.DeviceCookie, policy.Request{EssentialACR: []string{ConsoleLevel.ACR()}})
	if err != nil {
		return Admin{}, err
	}
	if d.Need != policy.NeedNothing || d.DeviceUsed {
		// A remembered device does not stand in for the console's factor.
		return Admin{}, idp.ErrNotSignedIn
	}
	a := Admin{UserID: user.ID, Username: user.Username, FreshUntil: latestSecondFactor(sess).Add(ConsoleMaxAge)}
	if write && !c.acc.now().Before(a.FreshUntil) {
		return Admin{}, idp.ErrReauthRequired
	}
	return a, nil
}

// latestSecondFactor is when the session last proved a second factor.
func latestSecondFactor(sess *storage.Session) time.Time {
	var t time.Time
	for _, f := range sess.Factors {
		if f.Method != policy.FactorPassword && f.Method != policy.FactorPasskey && f.At.After(t) {
			t = f.At
		}
		if f.Method == policy.FactorPasskey && f.UserVerified && f.At.After(t) {
			t = f.At // a passkey with user verification is two factors in one
		}
	}
	return t
}

// SignInURL is where the console sends a browser to sign in or step up;
// state comes back on the callback. reauth (after ErrReauthRequired) asks
// for the whole sign-in again, so that it cannot come back as stale as it
// left.
func (c *Console) SignInURL(state string, reauth bool) string {
	challenge := sha256.Sum256([]byte(idp.RandomToken(32))) // never redeemed: the session cookie is what the console uses
	q := url.Values{
		"client_id": {ConsoleClientID}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {c.acc.issuer + ConsoleCallbackPath}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
		"claims": {`{"id_token":{"acr":{"essential":true,"values":["` + policy.ACRPhishingResistant + `","` + ConsoleLevel.ACR() + `"]}}}`},
	}
	if reauth {
		q.Set("prompt", "login")
	}
	return "/authorize?" + q.Encode()
}
