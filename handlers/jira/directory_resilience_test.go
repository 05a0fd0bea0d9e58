package jira_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/handlers/jira"
	"agentpresence/handlers/jira/jiratest"
	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// guardedDirectory is a directory whose client passes a Guard, as app
// wires it, on a real store; alice is an agent of HELP, ada administers
// it and Jira.
type guardedDirectory struct {
	*directoryFixture
	guard *jira.Guard
	help  models.Project
}

func newGuardedDirectory(t *testing.T, dialect models.Dialect) *guardedDirectory {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	store := dbtest.Open(t, dialect, clock.Now)
	site, err := jiratest.New(jiratest.Options{AppKey: guardAppKey, Now: clock.Now})
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
	for _, u := range []jiratest.UserSpec{{AccountID: "alice", Agent: []string{"HELP"}},
		{AccountID: "ada", Agent: []string{"HELP"}, ProjectAdmin: []string{"HELP"}, JiraAdmin: true}} {
		if err := site.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
	tn, err := store.SaveInstall(context.Background(), models.Install{ClientKey: site.ClientKey(), SharedSecret: site.SharedSecret(), BaseURL: srv.URL}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	guard := jira.NewGuard(jira.GuardConfig{Now: clock.Now, Rand: func() float64 { return 0 }})
	targets := jira.TargetPolicy{AllowLoopback: true}
	client := &jira.Client{AppKey: guardAppKey, Now: clock.Now, Targets: targets, HTTP: guard.WrapClient(targets.HTTPClient(5 * time.Second))}
	dir := jira.NewDirectory(jira.DirectoryConfig{Jira: client, Store: store, Now: clock.Now,
		MembershipTTL: 5 * time.Minute, PermissionTTL: time.Minute, MaxStale: 15 * time.Minute})
	f := &guardedDirectory{directoryFixture: &directoryFixture{dir: dir, site: site, store: store, tenant: tn, clock: clock}, guard: guard}
	if _, _, err := dir.SyncProjects(context.Background(), tn); err != nil {
		t.Fatal(err)
	}
	if f.help, err = store.ProjectByKey(context.Background(), tn.ID, "HELP"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *guardedDirectory) admin(account string) (bool, bool, error) {
	return f.dir.Admin(context.Background(), f.tenant, account, f.help)
}

// TestDirectoryHeldBackServesLastAnswer: once Jira answers 429 or 5xx, the
// next requests do not ask it again before the wait ends (they used to:
// every request retried); meanwhile the last admin check and membership
// list answer, within MaxStale (15 min), and after that the directory
// says Jira is unavailable.
func TestDirectoryHeldBackServesLastAnswer(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		for _, fault := range []jiratest.Fault{
			{Status: http.StatusTooManyRequests, RetryAfter: "1200", Reason: "jira-quota-tenant-based"},
			{Status: http.StatusServiceUnavailable},
		} {
			t.Run(http.StatusText(fault.Status), func(t *testing.T) {
				f := newGuardedDirectory(t, dialect)
				ctx := context.Background()
				if j, p, err := f.admin("ada"); err != nil || !j || !p {
					t.Fatalf("the first admin check: %v %v %v", j, p, err)
				}
				if _, err := f.dir.AgentProjectsToGoOnline(ctx, f.tenant, "alice"); err != nil {
					t.Fatal(err)
				}
				f.site.SetFault(fault)
				f.clock.Advance(2 * time.Minute) // past the admin check's and the grant's TTL
				f.site.ResetCalls()
				for i := range 5 {
					if j, p, err := f.admin("ada"); err != nil || !j || !p {
						t.Fatalf("admin check %d while Jira refuses: %v %v %v, want the last answer", i, j, p, err)
					}
					if got, err := f.dir.AgentProjectsToGoOnline(ctx, f.tenant, "alice"); err != nil || len(got) != 1 {
						t.Fatalf("going online %d while Jira refuses: %v %v, want the last list", i, got, err)
					}
				}
				// One permission check and one listing reached Jira (the
				// first of each kind); the rest were held back.
				if n := f.site.Calls(permPath) + f.site.Calls(desksPath); n > 2 {
					t.Fatalf("%d calls reached Jira after its refusal, want at most 2", n)
				}
				f.clock.Advance(14 * time.Minute) // the last answers are 16 minutes old
				if _, _, err := f.admin("ada"); !errors.Is(err, jira.ErrUnavailable) {
					t.Fatalf("an admin check 16 minutes old: %v, want unavailable", err)
				}
				if _, err := f.dir.AgentProjectsToGoOnline(ctx, f.tenant, "alice"); !errors.Is(err, jira.ErrCannotConfirmAgent) {
					t.Fatalf("a list 16 minutes old: %v, want cannot confirm", err)
				}
			})
		}
	})
}

// TestDirectoryCoalescesIdenticalCalls: many requests asking the same
// question at once make one call to Jira.
func TestDirectoryCoalescesIdenticalCalls(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newGuardedDirectory(t, dialect)
		f.site.ResetCalls()
		release := f.site.Hold(permPath)
		defer release()
		const callers = 8
		var started, wg sync.WaitGroup
		errs := make(chan error, 2*callers)
		for range callers {
			started.Add(2)
			wg.Add(2)
			go func() {
				defer wg.Done()
				started.Done()
				if j, _, err := f.admin("ada"); err != nil || !j {
					errs <- errors.Join(err, errors.New("ada is no admin"))
				}
			}()
			go func() {
				defer wg.Done()
				started.Done()
				if got, err := f.dir.AgentProjectsToGoOnline(context.Background(), f.tenant, "alice"); err != nil || len(got) != 1 {
					errs <- errors.Join(err, errors.New("alice is no agent"))
				}
			}()
		}
		started.Wait()
		// Both first calls wait at Jira; the others join them.
		for f.site.Holding(permPath) < 2 {
			runtime.Gosched()
		}
		for range 1000 {
			runtime.Gosched()
		}
		release()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := f.site.Calls(permPath); n != 2 {
			t.Fatalf("%d permission checks for %d callers asking two questions, want 2", n, 2*callers)
		}
	})
}

// TestForbiddenPermissionCheckDropsTenantCaches: Jira answering 403 to a
// permission check drops every admin check of the tenant (they are asked
// again) and keeps a doubted membership list from granting going online
// while Jira cannot confirm it.
func TestForbiddenPermissionCheckDropsTenantCaches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		f := newGuardedDirectory(t, dialect)
		ctx := context.Background()
		if _, err := f.dir.AgentProjectsToGoOnline(ctx, f.tenant, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.admin("ada"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.dir.JiraAdmin(ctx, f.tenant, "alice"); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(61 * time.Second) // ada's check is due again; alice's list may not grant any more
		f.site.SetFault(jiratest.Fault{Status: http.StatusForbidden, Path: permPath, Times: 1})
		if _, _, err := f.admin("ada"); !errors.Is(err, jira.ErrUnauthorized) {
			t.Fatalf("the refused check: %v, want Jira's 403", err)
		}
		// Alice's JiraAdmin answer was fresh but is dropped: asked again.
		f.site.ResetCalls()
		if _, err := f.dir.JiraAdmin(ctx, f.tenant, "alice"); err != nil {
			t.Fatal(err)
		}
		if n := f.site.Calls(permPath); n != 1 {
			t.Fatalf("alice's admin check after the 403: %d calls, want 1 (asked again)", n)
		}
		// A doubted list does not grant while Jira is away.
		f.site.SetFault(jiratest.Fault{Status: http.StatusBadGateway})
		f.clock.Advance(time.Minute) // past the backoff
		if _, err := f.dir.AgentProjectsToGoOnline(ctx, f.tenant, "alice"); !errors.Is(err, jira.ErrCannotConfirmAgent) {
			t.Fatalf("going online on a list from before the 403, Jira down: %v, want cannot confirm", err)
		}
		// Reading still serves it.
		if got, err := f.dir.AgentProjects(ctx, f.tenant, "alice"); err != nil || len(got) != 1 {
			t.Fatalf("reading the doubted list: %v %v", got, err)
		}
	})
}

// TestInvalidateTenant: a project event makes the tenant's answers be
// asked again: admin checks at once, membership lists before they grant.
func TestInvalidateTenant(t *testing.T) {
	f := newGuardedDirectory(t, models.DialectSQLite)
	ctx := context.Background()
	if _, err := f.dir.AgentProjectsToGoOnline(ctx, f.tenant, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.admin("ada"); err != nil {
		t.Fatal(err)
	}
	f.site.ResetCalls()
	f.clock.Advance(time.Second)
	f.dir.InvalidateTenant(f.tenant.ID)
	if _, _, err := f.admin("ada"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.AgentProjectsToGoOnline(ctx, f.tenant, "alice"); err != nil {
		t.Fatal(err)
	}
	if n := f.site.Calls(permPath); n != 2 {
		t.Fatalf("after the invalidation: %d permission checks, want 2 (both asked again)", n)
	}
	// Answers after it are trusted again.
	if _, _, err := f.admin("ada"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.AgentProjectsToGoOnline(ctx, f.tenant, "alice"); err != nil {
		t.Fatal(err)
	}
	if n := f.site.Calls(permPath); n != 2 {
		t.Fatalf("answers after the invalidation were not kept: %d checks", n)
	}
}
