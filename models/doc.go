// Package models holds the domain types of the presence service and the
// store that keeps them in PostgreSQL or SQLite through gorm. It knows gorm
// and the standard library only: no HTTP, no JWT, no scheduler.
package models
