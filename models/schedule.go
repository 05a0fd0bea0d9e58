package models

// Schedule is a placeholder until the schedule engine lands.
type Schedule struct {
	Timezone string `json:"timezone"`
	Enabled  bool   `json:"enabled"`
}
