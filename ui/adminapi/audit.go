package adminapi

import (
	"net/http"
	"strconv"

	"github.com/twofold-idp/twofold/idp/directory"
)

// auditJSON is an audit event as the API lists it: the exports' record.
type auditJSON directory.AuditRecord

func toAuditJSON(e directory.AuditEntry) auditJSON { return auditJSON(e.Record()) }

// listAudit pages through the events the filters select
// (directory.ParseAuditQuery says which), newest first.
func (a *API) listAudit(r *http.Request, c *call) (*response, error) {
	f, err := a.dir.ParseAuditQuery(r.Context(), r.URL.Query())
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

// exportAudit streams every matching event, newest first, as CSV or JSON
// Lines (format=csv|jsonl): directory.ExportAudit, as the console's export.
func (a *API) exportAudit(r *http.Request, c *call) (*response, error) {
	f, err := a.dir.ParseAuditQuery(r.Context(), r.URL.Query())
	if err != nil {
		return nil, err
	}
	format, err := directory.ParseAuditFormat(r.URL.Query().Get("format"))
	if err != nil {
		return nil, err
	}
	w := c.stream
	begun := false
	err = a.dir.ExportAudit(r.Context(), f, format, w, func() {
		begun, c.streamed = true, true
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Type", format.ContentType())
		h.Set("Content-Disposition", `attachment; filename="`+format.FileName()+`"`)
		w.WriteHeader(http.StatusOK)
	})
	if err != nil && !begun {
		return nil, err
	}
	if err != nil {
		a.log.ErrorContext(r.Context(), "admin api: audit export cut short", "err", err)
	}
	return nil, nil
}
