// Package jobs runs the background work (schedules, expiry, inactivity,
// retention) as plain Run(ctx) functions that gocron v2 schedules.
package jobs
