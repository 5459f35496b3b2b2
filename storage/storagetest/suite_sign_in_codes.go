package storagetest

import (
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// signInCodeTests cover what the email and SMS second factors read: a
// verified address or number counts as a factor, a code remembers the
// sign-in it was sent for, and an MFA reset takes the phone number away.
func signInCodeTests() []conformanceTest {
	return []conformanceTest{
		{"a verified email address and a verified phone number count as second factors", testCountVerifiedChannels},
		{"a one-time code keeps the sign-in it was sent for", testOneTimeCodeSentFor},
		{"an MFA reset removes the phone number and retires the codes sent to it", testResetRemovesPhone},
	}
}

func testCountVerifiedChannels(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	count := func(userID string) storage.FactorCounts {
		t.Helper()
		c, err := s.CountSecondFactors(ctx(t), userID)
		mustNil(t, err)
		return c
	}
	if c := count("u1"); c != (storage.FactorCounts{}) {
		t.Fatalf("an unverified user has %+v", c)
	}
	u, err := s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	ok, err := s.SetEmailVerified(ctx(t), "u1", u.Email)
	mustNil(t, err)
	if !ok {
		t.Fatal("the address was not verified")
	}
	// A number not yet verified is no factor.
	mustNil(t, s.SetPhone(ctx(t), "u1", "+15551234567", nil))
	if c := count("u1"); c != (storage.FactorCounts{EmailVerified: 1}) {
		t.Fatalf("with a verified address and an unverified number: %+v", c)
	}
	at := clock.Now()
	mustNil(t, s.SetPhone(ctx(t), "u1", "+15551234567", &at))
	if c := count("u1"); c != (storage.FactorCounts{EmailVerified: 1, PhoneVerified: 1}) {
		t.Fatalf("with both verified: %+v", c)
	}
	if c := count("u2"); c != (storage.FactorCounts{}) {
		t.Fatalf("u1's channels counted for u2: %+v", c)
	}
	// A changed address is unverified again.
	mustNil(t, s.ChangeEmail(ctx(t), "u1", "alice@example.org"))
	if c := count("u1"); c != (storage.FactorCounts{PhoneVerified: 1}) {
		t.Fatalf("after changing the address: %+v", c)
	}
}

func testOneTimeCodeSentFor(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	c := oneTimeCode("c1", "u1", storage.PurposeSignInEmail, clock.Now().Add(10*time.Minute))
	c.SentFor = "auth-request-1"
	mustNil(t, s.CreateOneTimeCode(ctx(t), c, false))
	live, err := s.LiveOneTimeCode(ctx(t), "u1", storage.PurposeSignInEmail)
	mustNil(t, err)
	if live.SentFor != "auth-request-1" || live.Target != "alice@example.com" {
		t.Fatalf("live code %+v", live)
	}
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("c2", "u1", storage.PurposeVerifyEmail, clock.Now().Add(time.Hour)), false))
	if live, err = s.LiveOneTimeCode(ctx(t), "u1", storage.PurposeVerifyEmail); err != nil || live.SentFor != "" {
		t.Fatalf("a code sent for no sign-in: %+v, %v", live, err)
	}
}

func testResetRemovesPhone(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	at := clock.Now()
	exp := at.Add(10 * time.Minute)
	for _, u := range []string{"u1", "u2"} {
		mustNil(t, s.SetPhone(ctx(t), u, "+1555123456"+u[1:], &at))
		mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("sms-"+u, u, storage.PurposeSignInSMS, exp), false))
		mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("verify-"+u, u, storage.PurposeVerifyPhone, exp), false))
		mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("mail-"+u, u, storage.PurposeSignInEmail, exp), false))
	}
	r, err := s.ResetSecondFactors(ctx(t), "u1")
	mustNil(t, err)
	if r.Phone != 1 {
		t.Fatalf("reset = %+v", r)
	}
	u1, err := s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if u1.Phone != "" || u1.PhoneVerifiedAt != nil {
		t.Fatalf("after the reset u1 has the number %q verified %v", u1.Phone, u1.PhoneVerifiedAt)
	}
	for _, p := range []string{storage.PurposeSignInSMS, storage.PurposeVerifyPhone} {
		if _, err := s.LiveOneTimeCode(ctx(t), "u1", p); err == nil {
			t.Errorf("a %s code outlived the reset", p)
		}
		if _, err := s.LiveOneTimeCode(ctx(t), "u2", p); err != nil {
			t.Errorf("u1's reset retired u2's %s code: %v", p, err)
		}
	}
	// The address is the account's, not a factor the reset removes.
	if _, err := s.LiveOneTimeCode(ctx(t), "u1", storage.PurposeSignInEmail); err != nil {
		t.Errorf("the reset retired an email code: %v", err)
	}
	if u2, _ := s.GetUser(ctx(t), "u2"); u2.PhoneVerifiedAt == nil {
		t.Fatal("u1's reset removed u2's number")
	}
	if r, err = s.ResetSecondFactors(ctx(t), "u1"); err != nil || r.Phone != 0 {
		t.Fatalf("a second reset: %+v, %v", r, err)
	}
}
