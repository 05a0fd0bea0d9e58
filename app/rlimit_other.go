//go:build !unix

package app

// openFilesLimit is unknown (0) where there is no RLIMIT_NOFILE; the
// stream cap then takes its ceiling.
func openFilesLimit() (uint64, error) { return 0, nil }
