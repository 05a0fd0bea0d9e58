// Package handlers is the HTTP face of the service: echo handlers for the
// Connect lifecycle, the agent API, the public widget API and the pages.
package handlers
