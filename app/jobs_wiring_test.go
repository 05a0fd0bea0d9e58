package app_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"agentpresence/app"
	"agentpresence/models"
)

// TestAppRunsJobsOnItsClock: the replica's jobs tick on Options.Clock (an
// online period ends when the fake clock reaches it) and Shutdown stops
// them with the server and the store, leaving no goroutine behind.
func TestAppRunsJobsOnItsClock(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "presence.db"), "PORT": "0"}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler), os.DirFS(".."), app.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		_ = a.Shutdown(ctx)
		t.Fatal(err)
	}
	store := a.Store()
	tenant, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://acme.atlassian.net"}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := store.SyncProjects(ctx, tenant.ID, []models.ProjectRef{{JiraID: "1", Key: "HELP"}}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	until := clock.Now().Add(time.Second)
	if _, err := store.SetStatus(ctx, tenant.ID, models.StatusChange{AccountID: "acc", ProjectIDs: []int64{ps[0].ID},
		To: models.StateOnline, Until: &until, Source: models.SourceManual}, clock.Now()); err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(bctx, 5); err != nil {
		t.Fatalf("jobs are not waiting on the clock: %v", err)
	}
	clock.Advance(time.Second)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		n, err := store.OnlineCount(ctx, tenant.ID, ps[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expiry job did not run")
		}
	}
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t)
}
