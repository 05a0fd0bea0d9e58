// Package app reads the configuration, opens the store, wires handlers and
// jobs together and runs the server until it is told to stop.
package app
