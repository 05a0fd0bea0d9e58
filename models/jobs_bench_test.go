package models_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
	"agentpresence/models/schedule"
)

// Sizes of the benchmark's population: 100,000 agents in 1,000 tenants, each
// an agent of both projects of their tenant and online in both; 1% have a
// switch due now and 1% have been silent past their tenant's limit.
const (
	benchTenants          = 1000
	benchAgentsPerTenant  = 100
	benchAgents           = benchTenants * benchAgentsPerTenant
	benchAutoOffline      = 15 // minutes
	benchDueEvery         = 100
	benchInactiveEvery    = 100
	benchInactiveFirstIdx = 50
)

// benchZones are the zones of the schedules, so that a tick meets several.
var benchZones = []string{"UTC", "Europe/Warsaw", "America/New_York", "Australia/Sydney", "Asia/Tokyo"}

// benchNow is a Wednesday, 30 s after the due agents' switch at 17:00 UTC.
var benchNow = time.Date(2026, 11, 25, 17, 0, 30, 0, time.UTC)

// seedBench fills a fresh PostgreSQL database server-side (INSERT … SELECT
// over generate_series); seeding is not measured.
func seedBench(b *testing.B) (*models.Store, benchSchedules) {
	b.Helper()
	if os.Getenv(dbtest.EnvPostgres) == "" {
		b.Skipf("%s is not set: the jobs benchmarks need PostgreSQL", dbtest.EnvPostgres)
	}
	store := dbtest.Open(b, models.DialectPostgres, func() time.Time { return benchNow })
	db, err := store.SQL()
	if err != nil {
		b.Fatal(err)
	}
	due := benchDue
	sched := benchSchedules{toOffline: benchDueSchedules(b, false), toOnline: benchDueSchedules(b, true)}
	dueSchedules := sched.toOffline
	plainSchedules := make([]string, len(benchZones))
	for i, zone := range benchZones {
		raw, _ := json.Marshal(officeHours(zone))
		plainSchedules[i] = string(raw)
	}
	z := len(benchZones)
	ctx := context.Background()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO tenants (id, client_key, secret_sealed, base_url, installed, enabled, installed_at, auto_offline_minutes, created_at, updated_at)
SELECT i, 'bench-' || i, '\x00'::bytea, 'https://t' || i || '.example.com', true, true, $1, $2, $1, $1
FROM generate_series(1, $3::int) i`, []any{benchNow, benchAutoOffline, benchTenants}},
		{`INSERT INTO projects (id, tenant_id, jira_id, key, widget_id, widget_enabled, allowed_origins, created_at, updated_at)
SELECT p, (p + 1) / 2, p::text, 'P' || p, 'w_' || p, true, '[]', $1, $1
FROM generate_series(1, 2 * $2::int) p`, []any{benchNow, benchTenants}},
		{`INSERT INTO agents (id, tenant_id, account_id, last_activity_at, schedule, next_switch_at, next_switch_online, created_at, updated_at)
SELECT i, (i - 1) / $1::int + 1, 'acc-' || i,
  CASE WHEN i % $2::int = $3::int THEN $4::timestamptz - interval '1 hour' ELSE $4::timestamptz - interval '1 minute' END,
  CASE WHEN i % $5::int = 0 THEN ($6::text[])[(i / $5::int) % $7::int + 1] ELSE ($8::text[])[i % $7::int + 1] END,
  CASE WHEN i % $5::int = 0 THEN $9::timestamptz ELSE $4::timestamptz + (i % 3600) * interval '1 second' + interval '1 minute' END,
  i % $5::int <> 0, $4, $4
FROM generate_series(1, $10::int) i`,
			[]any{benchAgentsPerTenant, benchInactiveEvery, benchInactiveFirstIdx, benchNow, benchDueEvery,
				dueSchedules, z, plainSchedules, due, benchAgents}},
		{`INSERT INTO memberships (tenant_id, account_id, project_id)
SELECT a.tenant_id, a.account_id, 2 * a.tenant_id - k FROM agents a CROSS JOIN generate_series(0, 1) k`, nil},
		{`INSERT INTO statuses (tenant_id, project_id, account_id, online, since, source)
SELECT tenant_id, project_id, account_id, true, $1::timestamptz - interval '2 hours', 'manual' FROM memberships`, []any{benchNow}},
		{`ANALYZE`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, q.sql)
		}
	}
	return store, sched
}

// benchDue is the due agents' switch: 17:00 UTC, 30 s before benchNow.
var benchDue = benchNow.Add(-30 * time.Second)

// benchSchedules are the due agents' schedules per zone (benchZones'
// order), for a switch off or on at benchDue.
type benchSchedules struct {
	toOffline, toOnline []string
}

// benchDueSchedules makes, per zone, an every-day schedule with a window
// ending (or, online, starting) at benchDue, so that benchDue is a real
// transition of the schedule.
func benchDueSchedules(b *testing.B, online bool) []string {
	b.Helper()
	out := make([]string, len(benchZones))
	for i, zone := range benchZones {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			b.Fatal(err)
		}
		at := benchDue.In(loc)
		start, end := at.Add(-8*time.Hour), at
		if online {
			start, end = at, at.Add(8*time.Hour)
		}
		s := schedule.Schedule{Timezone: zone, Enabled: true, Rules: []schedule.Rule{{
			Days:  []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"},
			Start: start.Format("15:04"), End: end.Format("15:04")}}, Exceptions: []schedule.Exception{}}
		if got, on, ok, err := s.NextTransition(benchDue.Add(-time.Second)); err != nil || !ok || !got.Equal(benchDue) || on != online {
			b.Fatalf("%s: the due schedule switches at %v online=%v (ok %v, err %v), want %v at %v", zone, got, on, ok, err, online, benchDue)
		}
		raw, err := json.Marshal(s)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = string(raw)
	}
	return out
}

func mustExec(b *testing.B, db *sql.DB, q string, args ...any) {
	b.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		b.Fatalf("%v\n%s", err, q)
	}
}

// BenchmarkApplyDueSchedules measures one schedules tick over 100,000
// scheduled agents of which 1,000 (due_1000) or 10,000 (due_10000) are due,
// each switching in its two projects (two effective switches and events per
// due agent): at the end of a shift (to_offline) and at its start
// (to_online). A tick is what jobs.Schedules.Run does: batches of
// DefaultScheduleBatch while batches come back full.
func BenchmarkApplyDueSchedules(b *testing.B) {
	store, sched := seedBench(b)
	db, _ := store.SQL()
	counter := models.CountStatements(store)
	var announced atomic.Int64
	store.Watch(func(context.Context, models.Change) { announced.Add(1) })
	for _, dueEvery := range []int{benchDueEvery, benchDueEvery / 10} {
		for _, online := range []bool{false, true} {
			name, schedules := "to_offline", sched.toOffline
			if online {
				name, schedules = "to_online", sched.toOnline
			}
			want := benchAgents / dueEvery
			b.Run(fmt.Sprintf("due_%d/%s", want, name), func(b *testing.B) {
				ctx := context.Background()
				var stmts, applied, events, announcements int
				for b.Loop() {
					b.StopTimer()
					mustExec(b, db, `UPDATE agents SET next_switch_at = $1, next_switch_online = $2,
  schedule = ($3::text[])[(id / $4::int) % $5::int + 1] WHERE id % $4::int = 0`,
						benchDue, online, schedules, dueEvery, len(benchZones))
					mustExec(b, db, `UPDATE statuses s SET online = $1, since = $2, until = NULL, source = 'manual'
FROM agents a WHERE a.id % $3::int = 0 AND s.tenant_id = a.tenant_id AND s.account_id = a.account_id`,
						!online, benchNow.Add(-2*time.Hour), dueEvery)
					counter.Reset()
					announced.Store(0)
					b.StartTimer()
					for range benchMaxBatches {
						n, evs, err := store.ApplyDueSchedules(ctx, benchNow, models.DefaultScheduleBatch)
						if err != nil {
							b.Fatal(err)
						}
						applied += n
						events += len(evs)
						if n < models.DefaultScheduleBatch {
							break
						}
					}
					b.StopTimer()
					stmts += counter.Statements()
					announcements += int(announced.Load())
					b.StartTimer()
				}
				if applied != b.N*want || events != 2*applied {
					b.Fatalf("applied %d switches with %d events in %d runs, want %d and %d a run", applied, events, b.N, want, 2*want)
				}
				b.ReportMetric(float64(stmts)/float64(b.N), "stmts/op")
				b.ReportMetric(float64(stmts)/float64(applied), "stmts/agent")
				b.ReportMetric(float64(applied)/float64(b.N), "switches/op")
				b.ReportMetric(float64(announcements)/float64(b.N), "announcements/op")
			})
		}
	}
}

// benchMaxBatches bounds a benchmark tick as jobs.Schedules bounds a pass.
const benchMaxBatches = 10

// BenchmarkSweepInactive measures one inactivity sweep over 100,000 online
// agents (200,000 online rows) of which 1% are past the limit.
func BenchmarkSweepInactive(b *testing.B) {
	store, _ := seedBench(b)
	db, _ := store.SQL()
	counter := models.CountStatements(store)
	ctx := context.Background()
	var stmts, events int
	for b.Loop() {
		b.StopTimer()
		mustExec(b, db, `UPDATE statuses SET online = true, since = $1, until = NULL, source = 'manual' WHERE NOT online`,
			benchNow.Add(-2*time.Hour))
		counter.Reset()
		b.StartTimer()
		evs, err := store.SweepInactive(ctx, benchNow)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		stmts += counter.Statements()
		events += len(evs)
		b.StartTimer()
	}
	if want := 2 * benchAgents / benchInactiveEvery; events != b.N*want {
		b.Fatalf("%d events in %d runs, want %d a run", events, b.N, want)
	}
	b.ReportMetric(float64(stmts)/float64(b.N), "stmts/op")
	b.ReportMetric(float64(events)/float64(b.N), "offline/op")
}
