// Package jira is how the app knows what Jira knows: a small client for
// calling a tenant's Jira REST API as the Connect app (every request
// carries a short-lived HS256 token bound to that request by its qsh,
// signed with the tenant's shared secret), and the Directory built on it,
// which answers who is a support agent of which project and who
// administers what, keeping the answers briefly and the memberships in the
// store.
//
// Only the few endpoints the app needs are wrapped (service desks, bulk
// permission checks, users); Do is available for anything else. The
// Directory speaks in domain errors (ErrUnavailable, ErrCannotConfirmAgent,
// the store's sentinels); handlers translate them into HTTP answers.
//
// jiratest, beside it, is a simulated Jira site for tests and the demo.
package jira
