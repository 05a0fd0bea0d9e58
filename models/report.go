package models

import (
	"context"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"

	"agentpresence/models/interval"
)

// DayOnline is how long one agent was online, and away, on one UTC day.
type DayOnline struct {
	AccountID string
	// Day is the UTC midnight that starts the day.
	Day     time.Time
	Seconds int64
	// AwaySeconds are those away in at least one project while online in
	// none: the two series never count one moment twice.
	AwaySeconds int64
}

// OnlineReport computes, per agent and UTC day of [from, to), how long the
// agent was online in at least one project (being online in three
// projects at once counts once), and how long away in at least one while
// online in none. It is a pure function over the audit trail:
//
//   - events are the status changes at or after from (in any order; earlier
//     ones are ignored). Changes after to still matter: the first change of
//     an agent in a project tells its state at from (FromState).
//   - current are the statuses now (only the online and away ones matter).
//     They give the state of an agent and project with no change since
//     from: unchanged all along.
//   - now ends the period when to is in the future.
//
// The result is sorted by account and day and leaves out days with
// neither.
func OnlineReport(events []Event, current []Status, from, to, now time.Time) []DayOnline {
	from, to, now = from.UTC(), to.UTC(), now.UTC()
	end := to
	if now.Before(end) {
		end = now
	}
	if !from.Before(end) {
		return nil
	}
	type pair struct {
		account string
		project int64
	}
	byPair := map[pair][]Event{}
	for _, e := range events {
		if e.At.Before(from) {
			continue
		}
		e.fillStates() // events built before away existed say only online or not
		k := pair{e.AccountID, e.ProjectID}
		byPair[k] = append(byPair[k], e)
	}
	// The periods of each account, online and away apart.
	online, away := map[string][]interval.Span[time.Time]{}, map[string][]interval.Span[time.Time]{}
	add := func(account string, st State, start, stop time.Time) {
		switch st {
		case StateOnline:
			online[account] = append(online[account], interval.Span[time.Time]{Start: start, End: stop})
		case StateAway:
			away[account] = append(away[account], interval.Span[time.Time]{Start: start, End: stop})
		}
	}
	for k, evs := range byPair {
		sort.Slice(evs, func(i, j int) bool {
			if !evs[i].At.Equal(evs[j].At) {
				return evs[i].At.Before(evs[j].At)
			}
			return evs[i].ID < evs[j].ID
		})
		state, since := evs[0].FromState, from
		for _, e := range evs {
			at := e.At.UTC()
			if !at.Before(end) {
				break
			}
			if e.ToState != state {
				add(k.account, state, since, at)
				since = at
			}
			state = e.ToState
		}
		add(k.account, state, since, end)
	}
	for _, s := range current {
		if _, changed := byPair[pair{s.AccountID, s.ProjectID}]; !changed {
			add(s.AccountID, effectiveState(s.Online, s.State), from, end)
		}
	}
	type day struct {
		account string
		day     time.Time
	}
	totals := map[day]*DayOnline{}
	count := func(account string, spans []interval.Span[time.Time], seconds func(*DayOnline) *int64) {
		for _, s := range spans {
			for _, d := range splitDays(s) {
				k := day{account, d.day}
				if totals[k] == nil {
					totals[k] = &DayOnline{AccountID: account, Day: d.day}
				}
				*seconds(totals[k]) += d.seconds
			}
		}
	}
	for account := range mapsKeys(online, away) {
		// Online in several projects at once counts once; away counts
		// where the agent is online nowhere.
		on := interval.MergeFunc(online[account], time.Time.Compare)
		off := interval.SubtractFunc(interval.MergeFunc(away[account], time.Time.Compare), on, time.Time.Compare)
		count(account, on, func(d *DayOnline) *int64 { return &d.Seconds })
		count(account, off, func(d *DayOnline) *int64 { return &d.AwaySeconds })
	}
	out := make([]DayOnline, 0, len(totals))
	for _, d := range totals {
		if d.Seconds > 0 || d.AwaySeconds > 0 {
			out = append(out, *d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].AccountID != out[j].AccountID {
			return out[i].AccountID < out[j].AccountID
		}
		return out[i].Day.Before(out[j].Day)
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

// mapsKeys is the set of keys of both maps.
func mapsKeys[V any](a, b map[string]V) map[string]bool {
	keys := make(map[string]bool, len(a)+len(b))
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

// daySeconds is part of a span that falls in one UTC day.
type daySeconds struct {
	day     time.Time
	seconds int64
}

// splitDays cuts a span at UTC midnights.
func splitDays(s interval.Span[time.Time]) []daySeconds {
	var out []daySeconds
	for cur := s.Start; cur.Before(s.End); {
		day := time.Date(cur.Year(), cur.Month(), cur.Day(), 0, 0, 0, 0, time.UTC)
		next := day.AddDate(0, 0, 1)
		stop := s.End
		if next.Before(stop) {
			stop = next
		}
		if secs := int64(stop.Sub(cur) / time.Second); secs > 0 {
			out = append(out, daySeconds{day, secs})
		}
		cur = stop
	}
	return out
}

// MaxReportDays bounds a report's period (a quarter).
const MaxReportDays = 92

// maxReportEvents bounds the changes one report may read.
const maxReportEvents = 200_000

// ReportQuery asks for the time-online report of a tenant.
type ReportQuery struct {
	// From and To bound the period, widened to whole UTC days. A zero To
	// is the end of today; a zero From is seven days before To.
	From, To time.Time
	// ProjectKey limits the report to one project; empty: every project.
	ProjectKey string
}

// ReportError says which field of a ReportQuery the report cannot be made
// of. It is an ErrInvalid.
type ReportError struct {
	Field   string
	Message string
}

// Error implements error.
func (e *ReportError) Error() string { return fmt.Sprintf("report: %s: %s", e.Field, e.Message) }

// Unwrap makes a ReportError an ErrInvalid.
func (e *ReportError) Unwrap() error { return ErrInvalid }

// Period is the query's period at now: whole UTC days, the defaults filled
// in. It reads nothing, so that a request can be checked before anything
// else; a period that ends before it starts or is longer than
// MaxReportDays is a *ReportError.
func (q ReportQuery) Period(now time.Time) (from, to time.Time, err error) {
	from, to = q.From.UTC(), q.To.UTC()
	if to.IsZero() {
		to = now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	}
	if from.IsZero() {
		from = to.AddDate(0, 0, -7)
	}
	from = from.Truncate(24 * time.Hour)
	if t := to.Truncate(24 * time.Hour); t.Before(to) {
		to = t.AddDate(0, 0, 1)
	}
	if !from.Before(to) {
		return time.Time{}, time.Time{}, &ReportError{Field: "to", Message: "must be after from"}
	}
	if to.Sub(from) > MaxReportDays*24*time.Hour {
		return time.Time{}, time.Time{}, &ReportError{Field: "to", Message: fmt.Sprintf("the period may be at most %d days", MaxReportDays)}
	}
	return from, to, nil
}

// Report is how long each agent was online, and away, per UTC day of
// [From, To).
type Report struct {
	From, To time.Time
	// Days are the UTC midnights of the period's days; every agent's
	// Seconds and AwaySeconds line up with them.
	Days []time.Time
	// Agents are sorted by account and leave out those never online nor
	// away.
	Agents []AgentOnline
}

// AgentOnline is one agent's line of a Report: the online series and the
// away series (see DayOnline).
type AgentOnline struct {
	AccountID        string
	TotalSeconds     int64
	Seconds          []int64
	TotalAwaySeconds int64
	AwaySeconds      []int64
}

// Report computes the time-online report of the tenant at now (see
// OnlineReport) from the audit trail and the current statuses. An unknown
// project, a period the query cannot have (see Period) or one with more
// than 200,000 changes is a *ReportError.
func (s *Store) Report(ctx context.Context, tenant TenantID, q ReportQuery, now time.Time) (Report, error) {
	from, to, err := q.Period(now)
	if err != nil {
		return Report{}, err
	}
	db := s.db.WithContext(ctx)
	var projectID int64
	if q.ProjectKey != "" {
		var ids []int64
		if err := db.Model(&Project{}).Where("tenant_id = ? AND key = ?", tenant, q.ProjectKey).Pluck("id", &ids).Error; err != nil {
			return Report{}, translate("report", err)
		}
		if len(ids) == 0 {
			return Report{}, &ReportError{Field: "project", Message: "no service desk project with that key"}
		}
		projectID = ids[0]
	}
	scope := func(q *gorm.DB) *gorm.DB {
		q = q.Where("tenant_id = ?", tenant)
		if projectID != 0 {
			q = q.Where("project_id = ?", projectID)
		}
		return q
	}
	var events []Event
	if err := scope(db).Where("at >= ?", from).Order("id").Limit(maxReportEvents).Find(&events).Error; err != nil {
		return Report{}, translate("report", err)
	}
	if len(events) == maxReportEvents {
		return Report{}, &ReportError{Field: "from", Message: "too many status changes since then; choose a later start"}
	}
	var current []Status
	if err := scope(db).Where(presentSQL).Find(&current).Error; err != nil {
		return Report{}, translate("report", err)
	}
	r := Report{From: from, To: to, Agents: []AgentOnline{}}
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		r.Days = append(r.Days, d)
	}
	for _, d := range OnlineReport(events, current, from, to, now) {
		n := len(r.Agents)
		if n == 0 || r.Agents[n-1].AccountID != d.AccountID {
			r.Agents = append(r.Agents, AgentOnline{AccountID: d.AccountID, Seconds: make([]int64, len(r.Days)),
				AwaySeconds: make([]int64, len(r.Days))})
			n++
		}
		i := int(d.Day.Sub(from) / (24 * time.Hour))
		if i < 0 || i >= len(r.Days) {
			continue // OnlineReport keeps inside the period; never reached
		}
		r.Agents[n-1].Seconds[i] += d.Seconds
		r.Agents[n-1].TotalSeconds += d.Seconds
		r.Agents[n-1].AwaySeconds[i] += d.AwaySeconds
		r.Agents[n-1].TotalAwaySeconds += d.AwaySeconds
	}
	return r, nil
}
