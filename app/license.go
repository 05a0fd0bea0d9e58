package app

import (
	"fmt"
	"strings"
)

// loadLicensing reads LICENSING (on|off, default off: local development
// and the demo run without a Marketplace license).
func (c *Config) loadLicensing(getenv func(string) string) error {
	switch v := strings.ToLower(getenv("LICENSING")); v {
	case "on", "1", "true":
		c.Licensing = true
	case "", "off", "0", "false":
	default:
		return fmt.Errorf("config: LICENSING %q must be on or off", v)
	}
	return nil
}
