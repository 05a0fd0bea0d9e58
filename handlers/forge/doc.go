// Package forge implements the Forge Remote side of Atlassian Forge: the
// verification of the Forge Invocation Tokens (FIT) that Forge sends with
// every call to a remote (UI invokeRemote/requestRemote, product and
// lifecycle events, scheduled triggers), the JSON Web Key Set they are
// checked against, and the reading of the OAuth tokens Forge passes along
// (x-forge-oauth-system, x-forge-oauth-user) for calls back to Jira.
//
// Like handlers/connect it works on net/http types only, so the echo
// middleware, the Jira client and the tests can share it. Its stand-in
// platform for tests and the demo is the forgetest package beside it.
//
// A Verifier checks, in this order: the token's size, an RS256 header with a
// key id, the signature against the key set (fetched from Atlassian's JWKS,
// refetched on an unknown kid at a bounded rate), iss
// "forge/invocation-token", aud equal to the app's ARI, exp, nbf and iat
// within the leeway, and the shape of the claims the service relies on
// (installation, cloud id, API base URL, principal). A verified token's
// claims are kept, keyed by the token's SHA-256, until the token expires,
// so that a page's repeated calls cost one RS256 verification.
//
// An unreachable or garbled key set is reported as ErrKeysUnavailable,
// which callers answer with 503: a token is never accepted without a key.
package forge
