package app

import (
	"strings"
	"testing"
)

// TestLoadConfigPersonalData: reporting is on by default, to Atlassian's
// API host; off switches it off; anything else is refused.
func TestLoadConfigPersonalData(t *testing.T) {
	tests := []struct {
		given     map[string]string
		reporting bool
		url       string
		wantErr   string
	}{
		{given: map[string]string{}, reporting: true, url: "https://api.atlassian.com"},
		{given: map[string]string{"PERSONAL_DATA_REPORTING": "off"}, url: "https://api.atlassian.com"},
		{given: map[string]string{"PERSONAL_DATA_REPORTING": "on", "PERSONAL_DATA_URL": "http://127.0.0.1:9/"}, reporting: true, url: "http://127.0.0.1:9"},
		{given: map[string]string{"PERSONAL_DATA_REPORTING": "sometimes"}, wantErr: "PERSONAL_DATA_REPORTING"},
		{given: map[string]string{"PERSONAL_DATA_URL": "ftp://x"}, wantErr: "PERSONAL_DATA_URL"},
		{given: map[string]string{"PERSONAL_DATA_URL": "https://u:p@api.example.com"}, wantErr: "PERSONAL_DATA_URL"},
	}
	for _, tt := range tests {
		c, err := LoadConfig(envOf(tt.given))
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: error %v, want one naming %s", tt.given, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%v: %v", tt.given, err)
		case c.PersonalDataReporting != tt.reporting || c.PersonalDataURL != tt.url:
			t.Errorf("%v: reporting %t to %q, want %t to %q", tt.given, c.PersonalDataReporting, c.PersonalDataURL, tt.reporting, tt.url)
		}
	}
}
