// Package jobs runs the background work (schedules, expiry, inactivity,
// activity flush, retention) as plain Run(ctx) types that gocron v2
// schedules. Every job is idempotent, because the store switches rows with
// conditional updates; the PostgreSQL advisory locks between replicas only
// save duplicate work. Reseal is not on the schedule: `agentpresence
// -reseal` runs it once, when APP_SECRET_KEY is rotated.
package jobs
