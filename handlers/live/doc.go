// Package live is the mechanism of the live streams (Server-Sent Events):
// a Hub fans events out by key and keeps a short history for clients that
// resume with Last-Event-ID; Serve follows one subscriber on a stream,
// over a hijacked HTTP/1.1 connection that costs no goroutine while idle,
// or in its request's goroutine over HTTP/2; Caps bound the open streams
// per user, per client address and per instance.
//
// It knows nothing of what is streamed: handlers feed the hubs from the
// store's changes and say how an event reads for each client.
package live
