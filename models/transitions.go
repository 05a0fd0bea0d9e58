package models

import (
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"

	"gorm.io/gorm"
)

// switchAt says when a switch happens and which rows it may touch.
type switchAt struct {
	// at is the instant of the change: the rows' since and the events' At.
	at time.Time
	// everywhere, going offline only, switches every project where the
	// account is online, ignoring the change's ProjectIDs.
	everywhere bool
	// notChangedAfter leaves alone rows changed after at: a scheduled switch
	// applied late must not undo a manual change made after its instant.
	notChangedAfter bool
}

// transition is one account's status change as switchProjects applies it.
type transition struct {
	tenant TenantID
	change StatusChange
	when   switchAt
}

// everywhere tells whether t switches every project where its account is
// not in the state it goes to: going offline everywhere.
func (t transition) everywhere() bool { return t.when.everywhere && !t.change.Online }

// switchProjects is the transition primitive, the one place where a status
// row changes state, whoever asks: an agent (SetOwnStatus), an admin
// (PutOffline), a schedule (ApplyDueSchedules), the end of a period
// (ExpireOnline), inactivity (SweepInactive), a seed (SetStatus). It
// switches the accounts' rows in their changes' projects with conditional
// writes (WHERE online = old state), so two writers racing on one row
// produce one effective change and one event, and writes those events.
// One account's change (an agent's toggle) and a thousand (a schedules
// tick) cost the same few statements on PostgreSQL: the changes travel as
// one set of rows (see rowSet). An account and project may appear in one
// transition only (an account going offline everywhere in no other); one
// account may have several, each at its own instant (expiry: each
// period's end). It returns the events in the order of the transitions,
// each's in the order of its ProjectIDs (everywhere: by project), then
// whether an online row kept its state but got a new period end.
func switchProjects(tx *gorm.DB, ts []transition) ([]Event, bool, error) {
	d := Dialect(tx.Dialector.Name())
	// One row per account and project, with what to write and whether rows
	// changed after the instant are left alone (guard).
	columns := []rowColumn{
		{"tenant_id", "bigint"}, {"account_id", "text"}, {"project_id", "bigint"}, {"online", "boolean"},
		{"switch_at", "timestamptz"}, {"until", "timestamptz"}, {"source", "text"}, {"guard", "boolean"},
	}
	var (
		// Going online, without and with the guard, which an upsert holds
		// in its text.
		online = [2]rowSet{{name: "t", columns: columns}, {name: "t", columns: columns}}
		// Going offline in the projects named, and everywhere (project
		// NULL: every row of the account); apart, so that the first are
		// found by primary key.
		offline    = rowSet{name: "t", columns: columns}
		everywhere = rowSet{name: "t", columns: columns}
	)
	// Which transition a switched row belongs to: by its account and
	// project, or by its account alone when it goes offline everywhere.
	type account struct {
		tenant TenantID
		id     string
	}
	type row struct {
		account
		project int64
	}
	byRow := make(map[row]int, len(ts))
	byAccountEverywhere := map[account]int{}
	given := map[account]bool{}
	for i, t := range ts {
		a := account{t.tenant, t.change.AccountID}
		if _, dup := byAccountEverywhere[a]; dup || (t.everywhere() && given[a]) {
			return nil, false, fmt.Errorf("switch projects: account %q everywhere and in another change", a.id)
		}
		given[a] = true
		if t.everywhere() {
			byAccountEverywhere[a] = i
		}
		for _, pid := range t.change.ProjectIDs {
			if t.everywhere() {
				break
			}
			if j, dup := byRow[row{a, pid}]; dup && j != i {
				return nil, false, fmt.Errorf("switch projects: account %q and project %d in two changes", a.id, pid)
			}
			byRow[row{a, pid}] = i
		}
		ch, at, guard := t.change, t.when.at.UTC(), t.when.notChangedAfter
		var until *time.Time
		if ch.Until != nil {
			u := ch.Until.UTC()
			until = &u
		}
		if t.everywhere() {
			everywhere.add(int64(t.tenant), ch.AccountID, nil, false, at, until, string(ch.Source), guard)
			continue
		}
		set := &offline
		if ch.Online {
			set = &online[0]
			if guard {
				set = &online[1]
			}
		}
		// In project order, once each: writers that lock an account's rows
		// in the same order cannot deadlock on them.
		for _, pid := range slices.Compact(slices.Sorted(slices.Values(ch.ProjectIDs))) {
			set.add(int64(t.tenant), ch.AccountID, pid, ch.Online, at, until, string(ch.Source), guard)
		}
	}
	// The state is compared with t's column, never a constant, so that the
	// planner reaches rows by account (primary key, ix_statuses_tenant_account)
	// rather than through every online row of a project.
	const (
		byAccount = "statuses.tenant_id = t.tenant_id AND statuses.account_id = t.account_id" +
			" AND (NOT t.guard OR statuses.since <= t.switch_at)"
		byProject = byAccount + " AND statuses.project_id = t.project_id"
	)
	type switched struct {
		TenantID  TenantID
		AccountID string
		ProjectID int64
	}
	var (
		moved bool
		done  []switched
	)
	collect := func(q string, args []any) error {
		return scanRows(tx, q, args, func(rows *sql.Rows) error {
			var r switched
			if err := rows.Scan(&r.TenantID, &r.AccountID, &r.ProjectID); err != nil {
				return err
			}
			done = append(done, r)
			return nil
		})
	}
	for guard, set := range online {
		for _, p := range set.pieces(d) {
			with, args := p.cte(d)
			// Already online: a new period end replaces the old one,
			// without an event (the state did not switch).
			res := tx.Exec("WITH "+with+` UPDATE statuses SET until = t.until FROM t
WHERE `+byProject+` AND statuses.online = t.online AND statuses.until IS DISTINCT FROM t.until`, args...)
			if res.Error != nil {
				return nil, false, res.Error
			}
			moved = moved || res.RowsAffected > 0
			// Offline is the default: a missing row is created online, an
			// offline one switched. "WHERE true" settles SQLite's parse of
			// INSERT … SELECT … ON CONFLICT.
			cond := "statuses.online <> excluded.online"
			if guard == 1 {
				cond += " AND statuses.since <= excluded.since"
			}
			if err := collect("WITH "+with+` INSERT INTO statuses (tenant_id, project_id, account_id, online, since, until, source)
SELECT tenant_id, project_id, account_id, online, switch_at, until, source FROM t WHERE true
ON CONFLICT (tenant_id, project_id, account_id) DO UPDATE
SET online = excluded.online, since = excluded.since, until = excluded.until, source = excluded.source WHERE `+cond+`
RETURNING tenant_id, account_id, project_id`, args); err != nil {
				return nil, false, err
			}
		}
	}
	for _, set := range []struct {
		rows  rowSet
		match string
	}{{offline, byProject}, {everywhere, byAccount}} {
		for _, p := range set.rows.pieces(d) {
			with, args := p.cte(d)
			if err := collect("WITH "+with+` UPDATE statuses SET online = t.online, since = t.switch_at, until = t.until, source = t.source
FROM t WHERE `+set.match+` AND statuses.online <> t.online
RETURNING statuses.tenant_id, statuses.account_id, statuses.project_id`, args); err != nil {
				return nil, false, err
			}
		}
	}
	if len(done) == 0 {
		return nil, moved, nil
	}
	// Events in the order of the transitions, then of their projects.
	pending := make([]map[int64]bool, len(ts))
	for _, r := range done {
		a := account{r.TenantID, r.AccountID}
		i, ok := byAccountEverywhere[a]
		if !ok {
			i = byRow[row{a, r.ProjectID}]
		}
		if pending[i] == nil {
			pending[i] = map[int64]bool{}
		}
		pending[i][r.ProjectID] = true
	}
	events := make([]Event, 0, len(done))
	for i, t := range ts {
		if len(pending[i]) == 0 {
			continue
		}
		ch := t.change
		order := ch.ProjectIDs
		if t.everywhere() {
			order = slices.Sorted(maps.Keys(pending[i]))
		}
		for _, pid := range order {
			if !pending[i][pid] {
				continue // not switched, or a repeated id
			}
			delete(pending[i], pid)
			events = append(events, Event{TenantID: t.tenant, ProjectID: pid, AccountID: ch.AccountID, FromOnline: !ch.Online,
				ToOnline: ch.Online, Source: ch.Source, ActorAccountID: ch.Actor, Reason: ch.Reason, At: t.when.at.UTC()})
		}
	}
	if err := insertEventSet(tx, d, events); err != nil {
		return nil, false, err
	}
	return events, moved, nil
}
