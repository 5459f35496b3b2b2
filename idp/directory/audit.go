package directory

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/twofold-idp/twofold/storage"
)

// AuditActions are the kinds of event the audit trail holds, for a filter
// to offer (the filter also takes any other action as typed).
var AuditActions = []string{
	"policy.decision",
	"login.password", "login.passkey", "login.failed", "login.throttled",
	"mfa.used", "mfa.failed", "mfa.throttled", "mfa.reset", "mfa.reenrollment_forced",
	"totp.enrolled", "totp.removed", "webauthn.enrolled", "webauthn.removed", "webauthn.clone_warning",
	"backup_codes.generated", "backup_code.used", "password.changed",
	"device.remembered", "device.forgotten", "device.forgotten_by_admin", "devices.forgotten_by_admin",
	"session.ended", "sessions.ended_all", "session.ended_by_admin", "sessions.ended_by_admin",
	"consent.granted", "consent.denied", "consent.revoked",
	"device_grant.approved", "device_grant.denied",
	"code.replayed", "refresh.replayed",
	"user.created", "user.updated", "user.disabled", "user.enabled", "user.groups_set", "user.unlocked",
	"group.created", "group.updated", "group.deleted", "group.set",
	"client.created", "client.updated", "client.deleted", "client.disabled", "client.enabled", "client.secret_rotated",
	"policy.created", "policy.updated", "policy.deleted", "policy.set", "policy.default_set", "policy.assigned",
	"keys.rotated",
	// Verified email and security notifications (issue 11).
	"email.verification_sent", "email.verification_failed", "email.verified", "email.changed", "email.verification_not_sent",
	"notice.sent", "notice.skipped", "notice.failed", "account.reported_not_me", "account.unblocked", "login.email_unverifiable",
	"mfa.code_sent", "phone.code_sent", "phone.verified", "phone.removed",
	// The ways back in (idp/recovery) and the enrollment grace.
	"password.reset_requested", "password.reset",
	"recovery.code_sent", "recovery.code_failed", "recovery.throttled", "recovery.started", "recovery.cancelled", "recovery.completed",
	"enrollment.put_off", "enrollment.grace_over",
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	Party string // a user id or client id: events it did or that were done to it
	// Client: a client id: what the client did (as itself, or through the
	// admin API as "client:ID") or what was done to it. Not with Party.
	Client  string
	Actions []string // any of these actions ("" / empty: any)
	Since   time.Time
	Until   time.Time
	Before  int64 // page: events with a smaller id
	Limit   int   // 1 to MaxAuditPage; else MaxAuditPage
}

// MaxAuditPage is the largest page AuditPage reads: one less than the
// store's largest, so that the extra row that says "there is more" fits.
const MaxAuditPage = 499

// AuditPage lists audit events matching q; Next is the Before of the next
// page (0 on the last).
func (d *Directory) AuditPage(ctx context.Context, q AuditQuery) ([]AuditEntry, int64, error) {
	if q.Limit <= 0 || q.Limit > MaxAuditPage {
		q.Limit = MaxAuditPage
	}
	f := storage.AuditFilter{Party: q.Party, Actions: q.Actions, Since: q.Since, Until: q.Until, BeforeID: q.Before, Limit: q.Limit + 1}
	var events []storage.AuditEvent
	if q.Client == "" {
		var err error
		if events, err = d.store.ListAudit(ctx, f); err != nil {
			return nil, 0, err
		}
	} else {
		// Two indexed queries, merged newest first: every event of the union's
		// first Limit+1 is among the first Limit+1 of one of them.
		// A client's own admin API calls are recorded as "client:ID" (idp.Actor).
		for _, party := range []string{q.Client, "client:" + q.Client} {
			f.Party = party
			more, err := d.store.ListAudit(ctx, f)
			if err != nil {
				return nil, 0, err
			}
			events = append(events, more...)
		}
		slices.SortFunc(events, func(a, b storage.AuditEvent) int { return cmp.Compare(b.ID, a.ID) })
		// An event the client did to itself is in both.
		events = slices.CompactFunc(events, func(a, b storage.AuditEvent) bool { return a.ID == b.ID })
	}
	var next int64
	if len(events) > q.Limit {
		events = events[:q.Limit]
		next = events[len(events)-1].ID
	}
	out := make([]AuditEntry, len(events))
	for i, e := range events {
		out[i] = AuditEntry{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, IP: e.IP, Details: e.Details}
	}
	return out, next, nil
}

// maxAuditActions bounds the actions of one filter.
const maxAuditActions = 50

// ParseAuditQuery reads an audit filter as the admin console and the admin
// API take it, from query parameters: user (an id or a username: what the
// user did or what was done to them), client (a client id; deleted ones
// too), action (repeatable, or comma-separated), since and until (RFC 3339,
// or the date and time a form's datetime-local field sends, taken as UTC;
// until is exclusive). Every bad value is an *idp.InputError naming its
// parameter, joined.
func (d *Directory) ParseAuditQuery(ctx context.Context, v url.Values) (AuditQuery, error) {
	var q AuditQuery
	var errs []error
	user, client := strings.TrimSpace(v.Get("user")), strings.TrimSpace(v.Get("client"))
	switch {
	case user != "" && client != "":
		errs = append(errs, inputError("client", "filter by a user or by a client, not both"))
	case len(user) > 200:
		errs = append(errs, inputError("user", "is too long for an id or a username"))
	case user != "":
		u, err := d.store.GetUser(ctx, user)
		if errors.Is(err, storage.ErrNotFound) {
			u, err = d.store.GetUserByUsername(ctx, user)
		}
		switch {
		case errors.Is(err, storage.ErrNotFound):
			errs = append(errs, inputError("user", "no user has this id or username"))
		case err != nil:
			return q, err
		default:
			q.Party = u.ID
		}
	case len(client) > 200:
		errs = append(errs, inputError("client", "is too long for a client id"))
	case client != "":
		q.Client = client
	}
	for _, s := range v["action"] {
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" && !slices.Contains(q.Actions, a) {
				q.Actions = append(q.Actions, a)
			}
		}
	}
	if len(q.Actions) > maxAuditActions {
		errs = append(errs, inputError("action", "at most %d actions", maxAuditActions))
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := strings.TrimSpace(v.Get(t.name)); s != "" {
			at, err := ParseAuditTime(s)
			if err != nil {
				errs = append(errs, inputError(t.name, "must be a time such as 2026-01-02T15:04 (UTC) or 2026-01-02T15:04:05+01:00"))
				continue
			}
			*t.dst = at
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		errs = append(errs, inputError("until", "must be after since"))
	}
	return q, errors.Join(errs...)
}

// auditTimeLayouts are what ParseAuditTime takes besides RFC 3339: what an
// HTML datetime-local field sends (HTML §2.3.5.5), with or without seconds.
var auditTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999"}

// ParseAuditTime reads an RFC 3339 time, or a date and time without an
// offset (a datetime-local field's value), which is taken as UTC.
func ParseAuditTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	var err error
	for _, layout := range auditTimeLayouts {
		var t time.Time
		if t, err = time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// AuditRecord is an audit event as the exports and the admin API write it:
// every field present, details an object.
type AuditRecord struct {
	ID      int64          `json:"id"`
	At      time.Time      `json:"at"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Target  string         `json:"target"`
	IP      string         `json:"ip"`
	Details map[string]any `json:"details"`
}

// Record is e as the exports write it.
func (e AuditEntry) Record() AuditRecord {
	d := e.Details
	if d == nil {
		d = map[string]any{}
	}
	return AuditRecord{e.ID, e.At, e.Actor, e.Action, e.Target, e.IP, d}
}

// AuditFormat is a format the audit trail exports to.
type AuditFormat string

const (
	// AuditCSV: a header row (AuditCSVHeader), then a row per event; the
	// details are a JSON object in the last column.
	AuditCSV AuditFormat = "csv"
	// AuditJSONLines: an AuditRecord per line (jsonlines.org).
	AuditJSONLines AuditFormat = "jsonl"
)

// AuditCSVHeader is the first row of a CSV export.
var AuditCSVHeader = []string{"id", "at", "actor", "action", "target", "ip", "details"}

// ParseAuditFormat reads the format parameter of an export.
func ParseAuditFormat(s string) (AuditFormat, error) {
	switch f := AuditFormat(s); f {
	case AuditCSV, AuditJSONLines:
		return f, nil
	}
	return "", inputError("format", "must be csv or jsonl")
}

// ContentType is the media type of an export in f.
func (f AuditFormat) ContentType() string {
	if f == AuditCSV {
		return "text/csv; charset=utf-8"
	}
	return "application/jsonl"
}

// FileName is what an export in f is saved as.
func (f AuditFormat) FileName() string { return "twofold-audit." + string(f) }

// auditExportPage is how many events an export reads at a time.
const auditExportPage = 200

// ExportAudit writes every event matching q (whatever q.Before and
// q.Limit), newest first, in format f to w, a page at a time. begin is
// called once the first page is read, before the first byte is written:
// an error before it (begin not called) has written nothing, so the
// caller can still answer it; an error after it cuts the export short.
func (d *Directory) ExportAudit(ctx context.Context, q AuditQuery, f AuditFormat, w io.Writer, begin func()) error {
	q.Before, q.Limit = 0, auditExportPage
	var cw *csv.Writer
	enc := json.NewEncoder(w)
	for first := true; ; first = false {
		entries, next, err := d.AuditPage(ctx, q)
		if err != nil {
			return err
		}
		if first {
			begin()
			if f == AuditCSV {
				cw = csv.NewWriter(w)
				if err := cw.Write(AuditCSVHeader); err != nil {
					return err
				}
			}
		}
		for _, e := range entries {
			r := e.Record()
			if cw == nil {
				if err := enc.Encode(r); err != nil {
					return err
				}
				continue
			}
			details, err := json.Marshal(r.Details)
			if err != nil {
				return err
			}
			if err := cw.Write(csvSafe([]string{strconv.FormatInt(r.ID, 10), r.At.UTC().Format(time.RFC3339Nano), r.Actor, r.Action, r.Target, r.IP, string(details)})); err != nil {
				return err
			}
		}
		if cw != nil {
			if cw.Flush(); cw.Error() != nil {
				return cw.Error()
			}
		}
		if fl, ok := w.(interface{ Flush() }); ok {
			fl.Flush()
		}
		if next == 0 {
			return nil
		}
		q.Before = next
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

// Usernames maps the ids among ids that are users' ids to their usernames
// (the audit trail names users by id); other ids, and users that are gone,
// are left out.
func (d *Directory) Usernames(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if _, err := uuid.Parse(id); err != nil {
			continue // "config", "client:ID", a client id, a group or policy name
		}
		u, err := d.store.GetUser(ctx, id)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			continue
		case err != nil:
			return nil, err
		}
		out[id] = u.Username
	}
	return out, nil
}
