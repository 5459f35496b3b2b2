package storage

import (
	"context"
	"time"
)

// AuditEvent is one entry of the append-only audit trail. Details is a JSON
// object; it never holds secrets.
type AuditEvent struct {
	ID        int64 `gorm:"primaryKey;autoIncrement"`
	At        time.Time
	Actor     string // user id, or "system", "cli", "config", "setup"
	Action    string // e.g. "user.created"
	Target    string // the id of what was acted on
	IP        string `gorm:"column:ip"`
	RequestID string
	Details   map[string]any `gorm:"serializer:json"`
}

// AppendAudit records e; At defaults to now.
func (s *Store) AppendAudit(ctx context.Context, e *AuditEvent) error {
	if e.At.IsZero() {
		e.At = s.clock()
	}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	return translate("append audit", s.db.WithContext(ctx).Create(e).Error)
}

// AuditFilter selects audit events, newest first.
type AuditFilter struct {
	Target   string // "" for any
	Action   string // "" for any
	BeforeID int64  // 0 for the newest; else events with a smaller id (paging)
	Limit    int    // default and maximum 500
	// Party: "" for any; else events whose actor or target it is (a user
	// id or a client id).
	Party string
	// Actions, when set, selects any of these actions (with Action too).
	Actions []string
	// Since and Until bound At (zero: unbounded; Until is exclusive).
	Since, Until time.Time
}

// ListAudit returns events matching f, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	q := s.db.WithContext(ctx).Order("id DESC").Limit(f.Limit)
	if f.Target != "" {
		q = q.Where("target = ?", f.Target)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Party != "" {
		q = q.Where("(actor = ? OR target = ?)", f.Party, f.Party)
	}
	if len(f.Actions) > 0 {
		q = q.Where("action IN ?", f.Actions)
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", f.Until.UTC())
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	var out []AuditEvent
	return out, translate("list audit", q.Find(&out).Error)
}
