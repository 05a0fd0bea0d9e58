// Package connect implements the Atlassian Connect protocol pieces the app
// backend needs: the canonical request and its query string hash (qsh), the
// verification of HS256 tokens Jira sends with every call, the verification
// of RS256 signed install callbacks, and token signing for calls the app makes
// to Jira (and for tests and the demo host that plays Jira).
//
// The package is transport-neutral on purpose: it works on net/http types so
// the echo handlers, the Jira client and the tests can all share it.
package connect
