package models

import (
	"context"
	"strings"
	"sync"
	"time"
)

// ActivityBuffer coalesces activity notes (heartbeats, webhooks) in memory:
// however many arrive for one agent between two flushes, the flush writes
// that agent once, with the latest time.
type ActivityBuffer struct {
	mu      sync.Mutex
	pending map[activityKey]time.Time
}

type activityKey struct {
	tenant  TenantID
	account string
}

// Touch notes that an agent was active at a time.
func (b *ActivityBuffer) Touch(tenant TenantID, accountID string, at time.Time) {
	k := activityKey{tenant, accountID}
	b.mu.Lock()
	if b.pending == nil {
		b.pending = make(map[activityKey]time.Time)
	}
	if prev, ok := b.pending[k]; !ok || at.After(prev) {
		b.pending[k] = at
	}
	b.mu.Unlock()
}

// Pending counts the agents waiting for the next flush.
func (b *ActivityBuffer) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

func (b *ActivityBuffer) take() map[activityKey]time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pending
	b.pending = nil
	return p
}

// giveBack returns notes a failed flush could not write, keeping newer ones.
func (b *ActivityBuffer) giveBack(p map[activityKey]time.Time) {
	for k, at := range p {
		b.Touch(k.tenant, k.account, at)
	}
}

// activityBatch keeps each statement's parameters well under SQLite's limit.
const activityBatch = 1000

// FlushActivity writes the buffered activity: one upsert row per agent,
// in batches, never moving a time backwards. It returns the rows written.
// On failure the notes go back into the buffer for the next flush. now
// dates the agents it creates.
func (s *Store) FlushActivity(ctx context.Context, b *ActivityBuffer, now time.Time) (int, error) {
	p := b.take()
	if len(p) == 0 {
		return 0, nil
	}
	now = now.UTC()
	type row struct {
		k  activityKey
		at time.Time
	}
	rows := make([]row, 0, len(p))
	for k, at := range p {
		rows = append(rows, row{k, at.UTC()})
	}
	written := 0
	for start := 0; start < len(rows); start += activityBatch {
		end := min(start+activityBatch, len(rows))
		var sb strings.Builder
		args := make([]any, 0, (end-start)*5)
		sb.WriteString("INSERT INTO agents (tenant_id, account_id, last_activity_at, next_switch_online, created_at, updated_at) VALUES ")
		for i, r := range rows[start:end] {
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, r.k.tenant, r.k.account, r.at, false, now, now)
		}
		sb.WriteString(` ON CONFLICT (tenant_id, account_id) DO UPDATE SET last_activity_at = excluded.last_activity_at
 WHERE agents.last_activity_at IS NULL OR agents.last_activity_at < excluded.last_activity_at`)
		if err := s.db.WithContext(ctx).Exec(sb.String(), args...).Error; err != nil {
			rest := make(map[activityKey]time.Time, len(rows)-start)
			for _, r := range rows[start:] {
				rest[r.k] = r.at
			}
			b.giveBack(rest)
			return written, translate("flush activity", err)
		}
		written += end - start
	}
	return written, nil
}

// LastActivity returns when an agent was last seen active (nil: never).
func (s *Store) LastActivity(ctx context.Context, tenant TenantID, accountID string) (*time.Time, error) {
	var a Agent
	err := s.db.WithContext(ctx).Where("tenant_id = ? AND account_id = ?", tenant, accountID).Take(&a).Error
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, translate("last activity", err)
	}
	return a.LastActivityAt, nil
}
