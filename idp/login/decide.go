package login

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/factors"
	"github.com/twofold-idp/twofold/idp/policy"
	"github.com/twofold-idp/twofold/idp/session"
	"github.com/twofold-idp/twofold/storage"
)

// decided is one run of the step-up policy: its answer, what the user has
// enrolled, and exactly what it read — so that policy.Explain of the same
// input can say afterwards why, without deciding anew from other data.
type decided struct {
	policy.Decision
	enrolled factors.Enrollment
	in       policy.Input
}

// decide runs the step-up policy for a login.
func (f *Flow) decide(ctx context.Context, ar *storage.AuthRequest, client *storage.Client, user *storage.User, sess *storage.Session, b idp.Browser) (decided, error) {
	return f.decideFor(ctx, client, user, sess, b.DeviceCookie, policyRequest(ar, sess))
}

// Decide runs the step-up policy for user's session at client under
// request r: the effective policies, what the user has enrolled and the
// browser's remembered device (deviceCookie, "" for none). The login flow
// and the account pages both decide here.
func (f *Flow) Decide(ctx context.Context, client *storage.Client, user *storage.User, sess *storage.Session, deviceCookie string, r policy.Request) (policy.Decision, factors.Enrollment, error) {
	d, err := f.decideFor(ctx, client, user, sess, deviceCookie, r)
	return d.Decision, d.enrolled, err
}

func (f *Flow) decideFor(ctx context.Context, client *storage.Client, user *storage.User, sess *storage.Session, deviceCookie string, r policy.Request) (decided, error) {
	in, enrolled, err := f.policyInput(ctx, client, user)
	if err != nil {
		return decided{enrolled: enrolled}, err
	}
	if deviceCookie != "" {
		// A real sign-in uses the device: this stamps its last use, which
		// is why the simulator brings its own RememberedAt instead.
		dev, err := f.store.UseRememberedDevice(ctx, user.ID, idp.HashSecret(deviceCookie))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return decided{enrolled: enrolled}, err
		}
		if err == nil {
			in.RememberedAt = &dev.CreatedAt
		}
	}
	in.Request, in.Session = r, session.PolicyView(sess)
	in.Grace.Skipped = sess != nil && sess.EnrollmentSkippedAt != nil
	return decided{Decision: policy.Decide(in), enrolled: enrolled, in: in}, nil
}

// policyInput loads what every decision for user at client reads — the
// effective policies, the methods the factor registry knows, what the user
// has enrolled — and writes nothing. The caller adds the request, the
// session and the remembered device. Real sign-ins and the simulator both
// start here.
func (f *Flow) policyInput(ctx context.Context, client *storage.Client, user *storage.User) (policy.Input, factors.Enrollment, error) {
	pols, err := directory.EffectivePolicies(ctx, f.store, client, user)
	if err != nil {
		return policy.Input{}, factors.Enrollment{}, err
	}
	enrolled, err := f.factors.Enrolled(ctx, user.ID)
	if err != nil {
		return policy.Input{}, factors.Enrollment{}, err
	}
	return policy.Input{
		Methods: f.factors.Methods(), Policies: pols,
		Enrolled: enrolled.Methods, EnrolledDeviceBound: enrolled.Counts.WebAuthnDeviceBound > 0,
		Grace: policy.GraceState{StartedAt: user.GraceStartedAt, SignIns: user.GraceSignIns},
		Now:   f.now(),
	}, enrolled, nil
}

// recordDecision files a decision that asked for something in the audit
// trail under the user, once per change of the decision for this request:
// re-rendering a page, or another replica deciding alike, adds nothing.
// The event carries the decision's explanation: policy.Explain of the very
// input the decision read.
func (f *Flow) recordDecision(ctx context.Context, ar *storage.AuthRequest, userID string, d decided) {
	if d.Need == policy.NeedNothing && d.Target <= policy.LevelPassword {
		return
	}
	key := fmt.Sprintf("%s/%s/%s/%v", d.Need, d.Level, d.Target, d.Methods)
	changed, err := f.store.SwapAuthRequestDecision(ctx, ar.ID, key)
	if err != nil {
		f.log.WarnContext(ctx, "record the step-up decision", "err", err)
		return
	}
	if !changed {
		return
	}
	f.audit.Record(ctx, idp.UserActor(userID), "policy.decision", userID, map[string]any{
		"client_id": ar.ClientID, "need": d.Need.String(), "level": d.Level.String(), "target": d.Target.String(), "reason": d.Reason,
		"explanation": policy.Explain(d.in).Compact(),
	})
}

// policyRequest turns the stored authorization request into what
// policy.Decide reads. prompt=login and max_age count only against a first
// factor proven before the request began: a second factor proven since does
// not make the sign-in fresh.
func policyRequest(ar *storage.AuthRequest, sess *storage.Session) policy.Request {
	r := policy.Request{ACRValues: ar.ACRValues, EssentialACR: essentialACR(ar.Claims)}
	fresh := sess != nil && !policy.FirstFactorAt(session.PolicyView(sess)).Before(ar.CreatedAt)
	if !fresh {
		// max_age=0 is prompt=login (OIDC Core §3.1.2.1).
		r.PromptLogin = slices.Contains(ar.Prompt, "login") || (ar.MaxAgeSeconds != nil && *ar.MaxAgeSeconds == 0)
		if ar.MaxAgeSeconds != nil {
			d := time.Duration(*ar.MaxAgeSeconds) * time.Second
			r.MaxAge = &d
		}
	}
	return r
}
