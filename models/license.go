package models

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Licensing. A paid app learns whether a site's license is active from
// Jira: a Connect page load carries lic=active or lic=none (covered by its
// signed qsh), a Forge invocation token carries app.license (absent for
// free apps and in development and staging). The store keeps the last
// state seen per tenant, with when: the only source for what carries no
// license (Connect context tokens, the public widget). Whether licenses
// are enforced at all is the deployment's choice (LICENSING), a
// Licensing value; an unlicensed site keeps every row: nothing is deleted.

// LicenseState is a site's license of the app, as Jira last said it.
type LicenseState string

// The license states. Unknown (never said, or a Forge app without a
// license object: free, development, staging) counts as licensed.
const (
	LicenseUnknown  LicenseState = ""
	LicenseActive   LicenseState = "active"
	LicenseInactive LicenseState = "inactive"
)

// ErrLicenseInactive refuses what an unlicensed site asks while licenses
// are enforced.
var ErrLicenseInactive = errors.New("the app's license is not active for this site")

// TenantLicense is the license state a tenant row keeps.
type TenantLicense struct {
	State LicenseState `gorm:"size:8;not null;default:''"`
	// SeenAt is when Jira last said it (nil: never).
	SeenAt *time.Time
}

// Licensing says whether sites' licenses are enforced (LICENSING=on).
type Licensing struct {
	Enforced bool
}

// Allows reports whether a site in state may use the app: always when
// licenses are not enforced; else unless Jira said the license is not
// active.
func (l Licensing) Allows(state LicenseState) bool {
	return !l.Enforced || state != LicenseInactive
}

// licenseSeenEvery is how often an unchanged license state is written
// again: a page load or an invocation per agent per minute must not be a
// write each; SeenAt says "at least this recent" to within it.
const licenseSeenEvery = time.Hour

// SeeLicense records that Jira said state for the tenant at at, and
// reports whether the state changed. An unchanged state is written at
// most once an hour; a change is announced as a change of the tenant, so
// that the tenant caches and the widget board follow on every replica.
func (s *Store) SeeLicense(ctx context.Context, tenant TenantID, state LicenseState, at time.Time) (bool, error) {
	switch state {
	case LicenseUnknown, LicenseActive, LicenseInactive:
	default:
		return false, fmt.Errorf("see license: %w: unknown state %q", ErrInvalid, state)
	}
	at = at.UTC()
	fields := map[string]any{"license_state": state, "license_seen_at": at}
	db := s.db.WithContext(ctx).Model(&Tenant{})
	res := db.Where("id = ? AND license_state <> ?", tenant, state).UpdateColumns(fields)
	if res.Error != nil {
		return false, translate("see license", res.Error)
	}
	if res.RowsAffected > 0 {
		s.tenantChanged(ctx, tenant)
		return true, nil
	}
	// Unchanged: only the time, hourly, and nobody needs telling.
	res = s.db.WithContext(ctx).Model(&Tenant{}).Where("id = ? AND (license_seen_at IS NULL OR license_seen_at < ?)", tenant,
		at.Add(-licenseSeenEvery)).UpdateColumns(fields)
	if res.Error != nil {
		return false, translate("see license", res.Error)
	}
	return false, nil
}
