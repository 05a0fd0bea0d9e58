package models_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

const (
	instA = "ari:cloud:ecosystem::installation/1b0f6c8e-0c1d-4a51-9d5e-3f1f0e7a2b01"
	instB = "ari:cloud:ecosystem::installation/2c1e7d9f-1d2e-4b62-8e6f-4a2f1f8b3c02"
	cloud = "3d2f8eaf-2e3f-4c73-9f70-5b3a2a9c4d03"
)

func forgeInstall(inst, env, token string, exp time.Time) models.ForgeInstall {
	return models.ForgeInstall{InstallationID: inst, CloudID: cloud, SiteURL: "https://site.atlassian.net",
		APIBaseURL: "https://api.atlassian.com/ex/jira/" + cloud, Environment: env, AppVersion: "1.0.0",
		SystemToken: token, TokenExpiry: exp}
}

// TestForgeInstallationLifecycle: an unseen installation registers once,
// keeps the longest-lived system token sealed, and once uninstalled is
// neither revived by a FIT nor renewed by an event.
func TestForgeInstallationLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
		store := dbtest.Open(t, dialect, clock.Now)
		ctx := context.Background()
		var mu sync.Mutex
		changed := 0
		store.Watch(func(_ context.Context, ch models.Change) {
			if ch.TenantChanged {
				mu.Lock()
				changed++
				mu.Unlock()
			}
		})
		count := func() int { mu.Lock(); defer mu.Unlock(); return changed }

		// A requestRemote call carries no system token.
		reg, err := store.RegisterForge(ctx, forgeInstall(instA, "PRODUCTION", "", time.Time{}), clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		ten := reg.Tenant
		if !reg.Created || !ten.IsForge() || !ten.Active() || ten.ClientKey != instA || len(ten.SharedSecret) != 0 ||
			ten.Forge.TokenExpiresAt != nil || ten.BaseURL != "https://api.atlassian.com/ex/jira/"+cloud {
			t.Fatalf("first registration: %+v", reg)
		}
		if count() != 1 {
			t.Fatalf("registration announced %d tenant changes, want 1", count())
		}
		again, err := store.RegisterForge(ctx, forgeInstall(instA, "PRODUCTION", "", time.Time{}), clock.Now())
		if err != nil || again.Created || again.Tenant.ID != ten.ID {
			t.Fatalf("second registration: %+v, %v", again, err)
		}

		exp := clock.Now().Add(3 * time.Hour)
		kept, err := store.SaveForgeToken(ctx, ten, "sys-1", exp, clock.Now())
		if err != nil || !kept {
			t.Fatalf("first token: kept %v, %v", kept, err)
		}
		if count() != 2 {
			t.Fatalf("the first token announced %d changes in all, want 2 (none was held)", count())
		}
		ten, _ = store.TenantByClientKey(ctx, instA)
		if string(ten.SharedSecret) != "sys-1" || !ten.Forge.TokenExpiresAt.Equal(exp) {
			t.Fatalf("token held: %q until %v", ten.SharedSecret, ten.Forge.TokenExpiresAt)
		}
		if kept, _ := store.SaveForgeToken(ctx, ten, "older", exp.Add(-time.Minute), clock.Now()); kept {
			t.Fatal("an older token replaced a newer one")
		}
		if kept, _ := store.SaveForgeToken(ctx, ten, "sys-2", exp.Add(time.Hour), clock.Now()); !kept {
			t.Fatal("a newer token was not kept")
		}
		if count() != 2 {
			t.Fatalf("replacing a valid token announced a change (%d)", count())
		}
		ten, _ = store.TenantByClientKey(ctx, instA)
		if string(ten.SharedSecret) != "sys-2" {
			t.Fatalf("token held: %q", ten.SharedSecret)
		}
		if err := store.RenewForge(ctx, ten.ID, forgeInstall(instA, "PRODUCTION", "", time.Time{}), clock.Now()); err != nil {
			t.Fatal(err)
		}

		if err := store.MarkUninstalled(ctx, ten.ID, clock.Now()); err != nil {
			t.Fatal(err)
		}
		after, err := store.RegisterForge(ctx, forgeInstall(instA, "PRODUCTION", "sys-3", exp.Add(2*time.Hour)), clock.Now())
		if err != nil || after.Created || after.Tenant.Installed {
			t.Fatalf("an uninstalled installation came back: %+v, %v", after, err)
		}
		if err := store.RenewForge(ctx, ten.ID, forgeInstall(instA, "PRODUCTION", "", time.Time{}), clock.Now()); !errors.Is(err, models.ErrTenantClosed) {
			t.Fatalf("renew after uninstall: %v, want ErrTenantClosed", err)
		}
		if kept, _ := store.SaveForgeToken(ctx, after.Tenant, "sys-3", exp.Add(2*time.Hour), clock.Now()); kept {
			t.Fatal("a token was kept for an uninstalled installation")
		}
	})
}

// TestForgeReinstallKeepsData: a reinstall (a new installation id on the
// same site and environment) takes over the uninstalled tenant and its
// projects, as a Connect reinstall keeps its client key; another
// environment of the same site is a tenant of its own.
func TestForgeReinstallKeepsData(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
		store := dbtest.Open(t, dialect, clock.Now)
		ctx := context.Background()
		first, err := store.RegisterForge(ctx, forgeInstall(instA, "PRODUCTION", "sys-a", clock.Now().Add(time.Hour)), clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		projects, err := store.SyncProjects(ctx, first.Tenant.ID, []models.ProjectRef{{JiraID: "10001", ServiceDeskID: "1", Key: "HELP", Name: "Help"}}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		// Another environment installed on the same site meanwhile.
		staging, err := store.RegisterForge(ctx, forgeInstall(instB, "STAGING", "", time.Time{}), clock.Now())
		if err != nil || !staging.Created || staging.Tenant.ID == first.Tenant.ID || staging.ReattachedFrom != "" {
			t.Fatalf("staging: %+v, %v", staging, err)
		}
		if err := store.MarkUninstalled(ctx, first.Tenant.ID, clock.Now()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		const instC = "ari:cloud:ecosystem::installation/4e3a9fb0-3f40-4d84-8a81-6c4b3bad5e04"
		re, err := store.RegisterForge(ctx, forgeInstall(instC, "PRODUCTION", "sys-c", clock.Now().Add(time.Hour)), clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !re.Created || re.ReattachedFrom != instA || re.Tenant.ID != first.Tenant.ID || !re.Tenant.Active() ||
			re.Tenant.ClientKey != instC || string(re.Tenant.SharedSecret) != "sys-c" || re.Tenant.UninstalledAt != nil {
			t.Fatalf("reinstall: %+v", re)
		}
		got, err := store.ProjectByKey(ctx, re.Tenant.ID, "HELP")
		if err != nil || got.WidgetID != projects[0].WidgetID {
			t.Fatalf("the reinstalled site's project: %+v, %v", got, err)
		}
		if _, err := store.TenantByClientKey(ctx, instA); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("the old installation id still names a tenant: %v", err)
		}
		// Nothing left to take over: the next one starts afresh.
		const instD = "ari:cloud:ecosystem::installation/5f4bab01-4051-4e95-9b92-7d5c4cbe6f05"
		fresh, err := store.RegisterForge(ctx, forgeInstall(instD, "PRODUCTION", "", time.Time{}), clock.Now())
		if err != nil || !fresh.Created || fresh.ReattachedFrom != "" || fresh.Tenant.ID == first.Tenant.ID {
			t.Fatalf("a second installation while the first is live: %+v, %v", fresh, err)
		}
	})
}

// TestForgeAndConnectKeysApart: a Connect install cannot take a Forge
// installation's key, bad registrations store nothing, and the retention
// job purges an uninstalled Forge tenant like a Connect one.
func TestForgeAndConnectKeysApart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
		store := dbtest.Open(t, dialect, clock.Now)
		ctx := context.Background()
		if _, err := store.SaveInstall(ctx, models.Install{ClientKey: instA, SharedSecret: []byte("s"), BaseURL: "https://a.atlassian.net"}, clock.Now()); !errors.Is(err, models.ErrInvalid) {
			t.Fatalf("a Connect install under a Forge key: %v, want ErrInvalid", err)
		}
		for name, in := range map[string]models.ForgeInstall{
			"not an installation ARI": forgeInstall("jirasim-1", "PRODUCTION", "", time.Time{}),
			"no cloud id":             {InstallationID: instA, APIBaseURL: "https://api.atlassian.com/ex/jira/x"},
			"no API base":             {InstallationID: instA, CloudID: cloud},
			"token without expiry":    forgeInstall(instA, "PRODUCTION", "sys", time.Time{}),
		} {
			if _, err := store.RegisterForge(ctx, in, clock.Now()); !errors.Is(err, models.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		if _, err := store.TenantByClientKey(ctx, instA); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("a refused registration stored a tenant: %v", err)
		}
		reg, err := store.RegisterForge(ctx, forgeInstall(instA, "PRODUCTION", "sys", clock.Now().Add(time.Hour)), clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := store.MarkUninstalled(ctx, reg.Tenant.ID, clock.Now()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(31 * 24 * time.Hour)
		n, err := store.PurgeUninstalled(ctx, clock.Now().Add(-30*24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("purge: %d, %v", n, err)
		}
		if _, err := store.TenantByClientKey(ctx, instA); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("the purged installation is still there: %v", err)
		}
	})
}
