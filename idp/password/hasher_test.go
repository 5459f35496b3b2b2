package password

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// testParams are far below anything safe, to keep the suite fast.
var testParams = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := New(testParams, 0)
	ctx := t.Context()
	for _, pw := range []string{"correct horse battery staple", "", "ünïcødé pässwörd", strings.Repeat("x", MaxLength)} {
		encoded, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatalf("Hash: %v", err)
		}
		ok, needsRehash, err := h.Verify(ctx, encoded, pw)
		if err != nil || !ok || needsRehash {
			t.Fatalf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, needsRehash, err)
		}
		wrong := pw + "!"
		if len(pw) == MaxLength {
			wrong = "y" + pw[1:]
		}
		ok, needsRehash, err = h.Verify(ctx, encoded, wrong)
		if err != nil || ok || needsRehash {
			t.Fatalf("Verify(wrong password) = %v, %v, %v; want false, false, nil", ok, needsRehash, err)
		}
	}
}

func TestHashFormat(t *testing.T) {
	h := New(testParams, 0)
	a, err := h.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("Hash = %q, want the PHC argon2id prefix", a)
	}
	parsed, err := parsePHC(a)
	if err != nil {
		t.Fatalf("our own hash does not parse strictly: %v", err)
	}
	if parsed.params != testParams {
		t.Fatalf("parsed params = %+v, want %+v", parsed.params, testParams)
	}
	if b, _ := h.Hash(t.Context(), "pw"); a == b {
		t.Fatal("two hashes of the same password are equal: salt is not random")
	}
}

func TestDefaultParams(t *testing.T) {
	// OWASP Password Storage Cheat Sheet, argon2id minimum configuration.
	want := Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	if DefaultParams != want {
		t.Fatalf("DefaultParams = %+v, want %+v", DefaultParams, want)
	}
	h := New(DefaultParams, 1)
	encoded, err := h.Hash(t.Context(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash = %q", encoded)
	}
	if ok, needsRehash, err := h.Verify(t.Context(), encoded, "correct horse battery staple"); !ok || needsRehash || err != nil {
		t.Fatalf("Verify = %v, %v, %v", ok, needsRehash, err)
	}
}

// Vectors from the reference implementation (phc-winner-argon2 src/test.c
// and the libar2 test suite), so our PHC encoding and x/crypto's argon2id
// are checked against someone else's code.
func TestVerifyReferenceVectors(t *testing.T) {
	h := New(testParams, 0)
	vectors := []struct{ password, encoded string }{
		{"password", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"},
		{"password", "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"},
		{"password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
	}
	for _, v := range vectors {
		ok, needsRehash, err := h.Verify(t.Context(), v.encoded, v.password)
		if err != nil || !ok {
			t.Fatalf("Verify(%s) = %v, %v", v.encoded, ok, err)
		}
		if !needsRehash {
			t.Fatalf("Verify(%s): params differ from the hasher's, want needsRehash", v.encoded)
		}
		if ok, _, _ := h.Verify(t.Context(), v.encoded, "differentpassword"); ok {
			t.Fatalf("Verify(%s) accepted a wrong password", v.encoded)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	old := New(testParams, 0)
	encoded, err := old.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	changes := []struct {
		name   string
		modify func(*Params)
	}{
		{"more memory", func(p *Params) { p.Memory = 128 }},
		{"more iterations", func(p *Params) { p.Iterations = 2 }},
		{"more lanes", func(p *Params) { p.Parallelism = 2 }},
		{"a longer salt", func(p *Params) { p.SaltLength = 32 }},
		{"a longer key", func(p *Params) { p.KeyLength = 64 }},
	}
	for _, c := range changes {
		t.Run(c.name+" asks for a rehash of a correct password only", func(t *testing.T) {
			p := testParams
			c.modify(&p)
			h := New(p, 0)
			if ok, needsRehash, err := h.Verify(t.Context(), encoded, "pw"); !ok || !needsRehash || err != nil {
				t.Fatalf("right password: %v, %v, %v; want true, true, nil", ok, needsRehash, err)
			}
			if ok, needsRehash, err := h.Verify(t.Context(), encoded, "guess"); ok || needsRehash || err != nil {
				t.Fatalf("wrong password: %v, %v, %v; want false, false, nil", ok, needsRehash, err)
			}
		})
	}
}

func TestTooLong(t *testing.T) {
	h := New(testParams, 0)
	long := strings.Repeat("a", MaxLength+1)
	if _, err := h.Hash(t.Context(), long); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Hash: %v, want ErrTooLong", err)
	}
	encoded, _ := h.Hash(t.Context(), long[:MaxLength])
	if ok, _, err := h.Verify(t.Context(), encoded, long); ok || !errors.Is(err, ErrTooLong) {
		t.Fatalf("Verify = %v, %v; want false, ErrTooLong", ok, err)
	}
	// Refused before any hashing: no slot is needed, so a full hasher still answers.
	full := New(testParams, 1)
	full.slots <- struct{}{}
	if _, err := full.Hash(t.Context(), long); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Hash with no free slot: %v, want ErrTooLong", err)
	}
}

func TestSlots(t *testing.T) {
	t.Run("a waiting Hash returns the context error when cancelled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := New(testParams, 1)
			h.slots <- struct{}{} // someone else holds the only slot
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() {
				_, err := h.Hash(ctx, "pw")
				errc <- err
			}()
			synctest.Wait() // Hash is now durably blocked waiting for a slot
			select {
			case err := <-errc:
				t.Fatalf("Hash returned %v while no slot was free", err)
			default:
			}
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("Hash = %v, want context.Canceled", err)
			}
		})
	})
	t.Run("a waiting Verify returns the context error when its deadline passes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := New(testParams, 1, WithQueue(1, time.Hour))
			encoded, err := h.Hash(t.Context(), "pw")
			if err != nil {
				t.Fatal(err)
			}
			h.slots <- struct{}{}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			// The fake clock jumps to the deadline once every goroutine blocks.
			if ok, _, err := h.Verify(ctx, encoded, "pw"); ok || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Verify = %v, %v; want false, context.DeadlineExceeded", ok, err)
			}
		})
	})
	t.Run("a waiter proceeds when the slot is released", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := New(testParams, 1)
			h.slots <- struct{}{}
			done := make(chan error, 1)
			go func() {
				_, err := h.Hash(t.Context(), "pw")
				done <- err
			}()
			synctest.Wait()
			select {
			case <-done:
				t.Fatal("Hash ran without a slot")
			default:
			}
			<-h.slots // release
			if err := <-done; err != nil {
				t.Fatalf("Hash after release: %v", err)
			}
			if len(h.slots) != 0 {
				t.Fatalf("%d slots still held after Hash returned", len(h.slots))
			}
		})
	})
	t.Run("an already cancelled context never takes a free slot", func(t *testing.T) {
		h := New(testParams, 1)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		for range 100 {
			if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
				t.Fatalf("Hash = %v, want context.Canceled", err)
			}
		}
	})
}

// Overload: beyond the queue, or after the queue's wait, a check is refused
// at once with ErrBusy rather than piling up until its request times out.
func TestAdmission(t *testing.T) {
	t.Run("a full queue refuses at once, for real and dummy checks alike", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := New(testParams, 1, WithQueue(2, time.Hour))
			encoded, err := h.Hash(t.Context(), "pw")
			if err != nil {
				t.Fatal(err)
			}
			h.slots <- struct{}{} // the only slot is busy
			results := make(chan error, 2)
			for range 2 {
				go func() {
					_, _, err := h.Verify(t.Context(), encoded, "pw")
					results <- err
				}()
			}
			synctest.Wait() // both queued
			if got := h.waiting.Load(); got != 2 {
				t.Fatalf("%d callers queued, want 2", got)
			}
			if _, _, err := h.Verify(t.Context(), encoded, "pw"); !errors.Is(err, ErrBusy) {
				t.Fatalf("Verify with a full queue = %v, want ErrBusy", err)
			}
			if err := h.VerifyDummy(t.Context(), "pw"); !errors.Is(err, ErrBusy) {
				t.Fatalf("VerifyDummy with a full queue = %v, want ErrBusy (an unknown user must look busy too)", err)
			}
			if _, err := h.Hash(t.Context(), "pw"); !errors.Is(err, ErrBusy) {
				t.Fatalf("Hash with a full queue = %v, want ErrBusy", err)
			}
			<-h.slots // the slot frees: the queued checks run, one after the other
			for range 2 {
				if err := <-results; err != nil {
					t.Fatalf("a queued Verify = %v", err)
				}
			}
			if h.waiting.Load() != 0 || len(h.slots) != 0 {
				t.Fatalf("after the burst: %d waiting, %d slots held", h.waiting.Load(), len(h.slots))
			}
		})
	})
	t.Run("a queued check gives up with ErrBusy after the queue's wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := New(testParams, 1, WithQueue(4, 2*time.Second))
			h.slots <- struct{}{}
			start := time.Now()
			if err := h.VerifyDummy(t.Context(), "pw"); !errors.Is(err, ErrBusy) {
				t.Fatalf("VerifyDummy = %v, want ErrBusy", err)
			}
			if waited := time.Since(start); waited != 2*time.Second {
				t.Fatalf("waited %v, want the queue's 2s", waited)
			}
			if h.waiting.Load() != 0 {
				t.Fatal("a caller that gave up is still counted as waiting")
			}
		})
	})
	t.Run("the default queue holds eight callers per slot", func(t *testing.T) {
		h := New(testParams, 3)
		if h.maxWaiting != 24 || h.maxWait != DefaultMaxWait {
			t.Fatalf("default admission = %d waiting for %v", h.maxWaiting, h.maxWait)
		}
	})
}

func TestNewDefaultsConcurrency(t *testing.T) {
	want := runtime.GOMAXPROCS(0)
	for _, n := range []int{0, -3} {
		if got := cap(New(testParams, n).slots); got != want {
			t.Fatalf("New(p, %d) has %d slots, want GOMAXPROCS = %d", n, got, want)
		}
	}
	if got := cap(New(testParams, 3).slots); got != 3 {
		t.Fatalf("New(p, 3) has %d slots", got)
	}
}

func TestNewPanicsOnParamsVerifyWouldRefuse(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted Parallelism 0")
		}
	}()
	New(Params{Memory: 64, Iterations: 1, SaltLength: 16, KeyLength: 32}, 1)
}

// SECURITY-RULES: "Unknown user, wrong password, disabled account, with or without MFA: the same status, message,
// redirects, cookies and timing (a dummy hash for unknown users)"
// — the dummy hash has the real parameters, so an unknown user costs what a known one does.
func TestVerifyDummy(t *testing.T) {
	h := New(testParams, 1)
	h.VerifyDummy(t.Context(), "pw")
	first := h.dummy
	h.VerifyDummy(t.Context(), "other")
	if h.dummy != first {
		t.Fatal("dummy hash recomputed")
	}
	parsed, err := parsePHC(first)
	if err != nil {
		t.Fatalf("dummy hash does not parse: %v", err)
	}
	if parsed.params != h.Params() {
		t.Fatalf("dummy params = %+v, want the hasher's %+v", parsed.params, h.Params())
	}
	if len(h.slots) != 0 {
		t.Fatal("VerifyDummy left a slot held")
	}

	t.Run("it waits for a slot like Verify", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := New(testParams, 1)
			h.slots <- struct{}{}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() {
				h.VerifyDummy(ctx, "pw")
				close(done)
			}()
			synctest.Wait()
			select {
			case <-done:
				t.Fatal("VerifyDummy ran without a slot")
			default:
			}
			cancel()
			<-done
		})
	})
}

func TestParams(t *testing.T) {
	if got := New(testParams, 1).Params(); got != testParams {
		t.Fatalf("Params = %+v", got)
	}
}

func TestValidate(t *testing.T) {
	valid := []Params{DefaultParams, testParams, {Memory: 8, Iterations: 1, Parallelism: 1, SaltLength: 8, KeyLength: 16}}
	for _, p := range valid {
		if err := p.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", p, err)
		}
	}
	invalid := []struct {
		name   string
		modify func(*Params)
	}{
		{"zero parallelism", func(p *Params) { p.Parallelism = 0 }},
		{"less than 8 KiB per lane", func(p *Params) { p.Memory = 15; p.Parallelism = 2 }},
		{"more than 4 GiB", func(p *Params) { p.Memory = 4<<20 + 1 }},
		{"zero iterations", func(p *Params) { p.Iterations = 0 }},
		{"absurd iterations", func(p *Params) { p.Iterations = 1 << 20 }},
		{"a 4-byte salt", func(p *Params) { p.SaltLength = 4 }},
		{"a 1 KiB salt", func(p *Params) { p.SaltLength = 1024 }},
		{"an 8-byte key", func(p *Params) { p.KeyLength = 8 }},
		{"a 1 KiB key", func(p *Params) { p.KeyLength = 1024 }},
	}
	for _, tc := range invalid {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			p := testParams
			tc.modify(&p)
			if err := p.Validate(); err == nil {
				t.Fatalf("Validate(%+v) = nil", p)
			}
		})
	}
}

// The syntax of a stored hash is mfa/phc's and tested there; the bounds are
// ours, and every refusal is ErrMalformedHash without the hash in it.
func TestVerifyRefusesMalformedOrOutOfBoundsHashes(t *testing.T) {
	const (
		salt = "c29tZXNhbHQ"                                 // "somesalt"
		key  = "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4" // 32 bytes
	)
	good := "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key
	if _, err := parsePHC(good); err != nil {
		t.Fatalf("control case does not parse: %v", err)
	}
	cases := []struct{ name, encoded string }{
		// Refused by mfa/phc.
		{"empty", ""},
		{"not PHC at all", "not-a-hash"},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"},
		{"argon2i", "$argon2i$v=19$m=256,t=2,p=1$" + salt + "$" + key},
		{"parameter with a leading zero", "$argon2id$v=19$m=0256,t=2,p=1$" + salt + "$" + key},
		{"parallelism above 255", "$argon2id$v=19$m=4096,t=2,p=256$" + salt + "$" + key},
		{"non-zero trailing bits", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key[:42] + "5"},
		{"over the length limit", good + strings.Repeat("A", maxEncodedLength)},
		// Refused by Params.Validate.
		{"memory above 4 GiB", "$argon2id$v=19$m=4194305,t=2,p=1$" + salt + "$" + key},
		{"maximum 32-bit memory", "$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + key},
		{"memory below 8 KiB per lane", "$argon2id$v=19$m=8,t=2,p=2$" + salt + "$" + key},
		{"zero iterations", "$argon2id$v=19$m=256,t=0,p=1$" + salt + "$" + key},
		{"absurd iterations", "$argon2id$v=19$m=256,t=4294967295,p=1$" + salt + "$" + key},
		{"zero parallelism", "$argon2id$v=19$m=256,t=2,p=0$" + salt + "$" + key},
		{"empty salt", "$argon2id$v=19$m=256,t=2,p=1$$" + key},
		{"salt shorter than 8 bytes", "$argon2id$v=19$m=256,t=2,p=1$c29tZQ$" + key},
		{"salt longer than 64 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + strings.Repeat("A", 88) + "$" + key},
		{"empty hash", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$"},
		{"hash shorter than 16 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$nf65EOgLrQMR"},
		{"hash longer than 64 bytes", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + strings.Repeat(key, 3)},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is ErrMalformedHash", func(t *testing.T) {
			_, err := parsePHC(tc.encoded)
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("parsePHC(%q) = %v, want ErrMalformedHash", tc.encoded, err)
			}
			if strings.Contains(err.Error(), key[:12]) || strings.Contains(err.Error(), salt) {
				t.Fatalf("error %q quotes the stored hash", err)
			}
			// Verify must refuse the same input without hashing or panicking.
			h := New(testParams, 1)
			if ok, needsRehash, err := h.Verify(t.Context(), tc.encoded, "password"); ok || needsRehash || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify = %v, %v, %v; want ErrMalformedHash", ok, needsRehash, err)
			}
		})
	}
}
