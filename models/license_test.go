package models_test

import (
	"context"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestAvailabilityUnlicensed: an unlicensed site's chat shows offline,
// with the project's message, whoever is online; never an error.
func TestAvailabilityUnlicensed(t *testing.T) {
	own := models.Project{UnavailableMessage: "Back at nine."}
	want := models.Availability{Message: "Back at nine.", RequiresLogin: true}
	for _, online := range []int{0, 1, 7} {
		if got := models.AvailabilityOf(own, online, false); got != want {
			t.Fatalf("unlicensed with %d online: %+v", online, got)
		}
	}
	for _, tt := range []struct {
		l     models.Licensing
		state models.LicenseState
		allow bool
	}{
		{models.Licensing{}, models.LicenseInactive, true},
		{models.Licensing{Enforced: true}, models.LicenseInactive, false},
		{models.Licensing{Enforced: true}, models.LicenseActive, true},
		{models.Licensing{Enforced: true}, models.LicenseUnknown, true},
	} {
		if got := tt.l.Allows(tt.state); got != tt.allow {
			t.Errorf("%+v.Allows(%q) = %t", tt.l, tt.state, got)
		}
	}
}

// TestSeeLicense: the state Jira says is kept with when, a change is
// announced (the board follows: an enforced board shows the widget
// offline while an agent is online, and online again when the license
// comes back; nothing is deleted), an unchanged state is written at most
// hourly and announced never.
func TestSeeLicense(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		f := newFixture(t, dialect)
		enforced := models.NewBoard(f.store, models.WithLicensing(models.Licensing{Enforced: true}))
		lax := models.NewBoard(f.store)
		for _, b := range []*models.Board{enforced, lax} {
			if err := b.Load(ctx); err != nil {
				t.Fatal(err)
			}
		}
		changes := 0
		f.store.Watch(func(_ context.Context, ch models.Change) {
			if ch.TenantChanged && ch.Tenant == f.tenant.ID {
				changes++
			}
		})
		f.set(t, "alice", true, "HELP")
		widget := f.projects["HELP"].WidgetID
		online := func(b *models.Board) bool {
			w, ok := b.Widget(widget)
			if !ok || !w.Available {
				t.Fatal("the widget is gone")
			}
			return w.Online
		}
		if !online(enforced) || !online(lax) {
			t.Fatal("offline before any license was seen")
		}

		changed, err := f.store.SeeLicense(ctx, f.tenant.ID, models.LicenseInactive, f.clock.Now())
		if err != nil || !changed || changes != 1 {
			t.Fatalf("inactive: changed %t %v, %d changes", changed, err, changes)
		}
		if online(enforced) || !online(lax) {
			t.Fatalf("unlicensed: enforced board online %t, lax board online %t", online(enforced), online(lax))
		}
		tn, err := f.store.Tenant(ctx, f.tenant.ID)
		if err != nil || tn.License.State != models.LicenseInactive || !tn.License.SeenAt.Equal(f.clock.Now()) {
			t.Fatalf("tenant's license %+v %v", tn.License, err)
		}
		if f.count(t, "HELP") != 1 {
			t.Fatal("an unlicensed site lost its statuses")
		}

		f.clock.Advance(30 * time.Minute)
		if changed, err := f.store.SeeLicense(ctx, f.tenant.ID, models.LicenseInactive, f.clock.Now()); err != nil || changed || changes != 1 {
			t.Fatalf("the same state again: changed %t %v, %d changes", changed, err, changes)
		}
		if tn, _ := f.store.Tenant(ctx, f.tenant.ID); !tn.License.SeenAt.Equal(f.clock.Now().Add(-30 * time.Minute)) {
			t.Fatalf("seen again within the hour was written: %v", tn.License.SeenAt)
		}
		f.clock.Advance(31 * time.Minute)
		if changed, err := f.store.SeeLicense(ctx, f.tenant.ID, models.LicenseInactive, f.clock.Now()); err != nil || changed || changes != 1 {
			t.Fatalf("the same state an hour later: changed %t %v", changed, err)
		}
		if tn, _ := f.store.Tenant(ctx, f.tenant.ID); !tn.License.SeenAt.Equal(f.clock.Now()) {
			t.Fatalf("seen again after the hour was not written: %v", tn.License.SeenAt)
		}

		if changed, err := f.store.SeeLicense(ctx, f.tenant.ID, models.LicenseActive, f.clock.Now()); err != nil || !changed || changes != 2 {
			t.Fatalf("active again: changed %t %v", changed, err)
		}
		if !online(enforced) {
			t.Fatal("licensed again, the widget stays offline")
		}
		if _, err := f.store.SeeLicense(ctx, f.tenant.ID, "bogus", f.clock.Now()); err == nil {
			t.Fatal("a bogus state was kept")
		}
	})
}
