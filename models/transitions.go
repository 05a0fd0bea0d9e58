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
	// account is not offline, ignoring the change's ProjectIDs.
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
func (t transition) everywhere() bool {
	return t.when.everywhere && t.change.To.orOffline() == StateOffline
}

// switchProjects is the transition primitive, the one place where a status
// row changes state, whoever asks: an agent (SetOwnStatus), an admin
// (PutOffline), a schedule (ApplyDueSchedules), the end of a period
// (ExpireOnline), inactivity (SweepInactive), a seed (SetStatus). It
// switches the accounts' rows in their changes' projects with conditional
// writes (WHERE state <> the new state), so two writers racing on one row
// produce one effective change and one event, and writes those events,
// from the state the row held (kept by the same write in previous_state)
// to the new one. One account's change (an agent's toggle) and a thousand
// (a schedules tick) cost the same few statements on PostgreSQL: the
// changes travel as one set of rows (see rowSet). An account and project
// may appear in one transition only (an account going offline everywhere
// in no other); one account may have several, each at its own instant
// (expiry: each period's end). It returns the events in the order of the
// transitions, each's in the order of its ProjectIDs (everywhere: by
// project), then whether a row kept its state but got a new period end or
// away reason.
func switchProjects(tx *gorm.DB, ts []transition) ([]Event, bool, error) {
	d := Dialect(tx.Dialector.Name())
	// One row per account and project, with what to write and whether rows
	// changed after the instant are left alone (guard).
	columns := []rowColumn{
		{"tenant_id", "bigint"}, {"account_id", "text"}, {"project_id", "bigint"}, {"state", "text"}, {"online", "boolean"},
		{"switch_at", "timestamptz"}, {"until", "timestamptz"}, {"source", "text"}, {"away_reason", "text"}, {"guard", "boolean"},
		{"changed_by", "text"}, {"change_reason", "text"},
	}
	var (
		// Going online or away, without and with the guard, which an
		// upsert holds in its text.
		present = [2]rowSet{{name: "t", columns: columns}, {name: "t", columns: columns}}
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
		ch, at, guard := t.change, t.when.at.UTC(), t.when.notChangedAfter
		to := ch.To.orOffline()
		var until *time.Time
		if ch.Until != nil {
			u := ch.Until.UTC()
			until = &u
		}
		awayReason := ""
		if to == StateAway {
			awayReason = ch.Reason
		}
		if t.everywhere() {
			byAccountEverywhere[a] = i
			everywhere.add(int64(t.tenant), ch.AccountID, nil, string(to), false, at, until, string(ch.Source), awayReason, guard,
				ch.Actor, ch.Reason)
			continue
		}
		set := &offline
		if to != StateOffline {
			set = &present[0]
			if guard {
				set = &present[1]
			}
		}
		// In project order, once each: writers that lock an account's rows
		// in the same order cannot deadlock on them.
		for _, pid := range slices.Compact(slices.Sorted(slices.Values(ch.ProjectIDs))) {
			if j, dup := byRow[row{a, pid}]; dup && j != i {
				return nil, false, fmt.Errorf("switch projects: account %q and project %d in two changes", a.id, pid)
			}
			byRow[row{a, pid}] = i
			set.add(int64(t.tenant), ch.AccountID, pid, string(to), to == StateOnline, at, until, string(ch.Source), awayReason, guard,
				ch.Actor, ch.Reason)
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
		From      State
	}
	var (
		moved bool
		done  []switched
	)
	collect := func(q string, args []any) error {
		return scanRows(tx, q, args, func(rows *sql.Rows) error {
			var r switched
			if err := rows.Scan(&r.TenantID, &r.AccountID, &r.ProjectID, &r.From); err != nil {
				return err
			}
			done = append(done, r)
			return nil
		})
	}
	for guard, set := range present {
		for _, p := range set.pieces(d) {
			with, args := p.cte(d)
			// Already in the state: a new period end or away reason
			// replaces the old one, without an event (the state did not
			// switch).
			res := tx.Exec("WITH "+with+` UPDATE statuses SET until = t.until, away_reason = t.away_reason FROM t
WHERE `+byProject+` AND `+stateSQL+` = t.state
  AND (statuses.until IS DISTINCT FROM t.until OR statuses.away_reason <> t.away_reason)`, args...)
			if res.Error != nil {
				return nil, false, res.Error
			}
			moved = moved || res.RowsAffected > 0
			// Offline is the default: a missing row is created in the new
			// state, another switched, keeping what it held. "WHERE true"
			// settles SQLite's parse of INSERT … SELECT … ON CONFLICT.
			cond := stateSQL + " <> excluded.state"
			if guard == 1 {
				cond += " AND statuses.since <= excluded.since"
			}
			if err := collect("WITH "+with+` INSERT INTO statuses (tenant_id, project_id, account_id, online, state, previous_state, since, until, source, away_reason, changed_by, change_reason)
SELECT tenant_id, project_id, account_id, online, state, 'offline', switch_at, until, source, away_reason, changed_by, change_reason FROM t WHERE true
ON CONFLICT (tenant_id, project_id, account_id) DO UPDATE
SET previous_state = `+stateSQL+`, online = excluded.online, state = excluded.state, since = excluded.since,
  until = excluded.until, source = excluded.source, away_reason = excluded.away_reason,
  changed_by = excluded.changed_by, change_reason = excluded.change_reason WHERE `+cond+`
RETURNING tenant_id, account_id, project_id, previous_state`, args); err != nil {
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
			if err := collect("WITH "+with+` UPDATE statuses SET previous_state = `+stateSQL+`, online = t.online, state = t.state,
  since = t.switch_at, until = t.until, source = t.source, away_reason = t.away_reason,
  changed_by = t.changed_by, change_reason = t.change_reason
FROM t WHERE `+set.match+` AND `+stateSQL+` <> t.state
RETURNING statuses.tenant_id, statuses.account_id, statuses.project_id, statuses.previous_state`, args); err != nil {
				return nil, false, err
			}
		}
	}
	if len(done) == 0 {
		return nil, moved, nil
	}
	// Events in the order of the transitions, then of their projects.
	pending := make([]map[int64]State, len(ts))
	for _, r := range done {
		a := account{r.TenantID, r.AccountID}
		i, ok := byAccountEverywhere[a]
		if !ok {
			i = byRow[row{a, r.ProjectID}]
		}
		if pending[i] == nil {
			pending[i] = map[int64]State{}
		}
		pending[i][r.ProjectID] = r.From.orOffline()
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
		to := ch.To.orOffline()
		for _, pid := range order {
			from, ok := pending[i][pid]
			if !ok {
				continue // not switched, or a repeated id
			}
			delete(pending[i], pid)
			events = append(events, Event{TenantID: t.tenant, ProjectID: pid, AccountID: ch.AccountID,
				FromOnline: from == StateOnline, ToOnline: to == StateOnline, FromState: from, ToState: to,
				Source: ch.Source, ActorAccountID: ch.Actor, Reason: ch.Reason, At: t.when.at.UTC()})
		}
	}
	if err := insertEventSet(tx, d, events); err != nil {
		return nil, false, err
	}
	return events, moved, nil
}
