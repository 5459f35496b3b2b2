package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/policy"
)

func (c *Console) auditRoutes(r chi.Router) {
	r.Get("/audit", c.handleAudit)
	r.Get("/audit/export", c.handleAuditExport)
}

// auditFilter is the filter form as typed; its parameters are the admin
// API's (directory.ParseAuditQuery reads both).
type auditFilter struct {
	User, Client, Action, Since, Until string
}

func readAuditFilter(q url.Values) auditFilter {
	return auditFilter{
		User: q.Get("user"), Client: q.Get("client"), Action: strings.Join(q["action"], ","),
		Since: q.Get("since"), Until: q.Get("until"),
	}
}

// values are the filter's query parameters, without the empty ones.
func (f auditFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"user": f.User, "client": f.Client, "action": f.Action, "since": f.Since, "until": f.Until} {
		if s = strings.TrimSpace(s); s != "" {
			v.Set(k, s)
		}
	}
	return v
}

type auditPage struct {
	base
	Filter   auditFilter
	Filtered bool
	Actions  []string // the known kinds of event, offered by the action field
	Rows     []auditRow
	Next     string // the next page's address
	CSV      string // the exports' addresses, with the same filters
	JSONL    string
}

// auditRow is one event as the table shows it.
type auditRow struct {
	directory.AuditEntry
	ActorName  string // the username, when the actor is a user
	TargetName string
	Decision   *decisionView // policy.decision: why a factor was asked for
	Changes    *changesView  // the before and after of a change
	Simulate   string        // policy.decision: the simulator, on this user and client
	Details    []auditDetail // everything else the event holds
}

type decisionView struct {
	Client, Need, Level, Target, Reason, Outcome string
	Rules                                        []policy.Rule
}

type changesView struct {
	Kind      string // "created", "changed", "deleted"
	Rows      []auditChange
	Unchanged int // settings an update left alone (not listed)
}

type auditChange struct{ Field, Before, After string }

type auditDetail struct{ Key, Value string }

func (c *Console) handleAudit(w http.ResponseWriter, r *http.Request) {
	c.showAudit(w, r, c.page(w, r, "audit"))
}

const auditBadFilter = "Correct the filter marked below."

// showAudit renders the audit log with the filters of r's query; a bad
// filter is a field error beside it (400), and no events.
func (c *Console) showAudit(w http.ResponseWriter, r *http.Request, b base) {
	v := r.URL.Query()
	p := auditPage{Filter: readAuditFilter(v), Actions: directory.AuditActions}
	p.Filtered = len(p.Filter.values()) > 0
	q, err := c.dir.ParseAuditQuery(r.Context(), v)
	if err == nil && v.Get("after") != "" {
		if q.Before, err = strconv.ParseInt(v.Get("after"), 10, 64); err != nil || q.Before <= 0 {
			b.outcome = outcome{Status: http.StatusBadRequest, Alert: "This page link is broken: open the audit log again from its first page."}
			p.base = b
			c.render(w, r, b.Status, "audit", p)
			return
		}
	}
	if err != nil {
		o, ok := refusal(err)
		if !ok {
			c.internal(w, r, err)
			return
		}
		o.Alert = auditBadFilter
		b.outcome = o
		p.base = b
		c.render(w, r, o.Status, "audit", p)
		return
	}
	p.base = b
	if err := c.auditRows(r, q, &p); err != nil {
		c.internal(w, r, err)
		return
	}
	c.render(w, r, 0, "audit", p)
}

func (c *Console) auditRows(r *http.Request, q directory.AuditQuery, p *auditPage) error {
	q.Limit = maxList
	entries, next, err := c.dir.AuditPage(r.Context(), q)
	if err != nil {
		return err
	}
	ids := make([]string, 0, 2*len(entries))
	for _, e := range entries {
		ids = append(ids, e.Actor, e.Target)
	}
	names, err := c.dir.Usernames(r.Context(), ids)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p.Rows = append(p.Rows, auditRowOf(e, names))
	}
	if next > 0 {
		v := p.Filter.values()
		v.Set("after", strconv.FormatInt(next, 10))
		p.Next = Prefix + "/audit?" + v.Encode()
	}
	export := func(f directory.AuditFormat) string {
		v := p.Filter.values()
		v.Set("format", string(f))
		return Prefix + "/audit/export?" + v.Encode()
	}
	p.CSV, p.JSONL = export(directory.AuditCSV), export(directory.AuditJSONLines)
	return nil
}

// auditRowOf turns an event's details into what a person reads: the
// explanation of a step-up decision rule by rule, the before and after of
// a change, the rest as key and value.
func auditRowOf(e directory.AuditEntry, names map[string]string) auditRow {
	row := auditRow{AuditEntry: e, ActorName: names[e.Actor], TargetName: names[e.Target]}
	skip := map[string]bool{}
	if e.Action == "policy.decision" {
		d := &decisionView{
			Client: auditText(e.Details["client_id"]), Need: auditText(e.Details["need"]), Level: auditText(e.Details["level"]),
			Target: auditText(e.Details["target"]), Reason: auditText(e.Details["reason"]),
		}
		var lines []string
		if xs, ok := e.Details["explanation"].([]any); ok {
			for _, x := range xs {
				lines = append(lines, auditText(x))
			}
		}
		d.Rules, d.Outcome = policy.ParseCompact(lines)
		row.Decision = d
		for _, k := range []string{"client_id", "need", "level", "target", "reason", "explanation"} {
			skip[k] = true
		}
		if d.Client != "" {
			row.Simulate = Prefix + "/simulate?" + url.Values{"user": {e.Target}, "client": {d.Client}, "run": {"1"}}.Encode()
		}
	}
	before, hasBefore := e.Details["before"].(map[string]any)
	after, hasAfter := e.Details["after"].(map[string]any)
	if hasBefore || hasAfter {
		row.Changes = changesOf(before, after)
		skip["before"], skip["after"] = true, true
	}
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		if !skip[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		row.Details = append(row.Details, auditDetail{k, auditText(e.Details[k])})
	}
	return row
}

// changesOf lists the settings of a created or deleted object, and those
// an update changed.
func changesOf(before, after map[string]any) *changesView {
	cv := &changesView{Kind: "changed"}
	switch {
	case before == nil:
		cv.Kind = "created"
	case after == nil:
		cv.Kind = "deleted"
	}
	var keys []string
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, dup := before[k]; !dup {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b, a := "—", "—"
		if v, ok := before[k]; ok {
			b = auditText(v)
		}
		if v, ok := after[k]; ok {
			a = auditText(v)
		}
		if cv.Kind == "changed" && a == b {
			cv.Unchanged++
			continue
		}
		cv.Rows = append(cv.Rows, auditChange{k, b, a})
	}
	return cv
}

// auditText is a detail's value as a person reads it: lists joined, nothing
// as a dash, objects as JSON.
func auditText(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case string:
		if x == "" {
			return "—"
		}
		return x
	case []any:
		if len(x) == 0 {
			return "none"
		}
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = auditText(e)
		}
		return strings.Join(s, ", ")
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// handleAuditExport streams the events the filters select as CSV or JSON
// Lines, as the admin API's export does (directory.ExportAudit); a bad
// filter shows the audit log with the field marked.
func (c *Console) handleAuditExport(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q, err := c.dir.ParseAuditQuery(r.Context(), v)
	if err != nil && len(directory.FieldErrors(err)) == 0 {
		c.internal(w, r, err)
		return
	}
	format, ferr := directory.ParseAuditFormat(v.Get("format"))
	if bad := errors.Join(err, ferr); bad != nil {
		o, _ := refusal(bad)
		o.Alert = auditBadFilter
		if ferr != nil {
			o.Alert = "Choose an export: CSV or JSON Lines."
		}
		b := c.page(w, r, "audit")
		b.outcome = o
		p := auditPage{base: b, Filter: readAuditFilter(v), Actions: directory.AuditActions}
		p.Filtered = len(p.Filter.values()) > 0
		c.render(w, r, o.Status, "audit", p)
		return
	}
	begun := false
	err = c.dir.ExportAudit(r.Context(), q, format, w, func() {
		begun = true
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Type", format.ContentType())
		h.Set("Content-Disposition", `attachment; filename="`+format.FileName()+`"`)
		w.WriteHeader(http.StatusOK)
	})
	switch {
	case err != nil && !begun:
		c.internal(w, r, err)
	case err != nil:
		// The status is sent: the download ends short, the log says why.
		c.kit.Log(r.Context()).Error("console: audit export cut short", "err", err)
	}
}
