package models

import "time"

// LastChange is why an agent's status in a project is what it is: when it
// switched, what switched it, and, when an administrator did, who and
// with what reason; for away, the agent's own reason. The agent's pages
// tell it ("Put offline by Ada Admin at 14:02: lunch rush over").
type LastChange struct {
	At     time.Time
	State  State
	Source Source
	// By is the administrator who put the agent offline (SourceAdmin);
	// empty otherwise.
	By string
	// Reason is the administrator's reason (SourceAdmin) or the away
	// reason (StateAway); empty otherwise.
	Reason string
}

// LastChange reads the row's last switch. The actor and reason columns
// are read only where they belong (an admin's switch; away), so that a
// row switched by a replica of a release without them, which leaves them
// as they were, never names an old actor for a new change of another
// kind.
func (s Status) LastChange() LastChange {
	c := LastChange{At: s.Since.UTC(), State: s.State, Source: s.Source}
	switch {
	case s.Source == SourceAdmin:
		c.By, c.Reason = s.ChangedBy, s.ChangeReason
	case s.State == StateAway:
		c.Reason = s.AwayReason
	}
	return c
}

// AutoOfflineAt is when inactivity puts an agent offline: the sweep
// (SweepInactive) switches a row online or away once both its since and
// the agent's last activity are older than the limit, so each row's
// deadline is the later of the two plus the limit, and the agent's is the
// earliest of its rows'. It is nil when the limit is off (zero) or the
// agent is online or away nowhere. lastActivity is the agent's last
// activity as flushed (nil: none); activity after it moves the deadline
// later, never earlier.
func AutoOfflineAt(statuses []Status, lastActivity *time.Time, limit time.Duration) *time.Time {
	if limit <= 0 {
		return nil
	}
	var earliest *time.Time
	for _, s := range statuses {
		if s.State != StateOnline && s.State != StateAway {
			continue
		}
		from := s.Since.UTC()
		if lastActivity != nil && lastActivity.After(from) {
			from = lastActivity.UTC()
		}
		at := from.Add(limit)
		if earliest == nil || at.Before(*earliest) {
			earliest = &at
		}
	}
	return earliest
}
