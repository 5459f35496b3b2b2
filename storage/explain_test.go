package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for schema admin
	"gorm.io/gorm"

	"github.com/twofold-idp/twofold/migrations"
)

// largeTables grow with the number of users or of sign-ins: a statement on
// a hot path or a revocation must reach their rows through an index.
var largeTables = map[string]bool{
	"users": true, "user_groups": true, "sessions": true, "auth_requests": true, "access_tokens": true,
	"refresh_tokens": true, "audit_events": true, "totp_authenticators": true, "webauthn_credentials": true,
	"backup_codes": true, "remembered_devices": true, "throttles": true, "consents": true,
}

// scanAllowed lists statements (by a fragment of their SQL) that may scan a
// large table in full, each with the reason. Empty: no hot statement needs
// to.
var scanAllowed = map[string]string{}

// TestHotStatementsUseIndexes runs the statements of the hot paths and of
// every revocation through the public Store methods, records each statement
// the Store sends, and EXPLAINs it: none may read a large table in full. On
// PostgreSQL sequential scans are disabled for the session first, so a
// remaining "Seq Scan" (or an index scan without an index condition, which
// is what the planner falls back to) means no usable index exists.
func TestHotStatementsUseIndexes(t *testing.T) {
	dbs := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "twofold.db") },
		"postgres": explainPostgresURL,
	}
	for name, newURL := range dbs {
		t.Run(name, func(t *testing.T) {
			now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
			s, err := Open(t.Context(), newURL(t), WithNow(func() time.Time { return now }))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if _, err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			rec := recordStatements(t, s)
			hotWorkload(t, s, now)
			stmts := rec.statements()
			if len(stmts) < 40 {
				t.Fatalf("recorded only %d distinct statements: the recorder misses some", len(stmts))
			}
			conn, err := s.sqlDB.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if s.dialect == migrations.Postgres {
				if _, err := conn.ExecContext(t.Context(), "SET enable_seqscan = off"); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("explaining %d distinct statements", len(stmts))
			for _, st := range stmts {
				scans, plan, err := fullScans(t.Context(), conn, s.dialect, st)
				if testing.Verbose() {
					t.Logf("%s\n%s", st.sql, plan)
				}
				if err != nil {
					t.Errorf("explain %s: %v", st.sql, err)
					continue
				}
				if len(scans) == 0 {
					continue
				}
				if reason, ok := allowedScan(st.sql); ok {
					t.Logf("allowed full scan of %v (%s): %s", scans, reason, st.sql)
					continue
				}
				t.Errorf("full scan of %v by\n\t%s\nplan:\n%s", scans, st.sql, plan)
			}
		})
	}
}

func allowedScan(sql string) (string, bool) {
	for frag, reason := range scanAllowed {
		if strings.Contains(sql, frag) {
			return reason, true
		}
	}
	return "", false
}

// explainPostgresURL makes a fresh schema in TWOFOLD_TEST_DATABASE_URL's
// database, as storagetest.PostgresSchemaURL does (which this internal test
// cannot import: storagetest imports storage).
func explainPostgresURL(t *testing.T) string {
	base := os.Getenv("TWOFOLD_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TWOFOLD_TEST_DATABASE_URL is not set: skipping the PostgreSQL case (set it to run against PostgreSQL)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("TWOFOLD_TEST_DATABASE_URL: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("TWOFOLD_TEST_DATABASE_URL is set but PostgreSQL is unreachable: %v", err)
	}
	schema := fmt.Sprintf("t_explain_%d", time.Now().UnixNano())
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	pu, err := url.Parse(base)
	if err != nil {
		t.Fatal("TWOFOLD_TEST_DATABASE_URL does not parse")
	}
	q := pu.Query()
	q.Set("search_path", schema)
	pu.RawQuery = q.Encode()
	return pu.String()
}

type statement struct {
	sql  string
	vars []any
}

type recorder struct {
	mu    sync.Mutex
	seen  map[string]bool
	stmts []statement
}

// recordStatements registers gorm callbacks on s that keep every distinct
// statement s sends, with the values bound to it.
func recordStatements(t *testing.T, s *Store) *recorder {
	r := &recorder{seen: map[string]bool{}}
	record := func(db *gorm.DB) {
		q := db.Statement.SQL.String()
		if q == "" {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.seen[q] {
			r.seen[q] = true
			r.stmts = append(r.stmts, statement{sql: q, vars: slices.Clone(db.Statement.Vars)})
		}
	}
	cb := s.db.Callback()
	for _, err := range []error{
		cb.Create().After("gorm:create").Register("explain:record", record),
		cb.Query().After("gorm:query").Register("explain:record", record),
		cb.Update().After("gorm:update").Register("explain:record", record),
		cb.Delete().After("gorm:delete").Register("explain:record", record),
		cb.Row().After("gorm:row").Register("explain:record", record),
		cb.Raw().After("gorm:raw").Register("explain:record", record),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *recorder) statements() []statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.stmts)
}

var sqliteScan = regexp.MustCompile(`^SCAN (\w+)`)

// fullScans explains st on conn and returns the large tables it reads in
// full, and the plan.
func fullScans(ctx context.Context, conn *sql.Conn, d migrations.Dialect, st statement) ([]string, string, error) {
	if d == migrations.SQLite {
		rows, err := conn.QueryContext(ctx, "EXPLAIN QUERY PLAN "+st.sql, st.vars...)
		if err != nil {
			return nil, "", err
		}
		defer rows.Close()
		var scans []string
		var plan strings.Builder
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				return nil, "", err
			}
			fmt.Fprintf(&plan, "\t%s\n", detail)
			// "SCAN t" reads every row, and so does "SCAN t USING
			// [COVERING] INDEX i": the whole index in its order.
			if m := sqliteScan.FindStringSubmatch(detail); m != nil && largeTables[m[1]] {
				scans = append(scans, m[1])
			}
		}
		return scans, plan.String(), rows.Err()
	}
	var doc string
	if err := conn.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+st.sql, st.vars...).Scan(&doc); err != nil {
		return nil, "", err
	}
	var plans []struct{ Plan pgPlan }
	if err := json.Unmarshal([]byte(doc), &plans); err != nil {
		return nil, "", err
	}
	if len(plans) != 1 {
		return nil, "", errors.New("no plan")
	}
	var scans []string
	var plan strings.Builder
	var walk func(p pgPlan, depth int)
	walk = func(p pgPlan, depth int) {
		fmt.Fprintf(&plan, "\t%s%s %s %s %s\n", strings.Repeat("  ", depth), p.NodeType, p.Relation, p.IndexName, p.IndexCond)
		full := p.NodeType == "Seq Scan" ||
			// With sequential scans off, the planner reads a whole index
			// (no Index Cond) rather than the table when no index fits.
			((p.NodeType == "Index Scan" || p.NodeType == "Index Only Scan") && p.IndexCond == "")
		if full && largeTables[p.Relation] {
			scans = append(scans, p.Relation)
		}
		for _, c := range p.Plans {
			walk(c, depth+1)
		}
	}
	walk(plans[0].Plan, 0)
	return scans, plan.String(), nil
}

type pgPlan struct {
	NodeType  string   `json:"Node Type"`
	Relation  string   `json:"Relation Name"`
	IndexName string   `json:"Index Name"`
	IndexCond string   `json:"Index Cond"`
	Plans     []pgPlan `json:"Plans"`
}

// hotWorkload calls the Store methods of the hot paths (sign-in, silent SSO,
// code exchange, refresh, introspection, second factors, throttles) and of
// every revocation, and the purge, taking the branches that send their own
// statements (a refused attempt, a reused code, a replayed refresh token).
func hotWorkload(t *testing.T, s *Store, now time.Time) {
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustIs := func(err, target error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("got %v, want %v", err, target)
		}
	}
	later := now.Add(time.Hour)

	// Directory.
	must(s.UpsertGroup(ctx, &Group{Name: "staff"}))
	must(s.CreateUser(ctx, &User{ID: "u1", Username: "alice", PasswordHash: "$argon2id$x", Groups: []string{"staff"}}))
	must(s.CreateUser(ctx, &User{ID: "u2", Username: "bob"}))
	must(s.CreateClient(ctx, &Client{ID: "app", Name: "App"}))
	_, err := s.GetUser(ctx, "u1")
	must(err)
	_, err = s.GetUserByUsername(ctx, "Alice")
	must(err)
	// A forgotten password asked for by address: anyone may ask.
	_, err = s.UsersByVerifiedEmail(ctx, "Alice@Example.com")
	must(err)
	_, err = s.GetClient(ctx, "app")
	must(err)
	must(s.ReplacePasswordHash(ctx, "u1", "$argon2id$x", "$argon2id$y"))
	must(s.AppendAudit(ctx, &AuditEvent{Actor: "u1", Action: "user.signed_in", Target: "u1"}))

	// Throttles: an admitted attempt, a refused one, a returned one, a reset.
	wait, err := s.Attempt(ctx, "login:name:alice", 1, time.Minute)
	must(err)
	if wait != 0 {
		t.Fatal("first attempt refused")
	}
	if wait, err = s.Attempt(ctx, "login:name:alice", 1, time.Minute); err != nil || wait == 0 {
		t.Fatalf("second attempt: %v, %v", wait, err)
	}
	must(s.ReturnAttempt(ctx, "login:name:alice", time.Minute))
	must(s.ResetThrottle(ctx, "login:name:alice"))

	// An auth request through its whole life.
	ar := &AuthRequest{ID: "ar1", ClientID: "app", RedirectURI: "http://127.0.0.1/cb", ResponseType: "code",
		Scopes: Strings{"openid"}, ClientAddress: "192.0.2.0/64", ExpiresAt: now.Add(10 * time.Minute)}
	must(s.CreateAuthRequest(ctx, ar))
	_, err = s.GetAuthRequest(ctx, "ar1")
	must(err)
	_, err = s.CountPendingAuthRequests(ctx, "192.0.2.0/64")
	must(err)
	must(s.BindAuthRequest(ctx, "ar1", "browser"))
	mustIs(s.BindAuthRequest(ctx, "ar1", "other browser"), ErrConflict)
	_, err = s.SwapAuthRequestDecision(ctx, "ar1", "password")
	must(err)
	must(s.SetAuthRequestConsent(ctx, "ar1"))

	// The session of that sign-in.
	se := &Session{ID: "se1", CookieHash: "c1", UserID: "u1", AuthTime: now, IdleExpiresAt: later, ExpiresAt: later,
		Factors: SessionFactors{{Method: "pwd", At: now, AMR: []string{"pwd"}}}, PendingRequest: ptrTo("ar1")}
	must(s.CreateSession(ctx, se))
	_, err = s.GetLiveSessionByCookieHash(ctx, "c1")
	must(err)
	_, err = s.GetSession(ctx, "se1")
	must(err)
	must(s.TouchSession(ctx, "se1", later))
	must(s.AddSessionFactor(ctx, "se1", "c1", "c2", SessionFactor{Method: "totp", At: now, AMR: []string{"otp"}}))
	must(s.RotateSessionCookie(ctx, "se1", "c2", "c3"))
	must(s.CompleteSession(ctx, "se1"))
	_, err = s.ListUserSessions(ctx, "u1")
	must(err)

	// Second factors of the user.
	must(s.CreateTOTP(ctx, &TOTPAuthenticator{ID: "t1", UserID: "u1", Name: "phone", SecretSealed: "x"}))
	must(s.ConfirmTOTP(ctx, "u1", "t1", 10))
	must(s.AdvanceTOTPStep(ctx, "u1", "t1", 11))
	mustIs(s.AdvanceTOTPStep(ctx, "u1", "t1", 11), ErrConflict)
	_, err = s.GetTOTP(ctx, "u1", "t1")
	must(err)
	_, err = s.ListTOTP(ctx, "u1", true)
	must(err)
	_, err = s.CountSecondFactors(ctx, "u1")
	must(err)
	must(s.CreateWebAuthnCredential(ctx, &WebAuthnCredential{ID: "w1", UserID: "u1", Name: "key", PublicKey: "pk"}))
	_, err = s.GetWebAuthnCredential(ctx, "w1")
	must(err)
	_, err = s.ListWebAuthnCredentials(ctx, "u1")
	must(err)
	must(s.UseWebAuthnCredential(ctx, "w1", 5))
	mustIs(s.UseWebAuthnCredential(ctx, "w1", 4), ErrConflict)
	must(s.CreateWebAuthnSession(ctx, &WebAuthnSession{ID: "ws1", UserID: ptrTo("u1"), Purpose: WebAuthnLogin, Data: "{}", ExpiresAt: later}))
	_, err = s.ConsumeWebAuthnSession(ctx, "ws1", WebAuthnLogin)
	must(err)
	must(s.ReplaceBackupCodes(ctx, "u1", []BackupCode{{ID: "b1", Tag: "tag1", Hash: "h1"}, {ID: "b2", Tag: "tag2", Hash: "h2"}}))
	code, err := s.FindBackupCode(ctx, "u1", "tag1")
	must(err)
	must(s.UseBackupCode(ctx, code.ID))
	_, err = s.CountUnusedBackupCodes(ctx, "u1")
	must(err)
	must(s.CreateRememberedDevice(ctx, &RememberedDevice{ID: "d1", UserID: "u1", TokenHash: "dh1", ExpiresAt: later}))
	_, err = s.UseRememberedDevice(ctx, "u1", "dh1")
	must(err)
	_, err = s.ListRememberedDevices(ctx, "u1")
	must(err)

	// Consent, completion, the code and its exchange.
	must(s.SaveConsent(ctx, &Consent{UserID: "u1", ClientID: "app", Scopes: Strings{"openid"}}))
	_, err = s.GetConsent(ctx, "u1", "app")
	must(err)
	must(s.CompleteAuthRequest(ctx, "ar1", "u1", "se1", now, []string{"pwd", "otp"}, "urn:twofold:acr:mfa"))
	must(s.SaveAuthCode(ctx, "ar1", "code1", now.Add(time.Minute)))
	mustIs(s.SaveAuthCode(ctx, "ar1", "code2", now.Add(time.Minute)), ErrConflict)
	_, err = s.ConsumeAuthCode(ctx, "code1")
	must(err)
	_, err = s.ConsumeAuthCode(ctx, "code1")
	mustIs(err, ErrCodeReused)
	_, err = s.AuthRequestRetracted(ctx, "ar1")
	must(err)
	must(s.UseClientAssertion(ctx, "app", "jti1", later))

	// Tokens: issue, introspect, rotate, replay.
	must(s.CreateAccessToken(ctx, &AccessToken{ID: "at1", ClientID: "app", UserID: "u1", SessionID: "se1",
		AuthRequestID: "ar1", RefreshFamilyID: "f1", ExpiresAt: later}))
	_, err = s.GetAccessToken(ctx, "at1")
	must(err)
	must(s.CreateRefreshToken(ctx, &RefreshToken{ID: "rt1", TokenHash: "rh1", FamilyID: "f1", ClientID: "app",
		UserID: "u1", SessionID: "se1", AuthRequestID: "ar1", AuthTime: now, ExpiresAt: later}))
	_, err = s.GetRefreshTokenByHash(ctx, "rh1")
	must(err)
	_, err = s.RotateRefreshToken(ctx, "rh1",
		&RefreshToken{ID: "rt2", TokenHash: "rh2", FamilyID: "f1", ClientID: "app", UserID: "u1", SessionID: "se1",
			AuthRequestID: "ar1", AuthTime: now, ExpiresAt: later},
		&AccessToken{ID: "at2", ClientID: "app", UserID: "u1", SessionID: "se1", AuthRequestID: "ar1",
			RefreshFamilyID: "f1", ExpiresAt: later})
	must(err)
	_, err = s.RotateRefreshToken(ctx, "rh1",
		&RefreshToken{ID: "rt3", TokenHash: "rh3", FamilyID: "f1", ClientID: "app", UserID: "u1", SessionID: "se1",
			AuthRequestID: "ar1", AuthTime: now, ExpiresAt: later}, nil)
	mustIs(err, ErrTokenReused)

	// Every revocation.
	must(s.RevokeAccessToken(ctx, "at1"))
	must(s.RevokeRefreshFamily(ctx, "f1"))
	must(s.RevokeSessionTokens(ctx, "se1"))
	must(s.RevokeUserTokens(ctx, "u1"))
	must(s.RevokeClientTokens(ctx, "app"))
	must(s.RevokeAuthRequestTokens(ctx, "ar1"))
	must(s.EndSession(ctx, "se1"))
	_, err = s.EndUserSessions(ctx, "u1")
	must(err)
	must(s.ForgetRememberedDevices(ctx, "u1"))
	_, err = s.ResetSecondFactors(ctx, "u1")
	must(err)
	must(s.SetUserDisabled(ctx, "u2", true))

	// The purge.
	_, err = s.DeleteExpired(ctx)
	must(err)
	_, err = s.DeleteExpiredMFA(ctx)
	must(err)
	_, err = s.DeleteStaleTOTP(ctx, now.Add(-24*time.Hour))
	must(err)
}

func ptrTo(s string) *string { return &s }
