package handlers

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Webhooks receives Jira's events and turns them into agent activity.
type Webhooks struct {
	Activity ActivityRecorder
	Now      func() time.Time
}

// webhookEvent holds the parts of comment_created and jira:issue_updated
// that name who acted.
type webhookEvent struct {
	WebhookEvent string `json:"webhookEvent"`
	User         *struct {
		AccountID string `json:"accountId"`
	} `json:"user"`
	Comment *struct {
		Author *struct {
			AccountID string `json:"accountId"`
		} `json:"author"`
		UpdateAuthor *struct {
			AccountID string `json:"accountId"`
		} `json:"updateAuthor"`
	} `json:"comment"`
}

// maxWebhookBody bounds what we read; issue payloads can be large, and we
// need only the first fields, but JSON must be read whole to be parsed.
const maxWebhookBody = 4 << 20

// RecordActivity records that the webhook's user is active. It answers 204 even
// for payloads it cannot use: a retry by Jira would not make them usable.
func (w *Webhooks) RecordActivity(c echo.Context) error {
	raw, err := io.ReadAll(io.LimitReader(c.Request().Body, maxWebhookBody))
	if err != nil {
		return badRequest("bad_body", "the body could not be read")
	}
	var ev webhookEvent
	if json.Unmarshal(raw, &ev) != nil {
		return c.NoContent(http.StatusNoContent)
	}
	account := ""
	switch {
	case ev.User != nil && ev.User.AccountID != "":
		account = ev.User.AccountID
	case ev.Comment != nil && ev.Comment.UpdateAuthor != nil && ev.Comment.UpdateAuthor.AccountID != "":
		account = ev.Comment.UpdateAuthor.AccountID
	case ev.Comment != nil && ev.Comment.Author != nil:
		account = ev.Comment.Author.AccountID
	}
	if account != "" {
		w.Activity.Touch(tenantOf(c).ID, account, w.Now())
	}
	return c.NoContent(http.StatusNoContent)
}
