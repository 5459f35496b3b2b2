package storagetest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

// mfaTests cover the second factors: TOTP authenticators, WebAuthn
// credentials and ceremony sessions, backup codes.
func mfaTests() []conformanceTest {
	return []conformanceTest{
		{"a TOTP authenticator is created unconfirmed and read back only by its user", testTOTPCreate},
		{"TOTP authenticators are listed oldest first, all or only the confirmed", testListTOTP},
		{"a TOTP authenticator is confirmed once, with the step of its first code", testConfirmTOTP},
		{"a TOTP step is accepted once and an older step after a newer one is a replay", testAdvanceTOTPStep},
		{"an unconfirmed or another user's TOTP authenticator cannot advance", testAdvanceTOTPNotActive},
		{"of 20 concurrent uses of one TOTP step exactly one wins", testConcurrentAdvanceTOTPStep},
		{"a TOTP authenticator is renamed and deleted by its user only", testRenameDeleteTOTP},
		{"abandoned TOTP enrollments are deleted and confirmed ones kept", testDeleteStaleTOTP},
		{"a WebAuthn credential round-trips every field, the flags byte included", testWebAuthnCredentialRoundTrip},
		{"a credential id registered to one user cannot be registered by another", testWebAuthnCredentialIDTaken},
		{"a sign count must grow and zero counters are accepted repeatedly", testUseWebAuthnCredential},
		{"a credential marked possibly cloned cannot be used", testClonedWebAuthnCredential},
		{"of 20 concurrent assertions with one counter value exactly one wins", testConcurrentUseWebAuthnCredential},
		{"a WebAuthn credential is renamed and deleted by its user only", testRenameDeleteWebAuthnCredential},
		{"a backup code is found by its tag while unused and used once", testBackupCodes},
		{"replacing backup codes invalidates the previous set, or changes nothing", testReplaceBackupCodes},
		{"of 20 concurrent uses of one backup code exactly one wins", testConcurrentUseBackupCode},
		{"backup codes are scoped to their user and deleted together", testBackupCodesPerUser},
		{"a WebAuthn ceremony is consumed once, for its purpose, before it expires", testWebAuthnSession},
		{"of 20 concurrent consumptions of one WebAuthn ceremony exactly one wins", testConcurrentConsumeWebAuthnSession},
		{"used and expired WebAuthn ceremonies are deleted and nothing else", testDeleteExpiredMFA},
		{"second factors are counted without unconfirmed authenticators, cloned credentials or used codes", testCountSecondFactors},
		{"resetting second factors removes all of one user's and ends their sessions, and no one else's", testResetSecondFactors},
		{"deleting a user removes their second factors and ceremonies", testMFACascades},
	}
}

// mfaStore returns a store on a fixed clock with users u1 and u2.
func mfaStore(t *testing.T, newStore Factory) (*storage.Store, *Clock) {
	t.Helper()
	clock := newPVClock()
	s := newStore(t, storage.WithNow(clock.Now))
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "alice")))
	mustNil(t, s.CreateUser(ctx(t), newUser("u2", "bob")))
	return s, clock
}

func mfaTOTP(id, userID string) *storage.TOTPAuthenticator {
	return &storage.TOTPAuthenticator{ID: id, UserID: userID, Name: "Phone " + id, SecretSealed: "c2VhbGVk-" + id}
}

func mfaCredential(id, userID string) *storage.WebAuthnCredential {
	return &storage.WebAuthnCredential{ID: id, UserID: userID, Name: "Key " + id, PublicKey: "pQECAyYgASFY-" + id, Flags: 0x41}
}

// mfaCodes returns n backup codes with ids prefix0…, tags tag-prefix0….
func mfaCodes(prefix string, n int) []storage.BackupCode {
	codes := make([]storage.BackupCode, n)
	for i := range codes {
		id := fmt.Sprint(prefix, i)
		codes[i] = storage.BackupCode{ID: id, Tag: "tag-" + id, Hash: "$argon2id$v=19$m=19456,t=2,p=1$" + id}
	}
	return codes
}

func mfaSession(id string, userID *string, purpose string, expiresAt time.Time) *storage.WebAuthnSession {
	return &storage.WebAuthnSession{ID: id, UserID: userID, Purpose: purpose, Data: `{"challenge":"` + id + `"}`, ExpiresAt: expiresAt}
}

func totpIDs(as []storage.TOTPAuthenticator) []string {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return ids
}

func mustTOTP(t *testing.T, s *storage.Store, userID, id string) *storage.TOTPAuthenticator {
	t.Helper()
	a, err := s.GetTOTP(ctx(t), userID, id)
	mustNil(t, err)
	return a
}

func mustCredential(t *testing.T, s *storage.Store, id string) *storage.WebAuthnCredential {
	t.Helper()
	c, err := s.GetWebAuthnCredential(ctx(t), id)
	mustNil(t, err)
	return c
}

func mustUnusedCodes(t *testing.T, s *storage.Store, userID string, want int64) {
	t.Helper()
	n, err := s.CountUnusedBackupCodes(ctx(t), userID)
	mustNil(t, err)
	if n != want {
		t.Fatalf("%s has %d unused backup codes, want %d", userID, n, want)
	}
}

// mfaRows counts the rows of table matching where (SQL the test writes).
func mfaRows(t *testing.T, s *storage.Store, table, where string) int {
	t.Helper()
	var n int
	if err := s.SQL().QueryRowContext(ctx(t), "SELECT count(*) FROM "+table+" WHERE "+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// mustOneWinner runs op in n goroutines released at once and fails unless
// exactly one returns nil and every other returns loser.
func mustOneWinner(t *testing.T, n int, loser error, op func() error) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = op()
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, loser):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d callers won, want exactly 1", wins, n)
	}
}

func testTOTPCreate(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	now := clock.Now()
	a := mfaTOTP("t1", "u1")
	// A new authenticator has accepted no step and is not active, whatever
	// the caller says.
	a.LastStep, a.ConfirmedAt, a.LastUsedAt = 0, &now, &now
	mustNil(t, s.CreateTOTP(ctx(t), a))
	if a.LastStep != -1 || a.ConfirmedAt != nil || a.LastUsedAt != nil || !a.CreatedAt.Equal(now) {
		t.Fatalf("after create: %+v", a)
	}
	got := mustTOTP(t, s, "u1", "t1")
	if got.UserID != "u1" || got.Name != "Phone t1" || got.SecretSealed != "c2VhbGVk-t1" || got.LastStep != -1 ||
		got.ConfirmedAt != nil || got.LastUsedAt != nil || !got.CreatedAt.Equal(now) {
		t.Fatalf("GetTOTP = %+v", got)
	}
	_, err := s.GetTOTP(ctx(t), "u2", "t1")
	mustIs(t, err, storage.ErrNotFound)
	_, err = s.GetTOTP(ctx(t), "u1", "missing")
	mustIs(t, err, storage.ErrNotFound)
	mustIs(t, s.CreateTOTP(ctx(t), mfaTOTP("t1", "u2")), storage.ErrConflict)
	mustIs(t, s.CreateTOTP(ctx(t), mfaTOTP("t2", "nobody")), storage.ErrReference)
}

func testListTOTP(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t-b", "u1")))
	clock.Advance(time.Minute)
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t-a", "u1")))
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t-c", "u2")))

	all, err := s.ListTOTP(ctx(t), "u1", false)
	mustNil(t, err)
	if want := []string{"t-b", "t-a"}; !slices.Equal(totpIDs(all), want) {
		t.Fatalf("ListTOTP(all) = %v, want %v", totpIDs(all), want)
	}
	active, err := s.ListTOTP(ctx(t), "u1", true)
	mustNil(t, err)
	if len(active) != 0 {
		t.Fatalf("unconfirmed authenticators listed as confirmed: %v", totpIDs(active))
	}
	mustNil(t, s.ConfirmTOTP(ctx(t), "u1", "t-a", 1000))
	active, err = s.ListTOTP(ctx(t), "u1", true)
	mustNil(t, err)
	if !slices.Equal(totpIDs(active), []string{"t-a"}) || active[0].LastStep != 1000 {
		t.Fatalf("ListTOTP(confirmed) = %+v", active)
	}
	none, err := s.ListTOTP(ctx(t), "nobody", false)
	mustNil(t, err)
	if len(none) != 0 {
		t.Fatalf("a user without authenticators has %v", totpIDs(none))
	}
}

func testConfirmTOTP(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t1", "u1")))
	clock.Advance(30 * time.Second)
	mustIs(t, s.ConfirmTOTP(ctx(t), "u2", "t1", 100), storage.ErrNotFound)
	mustIs(t, s.ConfirmTOTP(ctx(t), "u1", "missing", 100), storage.ErrNotFound)
	mustNil(t, s.ConfirmTOTP(ctx(t), "u1", "t1", 100))
	got := mustTOTP(t, s, "u1", "t1")
	sameTime(t, "ConfirmedAt", got.ConfirmedAt, clock.Now())
	if got.LastStep != 100 || got.LastUsedAt != nil {
		t.Fatalf("confirmed authenticator = %+v", got)
	}
	mustIs(t, s.ConfirmTOTP(ctx(t), "u1", "t1", 101), storage.ErrNotFound)
	if got := mustTOTP(t, s, "u1", "t1"); got.LastStep != 100 {
		t.Fatalf("a second confirmation moved the step to %d", got.LastStep)
	}
}

func testAdvanceTOTPStep(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t1", "u1")))
	mustNil(t, s.ConfirmTOTP(ctx(t), "u1", "t1", 100))
	// The enrollment code cannot be replayed to sign in.
	mustIs(t, s.AdvanceTOTPStep(ctx(t), "u1", "t1", 100), storage.ErrConflict)

	clock.Advance(30 * time.Second)
	mustNil(t, s.AdvanceTOTPStep(ctx(t), "u1", "t1", 101))
	got := mustTOTP(t, s, "u1", "t1")
	sameTime(t, "LastUsedAt", got.LastUsedAt, clock.Now())
	if got.LastStep != 101 {
		t.Fatalf("LastStep = %d, want 101", got.LastStep)
	}
	mustIs(t, s.AdvanceTOTPStep(ctx(t), "u1", "t1", 101), storage.ErrConflict)
	mustIs(t, s.AdvanceTOTPStep(ctx(t), "u1", "t1", 100), storage.ErrConflict)

	// A code of the next step (clock drift) moves past the one in between,
	// which is then refused.
	mustNil(t, s.AdvanceTOTPStep(ctx(t), "u1", "t1", 103))
	mustIs(t, s.AdvanceTOTPStep(ctx(t), "u1", "t1", 102), storage.ErrConflict)
	if got := mustTOTP(t, s, "u1", "t1"); got.LastStep != 103 {
		t.Fatalf("LastStep = %d after refused steps, want 103", got.LastStep)
	}
}

func testAdvanceTOTPNotActive(t *testing.T, newStore Factory) {
	s, _ := mfaStore(t, newStore)
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t1", "u1")))
	mustIs(t, s.AdvanceTOTPStep(ctx(t), "u1", "t1", 1), storage.ErrNotFound)
	if got := mustTOTP(t, s, "u1", "t1"); got.LastStep != -1 || got.LastUsedAt != nil || got.ConfirmedAt != nil {
		t.Fatalf("an unconfirmed authenticator advanced: %+v", got)
	}
	mustNil(t, s.ConfirmTOTP(ctx(t), "u1", "t1", 5))
	// Another user's attempt neither succeeds nor burns the step.
	mustIs(t, s.AdvanceTOTPStep(ctx(t), "u2", "t1", 6), storage.ErrNotFound)
	mustIs(t, s.AdvanceTOTPStep(ctx(t), "u1", "missing", 6), storage.ErrNotFound)
	mustNil(t, s.AdvanceTOTPStep(ctx(t), "u1", "t1", 6))
}

func testConcurrentAdvanceTOTPStep(t *testing.T, newStore Factory) {
	s, _ := mfaStore(t, newStore)
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t1", "u1")))
	mustNil(t, s.ConfirmTOTP(ctx(t), "u1", "t1", 10))
	mustOneWinner(t, 20, storage.ErrConflict, func() error { return s.AdvanceTOTPStep(ctx(t), "u1", "t1", 11) })
	if got := mustTOTP(t, s, "u1", "t1"); got.LastStep != 11 {
		t.Fatalf("LastStep = %d, want 11", got.LastStep)
	}
}

func testRenameDeleteTOTP(t *testing.T, newStore Factory) {
	s, _ := mfaStore(t, newStore)
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t1", "u1")))
	mustIs(t, s.RenameTOTP(ctx(t), "u2", "t1", "mine now"), storage.ErrNotFound)
	mustIs(t, s.DeleteTOTP(ctx(t), "u2", "t1"), storage.ErrNotFound)
	if got := mustTOTP(t, s, "u1", "t1"); got.Name != "Phone t1" {
		t.Fatalf("another user renamed it to %q", got.Name)
	}
	mustNil(t, s.RenameTOTP(ctx(t), "u1", "t1", "Work phone"))
	mustNil(t, s.RenameTOTP(ctx(t), "u1", "t1", "Work phone")) // unchanged is not missing
	if got := mustTOTP(t, s, "u1", "t1"); got.Name != "Work phone" {
		t.Fatalf("Name = %q", got.Name)
	}
	mustNil(t, s.DeleteTOTP(ctx(t), "u1", "t1"))
	_, err := s.GetTOTP(ctx(t), "u1", "t1")
	mustIs(t, err, storage.ErrNotFound)
	mustIs(t, s.DeleteTOTP(ctx(t), "u1", "t1"), storage.ErrNotFound)
	mustIs(t, s.RenameTOTP(ctx(t), "u1", "t1", "gone"), storage.ErrNotFound)
}

func testDeleteStaleTOTP(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("old-pending", "u1")))
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("old-active", "u1")))
	mustNil(t, s.ConfirmTOTP(ctx(t), "u1", "old-active", 1))
	clock.Advance(time.Hour)
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("new-pending", "u2")))

	// created_at is compared strictly: one created at the cutoff stays.
	n, err := s.DeleteStaleTOTP(ctx(t), clock.Now())
	mustNil(t, err)
	if n != 1 {
		t.Fatalf("DeleteStaleTOTP = %d, want 1", n)
	}
	_, err = s.GetTOTP(ctx(t), "u1", "old-pending")
	mustIs(t, err, storage.ErrNotFound)
	mustTOTP(t, s, "u1", "old-active")
	mustTOTP(t, s, "u2", "new-pending")
	n, err = s.DeleteStaleTOTP(ctx(t), clock.Now())
	mustNil(t, err)
	if n != 0 {
		t.Fatalf("a second DeleteStaleTOTP removed %d", n)
	}
}

func testWebAuthnCredentialRoundTrip(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	t0 := clock.Now()
	full := &storage.WebAuthnCredential{
		ID: "AQIDBAUGBwgJCgsMDQ4PEA", UserID: "u1", Name: "Security key", PublicKey: "pQECAyYgASFYIBYl",
		AAGUID: "cb69481e-8ff7-4039-93ec-0a2729a154a8", SignCount: math.MaxUint32,
		Transports: storage.Strings{"usb", "nfc"}, Flags: 0x5D, // UP, UV, BE, BS, AT
		AttestationType: "packed", Discoverable: true,
	}
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), full))
	got := mustCredential(t, s, full.ID)
	if got.UserID != "u1" || got.Name != full.Name || got.PublicKey != full.PublicKey || got.AAGUID != full.AAGUID ||
		got.SignCount != math.MaxUint32 || !slices.Equal(got.Transports, full.Transports) || got.Flags != 0x5D ||
		got.AttestationType != "packed" || !got.Discoverable || got.PossiblyCloned || !got.CreatedAt.Equal(t0) || got.LastUsedAt != nil {
		t.Fatalf("GetWebAuthnCredential = %+v", got)
	}

	clock.Advance(time.Minute)
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), &storage.WebAuthnCredential{ID: "0-minimal", UserID: "u1", Name: "Laptop", PublicKey: "pQ", Flags: 0xFF}))
	got = mustCredential(t, s, "0-minimal")
	if got.AAGUID != "" || got.SignCount != 0 || len(got.Transports) != 0 || got.Flags != 0xFF || got.AttestationType != "" ||
		got.Discoverable || !got.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("minimal credential = %+v", got)
	}

	list, err := s.ListWebAuthnCredentials(ctx(t), "u1")
	mustNil(t, err)
	if len(list) != 2 || list[0].ID != full.ID || list[1].ID != "0-minimal" || list[0].Flags != 0x5D {
		t.Fatalf("ListWebAuthnCredentials = %+v, want oldest first", list)
	}
	list, err = s.ListWebAuthnCredentials(ctx(t), "u2")
	mustNil(t, err)
	if len(list) != 0 {
		t.Fatalf("u2 has credentials %+v", list)
	}
	_, err = s.GetWebAuthnCredential(ctx(t), "missing")
	mustIs(t, err, storage.ErrNotFound)
	mustIs(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential("c-orphan", "nobody")), storage.ErrReference)
}

func testWebAuthnCredentialIDTaken(t *testing.T, newStore Factory) {
	s, _ := mfaStore(t, newStore)
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential("cred", "u1")))
	theirs := mfaCredential("cred", "u2")
	theirs.Name, theirs.PublicKey = "Attacker's key", "attacker"
	mustIs(t, s.CreateWebAuthnCredential(ctx(t), theirs), storage.ErrConflict)
	mustIs(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential("cred", "u1")), storage.ErrConflict)
	got := mustCredential(t, s, "cred")
	if got.UserID != "u1" || got.Name != "Key cred" || got.PublicKey != "pQECAyYgASFY-cred" {
		t.Fatalf("the credential changed hands: %+v", got)
	}
	list, err := s.ListWebAuthnCredentials(ctx(t), "u2")
	mustNil(t, err)
	if len(list) != 0 {
		t.Fatalf("u2 has credentials %+v", list)
	}
}

func testUseWebAuthnCredential(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	counting := mfaCredential("counting", "u1")
	counting.SignCount = 5
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), counting))
	mustIs(t, s.UseWebAuthnCredential(ctx(t), "counting", 5), storage.ErrConflict)
	mustIs(t, s.UseWebAuthnCredential(ctx(t), "counting", 4), storage.ErrConflict)
	mustIs(t, s.UseWebAuthnCredential(ctx(t), "counting", 0), storage.ErrConflict) // a counter that stopped counting
	if got := mustCredential(t, s, "counting"); got.SignCount != 5 || got.LastUsedAt != nil {
		t.Fatalf("refused assertions changed the credential: %+v", got)
	}
	clock.Advance(time.Minute)
	mustNil(t, s.UseWebAuthnCredential(ctx(t), "counting", 6))
	got := mustCredential(t, s, "counting")
	sameTime(t, "LastUsedAt", got.LastUsedAt, clock.Now())
	if got.SignCount != 6 || got.PossiblyCloned {
		t.Fatalf("after use: %+v", got)
	}
	mustNil(t, s.UseWebAuthnCredential(ctx(t), "counting", math.MaxUint32))
	if got := mustCredential(t, s, "counting"); got.SignCount != math.MaxUint32 {
		t.Fatalf("SignCount = %d, want %d", got.SignCount, uint32(math.MaxUint32))
	}

	// Counters of 0 mean "not supported" (WebAuthn §6.1.1).
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential("counterless", "u1")))
	for range 3 {
		mustNil(t, s.UseWebAuthnCredential(ctx(t), "counterless", 0))
	}
	// Once it starts counting, falling back to 0 is a regression.
	mustNil(t, s.UseWebAuthnCredential(ctx(t), "counterless", 1))
	mustIs(t, s.UseWebAuthnCredential(ctx(t), "counterless", 0), storage.ErrConflict)
	mustIs(t, s.UseWebAuthnCredential(ctx(t), "missing", 1), storage.ErrNotFound)
}

func testClonedWebAuthnCredential(t *testing.T, newStore Factory) {
	s, _ := mfaStore(t, newStore)
	c := mfaCredential("cred", "u1")
	c.SignCount = 10
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), c))
	mustIs(t, s.UseWebAuthnCredential(ctx(t), "cred", 9), storage.ErrConflict)
	mustNil(t, s.MarkWebAuthnCredentialCloned(ctx(t), "cred"))
	mustNil(t, s.MarkWebAuthnCredentialCloned(ctx(t), "cred"))
	mustIs(t, s.MarkWebAuthnCredentialCloned(ctx(t), "missing"), storage.ErrNotFound)
	// Not even the genuine authenticator's next counter is accepted.
	mustIs(t, s.UseWebAuthnCredential(ctx(t), "cred", 11), storage.ErrConflict)
	got := mustCredential(t, s, "cred")
	if !got.PossiblyCloned || got.SignCount != 10 || got.LastUsedAt != nil {
		t.Fatalf("cloned credential = %+v", got)
	}
	zero := mfaCredential("zero", "u1")
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), zero))
	mustNil(t, s.MarkWebAuthnCredentialCloned(ctx(t), "zero"))
	mustIs(t, s.UseWebAuthnCredential(ctx(t), "zero", 0), storage.ErrConflict)
}

func testConcurrentUseWebAuthnCredential(t *testing.T, newStore Factory) {
	s, _ := mfaStore(t, newStore)
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential("cred", "u1")))
	mustOneWinner(t, 20, storage.ErrConflict, func() error { return s.UseWebAuthnCredential(ctx(t), "cred", 7) })
	if got := mustCredential(t, s, "cred"); got.SignCount != 7 {
		t.Fatalf("SignCount = %d, want 7", got.SignCount)
	}
}

func testRenameDeleteWebAuthnCredential(t *testing.T, newStore Factory) {
	s, _ := mfaStore(t, newStore)
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential("cred", "u1")))
	mustIs(t, s.RenameWebAuthnCredential(ctx(t), "u2", "cred", "mine now"), storage.ErrNotFound)
	mustIs(t, s.DeleteWebAuthnCredential(ctx(t), "u2", "cred"), storage.ErrNotFound)
	if got := mustCredential(t, s, "cred"); got.Name != "Key cred" {
		t.Fatalf("another user renamed it to %q", got.Name)
	}
	mustNil(t, s.RenameWebAuthnCredential(ctx(t), "u1", "cred", "YubiKey 5"))
	mustNil(t, s.RenameWebAuthnCredential(ctx(t), "u1", "cred", "YubiKey 5"))
	if got := mustCredential(t, s, "cred"); got.Name != "YubiKey 5" {
		t.Fatalf("Name = %q", got.Name)
	}
	mustNil(t, s.DeleteWebAuthnCredential(ctx(t), "u1", "cred"))
	_, err := s.GetWebAuthnCredential(ctx(t), "cred")
	mustIs(t, err, storage.ErrNotFound)
	mustIs(t, s.DeleteWebAuthnCredential(ctx(t), "u1", "cred"), storage.ErrNotFound)
	mustIs(t, s.RenameWebAuthnCredential(ctx(t), "u1", "cred", "gone"), storage.ErrNotFound)
	// A deleted credential id may be registered again.
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential("cred", "u2")))
}

func testBackupCodes(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	t0 := clock.Now()
	mustNil(t, s.ReplaceBackupCodes(ctx(t), "u1", mfaCodes("a", 3)))
	mustUnusedCodes(t, s, "u1", 3)
	c, err := s.FindBackupCode(ctx(t), "u1", "tag-a1")
	mustNil(t, err)
	if c.ID != "a1" || c.UserID != "u1" || c.Tag != "tag-a1" || c.Hash != "$argon2id$v=19$m=19456,t=2,p=1$a1" ||
		c.UsedAt != nil || !c.CreatedAt.Equal(t0) {
		t.Fatalf("FindBackupCode = %+v", c)
	}
	_, err = s.FindBackupCode(ctx(t), "u1", "tag-unknown")
	mustIs(t, err, storage.ErrNotFound)
	mustUnusedCodes(t, s, "u1", 3) // finding is not using

	clock.Advance(time.Minute)
	mustNil(t, s.UseBackupCode(ctx(t), "a1"))
	_, err = s.FindBackupCode(ctx(t), "u1", "tag-a1")
	mustIs(t, err, storage.ErrNotFound)
	mustIs(t, s.UseBackupCode(ctx(t), "a1"), storage.ErrNotFound)
	mustIs(t, s.UseBackupCode(ctx(t), "missing"), storage.ErrNotFound)
	mustUnusedCodes(t, s, "u1", 2)
	var usedAt time.Time
	if err := s.SQL().QueryRowContext(ctx(t), "SELECT used_at FROM backup_codes WHERE id = 'a1'").Scan(&usedAt); err != nil {
		t.Fatal(err)
	}
	if !usedAt.Equal(clock.Now()) {
		t.Fatalf("used_at = %v, want %v", usedAt, clock.Now())
	}
	c, err = s.FindBackupCode(ctx(t), "u1", "tag-a2")
	mustNil(t, err)
	if c.ID != "a2" {
		t.Fatalf("FindBackupCode(tag-a2) = %+v", c)
	}
}

func testReplaceBackupCodes(t *testing.T, newStore Factory) {
	s, _ := mfaStore(t, newStore)
	mustNil(t, s.ReplaceBackupCodes(ctx(t), "u1", mfaCodes("a", 3)))
	mustNil(t, s.UseBackupCode(ctx(t), "a0"))
	next := mfaCodes("b", 2)
	mustNil(t, s.ReplaceBackupCodes(ctx(t), "u1", next))
	if next[0].UserID != "" {
		t.Fatalf("ReplaceBackupCodes modified its argument: %+v", next[0])
	}
	mustUnusedCodes(t, s, "u1", 2)
	_, err := s.FindBackupCode(ctx(t), "u1", "tag-a2")
	mustIs(t, err, storage.ErrNotFound)
	mustIs(t, s.UseBackupCode(ctx(t), "a2"), storage.ErrNotFound)
	if n := mfaRows(t, s, "backup_codes", "user_id = 'u1'"); n != 2 {
		t.Fatalf("u1 has %d backup code rows, want 2 (used ones go too)", n)
	}
	_, err = s.FindBackupCode(ctx(t), "u1", "tag-b0")
	mustNil(t, err)

	// A failed replacement leaves the previous set intact.
	dup := mfaCodes("c", 2)
	dup[1].Tag = dup[0].Tag
	mustIs(t, s.ReplaceBackupCodes(ctx(t), "u1", dup), storage.ErrConflict)
	foreign := mfaCodes("d", 1)
	foreign[0].UserID = "u2"
	if err := s.ReplaceBackupCodes(ctx(t), "u1", foreign); err == nil {
		t.Fatal("a code of another user was stored")
	}
	mustUnusedCodes(t, s, "u1", 2)
	_, err = s.FindBackupCode(ctx(t), "u1", "tag-b1")
	mustNil(t, err)
	mustIs(t, s.ReplaceBackupCodes(ctx(t), "nobody", mfaCodes("e", 1)), storage.ErrReference)

	mustNil(t, s.ReplaceBackupCodes(ctx(t), "u1", nil))
	mustUnusedCodes(t, s, "u1", 0)
}

func testConcurrentUseBackupCode(t *testing.T, newStore Factory) {
	s, _ := mfaStore(t, newStore)
	mustNil(t, s.ReplaceBackupCodes(ctx(t), "u1", mfaCodes("a", 3)))
	mustOneWinner(t, 20, storage.ErrNotFound, func() error { return s.UseBackupCode(ctx(t), "a0") })
	mustUnusedCodes(t, s, "u1", 2)
}

func testBackupCodesPerUser(t *testing.T, newStore Factory) {
	s, _ := mfaStore(t, newStore)
	mustNil(t, s.ReplaceBackupCodes(ctx(t), "u1", mfaCodes("a", 3)))
	// Tags are unique per user only.
	theirs := mfaCodes("a", 3)
	for i := range theirs {
		theirs[i].ID = fmt.Sprint("b", i)
	}
	mustNil(t, s.ReplaceBackupCodes(ctx(t), "u2", theirs))
	c, err := s.FindBackupCode(ctx(t), "u2", "tag-a0")
	mustNil(t, err)
	if c.ID != "b0" || c.UserID != "u2" {
		t.Fatalf("u2 found %+v", c)
	}
	mustNil(t, s.UseBackupCode(ctx(t), "b0"))
	c, err = s.FindBackupCode(ctx(t), "u1", "tag-a0")
	mustNil(t, err)
	if c.ID != "a0" {
		t.Fatalf("u1 found %+v", c)
	}
	_, err = s.FindBackupCode(ctx(t), "nobody", "tag-a0")
	mustIs(t, err, storage.ErrNotFound)

	mustNil(t, s.DeleteBackupCodes(ctx(t), "u1"))
	mustUnusedCodes(t, s, "u1", 0)
	mustUnusedCodes(t, s, "u2", 2)
	mustNil(t, s.DeleteBackupCodes(ctx(t), "u1"))
}

func testWebAuthnSession(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	t0 := clock.Now()
	exp := t0.Add(5 * time.Minute)
	mustNil(t, s.CreateWebAuthnSession(ctx(t), mfaSession("ws-reg", ptr("u1"), storage.WebAuthnRegister, exp)))
	mustNil(t, s.CreateWebAuthnSession(ctx(t), mfaSession("ws-pk", nil, storage.WebAuthnPasskey, exp)))
	mustNil(t, s.CreateWebAuthnSession(ctx(t), mfaSession("ws-login", ptr("u1"), storage.WebAuthnLogin, exp)))
	mustIs(t, s.CreateWebAuthnSession(ctx(t), mfaSession("ws-reg", ptr("u1"), storage.WebAuthnRegister, exp)), storage.ErrConflict)
	mustIs(t, s.CreateWebAuthnSession(ctx(t), mfaSession("ws-x", ptr("nobody"), storage.WebAuthnLogin, exp)), storage.ErrReference)
	if err := s.CreateWebAuthnSession(ctx(t), mfaSession("ws-bad", ptr("u1"), "recover", exp)); err == nil {
		t.Fatal("a ceremony with an unknown purpose was stored")
	}
	if err := s.CreateWebAuthnSession(ctx(t), mfaSession("ws-anon", nil, storage.WebAuthnLogin, exp)); err == nil {
		t.Fatal("a second-factor ceremony without a user was stored")
	}

	// The wrong purpose finds nothing and does not use the ceremony up.
	_, err := s.ConsumeWebAuthnSession(ctx(t), "ws-reg", storage.WebAuthnLogin)
	mustIs(t, err, storage.ErrNotFound)
	clock.Advance(time.Minute)
	got, err := s.ConsumeWebAuthnSession(ctx(t), "ws-reg", storage.WebAuthnRegister)
	mustNil(t, err)
	if got.ID != "ws-reg" || got.UserID == nil || *got.UserID != "u1" || got.Purpose != "register" ||
		got.Data != `{"challenge":"ws-reg"}` || !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("consumed ceremony = %+v", got)
	}
	sameTime(t, "UsedAt", got.UsedAt, clock.Now())
	_, err = s.ConsumeWebAuthnSession(ctx(t), "ws-reg", storage.WebAuthnRegister)
	mustIs(t, err, storage.ErrNotFound)

	got, err = s.ConsumeWebAuthnSession(ctx(t), "ws-pk", storage.WebAuthnPasskey)
	mustNil(t, err)
	if got.UserID != nil || got.Purpose != "passkey" {
		t.Fatalf("consumed passkey ceremony = %+v", got)
	}
	_, err = s.ConsumeWebAuthnSession(ctx(t), "missing", storage.WebAuthnLogin)
	mustIs(t, err, storage.ErrNotFound)

	clock.Advance(4 * time.Minute) // expires_at is exclusive: over at that instant
	_, err = s.ConsumeWebAuthnSession(ctx(t), "ws-login", storage.WebAuthnLogin)
	mustIs(t, err, storage.ErrNotFound)
}

func testConcurrentConsumeWebAuthnSession(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	mustNil(t, s.CreateWebAuthnSession(ctx(t), mfaSession("ws", nil, storage.WebAuthnPasskey, clock.Now().Add(5*time.Minute))))
	mustOneWinner(t, 20, storage.ErrNotFound, func() error {
		_, err := s.ConsumeWebAuthnSession(ctx(t), "ws", storage.WebAuthnPasskey)
		return err
	})
}

func testDeleteExpiredMFA(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	now := clock.Now()
	mustNil(t, s.CreateWebAuthnSession(ctx(t), mfaSession("ws-used", ptr("u1"), storage.WebAuthnLogin, now.Add(time.Hour))))
	_, err := s.ConsumeWebAuthnSession(ctx(t), "ws-used", storage.WebAuthnLogin)
	mustNil(t, err)
	mustNil(t, s.CreateWebAuthnSession(ctx(t), mfaSession("ws-expired", nil, storage.WebAuthnPasskey, now.Add(time.Minute))))
	mustNil(t, s.CreateWebAuthnSession(ctx(t), mfaSession("ws-live", ptr("u2"), storage.WebAuthnRegister, now.Add(time.Hour))))
	// Not ceremonies: left alone.
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t-pending", "u1")))
	mustNil(t, s.ReplaceBackupCodes(ctx(t), "u1", mfaCodes("a", 1)))
	mustNil(t, s.UseBackupCode(ctx(t), "a0"))

	clock.Advance(time.Minute)
	n, err := s.DeleteExpiredMFA(ctx(t))
	mustNil(t, err)
	if n != 2 {
		t.Fatalf("DeleteExpiredMFA = %d, want 2", n)
	}
	if got := mfaRows(t, s, "webauthn_sessions", "id IN ('ws-used', 'ws-expired')"); got != 0 {
		t.Fatalf("%d used or expired ceremonies remain", got)
	}
	if got := mfaRows(t, s, "webauthn_sessions", "id = 'ws-live'"); got != 1 {
		t.Fatal("the live ceremony was deleted")
	}
	mustTOTP(t, s, "u1", "t-pending")
	if got := mfaRows(t, s, "backup_codes", "id = 'a0'"); got != 1 {
		t.Fatal("a used backup code was deleted")
	}
	n, err = s.DeleteExpiredMFA(ctx(t))
	mustNil(t, err)
	if n != 0 {
		t.Fatalf("a second DeleteExpiredMFA removed %d", n)
	}
	_, err = s.ConsumeWebAuthnSession(ctx(t), "ws-live", storage.WebAuthnRegister)
	mustNil(t, err)
}

func testCountSecondFactors(t *testing.T, newStore Factory) {
	s, _ := mfaStore(t, newStore)
	counts, err := s.CountSecondFactors(ctx(t), "u1")
	mustNil(t, err)
	if counts != (storage.FactorCounts{}) {
		t.Fatalf("a user without factors has %+v", counts)
	}
	for _, id := range []string{"t-active", "t-pending"} {
		mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP(id, "u1")))
	}
	mustNil(t, s.ConfirmTOTP(ctx(t), "u1", "t-active", 1))
	for _, id := range []string{"c-ok", "c-cloned"} {
		mustNil(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential(id, "u1")))
	}
	synced := mfaCredential("c-synced", "u1")
	synced.Flags |= 0x08 // backup eligible: a synced passkey, not device-bound
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), synced))
	mustNil(t, s.MarkWebAuthnCredentialCloned(ctx(t), "c-cloned"))
	mustNil(t, s.ReplaceBackupCodes(ctx(t), "u1", mfaCodes("a", 3)))
	mustNil(t, s.UseBackupCode(ctx(t), "a0"))
	// u2's factors are not u1's.
	mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t-u2", "u2")))
	mustNil(t, s.ConfirmTOTP(ctx(t), "u2", "t-u2", 1))
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential("c-u2", "u2")))
	mustNil(t, s.ReplaceBackupCodes(ctx(t), "u2", mfaCodes("b", 10)))

	counts, err = s.CountSecondFactors(ctx(t), "u1")
	mustNil(t, err)
	if want := (storage.FactorCounts{TOTP: 1, WebAuthn: 2, WebAuthnDeviceBound: 1, BackupCodes: 2}); counts != want {
		t.Fatalf("CountSecondFactors(u1) = %+v, want %+v", counts, want)
	}
	counts, err = s.CountSecondFactors(ctx(t), "u2")
	mustNil(t, err)
	if want := (storage.FactorCounts{TOTP: 1, WebAuthn: 1, WebAuthnDeviceBound: 1, BackupCodes: 10}); counts != want {
		t.Fatalf("CountSecondFactors(u2) = %+v, want %+v", counts, want)
	}
}

func testMFACascades(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	exp := clock.Now().Add(5 * time.Minute)
	for _, u := range []string{"u1", "u2"} {
		mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t-"+u, u)))
		mustNil(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential("c-"+u, u)))
		mustNil(t, s.ReplaceBackupCodes(ctx(t), u, mfaCodes("code-"+u+"-", 2)))
		mustNil(t, s.CreateWebAuthnSession(ctx(t), mfaSession("ws-"+u, ptr(u), storage.WebAuthnRegister, exp)))
	}
	mustNil(t, s.DeleteUser(ctx(t), "u1"))
	for _, table := range []string{"totp_authenticators", "webauthn_credentials", "backup_codes", "webauthn_sessions"} {
		if n := mfaRows(t, s, table, "user_id = 'u1'"); n != 0 {
			t.Errorf("%s keeps %d rows of the deleted user", table, n)
		}
		if n := mfaRows(t, s, table, "user_id = 'u2'"); n == 0 {
			t.Errorf("%s lost the other user's rows", table)
		}
	}
	_, err := s.GetWebAuthnCredential(ctx(t), "c-u1")
	mustIs(t, err, storage.ErrNotFound)
	_, err = s.ConsumeWebAuthnSession(ctx(t), "ws-u1", storage.WebAuthnRegister)
	mustIs(t, err, storage.ErrNotFound)
	// The credential id is free again.
	mustNil(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential("c-u1", "u2")))
}

func testResetSecondFactors(t *testing.T, newStore Factory) {
	s, clock := mfaStore(t, newStore)
	now := clock.Now()
	for _, u := range []string{"u1", "u2"} {
		mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t-"+u, u)))
		mustNil(t, s.ConfirmTOTP(ctx(t), u, "t-"+u, 1))
		mustNil(t, s.CreateTOTP(ctx(t), mfaTOTP("t-pending-"+u, u)))
		mustNil(t, s.CreateWebAuthnCredential(ctx(t), mfaCredential("c-"+u, u)))
		mustNil(t, s.ReplaceBackupCodes(ctx(t), u, mfaCodes("b-"+u+"-", 3)))
		mustNil(t, s.CreateRememberedDevice(ctx(t), &storage.RememberedDevice{ID: "d-" + u, UserID: u, TokenHash: "dh-" + u, ExpiresAt: now.Add(time.Hour)}))
		se := pvSession("s-"+u, "cookie-"+u, now)
		se.UserID = u
		mustNil(t, s.CreateSession(ctx(t), se))
	}
	r, err := s.ResetSecondFactors(ctx(t), "u1")
	mustNil(t, err)
	if r != (storage.MFAReset{TOTP: 2, WebAuthn: 1, SessionsEnded: 1}) {
		t.Fatalf("reset = %+v", r)
	}
	counts, err := s.CountSecondFactors(ctx(t), "u1")
	mustNil(t, err)
	if counts != (storage.FactorCounts{}) {
		t.Fatalf("after the reset u1 has %+v", counts)
	}
	devices, err := s.ListRememberedDevices(ctx(t), "u1")
	mustNil(t, err)
	sessions, err := s.ListUserSessions(ctx(t), "u1")
	mustNil(t, err)
	if len(devices) != 0 || len(sessions) != 0 {
		t.Fatalf("after the reset u1 has %d remembered devices and %d sessions", len(devices), len(sessions))
	}
	counts, err = s.CountSecondFactors(ctx(t), "u2")
	mustNil(t, err)
	if counts != (storage.FactorCounts{TOTP: 1, WebAuthn: 1, WebAuthnDeviceBound: 1, BackupCodes: 3}) {
		t.Fatalf("u1's reset touched u2: %+v", counts)
	}
	sessions, err = s.ListUserSessions(ctx(t), "u2")
	mustNil(t, err)
	if len(sessions) != 1 {
		t.Fatalf("u1's reset ended u2's sessions: %d left", len(sessions))
	}
}
