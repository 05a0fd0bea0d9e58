package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"agentpresence/models"
)

// PersonalDataStore is what personal data reporting needs of the store.
type PersonalDataStore interface {
	DuePersonalDataReports(ctx context.Context, now time.Time, limit int) ([]models.DueReport, error)
	PersonalDataBatch(ctx context.Context, tenant models.TenantID, size int, now time.Time) (models.ReportBatch, error)
	AdvancePersonalDataReport(ctx context.Context, tenant models.TenantID, step models.ReportStep, at time.Time) error
	DeferPersonalDataReport(ctx context.Context, tenant models.TenantID, until time.Time, status int, failed bool) error
	EraseAccounts(ctx context.Context, tenant models.TenantID, accountIDs []string) (models.Erasure, error)
	MarkAccountsRefreshed(ctx context.Context, tenant models.TenantID, accountIDs []string, at time.Time) error
}

// AccountReporter sends one batch to Atlassian's personal data reporting
// API as the tenant's app; *jira.PersonalData is one.
type AccountReporter interface {
	ReportAccounts(ctx context.Context, t models.Tenant, accounts []models.ReportedAccount) (models.AccountReport, error)
}

// PersonalDataInterval is how often the reporting job looks for tenants
// whose cycle is due; each tenant is reported once per cycle (a week by
// default), whatever the interval.
const PersonalDataInterval = 5 * time.Minute

// Bounds of one reporting run: the tenants it looks at and the calls it
// makes, so that a run ends well within its timeout and its lock; what is
// left waits for the next run, 5 minutes later.
const (
	reportTenantsPerRun = 200
	reportCallsPerRun   = 300
)

// Backoff after a failed call (5xx, no answer, a refusal): 10 minutes,
// doubling with each failure in a row, at most a day.
const (
	reportBackoffBase = 10 * time.Minute
	reportBackoffMax  = 24 * time.Hour
)

// A Forge installation whose system token expires within forgeTokenMargin
// waits forgeTokenWait for Forge's hourly trigger to bring a new one.
const (
	forgeTokenMargin = 2 * time.Minute
	forgeTokenWait   = time.Hour
)

// PersonalData reports the accounts each tenant's data holds to the
// personal data reporting API once per cycle, and acts on the answers:
// closed accounts are erased (Store.EraseAccounts), updated ones marked
// refreshed. A tenant's pass walks its accounts in batches of 90, one
// call after the other, and records its place after each, so that a pass
// interrupted (a restart, a 429, a failure) resumes where it stopped, on
// any replica; the runner's lock runs it on one replica at a time.
//
// A 429 holds the tenant until its Retry-After and ends the run: the
// limit may be the app's, not the tenant's, and another call would only
// make it worse. Nothing is sent to that tenant before the wait is over.
// A completed pass waits the cycle the API asked for (Cycle-Period,
// default 7 days) plus up to 1% of it at random, so that tenants reported
// together drift apart.
type PersonalData struct {
	Store    PersonalDataStore
	Reporter AccountReporter
	Now      func() time.Time
	Log      *slog.Logger
	// Rand returns a number in [0, 1) for the cycle's jitter; nil:
	// math/rand/v2.
	Rand func() float64
	// Forget drops what this replica keeps in memory about the accounts
	// (permission answers); nil: nothing. Other replicas drop theirs with
	// the erasure's change, or when their short TTLs end.
	Forget func(tenant models.TenantID, accountIDs []string)
}

// Run reports the due tenants, within the run's bounds.
func (j *PersonalData) Run(ctx context.Context) error {
	due, err := j.Store.DuePersonalDataReports(ctx, j.Now(), reportTenantsPerRun)
	if err != nil {
		return fmt.Errorf("personal data: %w", err)
	}
	calls := 0
	for _, d := range due {
		stop, err := j.report(ctx, d, &calls)
		if err != nil {
			return fmt.Errorf("personal data: tenant %d: %w", d.Tenant.ID, err)
		}
		if stop || calls >= reportCallsPerRun {
			return nil
		}
	}
	return nil
}

// report goes on with one tenant's pass until it ends, the API asks to
// wait (stop), a call fails, or the run's calls are spent. Only the
// store's errors are returned: the API's are the tenant's, recorded and
// waited out.
func (j *PersonalData) report(ctx context.Context, d models.DueReport, calls *int) (stop bool, err error) {
	t, cycle := d.Tenant, d.Report.Cycle()
	if now := j.Now(); t.IsForge() && (t.Forge.TokenExpiresAt == nil || t.Forge.TokenExpiresAt.Before(now.Add(forgeTokenMargin))) {
		// A Forge installation reports with its system token, which only
		// Forge hands over (the hourly trigger): wait for the next one.
		// No call, no failure.
		return false, j.Store.DeferPersonalDataReport(ctx, t.ID, now.Add(forgeTokenWait), 0, false)
	}
	for *calls < reportCallsPerRun {
		now := j.Now()
		batch, err := j.Store.PersonalDataBatch(ctx, t.ID, models.MaxReportBatch, now)
		if err != nil {
			return false, err
		}
		step := models.ReportStep{Last: batch.Last, Done: !batch.More, Next: now}
		if len(batch.Accounts) > 0 {
			*calls++
			answer, err := j.Reporter.ReportAccounts(ctx, t, batch.Accounts)
			switch {
			case err != nil && ctx.Err() != nil:
				return false, ctx.Err()
			case err != nil:
				return false, j.failed(ctx, d, err, now)
			case answer.RetryAfter > 0:
				j.Log.InfoContext(ctx, "personal data report: asked to wait", "tenant", t.ID, "retry_after", answer.RetryAfter.String())
				return true, j.Store.DeferPersonalDataReport(ctx, t.ID, now.Add(answer.RetryAfter), http.StatusTooManyRequests, false)
			}
			if err := j.act(ctx, t.ID, answer, now); err != nil {
				return false, err
			}
			if answer.CyclePeriod > 0 {
				cycle, step.Cycle = answer.CyclePeriod, answer.CyclePeriod
			}
			step.Status = http.StatusNoContent
			if len(answer.Closed)+len(answer.Updated) > 0 {
				step.Status = http.StatusOK
			}
		}
		if step.Done {
			step.Next = now.Add(cycle + time.Duration(j.rand()*float64(cycle)/100))
		}
		if err := j.Store.AdvancePersonalDataReport(ctx, t.ID, step, now); err != nil {
			return false, err
		}
		if step.Done {
			return false, nil
		}
	}
	return false, nil
}

// act erases the closed accounts and marks the updated ones refreshed:
// the store keeps no copy of names or time zones (the pages ask Jira), so
// refreshing an account is dating what is kept of it anew and dropping
// what this replica remembers of it.
func (j *PersonalData) act(ctx context.Context, tenant models.TenantID, answer models.AccountReport, now time.Time) error {
	if len(answer.Closed) > 0 {
		erased, err := j.Store.EraseAccounts(ctx, tenant, answer.Closed)
		if err != nil {
			return err
		}
		// Counts only: the log must not keep the ids it erased.
		j.Log.InfoContext(ctx, "personal data erased", "tenant", tenant, "closed_accounts", len(answer.Closed),
			"held", erased.Accounts, "statuses", erased.Statuses, "memberships", erased.Memberships, "events", erased.Events)
	}
	if len(answer.Updated) > 0 {
		if err := j.Store.MarkAccountsRefreshed(ctx, tenant, answer.Updated, now); err != nil {
			return err
		}
	}
	if j.Forget != nil && len(answer.Closed)+len(answer.Updated) > 0 {
		j.Forget(tenant, append(append([]string(nil), answer.Closed...), answer.Updated...))
	}
	return nil
}

// statusCoder is an error that carries the HTTP status answered
// (*jira.Error).
type statusCoder interface{ HTTPStatus() int }

// failed waits out a failed call: the tenant is due again after a
// backoff that doubles with each failure in a row.
func (j *PersonalData) failed(ctx context.Context, d models.DueReport, cause error, now time.Time) error {
	status := 0
	var sc statusCoder
	if errors.As(cause, &sc) {
		status = sc.HTTPStatus()
	}
	wait := reportBackoffBase << min(d.Report.Failures, 10)
	wait = min(wait, reportBackoffMax)
	j.Log.WarnContext(ctx, "personal data report failed", "tenant", d.Tenant.ID, "status", status, "err", cause,
		"failures", d.Report.Failures+1, "retry_in", wait.String())
	return j.Store.DeferPersonalDataReport(ctx, d.Tenant.ID, now.Add(wait), status, true)
}

func (j *PersonalData) rand() float64 {
	if j.Rand != nil {
		return j.Rand()
	}
	return rand.Float64()
}
