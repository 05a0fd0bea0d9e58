package models_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"agentpresence/models"
	"agentpresence/models/dbtest"
	"agentpresence/models/secretbox"
	"agentpresence/models/secretbox/secretboxtest"
)

// openStore opens a store on an existing test database with the given keys,
// as a replica configured with them would.
func openStore(t *testing.T, url string, now func() time.Time, key []byte, previous ...[]byte) *models.Store {
	t.Helper()
	s, err := models.Open(context.Background(), models.StoreConfig{URL: url, Box: secretboxtest.Box(t, key, previous...), Now: now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// setSealed writes a tenant's sealed secret straight into its row, as a
// database written before key ids (or under a lost key) holds it.
func setSealed(t *testing.T, s *models.Store, clientKey string, sealed []byte) {
	t.Helper()
	db, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	q := "UPDATE tenants SET secret_sealed = ? WHERE client_key = ?"
	if s.Dialect() == models.DialectPostgres {
		q = "UPDATE tenants SET secret_sealed = $1 WHERE client_key = $2"
	}
	res, err := db.ExecContext(context.Background(), q, sealed, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("set sealed secret of %s: %d rows", clientKey, n)
	}
}

// TestKeyRotationAndReseal walks a rotation of APP_SECRET_KEY on one
// database: tenants sealed under the old key (one in the format without key
// id, one uninstalled) open once the new key is current, ResealSecrets
// moves them all to the new key in batches, and then a store with the new
// key alone opens every tenant while one with the old key alone opens none.
func TestKeyRotationAndReseal(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
		url := dbtest.URL(t, dialect)
		before := openStore(t, url, now, secretboxtest.OldKey)
		secrets := map[string]string{}
		for i := range 5 {
			ck := fmt.Sprintf("ck-%d", i)
			secrets[ck] = "secret-" + ck
			if _, err := before.SaveInstall(ctx, models.Install{ClientKey: ck, SharedSecret: []byte(secrets[ck]), BaseURL: "https://x.atlassian.net"}, now()); err != nil {
				t.Fatal(err)
			}
		}
		setSealed(t, before, "ck-1", secretboxtest.SealUnversioned(t, secretboxtest.OldKey, nil, []byte(secrets["ck-1"]), "ck-1"))
		gone, err := before.TenantByClientKey(ctx, "ck-4")
		if err != nil {
			t.Fatal(err)
		}
		if err := before.MarkUninstalled(ctx, gone.ID, now()); err != nil {
			t.Fatal(err)
		}
		updatedBefore := gone.UpdatedAt

		rotated := openStore(t, url, now, secretboxtest.NextKey, secretboxtest.OldKey)
		opensAll := func(s *models.Store) error {
			for ck, want := range secrets {
				got, err := s.TenantByClientKey(ctx, ck)
				if err != nil {
					return err
				}
				if string(got.SharedSecret) != want {
					return fmt.Errorf("%s: secret %q, want %q", ck, got.SharedSecret, want)
				}
			}
			return nil
		}
		if err := opensAll(rotated); err != nil {
			t.Fatalf("after the rotation, before the re-seal: %v", err)
		}
		// A tenant installed after the rotation is sealed under the new key.
		secrets["ck-new"] = "secret-ck-new"
		if _, err := rotated.SaveInstall(ctx, models.Install{ClientKey: "ck-new", SharedSecret: []byte(secrets["ck-new"]), BaseURL: "https://y.atlassian.net"}, now()); err != nil {
			t.Fatal(err)
		}

		var total models.ResealBatch
		var after models.TenantID
		for calls := 0; ; calls++ {
			if calls > 10 {
				t.Fatal("ResealSecrets does not come to an end")
			}
			b, err := rotated.ResealSecrets(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if b.Scanned > 0 && b.Last <= after {
				t.Fatalf("batch after %d ended at %d", after, b.Last)
			}
			total.Scanned += b.Scanned
			total.Resealed += b.Resealed
			total.Unopenable = append(total.Unopenable, b.Unopenable...)
			if b.Scanned < 2 {
				break
			}
			after = b.Last
		}
		if total.Scanned != 6 || total.Resealed != 5 || len(total.Unopenable) != 0 {
			t.Fatalf("re-seal: %+v, want 6 scanned, 5 re-sealed (the new tenant was current)", total)
		}
		if again, err := rotated.ResealSecrets(ctx, 0, 100); err != nil || again.Scanned != 6 || again.Resealed != 0 {
			t.Fatalf("second re-seal: %+v %v, want nothing left to do", again, err)
		}
		if err := opensAll(openStore(t, url, now, secretboxtest.NextKey)); err != nil {
			t.Fatalf("with the old key removed: %v", err)
		}
		for ck := range secrets {
			if _, err := openStore(t, url, now, secretboxtest.OldKey).TenantByClientKey(ctx, ck); !errors.Is(err, secretbox.ErrUnopenable) {
				t.Fatalf("%s still opens with the old key alone (%v): it was not re-sealed", ck, err)
			}
		}
		if g, err := rotated.Tenant(ctx, gone.ID); err != nil || !g.UpdatedAt.Equal(updatedBefore) {
			t.Fatalf("re-seal touched updated_at of %d: %v → %v (%v)", gone.ID, updatedBefore, g.UpdatedAt, err)
		}
	})
}

// TestResealReportsWhatNoKeyOpens: a tenant sealed under a key nobody
// configured is listed, left as it is, and does not stop the others.
func TestResealReportsWhatNoKeyOpens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		url := dbtest.URL(t, dialect)
		s := openStore(t, url, time.Now, secretboxtest.NextKey, secretboxtest.OldKey)
		for _, ck := range []string{"a", "lost", "c"} {
			if _, err := s.SaveInstall(ctx, models.Install{ClientKey: ck, SharedSecret: []byte("s-" + ck), BaseURL: "https://x"}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		stray := secretboxtest.SealUnversioned(t, secretboxtest.StrangerKey, nil, []byte("s-lost"), "lost")
		setSealed(t, s, "lost", stray)
		setSealed(t, s, "c", secretboxtest.SealUnversioned(t, secretboxtest.OldKey, nil, []byte("s-c"), "c"))
		lost, err := openStore(t, url, time.Now, secretboxtest.StrangerKey).TenantByClientKey(ctx, "lost")
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.ResealSecrets(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if b.Scanned != 3 || b.Resealed != 1 || len(b.Unopenable) != 1 || b.Unopenable[0] != lost.ID {
			t.Fatalf("got %+v, want 3 scanned, c re-sealed, %d unopenable", b, lost.ID)
		}
		if got, err := openStore(t, url, time.Now, secretboxtest.StrangerKey).TenantByClientKey(ctx, "lost"); err != nil || string(got.SharedSecret) != "s-lost" {
			t.Fatalf("the unopenable row was changed: %v", err)
		}
	})
}
