package models_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// ref is a service desk project as Jira lists it: Jira id, key, desk id.
func ref(jiraID, key, desk string) models.ProjectRef {
	return models.ProjectRef{JiraID: jiraID, Key: key, ServiceDeskID: desk, Name: key}
}

// TestSyncProjectsFollowsJiraIDs: whatever Jira did to keys between two
// syncs, and in whichever order it lists the projects, the sync succeeds in
// one transaction, every listed Jira id ends with its key, name and desk,
// a known project keeps its row and widget id, and a project no longer
// listed blocks neither a key nor a desk id. Abuse cases as a table.
func TestSyncProjectsFollowsJiraIDs(t *testing.T) {
	start := []models.ProjectRef{ref("1", "HELP", "1"), ref("2", "IT", "2"), ref("3", "HR", "3")}
	tests := []struct {
		name  string
		after []models.ProjectRef
	}{
		{"nothing changed", start},
		{"renamed, and the key reused by a new project", []models.ProjectRef{ref("1", "OLDHELP", "1"), ref("2", "IT", "2"), ref("3", "HR", "3"), ref("4", "HELP", "4")}},
		{"the same, the new project listed first", []models.ProjectRef{ref("4", "HELP", "4"), ref("1", "OLDHELP", "1"), ref("2", "IT", "2"), ref("3", "HR", "3")}},
		{"swapped", []models.ProjectRef{ref("1", "IT", "1"), ref("2", "HELP", "2"), ref("3", "HR", "3")}},
		{"rotated through three keys", []models.ProjectRef{ref("1", "IT", "1"), ref("2", "HR", "2"), ref("3", "HELP", "3")}},
		{"a renamed project takes the key of one renamed after it", []models.ProjectRef{ref("1", "IT", "1"), ref("2", "OLDIT", "2"), ref("3", "HR", "3")}},
		{"gone from the list, its key reused", []models.ProjectRef{ref("2", "IT", "2"), ref("3", "HR", "3"), ref("4", "HELP", "4")}},
		{"gone from the list, its key and desk reused", []models.ProjectRef{ref("4", "HELP", "1"), ref("2", "IT", "2"), ref("3", "HR", "3")}},
		{"all gone", nil},
		{"one key listed twice", []models.ProjectRef{ref("1", "HELP", "1"), ref("2", "HELP", "2"), ref("3", "HR", "3")}},
		{"empty key and id ignored", []models.ProjectRef{ref("", "X", "9"), ref("9", "", "9"), ref("1", "HELP", "1"), ref("2", "IT", "2"), ref("3", "HR", "3")}},
	}
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
		store := dbtest.Open(t, dialect, clock.Now)
		ctx := context.Background()
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tn, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck-" + string(rune('a'+i)), SharedSecret: []byte("s"), BaseURL: "https://x.atlassian.net"}, clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				before, err := store.SyncProjects(ctx, tn.ID, start, clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				rows := map[string]models.Project{}
				for _, p := range before {
					rows[p.JiraID] = p
				}
				clock.Advance(time.Minute)
				after, err := store.SyncProjects(ctx, tn.ID, tt.after, clock.Now())
				if err != nil {
					t.Fatalf("sync after the change: %v", err)
				}
				byJira := map[string]models.Project{}
				for _, p := range after {
					byJira[p.JiraID] = p
				}
				keys, desks := map[string]bool{}, map[string]bool{}
				for _, r := range tt.after {
					if r.JiraID == "" || r.Key == "" || keys[r.Key] {
						continue // ignored, or the second of a repeated key
					}
					keys[r.Key], desks[r.ServiceDeskID] = true, true
					p, ok := byJira[r.JiraID]
					if !ok || p.Key != r.Key || p.ServiceDeskID != r.ServiceDeskID || p.Name != r.Name {
						t.Fatalf("Jira project %s: %+v, want key %s desk %s", r.JiraID, p, r.Key, r.ServiceDeskID)
					}
					if old, known := rows[r.JiraID]; known && (p.ID != old.ID || p.WidgetID != old.WidgetID) {
						t.Fatalf("Jira project %s lost its row or widget: %+v, was %+v", r.JiraID, p, old)
					}
					if got, err := store.ProjectByKey(ctx, tn.ID, r.Key); err != nil || got.JiraID != r.JiraID {
						t.Fatalf("key %s finds %+v %v, want Jira project %s", r.Key, got, err, r.JiraID)
					}
					if got, err := store.ProjectByServiceDesk(ctx, tn.ID, r.ServiceDeskID); err != nil || got.JiraID != r.JiraID {
						t.Fatalf("desk %s finds %+v %v, want Jira project %s", r.ServiceDeskID, got, err, r.JiraID)
					}
				}
				for jiraID, old := range rows {
					p, ok := byJira[jiraID]
					if !ok || p.WidgetID != old.WidgetID {
						t.Fatalf("Jira project %s (no longer listed or not) was dropped or lost its widget: %+v", jiraID, p)
					}
				}
				// Syncing the same list again changes nothing.
				clock.Advance(time.Minute)
				again, err := store.SyncProjects(ctx, tn.ID, tt.after, clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(again, after, func(a, b models.Project) bool {
					return a.ID == b.ID && a.Key == b.Key && a.UpdatedAt.Equal(b.UpdatedAt)
				}) {
					t.Fatalf("a repeated sync wrote: %+v, was %+v", again, after)
				}
			})
		}
	})
}

// TestSyncProjectsConcurrently: requests of one tenant (on one replica or
// several) refreshing at once after a rename all succeed and agree.
func TestSyncProjectsConcurrently(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
		url := dbtest.URL(t, dialect)
		a, b := dbtest.OpenURL(t, url, clock.Now), dbtest.OpenURL(t, url, clock.Now)
		ctx := context.Background()
		tn, err := a.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://x.atlassian.net"}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.SyncProjects(ctx, tn.ID, []models.ProjectRef{ref("1", "HELP", "1"), ref("2", "IT", "2")}, clock.Now()); err != nil {
			t.Fatal(err)
		}
		after := []models.ProjectRef{ref("3", "HELP", "3"), ref("1", "IT", "1"), ref("2", "OLDIT", "2")}
		errs := make(chan error, 8)
		for i := range 8 {
			s := a
			if i%2 == 1 {
				s = b
			}
			go func() {
				_, err := s.SyncProjects(ctx, tn.ID, after, clock.Now())
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Fatalf("concurrent sync: %v", err)
			}
		}
		ps, err := b.Projects(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 3 || ps[0].Key != "HELP" || ps[0].JiraID != "3" || ps[1].Key != "IT" || ps[1].JiraID != "1" || ps[2].JiraID != "2" {
			t.Fatalf("after concurrent syncs: %+v", ps)
		}
	})
}
