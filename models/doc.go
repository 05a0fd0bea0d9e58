// Package models holds the domain of the presence service and the store
// that keeps it in PostgreSQL or SQLite through gorm. It knows gorm and the
// standard library only: no HTTP, no JWT, no scheduler.
//
// Files are named by what they hold. tenants, projects, memberships,
// agents (and activity, their connection presence), schedules, statuses
// and events (the audit log) are the domain's nouns with their store
// methods; report and retention read and prune what events keep.
// statuses.go has every way a status changes, as use cases that take their
// facts as arguments: SetOwnStatus (an agent), PutOffline (an admin),
// ExpireOnline and SweepInactive (jobs), beside ApplyDueSchedules in
// schedules.go; all of them go through the one transition primitive in
// transitions.go. availability.go decides what customers see. The store's
// own machinery is store.go, errors.go, rowset.go and sqlitetime.go;
// changes.go is the list of listeners told of every committed change, and
// board.go the in-memory widget states fed by it.
//
// Sub-packages: schedule (the weekly-schedule engine), interval (the one
// interval merger), zones (the time zones a schedule may use), secretbox
// (sealing tenants' secrets), pgbus (changes between replicas over
// PostgreSQL's LISTEN/NOTIFY) and dbtest (real test databases).
package models
