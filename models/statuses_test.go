package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// statusWorld is a tenant with three projects (HELP, IT, HR) where alice
// is an agent of HELP and IT, at 09:00 UTC on a Wednesday.
type statusWorld struct {
	*fixture
	alice []models.Project // alice's memberships
}

func newStatusWorld(t *testing.T, dialect models.Dialect) *statusWorld {
	t.Helper()
	f := newFixture(t, dialect)
	ps, err := f.store.SyncProjects(context.Background(), f.tenant.ID, []models.ProjectRef{
		{JiraID: "10000", ServiceDeskID: "1", Key: "HELP", Name: "Help"},
		{JiraID: "10001", ServiceDeskID: "2", Key: "IT", Name: "IT"},
		{JiraID: "10002", ServiceDeskID: "3", Key: "HR", Name: "HR"},
	}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		f.projects[p.Key] = p
	}
	f.member(t, "alice", "HELP", "IT")
	return &statusWorld{fixture: f, alice: []models.Project{f.projects["HELP"], f.projects["IT"]}}
}

// state renders account's rows as "KEY state[ "reason"][ until HH:MM]"
// lines, by key.
func (w *statusWorld) state(t *testing.T, account string) string {
	t.Helper()
	var lines []string
	for key, s := range w.online(t, account) {
		line := key + " " + string(s.State)
		if s.Online != (s.State == models.StateOnline) {
			line += " (online column disagrees)"
		}
		if s.AwayReason != "" {
			line += fmt.Sprintf(" %q", s.AwayReason)
		}
		if s.Until != nil {
			line += " until " + s.Until.UTC().Format("15:04")
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return strings.Join(lines, "; ")
}

// describeEvents renders events as "HH:MM account KEY from→to source[
// actor "reason"]". The online flags must agree with the states.
func (w *statusWorld) describeEvents(evs []models.Event) string {
	var lines []string
	for _, e := range evs {
		key := "?"
		for k, p := range w.projects {
			if p.ID == e.ProjectID {
				key = k
			}
		}
		line := fmt.Sprintf("%s %s %s %s→%s %s", e.At.UTC().Format("15:04"), e.AccountID, key, e.FromState, e.ToState, e.Source)
		if e.FromOnline != (e.FromState == models.StateOnline) || e.ToOnline != (e.ToState == models.StateOnline) {
			line += " (online flags disagree)"
		}
		if e.ActorAccountID != "" || e.Reason != "" {
			line += fmt.Sprintf(" %s %q", e.ActorAccountID, e.Reason)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

func (w *statusWorld) eventCount(t *testing.T) int {
	t.Helper()
	all, err := w.store.Events(context.Background(), w.tenant.ID, models.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

// administers answers for ada, administrator of the projects named.
func administers(keys ...string) func(context.Context, models.Project) (bool, error) {
	return func(_ context.Context, p models.Project) (bool, error) { return slices.Contains(keys, p.Key), nil }
}

// TestStatusUseCases: every way a status changes, as a table: the rows
// given (set at 08:00), one use case at 09:00, the error, the events
// written and alice's rows after it.
func TestStatusUseCases(t *testing.T) {
	type given struct {
		state  models.State
		reason string
		keys   []string
		until  time.Duration // after 09:00, 0: none
	}
	tests := []struct {
		name  string
		given []given
		when  func(w *statusWorld, at time.Time) ([]models.Event, error)
		// expect: the error (nil: none), the events, alice's rows after.
		expectErr    error
		expectEvents string
		expectState  string
	}{
		{
			name: "an agent goes online in a project of theirs",
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateOnline,
					Project: w.projects["HELP"], Memberships: w.alice}, at)
			},
			expectEvents: "09:00 alice HELP offline→online manual",
			expectState:  "HELP online",
		},
		{
			name: "nobody goes online where they are no agent",
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateOnline,
					Project: w.projects["HR"], Memberships: w.alice}, at)
			},
			expectErr: models.ErrNotAnAgent,
		},
		{
			name:  "a former agent still goes offline",
			given: []given{{state: models.StateOnline, keys: []string{"HR"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice",
					Project: w.projects["HR"], Memberships: w.alice}, at)
			},
			expectEvents: "09:00 alice HR online→offline manual",
			expectState:  "HR offline",
		},
		{
			name: "all projects are the agent's memberships",
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateOnline,
					AllProjects: true, Memberships: w.alice, For: 30 * time.Minute}, at)
			},
			expectEvents: "09:00 alice HELP offline→online manual\n09:00 alice IT offline→online manual",
			expectState:  "HELP online until 09:30; IT online until 09:30",
		},
		{
			name:  "online again for a while moves the end, with no event",
			given: []given{{state: models.StateOnline, keys: []string{"HELP"}, until: 10 * time.Minute}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateOnline,
					Project: w.projects["HELP"], Memberships: w.alice, For: time.Hour}, at)
			},
			expectState: "HELP online until 10:00",
		},
		{
			name: "a period goes only with online",
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice",
					Project: w.projects["HELP"], Memberships: w.alice, For: time.Hour}, at)
			},
			expectErr: models.ErrInvalid,
		},
		{
			name:  "an admin puts an agent offline in the project",
			given: []given{{state: models.StateOnline, keys: []string{"HELP", "IT"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.PutOffline(context.Background(), w.tenant.ID, models.AdminOffline{Actor: "ada", AccountID: "alice",
					Project: w.projects["HELP"], Reason: "left", Administers: administers("HELP", "IT")}, at)
			},
			expectEvents: `09:00 alice HELP online→offline admin ada "left"`,
			expectState:  "HELP offline; IT online",
		},
		{
			name:  "in all projects: those the admin administers",
			given: []given{{state: models.StateOnline, keys: []string{"HELP", "IT", "HR"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.PutOffline(context.Background(), w.tenant.ID, models.AdminOffline{Actor: "ada", AccountID: "alice",
					Project: w.projects["IT"], AllProjects: true, Administers: administers("HELP", "IT")}, at)
			},
			expectEvents: "09:00 alice IT online→offline admin ada \"\"\n09:00 alice HELP online→offline admin ada \"\"",
			expectState:  "HELP offline; HR online; IT offline",
		},
		{
			name:  "no admin of the project, no change",
			given: []given{{state: models.StateOnline, keys: []string{"HELP"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.PutOffline(context.Background(), w.tenant.ID, models.AdminOffline{Actor: "ada", AccountID: "alice",
					Project: w.projects["HELP"], AllProjects: true, Administers: administers("IT")}, at)
			},
			expectErr:   models.ErrNotAnAdmin,
			expectState: "HELP online",
		},
		{
			name:  "a period ends at its end",
			given: []given{{state: models.StateOnline, keys: []string{"HELP"}, until: -5 * time.Minute}, {state: models.StateOnline, keys: []string{"IT"}, until: time.Minute}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.ExpireOnline(context.Background(), at)
			},
			expectEvents: "08:55 alice HELP online→offline expiry",
			expectState:  "HELP offline; IT online until 09:01",
		},
		{
			name:  "silence past the limit puts offline",
			given: []given{{state: models.StateOnline, keys: []string{"HELP", "IT"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				if err := w.store.SetAutoOffline(context.Background(), w.tenant.ID, 30, at); err != nil {
					return nil, err
				}
				return w.store.SweepInactive(context.Background(), at.Add(31*time.Minute))
			},
			expectEvents: "09:31 alice HELP online→offline inactivity\n09:31 alice IT online→offline inactivity",
			expectState:  "HELP offline; IT offline",
		},
		{
			name: "away with a reason, for half an hour",
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateAway,
					Reason: "lunch", Project: w.projects["HELP"], Memberships: w.alice, For: 30 * time.Minute}, at)
			},
			expectEvents: `09:00 alice HELP offline→away manual  "lunch"`,
			expectState:  `HELP away "lunch" until 09:30`,
		},
		{
			name:  "from online to away in all projects",
			given: []given{{state: models.StateOnline, keys: []string{"HELP", "IT"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateAway,
					AllProjects: true, Memberships: w.alice}, at)
			},
			expectEvents: "09:00 alice HELP online→away manual\n09:00 alice IT online→away manual",
			expectState:  "HELP away; IT away",
		},
		{
			name: "nobody is away where they are no agent",
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateAway,
					Project: w.projects["HR"], Memberships: w.alice}, at)
			},
			expectErr: models.ErrNotAnAgent,
		},
		{
			name: "a reason goes only with away",
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateOnline,
					Reason: "lunch", Project: w.projects["HELP"], Memberships: w.alice}, at)
			},
			expectErr: models.ErrInvalid,
		},
		{
			name: "an away reason has at most 100 characters",
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateAway,
					Reason: strings.Repeat("é", 101), Project: w.projects["HELP"], Memberships: w.alice}, at)
			},
			expectErr: models.ErrInvalid,
		},
		{
			name: "an away reason is one line",
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateAway,
					Reason: "lunch\nthen a meeting", Project: w.projects["HELP"], Memberships: w.alice}, at)
			},
			expectErr: models.ErrInvalid,
		},
		{
			name:  "away again with another reason: the reason moves, no event",
			given: []given{{state: models.StateAway, reason: "lunch", keys: []string{"HELP"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateAway,
					Reason: "meeting", Project: w.projects["HELP"], Memberships: w.alice}, at)
			},
			expectState: `HELP away "meeting"`,
		},
		{
			name:  "back online from away",
			given: []given{{state: models.StateAway, reason: "lunch", keys: []string{"HELP"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.SetOwnStatus(context.Background(), w.tenant.ID, models.OwnChange{AccountID: "alice", To: models.StateOnline,
					Project: w.projects["HELP"], Memberships: w.alice}, at)
			},
			expectEvents: "09:00 alice HELP away→online manual",
			expectState:  "HELP online",
		},
		{
			name:  "an away period ends offline at its end",
			given: []given{{state: models.StateAway, reason: "lunch", keys: []string{"HELP"}, until: -5 * time.Minute}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.ExpireOnline(context.Background(), at)
			},
			expectEvents: "08:55 alice HELP away→offline expiry",
			expectState:  "HELP offline",
		},
		{
			name:  "silence past the limit puts away agents offline too",
			given: []given{{state: models.StateAway, keys: []string{"HELP"}}, {state: models.StateOnline, keys: []string{"IT"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				if err := w.store.SetAutoOffline(context.Background(), w.tenant.ID, 30, at); err != nil {
					return nil, err
				}
				return w.store.SweepInactive(context.Background(), at.Add(31*time.Minute))
			},
			expectEvents: "09:31 alice HELP away→offline inactivity\n09:31 alice IT online→offline inactivity",
			expectState:  "HELP offline; IT offline",
		},
		{
			name:  "an admin puts an away agent offline, in all the projects they administer",
			given: []given{{state: models.StateAway, keys: []string{"HELP", "HR"}}, {state: models.StateOnline, keys: []string{"IT"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				return w.store.PutOffline(context.Background(), w.tenant.ID, models.AdminOffline{Actor: "ada", AccountID: "alice",
					Project: w.projects["HELP"], AllProjects: true, Reason: "gone", Administers: administers("HELP", "IT")}, at)
			},
			expectEvents: "09:00 alice HELP away→offline admin ada \"gone\"\n09:00 alice IT online→offline admin ada \"gone\"",
			expectState:  "HELP offline; HR away; IT offline",
		},
		{
			name:  "a schedule switching offline ends away",
			given: []given{{state: models.StateAway, reason: "meeting", keys: []string{"HELP"}}, {state: models.StateOnline, keys: []string{"IT"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				if _, err := w.store.SaveSchedule(context.Background(), w.tenant.ID, "alice", officeHours("UTC"), at); err != nil {
					return nil, err
				}
				_, evs, err := w.store.ApplyDueSchedules(context.Background(), at.Add(8*time.Hour), 0)
				return evs, err
			},
			expectEvents: "17:00 alice HELP away→offline schedule\n17:00 alice IT online→offline schedule",
			expectState:  "HELP offline; IT offline",
		},
		{
			name:  "a schedule switching online brings an away agent online",
			given: []given{{state: models.StateAway, keys: []string{"HELP"}}},
			when: func(w *statusWorld, at time.Time) ([]models.Event, error) {
				if _, err := w.store.SaveSchedule(context.Background(), w.tenant.ID, "alice", officeHours("UTC"), at.Add(-30*time.Minute)); err != nil {
					return nil, err
				}
				_, evs, err := w.store.ApplyDueSchedules(context.Background(), at, 0)
				return evs, err
			},
			expectEvents: "09:00 alice HELP away→online schedule\n09:00 alice IT offline→online schedule",
			expectState:  "HELP online; IT online",
		},
	}
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				w := newStatusWorld(t, dialect)
				nine := w.clock.Now()
				for _, g := range tt.given {
					ch := models.StatusChange{AccountID: "alice", To: g.state, Reason: g.reason, Source: models.SourceManual}
					for _, k := range g.keys {
						ch.ProjectIDs = append(ch.ProjectIDs, w.projects[k].ID)
					}
					if g.until != 0 {
						until := nine.Add(g.until)
						ch.Until = &until
					}
					if _, err := w.store.SetStatus(context.Background(), w.tenant.ID, ch, nine.Add(-time.Hour)); err != nil {
						t.Fatal(err)
					}
				}
				before := w.eventCount(t)
				evs, err := tt.when(w, nine)
				if (tt.expectErr == nil) != (err == nil) || (tt.expectErr != nil && !errors.Is(err, tt.expectErr)) {
					t.Fatalf("error %v, want %v", err, tt.expectErr)
				}
				if got := w.describeEvents(evs); got != tt.expectEvents {
					t.Errorf("events:\n%s\nwant:\n%s", got, tt.expectEvents)
				}
				if stored := w.eventCount(t) - before; stored != len(evs) {
					t.Errorf("%d events stored, %d returned", stored, len(evs))
				}
				if got := w.state(t, "alice"); got != tt.expectState {
					t.Errorf("alice after: %q, want %q", got, tt.expectState)
				}
			})
		}
	})
}
