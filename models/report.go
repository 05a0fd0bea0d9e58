package models

import (
	"sort"
	"time"
)

// DayOnline is how long one agent was online on one UTC day.
type DayOnline struct {
	AccountID string
	// Day is the UTC midnight that starts the day.
	Day     time.Time
	Seconds int64
}

// span is a half-open interval [from, to).
type span struct{ from, to time.Time }

// OnlineReport computes, per agent and UTC day of [from, to), how long the
// agent was online in at least one project: being online in three projects
// at once counts once. It is a pure function over the audit trail:
//
//   - events are the status changes at or after from (in any order; earlier
//     ones are ignored). Changes after to still matter: the first change of
//     an agent in a project tells its state at from (FromOnline).
//   - current are the statuses now (only the online ones matter). They give
//     the state of an agent and project with no change since from: unchanged
//     all along.
//   - now ends the period when to is in the future.
//
// The result is sorted by account and day and leaves out zero days.
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
		k := pair{e.AccountID, e.ProjectID}
		byPair[k] = append(byPair[k], e)
	}
	onlineNow := map[pair]bool{}
	for _, s := range current {
		if s.Online {
			onlineNow[pair{s.AccountID, s.ProjectID}] = true
		}
	}
	spans := map[string][]span{}
	for k, evs := range byPair {
		sort.Slice(evs, func(i, j int) bool {
			if !evs[i].At.Equal(evs[j].At) {
				return evs[i].At.Before(evs[j].At)
			}
			return evs[i].ID < evs[j].ID
		})
		online, since := evs[0].FromOnline, from
		for _, e := range evs {
			at := e.At.UTC()
			if !at.Before(end) {
				break
			}
			if online && !e.ToOnline {
				spans[k.account] = append(spans[k.account], span{since, at})
			}
			if !online && e.ToOnline {
				since = at
			}
			online = e.ToOnline
		}
		if online {
			spans[k.account] = append(spans[k.account], span{since, end})
		}
	}
	for k := range onlineNow {
		if _, changed := byPair[k]; !changed {
			spans[k.account] = append(spans[k.account], span{from, end})
		}
	}
	var out []DayOnline
	for account, ss := range spans {
		for _, s := range mergeSpans(ss) {
			out = append(out, splitDays(account, s)...)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].AccountID != out[j].AccountID {
			return out[i].AccountID < out[j].AccountID
		}
		return out[i].Day.Before(out[j].Day)
	})
	// Spans of one account may share a day after splitting; fold them.
	folded := out[:0]
	for _, d := range out {
		if n := len(folded); n > 0 && folded[n-1].AccountID == d.AccountID && folded[n-1].Day.Equal(d.Day) {
			folded[n-1].Seconds += d.Seconds
			continue
		}
		folded = append(folded, d)
	}
	return folded
}

// mergeSpans unions overlapping and touching spans.
func mergeSpans(ss []span) []span {
	sort.Slice(ss, func(i, j int) bool { return ss[i].from.Before(ss[j].from) })
	var out []span
	for _, s := range ss {
		if !s.from.Before(s.to) {
			continue
		}
		if n := len(out); n > 0 && !s.from.After(out[n-1].to) {
			if s.to.After(out[n-1].to) {
				out[n-1].to = s.to
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// splitDays cuts a span at UTC midnights.
func splitDays(account string, s span) []DayOnline {
	var out []DayOnline
	for cur := s.from; cur.Before(s.to); {
		day := time.Date(cur.Year(), cur.Month(), cur.Day(), 0, 0, 0, 0, time.UTC)
		next := day.AddDate(0, 0, 1)
		stop := s.to
		if next.Before(stop) {
			stop = next
		}
		if secs := int64(stop.Sub(cur) / time.Second); secs > 0 {
			out = append(out, DayOnline{AccountID: account, Day: day, Seconds: secs})
		}
		cur = stop
	}
	return out
}
