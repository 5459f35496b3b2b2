package storagetest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// channelTests cover what email and SMS rest on: one-time codes and links,
// verified addresses, the "this wasn't me" block, the enrollment grace and
// lost-factor recoveries.
func channelTests() []conformanceTest {
	return []conformanceTest{
		{"a new one-time code replaces the live one of its purpose, unless asked to keep them", testOneTimeCodeReplaces},
		{"a one-time code is live until used or expired, and found by its hash", testOneTimeCodeLive},
		{"of 20 concurrent uses of one one-time code exactly one wins", testConcurrentUseOneTimeCode},
		{"wrong guesses retire a one-time code at the limit, counted exactly under concurrency", testFailOneTimeCode},
		{"an email is verified only while it is still the user's address; changing it unverifies and retires codes", testEmailVerification},
		{"a phone number, the changes block and retiring codes are stored per user", testPhoneAndBlock},
		{"every concurrent grace sign-in is counted and the grace starts once", testGraceSignIns},
		{"a user has one open recovery, cancelled by its link or completed once when ready", testRecoveries},
		{"expired one-time codes are purged", testPurgeOneTimeCodes},
		{"users are found by their verified email address only, case-insensitively", testUsersByVerifiedEmail},
		{"a session's enrollment skip is recorded while it is live", testSkipEnrollment},
	}
}

func channelStore(t *testing.T, newStore Factory) (*storage.Store, *Clock) {
	t.Helper()
	return mfaStore(t, newStore)
}

func oneTimeCode(id, userID, purpose string, exp time.Time) *storage.OneTimeCode {
	return &storage.OneTimeCode{ID: id, UserID: userID, Purpose: purpose, Target: "alice@example.com", CodeHash: "hash-" + id, ExpiresAt: exp}
}

func testOneTimeCodeReplaces(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	exp := clock.Now().Add(10 * time.Minute)
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("c1", "u1", storage.PurposeSignInEmail, exp), false))
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("other", "u1", storage.PurposeVerifyEmail, exp), false))
	clock.Advance(time.Second)
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("c2", "u1", storage.PurposeSignInEmail, exp), false))
	c, err := s.LiveOneTimeCode(ctx(t), "u1", storage.PurposeSignInEmail)
	mustNil(t, err)
	if c.ID != "c2" {
		t.Fatalf("live code %s, want the newest", c.ID)
	}
	if _, err := s.OneTimeCodeByHash(ctx(t), storage.PurposeSignInEmail, "hash-c1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the replaced code is still live: %v", err)
	}
	if c, err := s.LiveOneTimeCode(ctx(t), "u1", storage.PurposeVerifyEmail); err != nil || c.ID != "other" {
		t.Fatalf("a code of another purpose was retired: %v %v", c, err)
	}
	// Links that may be outstanding together are kept.
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("n1", "u1", storage.PurposeNotMe, exp), true))
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("n2", "u1", storage.PurposeNotMe, exp), true))
	for _, id := range []string{"n1", "n2"} {
		if _, err := s.OneTimeCodeByHash(ctx(t), storage.PurposeNotMe, "hash-"+id); err != nil {
			t.Fatalf("kept link %s: %v", id, err)
		}
	}
	// The same hash twice for a purpose is refused; an unknown user too.
	dup := oneTimeCode("n3", "u2", storage.PurposeNotMe, exp)
	dup.CodeHash = "hash-n1"
	mustIs(t, s.CreateOneTimeCode(ctx(t), dup, true), storage.ErrConflict)
	mustIs(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("x", "nobody", storage.PurposeNotMe, exp), true), storage.ErrReference)
}

func testOneTimeCodeLive(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("c1", "u1", storage.PurposePasswordReset, clock.Now().Add(30*time.Minute)), false))
	if _, err := s.LiveOneTimeCode(ctx(t), "u2", storage.PurposePasswordReset); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("another user's code: %v", err)
	}
	c, err := s.OneTimeCodeByHash(ctx(t), storage.PurposePasswordReset, "hash-c1")
	mustNil(t, err)
	if c.UserID != "u1" || c.Target != "alice@example.com" {
		t.Fatalf("found %+v", c)
	}
	ok, err := s.UseOneTimeCode(ctx(t), "c1")
	mustNil(t, err)
	if !ok {
		t.Fatal("a live code was not used")
	}
	if ok, _ := s.UseOneTimeCode(ctx(t), "c1"); ok {
		t.Fatal("a code was used twice")
	}
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("c2", "u1", storage.PurposePasswordReset, clock.Now().Add(30*time.Minute)), false))
	clock.Advance(30 * time.Minute)
	if _, err := s.LiveOneTimeCode(ctx(t), "u1", storage.PurposePasswordReset); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("an expired code is live: %v", err)
	}
	if ok, _ := s.UseOneTimeCode(ctx(t), "c2"); ok {
		t.Fatal("an expired code was used")
	}
}

func testConcurrentUseOneTimeCode(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("c1", "u1", storage.PurposeSignInSMS, clock.Now().Add(10*time.Minute)), false))
	errLost := errors.New("lost")
	mustOneWinner(t, 20, errLost, func() error {
		ok, err := s.UseOneTimeCode(ctx(t), "c1")
		if err == nil && !ok {
			return errLost
		}
		return err
	})
}

func testFailOneTimeCode(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("c1", "u1", storage.PurposeSignInEmail, clock.Now().Add(10*time.Minute)), false))
	const limit = 5
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		live int
	)
	for range 8 {
		wg.Go(func() {
			ok, err := s.FailOneTimeCode(ctx(t), "c1", limit)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				live++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if live != limit-1 {
		t.Fatalf("%d guesses left the code live, want %d", live, limit-1)
	}
	if _, err := s.LiveOneTimeCode(ctx(t), "u1", storage.PurposeSignInEmail); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a code past its attempts is live: %v", err)
	}
}

func testEmailVerification(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	u, err := s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if u.EmailVerifiedAt != nil {
		t.Fatal("a new user's email is verified")
	}
	if ok, _ := s.SetEmailVerified(ctx(t), "u1", "someone-else@example.com"); ok {
		t.Fatal("an address that is not the user's was verified")
	}
	ok, err := s.SetEmailVerified(ctx(t), "u1", u.Email)
	mustNil(t, err)
	if u, _ = s.GetUser(ctx(t), "u1"); !ok || u.EmailVerifiedAt == nil {
		t.Fatalf("verified: %v %v", ok, u.EmailVerifiedAt)
	}
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("c1", "u1", storage.PurposeSignInEmail, clock.Now().Add(time.Hour)), false))
	mustNil(t, s.ChangeEmail(ctx(t), "u1", "new@example.com"))
	if u, _ = s.GetUser(ctx(t), "u1"); u.Email != "new@example.com" || u.EmailVerifiedAt != nil {
		t.Fatalf("after a change: %q verified %v", u.Email, u.EmailVerifiedAt)
	}
	if _, err := s.LiveOneTimeCode(ctx(t), "u1", storage.PurposeSignInEmail); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a code sent to the old address is live: %v", err)
	}
	mustIs(t, s.ChangeEmail(ctx(t), "nobody", "x@example.com"), storage.ErrNotFound)
}

func testPhoneAndBlock(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	at := clock.Now()
	mustNil(t, s.SetPhone(ctx(t), "u1", "+15551234567", &at))
	mustNil(t, s.SetChangesBlocked(ctx(t), "u1", &at))
	u, err := s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if u.Phone != "+15551234567" || u.PhoneVerifiedAt == nil || !u.PhoneVerifiedAt.Equal(at) || u.ChangesBlockedAt == nil {
		t.Fatalf("phone %q verified %v blocked %v", u.Phone, u.PhoneVerifiedAt, u.ChangesBlockedAt)
	}
	if u2, _ := s.GetUser(ctx(t), "u2"); u2.Phone != "" || u2.ChangesBlockedAt != nil {
		t.Fatal("another user changed")
	}
	mustNil(t, s.SetChangesBlocked(ctx(t), "u1", nil))
	mustNil(t, s.SetPhone(ctx(t), "u1", "", nil))
	if u, _ = s.GetUser(ctx(t), "u1"); u.Phone != "" || u.PhoneVerifiedAt != nil || u.ChangesBlockedAt != nil {
		t.Fatalf("cleared: %+v", u)
	}
	mustIs(t, s.SetPhone(ctx(t), "nobody", "", nil), storage.ErrNotFound)
	mustIs(t, s.SetChangesBlocked(ctx(t), "nobody", nil), storage.ErrNotFound)

	exp := clock.Now().Add(time.Hour)
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("r", "u1", storage.PurposePasswordReset, exp), false))
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("v", "u1", storage.PurposeVerifyEmail, exp), false))
	mustNil(t, s.RetireOneTimeCodes(ctx(t), "u1", storage.PurposePasswordReset))
	if _, err := s.LiveOneTimeCode(ctx(t), "u1", storage.PurposeVerifyEmail); err != nil {
		t.Fatalf("a code of another purpose was retired: %v", err)
	}
	mustNil(t, s.RetireOneTimeCodes(ctx(t), "u1"))
	if _, err := s.LiveOneTimeCode(ctx(t), "u1", storage.PurposeVerifyEmail); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("retiring all left a code: %v", err)
	}
}

func testGraceSignIns(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	t0 := clock.Now()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, _, err := s.CountGraceSignIn(ctx(t), "u1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	clock.Advance(time.Hour)
	started, n, err := s.CountGraceSignIn(ctx(t), "u1")
	mustNil(t, err)
	if n != 11 || !started.Equal(t0) {
		t.Fatalf("grace: %d sign-ins since %v, want 11 since %v", n, started, t0)
	}
	_, _, err = s.CountGraceSignIn(ctx(t), "nobody")
	mustIs(t, err, storage.ErrNotFound)
}

func testRecoveries(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	t0 := clock.Now()
	r := &storage.Recovery{ID: "r1", UserID: "u1", CancelHash: "cancel-1", ReadyAt: t0.Add(24 * time.Hour)}
	got, created, err := s.StartRecovery(ctx(t), r)
	mustNil(t, err)
	if !created || got.ID != "r1" || !got.StartedAt.Equal(t0) {
		t.Fatalf("started %+v created %v", got, created)
	}
	// A second start finds the open one.
	got, created, err = s.StartRecovery(ctx(t), &storage.Recovery{ID: "r2", UserID: "u1", CancelHash: "cancel-2", ReadyAt: t0.Add(time.Hour)})
	mustNil(t, err)
	if created || got.ID != "r1" {
		t.Fatalf("second start: %+v created %v", got, created)
	}
	// Not ready yet.
	if ok, _ := s.CompleteRecovery(ctx(t), "r1"); ok {
		t.Fatal("completed before it was ready")
	}
	clock.Advance(24 * time.Hour)
	errLost := errors.New("lost")
	mustOneWinner(t, 10, errLost, func() error {
		ok, err := s.CompleteRecovery(ctx(t), "r1")
		if err == nil && !ok {
			return errLost
		}
		return err
	})
	if _, err := s.OpenRecovery(ctx(t), "u1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a completed recovery is open: %v", err)
	}
	// A new one, cancelled by its link: once.
	_, created, err = s.StartRecovery(ctx(t), &storage.Recovery{ID: "r3", UserID: "u1", CancelHash: "cancel-3", ReadyAt: clock.Now().Add(time.Hour)})
	mustNil(t, err)
	if !created {
		t.Fatal("no new recovery after the last completed")
	}
	if _, err := s.RecoveryByCancelHash(ctx(t), "cancel-1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a completed recovery is found by its cancel link: %v", err)
	}
	if r, err := s.RecoveryByCancelHash(ctx(t), "cancel-3"); err != nil || r.ID != "r3" {
		t.Fatalf("the open recovery by its cancel link: %v %v", r, err)
	}
	c, err := s.CancelRecovery(ctx(t), "cancel-3")
	mustNil(t, err)
	if _, err := s.RecoveryByCancelHash(ctx(t), "cancel-3"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a cancelled recovery is found by its cancel link: %v", err)
	}
	if c.ID != "r3" || c.UserID != "u1" {
		t.Fatalf("cancelled %+v", c)
	}
	_, err = s.CancelRecovery(ctx(t), "cancel-3")
	mustIs(t, err, storage.ErrNotFound)
	clock.Advance(time.Hour)
	if ok, _ := s.CompleteRecovery(ctx(t), "r3"); ok {
		t.Fatal("a cancelled recovery completed")
	}
}

func testPurgeOneTimeCodes(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("old", "u1", storage.PurposeVerifyEmail, clock.Now().Add(time.Minute)), false))
	mustNil(t, s.CreateOneTimeCode(ctx(t), oneTimeCode("new", "u2", storage.PurposeVerifyEmail, clock.Now().Add(time.Hour)), false))
	clock.Advance(2 * time.Minute)
	_, err := s.DeleteExpired(ctx(t))
	mustNil(t, err)
	if _, err := s.LiveOneTimeCode(ctx(t), "u2", storage.PurposeVerifyEmail); err != nil {
		t.Fatalf("a live code was purged: %v", err)
	}
	var n int
	mustNil(t, s.SQL().QueryRowContext(ctx(t), "SELECT count(*) FROM one_time_codes").Scan(&n))
	if n != 1 {
		t.Fatalf("%d codes left, want 1", n)
	}
}

func testUsersByVerifiedEmail(t *testing.T, newStore Factory) {
	s, _ := channelStore(t, newStore)
	u1, err := s.GetUser(ctx(t), "u1")
	mustNil(t, err)
	if got, err := s.UsersByVerifiedEmail(ctx(t), u1.Email); err != nil || len(got) != 0 {
		t.Fatalf("an unverified address found %v, %v", got, err)
	}
	ok, err := s.SetEmailVerified(ctx(t), "u1", u1.Email)
	mustNil(t, err)
	if !ok {
		t.Fatal("not verified")
	}
	got, err := s.UsersByVerifiedEmail(ctx(t), "  "+strings.ToUpper(u1.Email)+" ")
	mustNil(t, err)
	if len(got) != 1 || got[0].ID != "u1" {
		t.Fatalf("found %v", got)
	}
	if got, _ := s.UsersByVerifiedEmail(ctx(t), "nobody@example.com"); len(got) != 0 {
		t.Fatalf("an unknown address found %v", got)
	}
	// Like-patterns mean nothing.
	if got, _ := s.UsersByVerifiedEmail(ctx(t), "%"); len(got) != 0 {
		t.Fatalf("%% found %v", got)
	}
}

func testSkipEnrollment(t *testing.T, newStore Factory) {
	s, clock := channelStore(t, newStore)
	se := &storage.Session{ID: "s1", CookieHash: "c1", UserID: "u1", AuthTime: clock.Now(),
		IdleExpiresAt: clock.Now().Add(time.Hour), ExpiresAt: clock.Now().Add(time.Hour)}
	mustNil(t, s.CreateSession(ctx(t), se))
	got, err := s.GetSession(ctx(t), "s1")
	mustNil(t, err)
	if got.EnrollmentSkippedAt != nil {
		t.Fatal("a new session skipped enrollment")
	}
	clock.Advance(time.Minute)
	mustNil(t, s.SkipEnrollment(ctx(t), "s1"))
	if got, _ = s.GetSession(ctx(t), "s1"); got.EnrollmentSkippedAt == nil || !got.EnrollmentSkippedAt.Equal(clock.Now()) {
		t.Fatalf("skipped at %v, want %v", got.EnrollmentSkippedAt, clock.Now())
	}
	mustNil(t, s.EndSession(ctx(t), "s1"))
	mustIs(t, s.SkipEnrollment(ctx(t), "s1"), storage.ErrNotFound)
	mustIs(t, s.SkipEnrollment(ctx(t), "nobody"), storage.ErrNotFound)
}
