package storagetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twofold-idp/twofold/storage"
)

// Snapshot returns every row of the tables a configuration apply writes (policies, groups, clients, users
// and their groups, settings, the audit trail) as text, so that a test can tell whether anything changed.
func Snapshot(t testing.TB, s *storage.Store) string {
	t.Helper()
	return SnapshotTables(t, s, "policies", "groups", "clients", "users", "user_groups", "settings", "audit_events")
}

// SnapshotTables returns every row of tables as text.
func SnapshotTables(t testing.TB, s *storage.Store, tables ...string) string {
	t.Helper()
	var b strings.Builder
	for _, table := range tables {
		rows, err := s.SQL().QueryContext(t.Context(), "SELECT * FROM "+table+" ORDER BY 1, 2")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i := range vals {
				if bs, ok := vals[i].([]byte); ok {
					vals[i] = string(bs)
				}
			}
			fmt.Fprintf(&b, "%s %v\n", table, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}
