// Package jiratest is a simulated Jira Cloud site that plays Jira for the app,
// in tests and in the local demo host.
//
// A Site is an http.Handler serving the few Jira REST endpoints the app
// calls (service desks, bulk permission checks, users), avatars, and an
// install-keys server. Every REST call must carry a real Connect JWT signed by
// the app with the site's shared secret, verified the way Jira does it.
//
// Towards the app the Site acts as Jira does: it sends signed lifecycle
// callbacks (RS256 installs with a kid, HS256 enable/disable), signs iframe
// URLs and context tokens, and posts webhooks.
//
// Typical use:
//
//	site, err := jiratest.New(jiratest.Options{AppKey: appKey, InstallKey: key, Now: clock})
//	srv := httptest.NewServer(site)
//	err = site.SetBaseURL(srv.URL)
//	err = site.SetAppBaseURL(appURL)
//	err = site.Install(ctx)
package jiratest
