package storagetest

import (
	"testing"
	"time"

	"github.com/twofold-idp/twofold/storage"
)

func deviceTests() []conformanceTest {
	return []conformanceTest{
		{"a remembered device works for its user until it expires", testRememberedDevice},
		{"remembered devices are listed and forgotten by their user only", testForgetRememberedDevices},
	}
}

func testRememberedDevice(t *testing.T, newStore Factory) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := &now
	s := newStore(t, storage.WithNow(func() time.Time { return *clock }))
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "alice")))
	mustNil(t, s.CreateUser(ctx(t), newUser("u2", "bob")))
	mustNil(t, s.CreateRememberedDevice(ctx(t), &storage.RememberedDevice{ID: "d1", UserID: "u1", TokenHash: "h1", Label: "Firefox", ExpiresAt: now.Add(time.Hour)}))
	mustIs(t, s.CreateRememberedDevice(ctx(t), &storage.RememberedDevice{ID: "d2", UserID: "u1", TokenHash: "h1", ExpiresAt: now.Add(time.Hour)}), storage.ErrConflict)
	d, err := s.UseRememberedDevice(ctx(t), "u1", "h1")
	mustNil(t, err)
	if d.ID != "d1" || d.LastUsedAt == nil {
		t.Fatalf("UseRememberedDevice = %+v", d)
	}
	_, err = s.UseRememberedDevice(ctx(t), "u2", "h1") // another user's device
	mustIs(t, err, storage.ErrNotFound)
	later := now.Add(2 * time.Hour)
	clock = &later
	_, err = s.UseRememberedDevice(ctx(t), "u1", "h1")
	mustIs(t, err, storage.ErrNotFound)
}

func testForgetRememberedDevices(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustNil(t, s.CreateUser(ctx(t), newUser("u1", "alice")))
	exp := time.Now().Add(time.Hour)
	for _, id := range []string{"d1", "d2", "d3"} {
		mustNil(t, s.CreateRememberedDevice(ctx(t), &storage.RememberedDevice{ID: id, UserID: "u1", TokenHash: "h" + id, ExpiresAt: exp}))
	}
	list, err := s.ListRememberedDevices(ctx(t), "u1")
	mustNil(t, err)
	if len(list) != 3 {
		t.Fatalf("ListRememberedDevices = %d", len(list))
	}
	mustIs(t, s.ForgetRememberedDevice(ctx(t), "u2", "d1"), storage.ErrNotFound)
	mustNil(t, s.ForgetRememberedDevice(ctx(t), "u1", "d1"))
	mustNil(t, s.ForgetRememberedDevices(ctx(t), "u1"))
	list, err = s.ListRememberedDevices(ctx(t), "u1")
	mustNil(t, err)
	if len(list) != 0 {
		t.Fatalf("devices left after forgetting all: %d", len(list))
	}
}
