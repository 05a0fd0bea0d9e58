package models_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// traces counts the rows that name account in each place the store keeps
// an account id: statuses, memberships, agents, and the events' two
// account columns.
func traces(t *testing.T, st *models.Store, tenant models.TenantID, account string) map[string]int64 {
	t.Helper()
	db, err := st.SQL()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for name, q := range map[string]string{
		"statuses":     "SELECT COUNT(*) FROM statuses WHERE tenant_id = $1 AND account_id = $2",
		"memberships":  "SELECT COUNT(*) FROM memberships WHERE tenant_id = $1 AND account_id = $2",
		"agents":       "SELECT COUNT(*) FROM agents WHERE tenant_id = $1 AND account_id = $2",
		"events":       "SELECT COUNT(*) FROM events WHERE tenant_id = $1 AND account_id = $2",
		"event actors": "SELECT COUNT(*) FROM events WHERE tenant_id = $1 AND actor_account_id = $2",
	} {
		var n int64
		if err := db.QueryRow(q, int64(tenant), account).Scan(&n); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = n
	}
	return out
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// TestEraseAccounts: erasing a closed account leaves no trace of it in
// statuses, memberships, agents or the events' account columns, keeps
// every event (with the tombstone), touches nobody else, and is announced
// so that the online count and the widget board follow.
func TestEraseAccounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		f := newFixture(t, dialect)
		board := models.NewBoard(f.store)
		if err := board.Load(ctx); err != nil {
			t.Fatal(err)
		}
		var announced []models.Change
		f.store.Watch(func(_ context.Context, ch models.Change) { announced = append(announced, ch) })

		f.member(t, "alice", "HELP", "IT")
		f.member(t, "bob", "HELP")
		f.saveSchedule(t, "alice", officeHours("Europe/Berlin"))
		f.set(t, "alice", true, "HELP", "IT")
		f.clock.Advance(time.Minute)
		f.away(t, "bob", "lunch", "HELP")
		// An admin (ada, nobody's agent) puts alice offline in IT with a
		// reason that names her; alice goes online in IT again.
		if _, err := f.store.SetStatus(ctx, f.tenant.ID, models.StatusChange{AccountID: "alice", ProjectIDs: []int64{f.projects["IT"].ID},
			To: models.StateOffline, Source: models.SourceAdmin, Actor: "ada", Reason: "Alice left early"}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		// alice, as an admin too, puts bob offline.
		if _, err := f.store.SetStatus(ctx, f.tenant.ID, models.StatusChange{AccountID: "bob", ProjectIDs: []int64{f.projects["HELP"].ID},
			To: models.StateOffline, Source: models.SourceAdmin, Actor: "alice", Reason: "away too long"}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.set(t, "bob", true, "HELP")
		w, _ := board.Widget(f.projects["HELP"].WidgetID)
		if f.count(t, "HELP") != 2 || !w.Online {
			t.Fatalf("before: HELP count %d, widget online %t", f.count(t, "HELP"), w.Online)
		}
		allBefore, err := f.store.Events(ctx, f.tenant.ID, models.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if tr := traces(t, f.store, f.tenant.ID, "alice"); tr["statuses"] == 0 || tr["memberships"] != 2 || tr["agents"] != 1 || tr["events"] == 0 || tr["event actors"] != 1 {
			t.Fatalf("alice's traces before: %v", tr)
		}
		bobBefore := traces(t, f.store, f.tenant.ID, "bob")

		announced = nil
		got, err := f.store.EraseAccounts(ctx, f.tenant.ID, []string{"alice", "nobody"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Accounts != 1 || got.Memberships != 2 || got.Statuses != 2 {
			t.Fatalf("erasure %+v", got)
		}
		if tr := traces(t, f.store, f.tenant.ID, "alice"); total(tr) != 0 {
			t.Fatalf("alice's traces after the erasure: %v", tr)
		}
		if _, _, err := f.store.ScheduleOf(ctx, f.tenant.ID, "alice"); err == nil {
			t.Fatal("alice's schedule survived the erasure")
		}
		if tr := traces(t, f.store, f.tenant.ID, "bob"); fmt.Sprint(tr) != fmt.Sprint(map[string]int64{
			"agents": bobBefore["agents"], "event actors": 0, "events": bobBefore["events"],
			"memberships": bobBefore["memberships"], "statuses": bobBefore["statuses"]}) {
			t.Fatalf("bob's traces changed: %v, were %v", tr, bobBefore)
		}
		allAfter, err := f.store.Events(ctx, f.tenant.ID, models.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(allAfter) != len(allBefore) {
			t.Fatalf("events: %d before, %d after: the erasure keeps every event", len(allBefore), len(allAfter))
		}
		var tombstones, actorTombstones int
		for i, e := range allAfter {
			b := allBefore[i]
			if e.ID != b.ID || e.At != b.At || e.ProjectID != b.ProjectID || e.ToState != b.ToState || e.Source != b.Source {
				t.Fatalf("event %d changed beyond the person: %+v, was %+v", e.ID, e, b)
			}
			switch {
			case b.AccountID == "alice":
				if e.AccountID != models.ErasedAccount || e.Reason != "" {
					t.Fatalf("alice's event %d kept the person: %+v", e.ID, e)
				}
				tombstones++
			case e.AccountID != b.AccountID || e.Reason != b.Reason:
				t.Fatalf("someone else's event %d changed: %+v, was %+v", e.ID, e, b)
			}
			if b.ActorAccountID == "alice" {
				if e.ActorAccountID != models.ErasedAccount {
					t.Fatalf("event %d still names alice as actor", e.ID)
				}
				actorTombstones++
			}
		}
		if tombstones == 0 || actorTombstones != 1 {
			t.Fatalf("tombstones: %d as agent, %d as actor", tombstones, actorTombstones)
		}
		if c := f.count(t, "HELP"); c != 1 {
			t.Fatalf("HELP's online count after the erasure: %d, want bob's 1", c)
		}
		if c := f.count(t, "IT"); c != 0 {
			t.Fatalf("IT's online count after the erasure: %d", c)
		}
		if len(announced) != 1 || announced[0].Tenant != f.tenant.ID || announced[0].ProjectIDs != nil {
			t.Fatalf("announced %+v, want one change of the whole tenant", announced)
		}
		// The board follows: bob keeps HELP online; with bob erased too,
		// it goes offline.
		if w, _ := board.Widget(f.projects["HELP"].WidgetID); !w.Online {
			t.Fatal("HELP's widget offline while bob is online")
		}
		if _, err := f.store.EraseAccounts(ctx, f.tenant.ID, []string{"bob"}); err != nil {
			t.Fatal(err)
		}
		if w, _ := board.Widget(f.projects["HELP"].WidgetID); w.Online {
			t.Fatal("HELP's widget still online after everyone online was erased")
		}
		// Erasing again changes nothing and announces nothing.
		announced = nil
		again, err := f.store.EraseAccounts(ctx, f.tenant.ID, []string{"alice", models.ErasedAccount})
		if err != nil || again != (models.Erasure{}) || len(announced) != 0 {
			t.Fatalf("second erasure: %+v %v, announced %d", again, err, len(announced))
		}
	})
}

// TestPersonalDataBatches: a pass walks every account the tenant's data
// names, the event-only ones (an admin who acted) included, in batches in
// account id order, each dated by when it was retrieved; ids the API
// would refuse are skipped but move the cursor; refreshing re-dates.
func TestPersonalDataBatches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		f := newFixture(t, dialect)
		start := f.clock.Now()
		var want []string
		for i := range 95 {
			id := fmt.Sprintf("557058:a%03d", i)
			f.member(t, id, "HELP")
			want = append(want, id)
		}
		f.clock.Advance(time.Hour)
		// ada acts as an admin an hour later: she is named by an event only.
		if _, err := f.store.SetStatus(ctx, f.tenant.ID, models.StatusChange{AccountID: "557058:a000", ProjectIDs: []int64{f.projects["HELP"].ID},
			To: models.StateOnline, Source: models.SourceManual}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		adaAt := f.clock.Now().Add(time.Minute)
		if _, err := f.store.SetStatus(ctx, f.tenant.ID, models.StatusChange{AccountID: "557058:a000", ProjectIDs: []int64{f.projects["HELP"].ID},
			To: models.StateOffline, Source: models.SourceAdmin, Actor: "5b10ac8d82e05b22cc7d4ef5"}, adaAt); err != nil {
			t.Fatal(err)
		}
		want = append(want, "5b10ac8d82e05b22cc7d4ef5")
		// Ids the API refuses: "unknown", and a malformed one a webhook
		// might have brought.
		f.member(t, models.UnknownAccount, "HELP")
		f.member(t, "bad id!", "HELP")
		slices.Sort(want)

		var got []models.ReportedAccount
		cursor, batches := "", 0
		for {
			batch, err := f.store.PersonalDataBatch(ctx, f.tenant.ID, models.MaxReportBatch, f.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if batch.Last == "" {
				break
			}
			if len(batch.Accounts) > models.MaxReportBatch {
				t.Fatalf("a batch of %d", len(batch.Accounts))
			}
			if batch.More != (batches == 0) {
				t.Fatalf("batch %d: more %t", batches, batch.More)
			}
			batches++
			got = append(got, batch.Accounts...)
			cursor = batch.Last
			if err := f.store.AdvancePersonalDataReport(ctx, f.tenant.ID, models.ReportStep{Last: cursor, Next: f.clock.Now(), Status: 204}, f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			if batches > 5 {
				t.Fatal("the pass does not end")
			}
		}
		if batches != 2 {
			t.Fatalf("%d batches for 98 rows, want 2", batches)
		}
		var ids []string
		for _, a := range got {
			ids = append(ids, a.AccountID)
			wantAt := start
			if a.AccountID == "5b10ac8d82e05b22cc7d4ef5" {
				wantAt = adaAt
			}
			if !a.UpdatedAt.Equal(wantAt) {
				t.Fatalf("%s dated %s, want %s", a.AccountID, a.UpdatedAt, wantAt)
			}
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("reported %d accounts:\n%v\nwant %d:\n%v", len(ids), ids, len(want), want)
		}

		// The pass ends; the next one starts over, and an account answered
		// updated is dated by its refresh.
		f.clock.Advance(time.Hour)
		if err := f.store.AdvancePersonalDataReport(ctx, f.tenant.ID, models.ReportStep{Last: cursor, Done: true,
			Next: f.clock.Now().Add(models.DefaultReportCycle), Cycle: 3 * 24 * time.Hour, Status: 204}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		r, err := f.store.PersonalDataReportOf(ctx, f.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Cursor != "" || r.LastPassAt == nil || !r.LastPassAt.Equal(f.clock.Now()) || r.Cycle() != 3*24*time.Hour {
			t.Fatalf("after the pass: %+v", r)
		}
		if due, err := f.store.DuePersonalDataReports(ctx, f.clock.Now(), 10); err != nil || len(due) != 0 {
			t.Fatalf("due right after a pass: %v %v", due, err)
		}
		if err := f.store.MarkAccountsRefreshed(ctx, f.tenant.ID, []string{"557058:a001"}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		next, err := f.store.PersonalDataBatch(ctx, f.tenant.ID, 3, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		batch := next.Accounts
		if len(batch) != 3 || batch[0].AccountID != "557058:a000" || !batch[1].UpdatedAt.Equal(f.clock.Now()) || !batch[2].UpdatedAt.Equal(start) || !next.More {
			t.Fatalf("the next pass's first batch: %+v", next)
		}
	})
}

// TestDuePersonalDataReports: installed, enabled tenants are due at once,
// then when their NextAt passes; a deferral holds them and counts
// failures, a 429 does not.
func TestDuePersonalDataReports(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		f := newFixture(t, dialect)
		other, err := f.store.SaveInstall(ctx, models.Install{ClientKey: "ck2", SharedSecret: []byte("s2"), BaseURL: "https://b.atlassian.net"}, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		gone, err := f.store.SaveInstall(ctx, models.Install{ClientKey: "ck3", SharedSecret: []byte("s3"), BaseURL: "https://c.atlassian.net"}, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.MarkUninstalled(ctx, gone.ID, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		ids := func() []models.TenantID {
			t.Helper()
			due, err := f.store.DuePersonalDataReports(ctx, f.clock.Now(), 10)
			if err != nil {
				t.Fatal(err)
			}
			var out []models.TenantID
			for _, d := range due {
				if len(d.Tenant.SharedSecret) == 0 {
					t.Fatalf("tenant %d's secret not opened", d.Tenant.ID)
				}
				out = append(out, d.Tenant.ID)
			}
			return out
		}
		if got := ids(); !slices.Equal(got, []models.TenantID{f.tenant.ID, other.ID}) {
			t.Fatalf("due at first: %v", got)
		}
		now := f.clock.Now()
		if err := f.store.DeferPersonalDataReport(ctx, f.tenant.ID, now.Add(2*time.Minute), 429, false); err != nil {
			t.Fatal(err)
		}
		if err := f.store.DeferPersonalDataReport(ctx, other.ID, now.Add(time.Minute), 503, true); err != nil {
			t.Fatal(err)
		}
		if err := f.store.DeferPersonalDataReport(ctx, other.ID, now.Add(time.Minute), 503, true); err != nil {
			t.Fatal(err)
		}
		if got := ids(); len(got) != 0 {
			t.Fatalf("due while deferred: %v", got)
		}
		f.clock.Advance(time.Minute)
		if got := ids(); !slices.Equal(got, []models.TenantID{other.ID}) {
			t.Fatalf("due after a minute: %v", got)
		}
		f.clock.Advance(time.Minute)
		if got := ids(); !slices.Equal(got, []models.TenantID{other.ID, f.tenant.ID}) {
			t.Fatalf("due after two minutes (longest waiting first): %v", got)
		}
		r, err := f.store.PersonalDataReportOf(ctx, other.ID)
		if err != nil || r.Failures != 2 || r.LastStatus != 503 {
			t.Fatalf("other's report: %+v %v", r, err)
		}
		r, err = f.store.PersonalDataReportOf(ctx, f.tenant.ID)
		if err != nil || r.Failures != 0 || r.LastStatus != 429 {
			t.Fatalf("a 429 counted as a failure: %+v %v", r, err)
		}
		// A success clears the failures; purging an uninstalled tenant
		// takes its report.
		if err := f.store.AdvancePersonalDataReport(ctx, other.ID, models.ReportStep{Last: "x", Next: f.clock.Now(), Status: 200}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if r, _ := f.store.PersonalDataReportOf(ctx, other.ID); r.Failures != 0 || r.Cursor != "x" {
			t.Fatalf("after a success: %+v", r)
		}
		if err := f.store.DeferPersonalDataReport(ctx, gone.ID, f.clock.Now(), 0, true); err != nil {
			t.Fatal(err)
		}
		if n, err := f.store.PurgeUninstalled(ctx, f.clock.Now().Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("purge: %d %v", n, err)
		}
		if r, _ := f.store.PersonalDataReportOf(ctx, gone.ID); r.Failures != 0 || !r.NextAt.IsZero() {
			t.Fatalf("the purged tenant's report survived: %+v", r)
		}
	})
}
