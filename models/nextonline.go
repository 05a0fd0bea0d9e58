package models

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"
)

// nextOnlineSQL is, for the project p of the widget board's query, the
// earliest planned switch online (agents.next_switch_at with
// next_switch_online) of its members: "Back at 09:00" while nobody is
// online. It is computed with the board's refresh, which a change of the
// project's statuses, a schedule saved, a schedules tick and a change of
// memberships trigger, never per customer's request. It reads the
// project's memberships by their project index and each member's agent
// row by its unique key. Its one parameter is true.
const nextOnlineSQL = `(SELECT MIN(a.next_switch_at) FROM memberships m
    JOIN agents a ON a.tenant_id = m.tenant_id AND a.account_id = m.account_id
    WHERE m.project_id = p.id AND m.tenant_id = p.tenant_id AND a.next_switch_online = ? AND a.next_switch_at IS NOT NULL)`

// scannedTime reads a nullable time computed by SQL. PostgreSQL hands
// back a time; SQLite, whose aggregate of a text column has no declared
// type, the text the store wrote (sqliteTimeLayout).
type scannedTime struct{ time.Time }

// Scan implements sql.Scanner.
func (t *scannedTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		t.Time = time.Time{}
	case time.Time:
		t.Time = x.UTC()
	case string:
		return t.parse(x)
	case []byte:
		return t.parse(string(x))
	default:
		return fmt.Errorf("scan time: unexpected %T", v)
	}
	return nil
}

// Value implements driver.Valuer, which gorm asks of a field type that
// scans itself; the board never writes it.
func (t scannedTime) Value() (driver.Value, error) {
	if t.IsZero() {
		return nil, nil
	}
	return t.Time, nil
}

func (t *scannedTime) parse(s string) error {
	for _, layout := range []string{sqliteTimeLayout, "2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano} {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	return fmt.Errorf("scan time: %q is not a time", s)
}

// plansMoved tells the listeners of the tenants whose agents' plans a
// schedules tick moved on without switching anything (an agent already
// offline at 17:00 now plans 09:00 tomorrow): their projects' next
// online time changed. Tenants with events heard of them already.
func (s *Store) plansMoved(ctx context.Context, results []dueResult, events []Event) {
	told := map[TenantID]bool{}
	for _, e := range events {
		told[e.TenantID] = true
	}
	for _, r := range results {
		for _, p := range r.taken {
			if t := p.agent.TenantID; !told[t] {
				told[t] = true
				s.changed(ctx, t, nil)
			}
		}
	}
}
