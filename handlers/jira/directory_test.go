package jira_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/handlers/jira"
	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// directoryFixture is a directory on a real store, asking a simulated
// site where alice is an agent of HELP.
type directoryFixture struct {
	dir    *jira.Directory
	site   *jiratest.Site
	store  *models.Store
	tenant models.Tenant
	clock  *clockwork.FakeClock
}

func newDirectory(t *testing.T, dialect models.Dialect) *directoryFixture {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	store := dbtest.Open(t, dialect, clock.Now)
	site, err := jiratest.New(jiratest.Options{AppKey: "io.example.presence", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	if err := site.SetBaseURL(srv.URL); err != nil {
		t.Fatal(err)
	}
	if err := site.AddProject(jiratest.ProjectSpec{ID: 10000, Key: "HELP"}); err != nil {
		t.Fatal(err)
	}
	if err := site.AddUser(jiratest.UserSpec{AccountID: "alice", Agent: []string{"HELP"}}); err != nil {
		t.Fatal(err)
	}
	tn, err := store.SaveInstall(context.Background(), models.Install{ClientKey: site.ClientKey(), SharedSecret: site.SharedSecret(), BaseURL: srv.URL}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	client := &jira.Client{AppKey: "io.example.presence", Now: clock.Now, Targets: jira.TargetPolicy{AllowLoopback: true}}
	dir := jira.NewDirectory(jira.DirectoryConfig{Jira: client, Store: store, Now: clock.Now,
		MembershipTTL: 5 * time.Minute, PermissionTTL: time.Minute, MaxStale: 15 * time.Minute})
	return &directoryFixture{dir: dir, site: site, store: store, tenant: tn, clock: clock}
}

// TestDirectorySpeaksInDomainErrors: what the directory cannot answer
// comes back as the domain's sentinels, which the HTTP layer translates
// once; the caller's own cancellation is not Jira's fault.
func TestDirectorySpeaksInDomainErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		type given struct {
			known    time.Duration // how old alice's stored list is; 0: none
			jiraDown bool
			ctxDone  bool
		}
		type when func(context.Context, *directoryFixture) error
		read := func(ctx context.Context, f *directoryFixture) error {
			_, err := f.dir.AgentProjects(ctx, f.tenant, "alice")
			return err
		}
		goOnline := func(ctx context.Context, f *directoryFixture) error {
			_, err := f.dir.AgentProjectsToGoOnline(ctx, f.tenant, "alice")
			return err
		}
		admin := func(ctx context.Context, f *directoryFixture) error {
			p, err := f.store.ProjectByKey(context.Background(), f.tenant.ID, "HELP")
			if err != nil {
				return err
			}
			_, _, err = f.dir.Admin(ctx, f.tenant, "alice", p)
			return err
		}
		tests := []struct {
			name string
			given
			when
			// expect the errors the answer is (none: nil) and is not.
			expectIs, expectIsNot []error
		}{
			{name: "reading with Jira up", when: read},
			{name: "reading, nothing known, Jira down", given: given{jiraDown: true}, when: read,
				expectIs: []error{jira.ErrUnavailable}, expectIsNot: []error{jira.ErrCannotConfirmAgent}},
			{name: "reading an old list, Jira down", given: given{known: time.Hour, jiraDown: true}, when: read},
			{name: "going online, nothing known, Jira down", given: given{jiraDown: true}, when: goOnline,
				expectIs: []error{jira.ErrCannotConfirmAgent, jira.ErrUnavailable}},
			{name: "going online, a list of 10 minutes, Jira down", given: given{known: 10 * time.Minute, jiraDown: true}, when: goOnline},
			{name: "going online, a list of 20 minutes, Jira down", given: given{known: 20 * time.Minute, jiraDown: true}, when: goOnline,
				expectIs: []error{jira.ErrCannotConfirmAgent, jira.ErrUnavailable}},
			{name: "an admin check, Jira down", given: given{known: time.Minute, jiraDown: true}, when: admin,
				expectIs: []error{jira.ErrUnavailable}},
			{name: "going online, the caller gone", given: given{known: time.Hour, ctxDone: true}, when: goOnline,
				expectIs: []error{context.Canceled}, expectIsNot: []error{jira.ErrUnavailable, jira.ErrCannotConfirmAgent}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := newDirectory(t, dialect)
				if tt.known > 0 {
					if _, err := f.dir.AgentProjects(context.Background(), f.tenant, "alice"); err != nil {
						t.Fatal(err)
					}
					f.clock.Advance(tt.known)
				} else if _, _, err := f.dir.SyncProjects(context.Background(), f.tenant); err != nil {
					t.Fatal(err)
				}
				f.site.SetDown(tt.jiraDown)
				ctx, cancel := context.WithCancel(context.Background())
				if tt.ctxDone {
					cancel()
				}
				defer cancel()
				err := tt.when(ctx, f)
				if len(tt.expectIs) == 0 && err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				for _, want := range tt.expectIs {
					if !errors.Is(err, want) {
						t.Errorf("got %v, want it to be %v", err, want)
					}
				}
				for _, not := range tt.expectIsNot {
					if errors.Is(err, not) {
						t.Errorf("got %v, which must not be %v", err, not)
					}
				}
			})
		}
	})
}

// TestUnknownKeysListOncePerInterval: keys the store does not know make
// the directory list the site's desks at most once a minute per tenant.
func TestUnknownKeysListOncePerInterval(t *testing.T) {
	f := newDirectory(t, models.DialectSQLite)
	ctx := context.Background()
	for range 20 {
		if _, err := f.dir.Project(ctx, f.tenant, "NOPE"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("an unknown key: %v, want not found", err)
		}
	}
	if n := f.site.Calls("/rest/servicedeskapi/servicedesk"); n != 1 {
		t.Fatalf("%d listings for 20 unknown keys, want 1", n)
	}
	if err := f.site.AddProject(jiratest.ProjectSpec{ID: 10001, Key: "NEW"}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(61 * time.Second)
	if p, err := f.dir.Project(ctx, f.tenant, "NEW"); err != nil || p.Key != "NEW" {
		t.Fatalf("a project created in Jira a minute later: %+v %v", p, err)
	}
}
