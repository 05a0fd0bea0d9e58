// Command agentpresence serves the Jira Service Management "agent online
// status" Connect app.
package main

import (
	"context"
	"embed"
	"fmt"
	"os"

	_ "time/tzdata" // zone data in the binary: schedules must not depend on the host's files

	"agentpresence/app"
)

// assets are the descriptor template and static/, built into the binary so
// that one file is the whole deployment.
//
//go:embed atlassian-connect.json static
var assets embed.FS

func main() {
	if err := app.Main(context.Background(), os.Args[1:], os.Getenv, os.Stderr, assets); err != nil {
		fmt.Fprintln(os.Stderr, "agentpresence:", err)
		os.Exit(1)
	}
}
