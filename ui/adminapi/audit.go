package adminapi

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twofold-idp/twofold/idp/directory"
)

type auditJSON struct {
	ID      int64          `json:"id"`
	At      time.Time      `json:"at"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Target  string         `json:"target"`
	IP      string         `json:"ip"`
	Details map[string]any `json:"details"`
}

func toAuditJSON(e directory.AuditEntry) auditJSON {
	d := e.Details
	if d == nil {
		d = map[string]any{}
	}
	return auditJSON{e.ID, e.At, e.Actor, e.Action, e.Target, e.IP, d}
}

// auditQuery reads the filters: user (an id), client (an id), action
// (repeatable, or comma-separated), since and until (RFC 3339).
func auditQuery(r *http.Request) (directory.AuditQuery, error) {
	q := r.URL.Query()
	var f directory.AuditQuery
	user, client := q.Get("user"), q.Get("client")
	switch {
	case user != "" && client != "":
		return f, fieldProblem("client", "filter by a user or by a client, not both")
	case user != "":
		f.Party = user
	case client != "":
		f.Party = client
		// A client's own calls are recorded under "client:ID".
	}
	for _, v := range q["action"] {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				f.Actions = append(f.Actions, a)
			}
		}
	}
	if len(f.Actions) > 50 {
		return f, fieldProblem("action", "at most 50 actions")
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, fieldProblem(t.name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			}
			*t.dst = at
		}
	}
	return f, nil
}

func (a *API) listAudit(r *http.Request, c *call) (*response, error) {
	f, err := auditQuery(r)
	if err != nil {
		return nil, err
	}
	after, limit, err := page(r, "audit")
	if err != nil {
		return nil, err
	}
	if after != "" {
		if f.Before, err = strconv.ParseInt(after, 10, 64); err != nil || f.Before <= 0 {
			return nil, fieldProblem("cursor", "is not a cursor of this listing (use next_cursor as given)")
		}
	}
	f.Limit = limit
	if client := r.URL.Query().Get("client"); client != "" {
		return a.auditForClient(r, f, client)
	}
	entries, next, err := a.dir.AuditPage(r.Context(), f)
	if err != nil {
		return nil, err
	}
	nc := ""
	if next > 0 {
		nc = cursor("audit", strconv.FormatInt(next, 10))
	}
	return ok(list[auditJSON]{Items: mapItems(entries, toAuditJSON), NextCursor: nc}, "")
}

// auditForClient pages through what a client did itself ("client:ID") and
// what was done to it.
func (a *API) auditForClient(r *http.Request, f directory.AuditQuery, client string) (*response, error) {
	f.Party = client
	own, ownNext, err := a.dir.AuditPage(r.Context(), f)
	if err != nil {
		return nil, err
	}
	f.Party = "client:" + client
	acts, actsNext, err := a.dir.AuditPage(r.Context(), f)
	if err != nil {
		return nil, err
	}
	merged := append(own, acts...)
	// Newest first, at most limit; the next page starts below the last shown.
	for i := 1; i < len(merged); i++ {
		for j := i; j > 0 && merged[j].ID > merged[j-1].ID; j-- {
			merged[j], merged[j-1] = merged[j-1], merged[j]
		}
	}
	nc := ""
	if len(merged) > f.Limit || ownNext > 0 || actsNext > 0 {
		if len(merged) > f.Limit {
			merged = merged[:f.Limit]
		}
		if len(merged) > 0 {
			nc = cursor("audit", strconv.FormatInt(merged[len(merged)-1].ID, 10))
		}
	}
	return ok(list[auditJSON]{Items: mapItems(merged, toAuditJSON), NextCursor: nc}, "")
}

// exportAudit streams every matching event, newest first, as CSV or JSON
// Lines (format=csv|jsonl).
func (a *API) exportAudit(r *http.Request, c *call) (*response, error) {
	f, err := auditQuery(r)
	if err != nil {
		return nil, err
	}
	format := r.URL.Query().Get("format")
	if format != "csv" && format != "jsonl" {
		return nil, fieldProblem("format", "must be csv or jsonl")
	}
	if client := r.URL.Query().Get("client"); client != "" {
		f.Party = client // the client's own calls: filter user=client:ID
	}
	w := c.stream
	c.streamed = true
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="twofold-audit.csv"`)
	} else {
		h.Set("Content-Type", "application/jsonl")
		h.Set("Content-Disposition", `attachment; filename="twofold-audit.jsonl"`)
	}
	var cw *csv.Writer
	enc := json.NewEncoder(w)
	first := true
	f.Limit = 500
	for {
		entries, next, err := a.dir.AuditPage(r.Context(), f)
		if err != nil {
			if first {
				c.streamed = false
				return nil, err
			}
			a.log.ErrorContext(r.Context(), "admin api: audit export cut short", "err", err)
			return nil, nil
		}
		if first {
			w.WriteHeader(http.StatusOK)
			if format == "csv" {
				cw = csv.NewWriter(w)
				cw.Write([]string{"id", "at", "actor", "action", "target", "ip", "details"})
			}
			first = false
		}
		for _, e := range entries {
			j := toAuditJSON(e)
			if cw != nil {
				details, _ := json.Marshal(j.Details)
				cw.Write(csvSafe([]string{strconv.FormatInt(j.ID, 10), j.At.UTC().Format(time.RFC3339Nano), j.Actor, j.Action, j.Target, j.IP, string(details)}))
			} else {
				enc.Encode(j)
			}
		}
		if cw != nil {
			cw.Flush()
		}
		if next == 0 {
			return nil, nil
		}
		f.Before = next
	}
}

// csvSafe defuses cells a spreadsheet would run as a formula (OWASP CSV
// injection): the audit trail holds user-supplied names.
func csvSafe(row []string) []string {
	for i, v := range row {
		if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			row[i] = "'" + v
		}
	}
	return row
}
