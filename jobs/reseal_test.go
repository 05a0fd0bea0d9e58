package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"agentpresence/jobs"
	"agentpresence/models"
	"agentpresence/models/dbtest"
	"agentpresence/models/secretbox"
)

func storeWithKeys(t *testing.T, url string, key []byte, previous ...[]byte) *models.Store {
	t.Helper()
	box, err := secretbox.New(key, previous...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := models.Open(context.Background(), models.StoreConfig{URL: url, Box: box, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// TestResealWalksEveryBatch: 25 tenants sealed under the old key, batches
// of 4: one pass re-seals them all, a second finds nothing to do, and a
// store whose keys open none of them fails the run and names at most 20.
func TestResealWalksEveryBatch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		ctx := context.Background()
		oldKey := []byte("old-key-old-key-old-key-old-key!")
		newKey := []byte("new-key-new-key-new-key-new-key!")
		url := dbtest.URL(t, dialect)
		before := storeWithKeys(t, url, oldKey)
		for i := range 25 {
			if _, err := before.SaveInstall(ctx, models.Install{ClientKey: fmt.Sprintf("ck-%02d", i), SharedSecret: []byte("s"), BaseURL: "https://x"}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		job := &jobs.Reseal{Store: storeWithKeys(t, url, newKey, oldKey), Batch: 4}
		totals, err := job.All(ctx)
		if err != nil || totals.Scanned != 25 || totals.Resealed != 25 || totals.Unopenable != 0 {
			t.Fatalf("first pass: %+v %v", totals, err)
		}
		totals, err = job.All(ctx)
		if err != nil || totals.Scanned != 25 || totals.Resealed != 0 {
			t.Fatalf("second pass: %+v %v", totals, err)
		}
		if err := job.Run(ctx); err != nil {
			t.Fatalf("Run with every secret current: %v", err)
		}

		wrong := &jobs.Reseal{Store: storeWithKeys(t, url, oldKey), Batch: 4}
		totals, err = wrong.All(ctx)
		if err != nil || totals.Unopenable != 25 || len(totals.UnopenableIDs) != 20 || totals.Resealed != 0 {
			t.Fatalf("with the old key alone: %+v %v", totals, err)
		}
		if err := wrong.Run(ctx); !errors.Is(err, secretbox.ErrUnopenable) {
			t.Fatalf("Run with the old key alone: %v, want ErrSecretUnopenable", err)
		}
	})
}
