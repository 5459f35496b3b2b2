package login

import (
	"context"

	"github.com/twofold-idp/twofold/idp"
)

// EnrollLater puts enrolling a second factor off for the sign-in of
// request id ("Not now"), within the enrollment grace the policies grant
// (policy.Grace): the sign-in is counted against the grace and goes on
// without a second factor, as does the rest of its SSO session while the
// grace's period lasts. Counting comes first and every concurrent "Not
// now" is counted, so the grace's last sign-in is taken once: the others
// get idp.ErrGraceOver, as does a "Not now" after the grace ended. A
// request at any step but the enrollment page is idp.ErrAuthRequestNotFound.
func (m *MFA) EnrollLater(ctx context.Context, id string, b idp.Browser) (idp.Step, error) {
	l, err := m.loadPending(ctx, id, b)
	if err != nil {
		return idp.Step{}, err
	}
	d, err := m.decide(ctx, l.ar, l.client, l.user, l.sess, b)
	if err != nil {
		return idp.Step{}, err
	}
	switch a := m.ask(d.Decision, d.enrolled, l.sess); {
	case d.GraceUsed:
		return m.next(ctx, l.ar, b, true) // put off already (a second click)
	case a.kind != askEnroll:
		return idp.Step{}, idp.ErrAuthRequestNotFound
	case d.Grace == nil:
		return idp.Step{}, idp.ErrGraceOver
	}
	actor := idp.Actor{ID: l.user.ID, IP: b.IP, RequestID: b.RequestID}
	started, n, err := m.store.CountGraceSignIn(ctx, l.user.ID)
	if err != nil {
		return idp.Step{}, err
	}
	if !d.Grace.Admits(started, n, m.now()) {
		m.audit.Record(ctx, actor, "enrollment.grace_over", l.user.ID, map[string]any{"client_id": l.ar.ClientID, "sign_ins": n})
		return idp.Step{}, idp.ErrGraceOver
	}
	if err := m.store.SkipEnrollment(ctx, l.sess.ID); err != nil {
		return idp.Step{}, err
	}
	details := map[string]any{"client_id": l.ar.ClientID, "grace_started_at": started, "sign_ins": n}
	if d.Grace.Period > 0 {
		details["grace_until"] = started.Add(d.Grace.Period)
	}
	if d.Grace.SignIns > 0 {
		details["grace_sign_ins"] = d.Grace.SignIns
	}
	m.audit.Record(ctx, actor, "enrollment.put_off", l.user.ID, details)
	return m.next(ctx, l.ar, b, true)
}
