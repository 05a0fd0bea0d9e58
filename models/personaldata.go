package models

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Personal data. What the store keeps about a person is their Atlassian
// account id, in agents (the register of every person a tenant's data
// names), statuses, memberships and the audit events (as the agent, and as
// the actor of an admin's change), and whatever they typed (a schedule
// with its time zone, an away reason). Atlassian asks apps to report the
// account ids they hold to its personal data reporting API once per cycle
// and to erase the data of accounts it answers closed; this file is the
// store's side of that: which accounts to report, where a tenant's cycle
// stands, and the erasure.

// ErasedAccount replaces the account id of a person whose data was erased
// in the audit events that are kept: the event stays (a project was
// online, an admin acted), the person goes. One fixed value for every
// erased person, so that nothing in the log tells two of them apart or
// links an erased person's events together; the report and the CSV show
// it as "Closed account".
const ErasedAccount = "closed-account"

// UnknownAccount is what Atlassian calls a user it cannot name; it is
// never reported.
const UnknownAccount = "unknown"

// MaxReportBatch is how many accounts one call of the reporting API takes.
const MaxReportBatch = 90

// DefaultReportCycle is the reporting cycle when the API names none.
const DefaultReportCycle = 7 * 24 * time.Hour

// reportableAccount is what the reporting API accepts as an account id:
// 1–128 letters, digits, "-" and ":".
var reportableAccount = regexp.MustCompile(`^[A-Za-z0-9:-]{1,128}$`)

// Reportable reports whether an account id may be sent to the reporting
// API: shaped as Atlassian's ids are, and neither "unknown" nor the
// tombstone of erased accounts.
func Reportable(accountID string) bool {
	return accountID != UnknownAccount && accountID != ErasedAccount && reportableAccount.MatchString(accountID)
}

// ReportedAccount is one account as the reporting API takes it: the id and
// the oldest time its data was retrieved.
type ReportedAccount struct {
	AccountID string
	UpdatedAt time.Time
}

// AccountReport is what the reporting API answered for a batch.
type AccountReport struct {
	// Closed accounts were closed: their data must be erased.
	Closed []string
	// Updated accounts changed since UpdatedAt: what is kept of them must
	// be refreshed or erased.
	Updated []string
	// CyclePeriod is the cycle the API asked for (Cycle-Period); 0 when
	// it said none.
	CyclePeriod time.Duration
	// RetryAfter is set when the API refused the batch for now (429): it
	// was not reported, and nothing may be sent before it has passed.
	RetryAfter time.Duration
}

// PersonalDataReport is where one tenant stands in its reporting cycle: a
// pass walks its accounts in account id order, a batch at a time, from
// Cursor on; a completed pass waits a cycle. It lets a pass resume after a
// restart, a deploy or a 429 where it stopped, on any replica.
type PersonalDataReport struct {
	TenantID TenantID `gorm:"primaryKey;autoIncrement:false"`
	// Cursor is the last account id of the current pass reported; "" when
	// the next batch starts a pass.
	Cursor string `gorm:"size:128;not null;default:''"`
	// NextAt is when the tenant is due: the next batch of a pass, the
	// next pass, or the end of a wait the API asked for.
	NextAt time.Time `gorm:"not null;index"`
	// PassStartedAt is when the current pass began; LastPassAt when the
	// last complete pass ended (nil: none yet).
	PassStartedAt *time.Time
	LastPassAt    *time.Time
	// CycleSeconds is the cycle the API last asked for; 0: the default.
	CycleSeconds int64 `gorm:"not null;default:0"`
	// Failures counts failed calls in a row (a 429 is no failure), and
	// LastStatus is the HTTP status of the last call (0: no answer).
	Failures   int `gorm:"not null;default:0"`
	LastStatus int `gorm:"not null;default:0"`
}

// Cycle is the tenant's reporting cycle.
func (r PersonalDataReport) Cycle() time.Duration {
	if r.CycleSeconds <= 0 {
		return DefaultReportCycle
	}
	return time.Duration(r.CycleSeconds) * time.Second
}

// DueReport is a tenant due for reporting, with where its cycle stands.
type DueReport struct {
	Tenant Tenant
	Report PersonalDataReport
}

// DuePersonalDataReports returns up to limit installed and enabled tenants
// whose reporting is due at now: never reported, or their NextAt passed;
// longest waiting first. Their secrets (a shared secret, a Forge system
// token) are opened: the report is sent as each tenant's app.
func (s *Store) DuePersonalDataReports(ctx context.Context, now time.Time, limit int) ([]DueReport, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("due personal data reports: %w: the limit must be positive", ErrInvalid)
	}
	var ids []TenantID
	err := s.db.WithContext(ctx).Raw(`SELECT t.id FROM tenants t LEFT JOIN personal_data_reports r ON r.tenant_id = t.id
WHERE t.installed = ? AND t.enabled = ? AND (r.tenant_id IS NULL OR r.next_at <= ?)
ORDER BY CASE WHEN r.tenant_id IS NULL THEN 0 ELSE 1 END, r.next_at, t.id LIMIT ?`, true, true, now.UTC(), limit).
		Scan(&ids).Error
	if err != nil {
		return nil, translate("due personal data reports", err)
	}
	out := make([]DueReport, 0, len(ids))
	for _, id := range ids {
		t, err := s.Tenant(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("due personal data reports: %w", err)
		}
		var r PersonalDataReport
		if err := s.db.WithContext(ctx).Where("tenant_id = ?", id).Take(&r).Error; err != nil && !isNotFound(err) {
			return nil, translate("due personal data reports", err)
		}
		r.TenantID = id
		out = append(out, DueReport{Tenant: t, Report: r})
	}
	return out, nil
}

// PersonalDataBatch returns the next batch of at most size of the tenant's
// accounts to report, in account id order after the pass's cursor, each
// with the time its data was last retrieved (refreshed_at, else when it
// was first stored). Starting a pass (an empty cursor) first registers in
// agents every person the audit events name who has no row there (an
// admin who acted and is nobody's agent), dated by their oldest event, so
// that the pass, which walks agents, reports every account the tenant's
// data holds. Ids the API would refuse ("unknown", the tombstone, a
// malformed id a webhook brought) are skipped, but move the cursor.
func (s *Store) PersonalDataBatch(ctx context.Context, tenant TenantID, size int, now time.Time) (ReportBatch, error) {
	if size <= 0 || size > MaxReportBatch {
		return ReportBatch{}, fmt.Errorf("personal data batch: %w: the size must be 1..%d", ErrInvalid, MaxReportBatch)
	}
	now = now.UTC()
	var batch ReportBatch
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var r PersonalDataReport
		err := tx.Where("tenant_id = ?", tenant).Take(&r).Error
		switch {
		case isNotFound(err):
			r = PersonalDataReport{TenantID: tenant, NextAt: now}
		case err != nil:
			return err
		}
		if r.Cursor == "" {
			if err := registerEventAccounts(tx, tenant, now); err != nil {
				return err
			}
			r.PassStartedAt = &now
			if err := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "tenant_id"}},
				DoUpdates: clause.AssignmentColumns([]string{"pass_started_at"}),
			}).Create(&r).Error; err != nil {
				return err
			}
		}
		var rows []Agent
		if err := tx.Select("account_id", "refreshed_at", "created_at").
			Where("tenant_id = ? AND account_id > ?", tenant, r.Cursor).
			Order("account_id").Limit(size).Find(&rows).Error; err != nil {
			return err
		}
		batch.More = len(rows) == size
		for _, a := range rows {
			batch.Last = a.AccountID
			if !Reportable(a.AccountID) {
				continue
			}
			at := a.CreatedAt
			if a.RefreshedAt != nil {
				at = *a.RefreshedAt
			}
			batch.Accounts = append(batch.Accounts, ReportedAccount{AccountID: a.AccountID, UpdatedAt: at.UTC()})
		}
		return nil
	})
	if err != nil {
		return ReportBatch{}, translate("personal data batch", err)
	}
	return batch, nil
}

// ReportBatch is the next batch of a tenant's pass.
type ReportBatch struct {
	// Accounts are the batch's reportable accounts (maybe none, when every
	// id read was one the API refuses).
	Accounts []ReportedAccount
	// Last is the last account id read ("" when none was left): the pass
	// resumes after it.
	Last string
	// More says that accounts may follow (a full batch was read).
	More bool
}

// registerEventAccounts gives every account the tenant's events name (as
// the agent or as the actor) and agents lacks a row, dated by its oldest
// event: the data about it was retrieved then. The tombstone and
// "unknown" are never registered.
func registerEventAccounts(tx *gorm.DB, tenant TenantID, now time.Time) error {
	return tx.Exec(`INSERT INTO agents (tenant_id, account_id, next_switch_online, refreshed_at, created_at, updated_at)
SELECT ?, x.account_id, ?, MIN(x.at), ?, ? FROM (
  SELECT account_id, at FROM events WHERE tenant_id = ?
  UNION ALL
  SELECT actor_account_id, at FROM events WHERE tenant_id = ? AND actor_account_id IS NOT NULL AND actor_account_id <> ''
) x
WHERE x.account_id NOT IN (?, ?)
  AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.tenant_id = ? AND a.account_id = x.account_id)
GROUP BY x.account_id
ON CONFLICT (tenant_id, account_id) DO NOTHING`,
		tenant, false, now, now, tenant, tenant, UnknownAccount, ErasedAccount, tenant).Error
}

// ReportStep is what a successful call of the reporting API moves the
// tenant's cycle to.
type ReportStep struct {
	// Last is the last account id of the batch: the pass resumes after it.
	Last string
	// Done ends the pass (the batch was the last): the next one starts at
	// Next, a cycle later.
	Done bool
	// Next is when the tenant is due again: now for the next batch, a
	// cycle later when Done.
	Next time.Time
	// Cycle is the cycle the API asked for; 0 keeps the one known.
	Cycle time.Duration
	// Status is the HTTP status answered (200, 204).
	Status int
}

// AdvancePersonalDataReport records a reported batch of the tenant at at.
func (s *Store) AdvancePersonalDataReport(ctx context.Context, tenant TenantID, step ReportStep, at time.Time) error {
	at = at.UTC()
	r := PersonalDataReport{TenantID: tenant, Cursor: step.Last, NextAt: step.Next.UTC(), LastStatus: step.Status,
		CycleSeconds: int64(step.Cycle / time.Second)}
	fields := []string{"cursor", "next_at", "failures", "last_status"}
	if step.Done {
		r.Cursor, r.LastPassAt = "", &at
		fields = append(fields, "last_pass_at")
	}
	if step.Cycle > 0 {
		fields = append(fields, "cycle_seconds")
	}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "tenant_id"}}, DoUpdates: clause.AssignmentColumns(fields),
	}).Create(&r).Error
	return translate("advance personal data report", err)
}

// DeferPersonalDataReport holds the tenant's reporting until until: the
// API asked us to wait (429: not a failure), or the call failed (counted,
// for the caller's backoff). The pass keeps its cursor.
func (s *Store) DeferPersonalDataReport(ctx context.Context, tenant TenantID, until time.Time, status int, failed bool) error {
	r := PersonalDataReport{TenantID: tenant, NextAt: until.UTC(), LastStatus: status}
	failures := clause.Expr{SQL: "personal_data_reports.failures"}
	if failed {
		r.Failures = 1
		failures = clause.Expr{SQL: "personal_data_reports.failures + 1"}
	}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "tenant_id"}},
		DoUpdates: clause.Set{{Column: clause.Column{Name: "next_at"}, Value: r.NextAt},
			{Column: clause.Column{Name: "last_status"}, Value: status}, {Column: clause.Column{Name: "failures"}, Value: failures}},
	}).Create(&r).Error
	return translate("defer personal data report", err)
}

// PersonalDataReportOf returns where a tenant's cycle stands (the zero
// report, with the tenant's id, before its first batch).
func (s *Store) PersonalDataReportOf(ctx context.Context, tenant TenantID) (PersonalDataReport, error) {
	r := PersonalDataReport{TenantID: tenant}
	err := s.db.WithContext(ctx).Where("tenant_id = ?", tenant).Take(&r).Error
	if err != nil && !isNotFound(err) {
		return PersonalDataReport{}, translate("personal data report", err)
	}
	r.TenantID = tenant
	return r, nil
}

// Erasure is what EraseAccounts removed.
type Erasure struct {
	// Accounts is how many of the accounts had anything stored.
	Accounts int
	// Statuses, Memberships and Events count the rows deleted (statuses,
	// memberships) and the events that lost the person.
	Statuses, Memberships, Events int64
}

// EraseAccounts erases the personal data of closed accounts of a tenant,
// in one transaction: their statuses, memberships and agent row (with the
// schedule and its time zone, their activity and refresh times) are
// deleted; the audit events that name them keep the change and lose the
// person: the account (as the agent, and as the actor of an admin's
// change) becomes ErasedAccount, and the reason of the events about them
// (an admin's reason for putting them offline, their own away reason),
// which may name them, is cleared. The change is announced for the whole
// tenant, so that the online counts, the widget board, the live streams
// and the cached answers follow on every replica. Nothing records the
// erasure itself: a record would name the person.
func (s *Store) EraseAccounts(ctx context.Context, tenant TenantID, accountIDs []string) (Erasure, error) {
	ids := make([]string, 0, len(accountIDs))
	for _, id := range accountIDs {
		if id != "" && id != ErasedAccount {
			ids = append(ids, id)
		}
	}
	var out Erasure
	if len(ids) == 0 {
		return out, nil
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var held []string
		if err := tx.Model(&Agent{}).Where("tenant_id = ? AND account_id IN ?", tenant, ids).Pluck("account_id", &held).Error; err != nil {
			return err
		}
		out.Accounts = len(held)
		res := tx.Where("tenant_id = ? AND account_id IN ?", tenant, ids).Delete(&Status{})
		if res.Error != nil {
			return res.Error
		}
		out.Statuses = res.RowsAffected
		if res = tx.Where("tenant_id = ? AND account_id IN ?", tenant, ids).Delete(&Membership{}); res.Error != nil {
			return res.Error
		}
		out.Memberships = res.RowsAffected
		if err := tx.Where("tenant_id = ? AND account_id IN ?", tenant, ids).Delete(&Agent{}).Error; err != nil {
			return err
		}
		if res = tx.Model(&Event{}).Where("tenant_id = ? AND account_id IN ?", tenant, ids).
			UpdateColumns(map[string]any{"account_id": ErasedAccount, "reason": ""}); res.Error != nil {
			return res.Error
		}
		out.Events = res.RowsAffected
		if res = tx.Model(&Event{}).Where("tenant_id = ? AND actor_account_id IN ?", tenant, ids).
			UpdateColumn("actor_account_id", ErasedAccount); res.Error != nil {
			return res.Error
		}
		out.Events += res.RowsAffected
		return nil
	})
	if err != nil {
		return Erasure{}, translate("erase accounts", err)
	}
	if out.Accounts > 0 || out.Statuses > 0 || out.Memberships > 0 || out.Events > 0 {
		s.changed(ctx, tenant, nil)
	}
	return out, nil
}

// MarkAccountsRefreshed records that what the tenant keeps of the accounts
// was refreshed at at (the reporting API answered them updated): the next
// pass reports them with that time.
func (s *Store) MarkAccountsRefreshed(ctx context.Context, tenant TenantID, accountIDs []string, at time.Time) error {
	if len(accountIDs) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Model(&Agent{}).Where("tenant_id = ? AND account_id IN ?", tenant, accountIDs).
		UpdateColumn("refreshed_at", at.UTC()).Error
	return translate("mark accounts refreshed", err)
}
