package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/handlers/forge/forgetest"
	"agentpresence/handlers/jira"
	"agentpresence/handlers/jira/jiratest"
	"agentpresence/jobs"
	"agentpresence/models"
	"agentpresence/models/dbtest"
	"agentpresence/models/schedule"
)

// reportWorld is a tenant of a simulated site whose reporting API the
// job reports to, on a real store: Atlassian's active and closed test
// accounts and 95 other agents of HELP, and an admin named by one event
// only.
type reportWorld struct {
	clock  *clockwork.FakeClock
	store  *models.Store
	board  *models.Board
	site   *jiratest.Site
	tenant models.Tenant
	help   models.Project
	job    *jobs.PersonalData
	want   []string // every account the tenant's data names, sorted
	forgot []string
}

const reportAdmin = "5b10ac8d82e05b22cc7d4ef5"

func newReportWorld(t *testing.T, dialect models.Dialect) *reportWorld {
	t.Helper()
	ctx := context.Background()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	store := dbtest.Open(t, dialect, clock.Now)
	site, base := jiratest.Served(t, jiratest.Options{AppKey: "io.example.presence", Now: clock.Now})
	tenant, err := store.SaveInstall(ctx, models.Install{ClientKey: site.ClientKey(), SharedSecret: site.SharedSecret(), BaseURL: base}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := store.SyncProjects(ctx, tenant.ID, []models.ProjectRef{{JiraID: "10000", ServiceDeskID: "1", Key: "HELP"}}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	w := &reportWorld{clock: clock, store: store, site: site, tenant: tenant, help: ps[0]}
	w.want = []string{jiratest.TestActiveAccount, jiratest.TestClosedAccount, reportAdmin}
	for i := range 95 {
		w.want = append(w.want, fmt.Sprintf("557058:a%03d", i))
	}
	for _, id := range w.want[:2] {
		if err := store.SetMemberships(ctx, tenant.ID, id, []int64{w.help.ID}, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range w.want[3:] {
		if err := store.SetMemberships(ctx, tenant.ID, id, []int64{w.help.ID}, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(w.want)
	// The closed account is online in HELP with a schedule; the admin put
	// it offline once before.
	for _, ch := range []models.StatusChange{
		{AccountID: jiratest.TestClosedAccount, To: models.StateOnline, Source: models.SourceManual},
		{AccountID: jiratest.TestClosedAccount, To: models.StateOffline, Source: models.SourceAdmin, Actor: reportAdmin, Reason: "left"},
		{AccountID: jiratest.TestClosedAccount, To: models.StateOnline, Source: models.SourceManual},
	} {
		ch.ProjectIDs = []int64{w.help.ID}
		if _, err := store.SetStatus(ctx, tenant.ID, ch, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.SaveSchedule(ctx, tenant.ID, jiratest.TestClosedAccount, officeHoursUTC(), clock.Now()); err != nil {
		t.Fatal(err)
	}
	w.board = models.NewBoard(store)
	if err := w.board.Load(ctx); err != nil {
		t.Fatal(err)
	}
	w.job = &jobs.PersonalData{Store: store, Now: clock.Now, Log: slog.New(slog.DiscardHandler), Rand: func() float64 { return 0.5 },
		Reporter: &jira.PersonalData{Client: &jira.Client{AppKey: "io.example.presence", Now: clock.Now, Targets: jira.TargetPolicy{AllowLoopback: true}}},
		Forget:   func(_ models.TenantID, ids []string) { w.forgot = append(w.forgot, ids...) }}
	return w
}

// run runs the job once and returns the calls it made.
func (w *reportWorld) run(t *testing.T) []jiratest.PrivacyCall {
	t.Helper()
	before := len(w.site.Privacy().Calls())
	if err := w.job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return w.site.Privacy().Calls()[before:]
}

// reported lists the accounts of calls, sorted, checking each call's size
// and that every call was answered (not refused).
func reported(t *testing.T, calls []jiratest.PrivacyCall) []string {
	t.Helper()
	var ids []string
	for _, c := range calls {
		if len(c.Accounts) == 0 || len(c.Accounts) > 90 {
			t.Fatalf("a call with %d accounts", len(c.Accounts))
		}
		if c.Status != http.StatusOK && c.Status != http.StatusNoContent && c.Status != http.StatusTooManyRequests {
			t.Fatalf("a call answered %d: %s", c.Status, c.Reason)
		}
		for _, a := range c.Accounts {
			ids = append(ids, a.AccountID)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestPersonalDataReporting: the job reports every account the tenant's
// data names, at most 90 per call; a 429 stops it, and nothing is sent
// before its Retry-After has passed (on the injected clock); the closed
// test account is then erased (no trace in statuses, agents, memberships
// or the events' account columns; the online count and the widget board
// follow), and the next pass comes once the Cycle-Period the API asked
// for has passed, not before, and reports an updated account with its
// refresh time. On SQLite and PostgreSQL.
func TestPersonalDataReporting(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		w := newReportWorld(t, dialect)
		api := w.site.Privacy()
		api.SetCyclePeriod("P3D")
		w.clock.Advance(time.Minute)
		api.SetUpdated("557058:a007") // a minute after we stored it
		if n, _ := w.store.OnlineCount(ctx, w.tenant.ID, w.help.ID); n != 1 {
			t.Fatalf("online before: %d", n)
		}

		api.Throttle("120")
		calls := w.run(t)
		if len(calls) != 1 || calls[0].Status != http.StatusTooManyRequests {
			t.Fatalf("first run: %d calls %+v, want one answered 429", len(calls), calls)
		}
		w.clock.Advance(119 * time.Second)
		if calls := w.run(t); len(calls) != 0 {
			t.Fatalf("%d calls before the Retry-After passed", len(calls))
		}
		w.clock.Advance(time.Second)
		calls = w.run(t)
		if len(calls) != 2 {
			t.Fatalf("%d calls for %d accounts, want 2", len(calls), len(w.want))
		}
		if got := reported(t, calls); !slices.Equal(got, w.want) {
			t.Fatalf("reported %d accounts, want %d:\n%v\n%v", len(got), len(w.want), got, w.want)
		}
		if n := len(calls[0].Accounts); n != 90 {
			t.Fatalf("first batch of %d, want 90", n)
		}

		// The closed account is gone; everyone else stays.
		if tr := countTraces(t, w.store, w.tenant.ID, jiratest.TestClosedAccount); tr != 0 {
			t.Fatalf("%d rows still name the closed account", tr)
		}
		if tr := countTraces(t, w.store, w.tenant.ID, jiratest.TestActiveAccount); tr == 0 {
			t.Fatal("the active account was erased")
		}
		if n, _ := w.store.OnlineCount(ctx, w.tenant.ID, w.help.ID); n != 0 {
			t.Fatalf("online after the erasure: %d", n)
		}
		if wd, _ := w.board.Widget(w.help.WidgetID); wd.Online {
			t.Fatal("the widget still online after the only online agent was erased")
		}
		evs, err := w.store.Events(ctx, w.tenant.ID, models.EventFilter{})
		if err != nil || len(evs) != 3 {
			t.Fatalf("events after the erasure: %d %v", len(evs), err)
		}
		for _, e := range evs {
			if e.AccountID != models.ErasedAccount {
				t.Fatalf("event %+v", e)
			}
		}
		if !slices.Contains(w.forgot, jiratest.TestClosedAccount) || !slices.Contains(w.forgot, "557058:a007") {
			t.Fatalf("forgot %v", w.forgot)
		}

		// The cycle the API asked for, 3 days (plus the jitter, 0.5% of
		// it: 21.6 minutes), passes before the next pass.
		w.clock.Advance(72 * time.Hour)
		if calls := w.run(t); len(calls) != 0 {
			t.Fatalf("%d calls before the cycle passed", len(calls))
		}
		w.clock.Advance(22 * time.Minute)
		calls = w.run(t)
		got := reported(t, calls)
		want := slices.DeleteFunc(slices.Clone(w.want), func(id string) bool { return id == jiratest.TestClosedAccount })
		if !slices.Equal(got, want) {
			t.Fatalf("second pass reported %d accounts, want %d", len(got), len(want))
		}
		var refreshed string
		for _, c := range calls {
			for _, a := range c.Accounts {
				if a.AccountID == "557058:a007" {
					refreshed = a.UpdatedAt
				}
			}
			if c.Status != http.StatusNoContent {
				t.Fatalf("second pass answered %d: the updated account was not refreshed", c.Status)
			}
		}
		if want := "2026-11-25T09:03:00.000Z"; refreshed != want {
			t.Fatalf("the updated account reported as of %s, want its refresh %s", refreshed, want)
		}

		// A failure waits 10 minutes, then doubles.
		w.clock.Advance(73 * time.Hour)
		api.FailNext(http.StatusServiceUnavailable)
		if calls := w.run(t); len(calls) != 1 || calls[0].Status != http.StatusServiceUnavailable {
			t.Fatalf("failing run: %+v", calls)
		}
		w.clock.Advance(9 * time.Minute)
		if calls := w.run(t); len(calls) != 0 {
			t.Fatal("a call within the backoff")
		}
		w.clock.Advance(time.Minute)
		if calls := w.run(t); len(calls) != 2 {
			t.Fatalf("after the backoff: %d calls", len(calls))
		}
	})
}

// countTraces counts the rows naming account in statuses, memberships,
// agents and the events' two account columns.
func countTraces(t *testing.T, st *models.Store, tenant models.TenantID, account string) int64 {
	t.Helper()
	db, err := st.SQL()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	err = db.QueryRow(`SELECT (SELECT COUNT(*) FROM statuses WHERE tenant_id = $1 AND account_id = $2)
 + (SELECT COUNT(*) FROM memberships WHERE tenant_id = $1 AND account_id = $2)
 + (SELECT COUNT(*) FROM agents WHERE tenant_id = $1 AND account_id = $2)
 + (SELECT COUNT(*) FROM events WHERE tenant_id = $1 AND (account_id = $2 OR actor_account_id = $2))`, int64(tenant), account).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func officeHoursUTC() schedule.Schedule {
	return schedule.Schedule{Timezone: "UTC", Enabled: true,
		Rules: []schedule.Rule{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "17:00"}}}
}

// TestPersonalDataReportingForge: a Forge installation reports to the
// Atlassian API host (here the simulated site) with its system token; one
// whose token expired waits an hour for the next trigger, calling nothing.
func TestPersonalDataReportingForge(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		w := newReportWorld(t, dialect)
		platform, err := forgetest.New("0d3e7a52-6f1b-4c8e-9e2a-5b7c1d9f4a60", forgetest.WithClock(w.clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(platform.Close)
		inst := forgetest.NewInstallation("https://api.atlassian.com/ex/jira/c1", "https://acme.atlassian.net")
		w.site.EnableForge(jiratest.ForgeOptions{Tokens: platform, InstallationID: inst.ID, CloudID: inst.CloudID})
		token, exp, err := platform.SystemToken(inst)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := w.store.RegisterForge(ctx, models.ForgeInstall{InstallationID: inst.ID, CloudID: inst.CloudID, SiteURL: inst.SiteURL,
			APIBaseURL: inst.APIBaseURL, SystemToken: token, TokenExpiry: exp}, w.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.store.SetMemberships(ctx, reg.Tenant.ID, jiratest.TestClosedAccount, nil, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		// The Connect tenant has reported already; only the Forge one is due.
		if err := w.store.AdvancePersonalDataReport(ctx, w.tenant.ID, models.ReportStep{Done: true, Next: w.clock.Now().Add(models.DefaultReportCycle)}, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		w.job.Reporter = &jira.PersonalData{ForgeURL: w.site.BaseURL(),
			Client: &jira.Client{AppKey: "io.example.presence", Now: w.clock.Now, Targets: jira.TargetPolicy{AllowLoopback: true}}}
		calls := w.run(t)
		if len(calls) != 1 || calls[0].Auth != jiratest.AuthForgeSystem || calls[0].Status != http.StatusOK {
			t.Fatalf("forge report: %+v", calls)
		}
		if n := countTraces(t, w.store, reg.Tenant.ID, jiratest.TestClosedAccount); n != 0 {
			t.Fatalf("the closed account survived in the Forge tenant: %d rows", n)
		}
		if n := countTraces(t, w.store, w.tenant.ID, jiratest.TestClosedAccount); n == 0 {
			t.Fatal("the Forge tenant's erasure reached the Connect tenant")
		}

		// A cycle later the token has long expired: nothing is sent, the
		// tenant waits an hour, and no failure is counted.
		if err := w.store.SetMemberships(ctx, reg.Tenant.ID, "557058:new", nil, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(models.DefaultReportCycle + 24*time.Hour)
		if err := w.store.AdvancePersonalDataReport(ctx, w.tenant.ID, models.ReportStep{Done: true, Next: w.clock.Now().Add(models.DefaultReportCycle)}, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if calls := w.run(t); len(calls) != 0 {
			t.Fatalf("%d calls with an expired token", len(calls))
		}
		r, err := w.store.PersonalDataReportOf(ctx, reg.Tenant.ID)
		if err != nil || r.Failures != 0 || !r.NextAt.Equal(w.clock.Now().Add(time.Hour)) {
			t.Fatalf("after an expired token: %+v %v", r, err)
		}
	})
}
