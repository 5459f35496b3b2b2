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
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	var out []AuditEvent
	return out, translate("list audit", q.Find(&out).Error)
}
