package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"agentpresence/jobs"
	"agentpresence/models"
	"agentpresence/models/secretbox"
)

// resealSecrets is `agentpresence -reseal`: it re-seals every tenant's
// shared secret under APP_SECRET_KEY, logs the totals and fails when a
// secret opens with no configured key, since removing a previous key would
// then lock that tenant out. It runs beside the replicas (kubectl exec, or
// a one-off container with the same environment); every write is a
// conditional update, so running it twice or during traffic is harmless.
func resealSecrets(ctx context.Context, cfg Config, log *slog.Logger) error {
	box, err := secretbox.New(cfg.AppSecretKey, cfg.AppSecretKeyPrevious...)
	if err != nil {
		return err
	}
	store, err := models.Open(ctx, models.StoreConfig{URL: cfg.DatabaseURL, Box: box, Log: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Warn("close store", "err", err)
		}
	}()
	start := time.Now()
	totals, err := (&jobs.Reseal{Store: store}).All(ctx)
	if err != nil {
		return err
	}
	log.Info("reseal done", "key_id", box.KeyID(), "tenants", totals.Scanned, "resealed", totals.Resealed,
		"changed_meanwhile", totals.Changed, "unopenable", totals.Unopenable, "took_ms", time.Since(start).Milliseconds())
	if totals.Changed > 0 {
		log.Warn("reseal: some tenants were reinstalled meanwhile; run -reseal again once every replica has the new APP_SECRET_KEY", "tenants", totals.Changed)
	}
	if totals.Unopenable > 0 {
		return fmt.Errorf("reseal: %d tenants' secrets open with no configured key (first ids %v): keep the key that sealed them in APP_SECRET_KEY_PREVIOUS: %w",
			totals.Unopenable, totals.UnopenableIDs, secretbox.ErrUnopenable)
	}
	return nil
}
