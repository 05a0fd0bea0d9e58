// Package jira is a small client for calling a tenant's Jira REST API as the
// Connect app: every request carries a short-lived HS256 token bound to that
// request by its qsh, signed with the tenant's shared secret.
//
// Only the few endpoints the app needs are wrapped (service desks, bulk
// permission checks, users); Do is available for anything else.
package jira
