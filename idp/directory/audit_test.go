package directory_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage"
)

func TestParseAuditQueryNamesEachBadParameter(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		u, err := f.dir.CreateUser(t.Context(), idp.ActorCLI, directory.NewUser{Username: "alice", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			query  string
			fields []string
		}{
			{"a username is resolved to the id", "user=alice", nil},
			{"an id is taken as it is", "user=" + u.ID, nil},
			{"an unknown user", "user=nobody", []string{"user"}},
			{"a user and a client", "user=alice&client=app", []string{"client"}},
			{"a time that is not one", "since=yesterday&until=soon", []string{"since", "until"}},
			{"until before since", "since=2026-01-02T10:00&until=2026-01-02T09:00", []string{"until"}},
			{"too many actions", "action=" + strings.Repeat("x.same,", 60) + manyActions(51), []string{"action"}},
			{"as many actions as allowed, repeated", "action=" + manyActions(50) + "&action=" + manyActions(50), nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				v, _ := url.ParseQuery(tc.query)
				q, err := f.dir.ParseAuditQuery(t.Context(), v)
				var got []string
				for _, e := range directory.FieldErrors(err) {
					got = append(got, e.Field)
				}
				if !slices.Equal(got, tc.fields) {
					t.Fatalf("fields %v, want %v (%v)", got, tc.fields, err)
				}
				if tc.fields == nil && strings.HasPrefix(tc.query, "user=") && q.Party != u.ID {
					t.Fatalf("party %q, want %q", q.Party, u.ID)
				}
			})
		}
	})
}

func manyActions(n int) string {
	a := make([]string, n)
	for i := range a {
		a[i] = fmt.Sprint("x.a", i)
	}
	return strings.Join(a, ",")
}

func TestParseAuditTimeTakesAFormsLocalTimeAsUTC(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-01-02T15:04":          time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC),
		"2026-01-02T15:04:05":       time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"2026-01-02T15:04:05+01:00": time.Date(2026, 1, 2, 14, 4, 5, 0, time.UTC),
		"2026-01-02T15:04:05Z":      time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
	} {
		if got, err := directory.ParseAuditTime(in); err != nil || !got.Equal(want) {
			t.Errorf("%s: %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := directory.ParseAuditTime("2026-01-02"); err == nil {
		t.Error("a date without a time was taken")
	}
}

// A client's filter holds what it did itself, what it did through the
// admin API and what was done to it, each once; pages follow one another
// without a gap or a repeat.
func TestAuditOfAClientMergesItsTwoNames(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		var want []int64
		for i := range 7 {
			e := &storage.AuditEvent{Action: "test.event", Actor: "someone", Target: "other"}
			switch i % 3 {
			case 0:
				e.Actor = "books" // the client itself (a replayed code)
			case 1:
				e.Actor, e.Target = "client:books", "books" // through the admin API, to itself
			case 2:
				e.Target = "books"
			}
			if err := f.store.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
			want = append([]int64{e.ID}, want...)
			if err := f.store.AppendAudit(ctx, &storage.AuditEvent{Action: "test.event", Actor: "someone", Target: "else"}); err != nil {
				t.Fatal(err)
			}
		}
		var got []int64
		q := directory.AuditQuery{Client: "books", Limit: 3}
		for range 5 {
			page, next, err := f.dir.AuditPage(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				got = append(got, e.ID)
			}
			if next == 0 {
				break
			}
			q.Before = next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("the client's events %v, want %v", got, want)
		}
	})
}

// An export holds every event, past the size of the pages it is read in
// (and past the store's largest page), in either format.
func TestExportAuditWritesEveryEvent(t *testing.T) {
	eachDatabase(t, func(t *testing.T, f fixture) {
		ctx := t.Context()
		const n = 520
		for i := range n {
			e := &storage.AuditEvent{Action: "test.event", Actor: "cli", Target: fmt.Sprint("t", i)}
			if i == 0 {
				e.Target, e.Details = "=HYPERLINK(\"x\")", map[string]any{"note": "a, \"quoted\" value"}
			}
			if err := f.store.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		var b bytes.Buffer
		begun := 0
		if err := f.dir.ExportAudit(ctx, directory.AuditQuery{Actions: []string{"test.event"}}, directory.AuditCSV, &b, func() { begun++ }); err != nil || begun != 1 {
			t.Fatalf("csv export: %v, begun %d times", err, begun)
		}
		rows, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != n+1 || !slices.Equal(rows[0], directory.AuditCSVHeader) {
			t.Fatalf("csv: %d rows, header %v", len(rows), rows[0])
		}
		if last := rows[n]; last[4] != `'=HYPERLINK("x")` || last[6] != `{"note":"a, \"quoted\" value"}` {
			t.Fatalf("the oldest row: %q", last)
		}
		b.Reset()
		if err := f.dir.ExportAudit(ctx, directory.AuditQuery{}, directory.AuditJSONLines, &b, func() {}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != n {
			t.Fatalf("jsonl: %d lines, want %d", len(lines), n)
		}
		var r directory.AuditRecord
		if err := json.Unmarshal([]byte(lines[0]), &r); err != nil || r.Action != "test.event" || r.Details == nil {
			t.Fatalf("jsonl line %s: %+v, %v", lines[0], r, err)
		}
	})
}

// Every action the code records with a literal name is one the audit
// log's filter offers.
func TestAuditActionsListsWhatTheCodeRecords(t *testing.T) {
	record := regexp.MustCompile(`(?:\.Record|\.audit)\(ctx, (?:[^,()"]+, )?"([a-z_]+\.[a-z_]+)"`)
	root := filepath.Join("..", "..")
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range record.FindAllSubmatch(src, -1) {
			found++
			if !slices.Contains(directory.AuditActions, string(m[1])) {
				t.Errorf("%s records %s, which directory.AuditActions does not list", path, m[1])
			}
		}
		return nil
	})
	if err != nil || found < 40 {
		t.Fatalf("%d actions found: %v", found, err)
	}
}
