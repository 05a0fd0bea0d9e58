package models_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

		first, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck-1", SharedSecret: []byte("s1"), BaseURL: "https://a.atlassian.net"}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !first.Active() || !bytes.Equal(first.SharedSecret, []byte("s1")) {
			t.Fatalf("first install: got %+v", first)
		}
		clock.Advance(time.Hour)
		if err := store.MarkUninstalled(ctx, first.ID, clock.Now()); err != nil {
			t.Fatal(err)
		}
		again, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck-1", SharedSecret: []byte("s2"), BaseURL: "https://a.atlassian.net"}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != first.ID {
			t.Fatalf("reinstall created a new row: %d != %d", again.ID, first.ID)
		}
		if !again.Active() || !bytes.Equal(again.SharedSecret, []byte("s2")) || again.UninstalledAt != nil {
			t.Fatalf("reinstall: got %+v", again)
		}
		if err := store.SetEnabled(ctx, again.ID, false, clock.Now()); err != nil {
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
		_, err := store.SaveInstall(context.Background(), models.Install{ClientKey: "ck"}, time.Now())
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
		gone, err := store.SaveInstall(ctx, models.Install{ClientKey: "gone", SharedSecret: []byte("x"), BaseURL: "https://g"}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.SaveInstall(ctx, models.Install{ClientKey: "stays", SharedSecret: []byte("x"), BaseURL: "https://s"}, clock.Now()); err != nil {
			t.Fatal(err)
		}
		if err := store.MarkUninstalled(ctx, gone.ID, clock.Now()); err != nil {
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
			if _, err := s.SaveInstall(context.Background(), models.Install{ClientKey: "r", SharedSecret: []byte("x"), BaseURL: "https://r"}, time.Now()); err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
		}
	})
}

// lifecycleToken is a spent-once token as the lifecycle handler builds it.
func lifecycleToken(n int, iat time.Time) *models.LifecycleToken {
	return &models.LifecycleToken{Digest: fmt.Sprintf("%064x", n), IssuedAt: iat, KeepUntil: iat.Add(3*time.Minute + 30*time.Second)}
}

// TestInstallTokenSpentOnceAcrossReplicas: two replicas (two stores on one
// database) handed the same token at once accept it once; the used token is
// forgotten only after it expired, by the retention job's purge.
func TestInstallTokenSpentOnceAcrossReplicas(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
		url := dbtest.URL(t, dialect)
		a, b := dbtest.OpenURL(t, url, clock.Now), dbtest.OpenURL(t, url, clock.Now)
		ctx := context.Background()
		if _, err := a.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s0"), BaseURL: "https://a.atlassian.net",
			Token: lifecycleToken(1, clock.Now())}, clock.Now()); err != nil {
			t.Fatal(err)
		}
		for round := range 5 {
			clock.Advance(time.Second)
			tok := lifecycleToken(100+round, clock.Now())
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i, s := range []*models.Store{a, b, a, b} {
				wg.Go(func() {
					_, errs[i] = s.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: fmt.Appendf(nil, "s%d", i),
						BaseURL: "https://a.atlassian.net", Token: tok}, clock.Now())
				})
			}
			wg.Wait()
			accepted := 0
			for _, err := range errs {
				switch {
				case err == nil:
					accepted++
				case !errors.Is(err, models.ErrTokenReplayed):
					t.Fatalf("round %d: %v, want ErrTokenReplayed", round, err)
				}
			}
			if accepted != 1 {
				t.Fatalf("round %d: %d replicas accepted one token, want 1 (%v)", round, accepted, errs)
			}
		}
		// A token older than the last install is stale, whichever replica.
		if _, err := b.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("old"), BaseURL: "https://a.atlassian.net",
			Token: lifecycleToken(7, clock.Now().Add(-2*time.Second))}, clock.Now()); !errors.Is(err, models.ErrTokenStale) {
			t.Fatalf("older token: %v, want ErrTokenStale", err)
		}
		// Purge forgets only the expired.
		if n, err := a.PurgeUsedTokens(ctx, clock.Now()); err != nil || n != 0 {
			t.Fatalf("purge before expiry: %d %v", n, err)
		}
		clock.Advance(4 * time.Minute)
		if n, err := a.PurgeUsedTokens(ctx, clock.Now()); err != nil || n != 6 {
			t.Fatalf("purge after expiry: %d %v, want 6", n, err)
		}
	})
}
