package app

import (
	"fmt"
	"net/url"
	"strings"

	"agentpresence/handlers/jira"
)

// loadPersonalData reads PERSONAL_DATA_REPORTING (on|off, default on) and
// PERSONAL_DATA_URL (the Atlassian API host, an absolute http(s) URL; the
// Jira client's target policy refuses http and private addresses unless
// JIRA_ALLOW_LOOPBACK allows a loopback stand-in).
func (c *Config) loadPersonalData(getenv func(string) string) error {
	switch v := strings.ToLower(getenv("PERSONAL_DATA_REPORTING")); v {
	case "", "on", "1", "true":
		c.PersonalDataReporting = true
	case "off", "0", "false":
	default:
		return fmt.Errorf("config: PERSONAL_DATA_REPORTING %q must be on or off", v)
	}
	c.PersonalDataURL = strings.TrimRight(orDefault(getenv("PERSONAL_DATA_URL"), jira.DefaultPersonalDataURL), "/")
	if u, err := url.Parse(c.PersonalDataURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("config: PERSONAL_DATA_URL %q must be an absolute http(s) URL", c.PersonalDataURL)
	}
	return nil
}
