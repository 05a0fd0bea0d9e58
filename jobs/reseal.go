package jobs

import (
	"context"
	"fmt"

	"agentpresence/models"
	"agentpresence/models/secretbox"
)

// ResealStore re-seals tenants' shared secrets under the current key.
type ResealStore interface {
	ResealSecrets(ctx context.Context, after models.TenantID, limit int) (models.ResealBatch, error)
}

// maxUnopenableIDs bounds the tenant ids a ResealTotals lists: a wrong key
// makes every tenant unopenable, and the count says that well enough.
const maxUnopenableIDs = 20

// Reseal re-seals every tenant's shared secret under the current
// APP_SECRET_KEY, batch after batch, so that the keys in
// APP_SECRET_KEY_PREVIOUS can then be removed. It is not on the schedule:
// an operator runs it once every replica seals with the new key
// (`agentpresence -reseal`), and reads its totals.
type Reseal struct {
	Store ResealStore
	// Batch is how many tenants one store call takes; 0 means
	// models.DefaultResealBatch.
	Batch int
}

// ResealTotals adds up the batches of one pass over all tenants.
type ResealTotals struct {
	Scanned, Resealed, Changed int
	// Unopenable counts the tenants whose secret no configured key opens;
	// UnopenableIDs names the first of them.
	Unopenable    int
	UnopenableIDs []models.TenantID
}

// Run re-seals all tenants; tenants that no key opens make it fail.
func (j *Reseal) Run(ctx context.Context) error {
	totals, err := j.All(ctx)
	if err != nil {
		return err
	}
	if totals.Unopenable > 0 {
		return fmt.Errorf("reseal secrets: %d tenants (first %v): %w", totals.Unopenable, totals.UnopenableIDs, secretbox.ErrUnopenable)
	}
	return nil
}

// All walks every tenant in id order and returns the totals.
func (j *Reseal) All(ctx context.Context) (ResealTotals, error) {
	batch := j.Batch
	if batch <= 0 {
		batch = models.DefaultResealBatch
	}
	var (
		totals ResealTotals
		after  models.TenantID
	)
	for {
		if err := ctx.Err(); err != nil {
			return totals, fmt.Errorf("reseal secrets: %w", err)
		}
		b, err := j.Store.ResealSecrets(ctx, after, batch)
		if err != nil {
			return totals, fmt.Errorf("reseal secrets: %w", err)
		}
		totals.Scanned += b.Scanned
		totals.Resealed += b.Resealed
		totals.Changed += b.Changed
		totals.Unopenable += len(b.Unopenable)
		for _, id := range b.Unopenable {
			if len(totals.UnopenableIDs) < maxUnopenableIDs {
				totals.UnopenableIDs = append(totals.UnopenableIDs, id)
			}
		}
		if b.Scanned < batch {
			return totals, nil
		}
		after = b.Last
	}
}
