package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"agentpresence/models"
	"agentpresence/models/dbtest"
)

// TestWidgetChat: a widget's chat link defaults to its portal's request
// form; the project's link, online text and texts per language reach the
// board, each change with a new ETag; settings that leave them out keep
// them, and rows from before the columns existed read as empty.
func TestWidgetChat(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dialect models.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
		store := dbtest.Open(t, dialect, clock.Now)
		ctx := context.Background()
		tn, err := store.SaveInstall(ctx, models.Install{ClientKey: "ck", SharedSecret: []byte("s"), BaseURL: "https://acme.atlassian.net/"}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		ps, err := store.SyncProjects(ctx, tn.ID, []models.ProjectRef{ref("10", "HELP", "7")}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		help := ps[0]
		board := models.NewBoard(store)
		if err := board.Load(ctx); err != nil {
			t.Fatal(err)
		}
		w, _ := board.Widget(help.WidgetID)
		if w.Chat.URL != "https://acme.atlassian.net/servicedesk/customer/portal/7" || w.Chat.Online != "" || len(w.Chat.Translations) != 0 {
			t.Fatalf("defaults: %+v", w.Chat)
		}
		etags := map[string]bool{w.ETag: true}
		str := func(s string) *string { return &s }
		for _, step := range []struct {
			name   string
			given  models.ProjectSettings
			expect models.WidgetChat
		}{
			{"a link", models.ProjectSettings{WidgetEnabled: true, ChatURL: str("https://chat.example.com/a")},
				models.WidgetChat{URL: "https://chat.example.com/a"}},
			{"an online text", models.ProjectSettings{WidgetEnabled: true, OnlineMessage: str("Hi")},
				models.WidgetChat{URL: "https://chat.example.com/a", Online: "Hi"}},
			{"texts in German", models.ProjectSettings{WidgetEnabled: true, Translations: &map[string]models.Translation{"de": {Online: "Hallo"}}},
				models.WidgetChat{URL: "https://chat.example.com/a", Online: "Hi", Translations: map[string]models.Translation{"de": {Online: "Hallo"}}}},
			{"the offline message", models.ProjectSettings{WidgetEnabled: true, UnavailableMessage: "Back at 9"},
				models.WidgetChat{URL: "https://chat.example.com/a", Online: "Hi", Unavailable: "Back at 9", Translations: map[string]models.Translation{"de": {Online: "Hallo"}}}},
			{"the link back to the default, no texts per language", models.ProjectSettings{WidgetEnabled: true, UnavailableMessage: "Back at 9", ChatURL: str(""), Translations: &map[string]models.Translation{}},
				models.WidgetChat{URL: "https://acme.atlassian.net/servicedesk/customer/portal/7", Online: "Hi", Unavailable: "Back at 9"}},
		} {
			if _, err := store.UpdateProjectSettings(ctx, tn.ID, help.ID, step.given, clock.Now()); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			w, _ := board.Widget(help.WidgetID) // the store's change refreshed the board
			got := w.Chat
			if got.URL != step.expect.URL || got.Online != step.expect.Online || got.Unavailable != step.expect.Unavailable ||
				len(got.Translations) != len(step.expect.Translations) || got.Translations["de"] != step.expect.Translations["de"] {
				t.Fatalf("%s: %+v, want %+v", step.name, got, step.expect)
			}
			if etags[w.ETag] {
				t.Fatalf("%s: the ETag %s did not change", step.name, w.ETag)
			}
			etags[w.ETag] = true
		}
		// A row written before the columns existed (NULLs) reads as no texts.
		if err := models.ClearChatColumns(store, help.ID); err != nil {
			t.Fatal(err)
		}
		if err := board.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if w, _ := board.Widget(help.WidgetID); w.Chat.URL != "https://acme.atlassian.net/servicedesk/customer/portal/7" || w.Chat.Online != "" {
			t.Fatalf("NULL columns: %+v", w.Chat)
		}
	})
}
