package jiratest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// SendProjectWebhook posts a project event (project_updated,
// project_deleted, …) about the project with key to the app's
// /webhooks/projects, signed as Jira signs webhooks.
func (s *Site) SendProjectWebhook(ctx context.Context, event, key string) error {
	s.mu.Lock()
	var project *ProjectSpec
	for i := range s.projects {
		if s.projects[i].Key == key {
			project = &s.projects[i]
		}
	}
	var payload map[string]any
	if project != nil {
		id := strconv.FormatInt(project.ID, 10)
		payload = map[string]any{"timestamp": s.now().UnixMilli(), "webhookEvent": event,
			"project": map[string]any{"id": id, "key": project.Key, "name": project.Name, "self": s.baseURL + "/rest/api/3/project/" + id}}
	}
	s.mu.Unlock()
	if payload == nil {
		return fmt.Errorf("jiratest: project webhook %s: no project %q", event, key)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("jiratest: project webhook %s: encode: %w", event, err)
	}
	target, err := s.appURL("/webhooks/projects")
	if err != nil {
		return fmt.Errorf("jiratest: project webhook %s: %w", event, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("jiratest: project webhook %s: %w", event, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := s.Sign(req, ""); err != nil {
		return fmt.Errorf("jiratest: project webhook %s: %w", event, err)
	}
	return s.Send(req)
}
