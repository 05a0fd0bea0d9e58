package models

// ClearChatColumns sets a project's chat columns to NULL, as a row written
// before they existed holds them (for the tests of the board).
func ClearChatColumns(s *Store, projectID int64) error {
	return s.db.Exec("UPDATE projects SET chat_url = NULL, online_message = NULL, translations = NULL WHERE id = ?", projectID).Error
}
