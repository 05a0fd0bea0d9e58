package models_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

func TestTenantLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
		store := dbtest.Open(t, dialect, clock.Now)
		ctx := context.Background()

		first, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck-1", SharedSecret: []byte("s1"), BaseURL: "https://a.atlassian.net"})
		if err != nil {
			t.Fatal(err)
		}
		if !first.Active() || !bytes.Equal(first.SharedSecret, []byte("s1")) {
			t.Fatalf("first install: got %+v", first)
		}
		clock.Advance(time.Hour)
		if err := store.MarkUninstalled(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		again, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck-1", SharedSecret: []byte("s2"), BaseURL: "https://a.atlassian.net"})
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != first.ID {
			t.Fatalf("reinstall created a new row: %d != %d", again.ID, first.ID)
		}
		if !again.Active() || !bytes.Equal(again.SharedSecret, []byte("s2")) || again.UninstalledAt != nil {
			t.Fatalf("reinstall: got %+v", again)
		}
		if err := store.SetEnabled(ctx, again.ID, false); err != nil {
			t.Fatal(err)
		}
		got, err := store.TenantByClientKey(ctx, "ck-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Active() {
			t.Fatal("disabled tenant reported active")
		}
		if _, err := store.TenantByClientKey(ctx, "nope"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("unknown tenant: got %v, want ErrNotFound", err)
		}
	})
}

func TestSaveInstallRejectsIncompleteInstall(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		store := dbtest.Open(t, dialect, time.Now)
		_, err := store.SaveInstall(context.Background(), models.Install{ClientKey: "ck"})
		if !errors.Is(err, models.ErrInvalid) {
			t.Fatalf("got %v, want ErrInvalid", err)
		}
		if _, err := store.TenantByClientKey(context.Background(), "ck"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("incomplete install was stored: %v", err)
		}
	})
}

func TestPurgeUninstalledKeepsRetention(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		store := dbtest.Open(t, dialect, clock.Now)
		ctx := context.Background()
		gone, err := store.SaveInstall(ctx, models.Install{ClientKey: "gone", SharedSecret: []byte("x"), BaseURL: "https://g"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.SaveInstall(ctx, models.Install{ClientKey: "stays", SharedSecret: []byte("x"), BaseURL: "https://s"}); err != nil {
			t.Fatal(err)
		}
		if err := store.MarkUninstalled(ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		n, err := store.PurgeUninstalled(ctx, clock.Now().Add(-time.Minute))
		if err != nil || n != 0 {
			t.Fatalf("purge inside retention: n=%d err=%v", n, err)
		}
		clock.Advance(31 * 24 * time.Hour)
		n, err = store.PurgeUninstalled(ctx, clock.Now().Add(-30*24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("purge after retention: n=%d err=%v", n, err)
		}
		if _, err := store.TenantByClientKey(ctx, "gone"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("purged tenant still there: %v", err)
		}
		if _, err := store.TenantByClientKey(ctx, "stays"); err != nil {
			t.Fatalf("installed tenant purged: %v", err)
		}
	})
}

// TestMigrationsConcurrentReplicas starts three stores on one fresh
// database at once, as three replicas would, and expects all to come up.
func TestMigrationsConcurrentReplicas(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		url := dbtest.URL(t, dialect)
		var wg sync.WaitGroup
		stores := make([]*models.Store, 3)
		for i := range stores {
			wg.Go(func() { stores[i] = dbtest.OpenURL(t, url, time.Now) })
		}
		wg.Wait()
		for i, s := range stores {
			if s == nil {
				t.Fatalf("replica %d did not open", i)
			}
			if _, err := s.SaveInstall(context.Background(), models.Install{ClientKey: "r", SharedSecret: []byte("x"), BaseURL: "https://r"}); err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
		}
	})
}
