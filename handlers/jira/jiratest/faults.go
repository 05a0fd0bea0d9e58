package jiratest

import (
	"net/http"
	"strings"
	"sync"
)

// Fault is an answer the site gives instead of the real one, after the
// app's token was verified: a rate limit (429 with Atlassian's headers) or
// an outage (5xx), to show how the app holds its calls back.
type Fault struct {
	// Status is the answer's status, e.g. 429 or 503.
	Status int
	// RetryAfter is the Retry-After header's value ("" sends none).
	RetryAfter string
	// BetaRetryAfter is the informational Beta-Retry-After header's value.
	BetaRetryAfter string
	// Reason is RateLimit-Reason, e.g. jira-quota-global-based,
	// jira-quota-tenant-based, jira-burst-based.
	Reason string
	// Path limits the fault to one REST path (relative to the base path,
	// without query, e.g. /rest/api/3/permissions/check); "" means every
	// REST path.
	Path string
	// Times is how many answers the fault gives before the site answers
	// normally again; 0 means until ClearFault.
	Times int
}

// SetFault makes the site answer f (replacing any fault set before).
func (s *Site) SetFault(f Fault) {
	s.mu.Lock()
	s.fault = &f
	s.mu.Unlock()
}

// ClearFault makes the site answer normally again.
func (s *Site) ClearFault() {
	s.mu.Lock()
	s.fault = nil
	s.mu.Unlock()
}

// answerFault answers the fault set for rel, if any, and says so.
func (s *Site) answerFault(w http.ResponseWriter, rel string) bool {
	s.mu.Lock()
	f := s.fault
	if f == nil || (f.Path != "" && f.Path != rel) {
		s.mu.Unlock()
		return false
	}
	answer := *f
	if f.Times > 0 {
		if f.Times--; f.Times == 0 {
			s.fault = nil
		}
	}
	s.mu.Unlock()

	h := w.Header()
	if answer.RetryAfter != "" {
		h.Set("Retry-After", answer.RetryAfter)
	}
	if answer.BetaRetryAfter != "" {
		h.Set("Beta-Retry-After", answer.BetaRetryAfter)
	}
	if answer.Reason != "" {
		h.Set("RateLimit-Reason", answer.Reason)
	}
	if answer.Status == http.StatusTooManyRequests {
		h.Set("X-RateLimit-Remaining", "0")
		// Atlassian's body, as seen in the wild; the app must not need it.
		writeJSON(w, answer.Status, map[string][]string{"errorMessages": {"Rate limit exceeded"}})
		return true
	}
	writeError(w, answer.Status, "jiratest fault: "+strings.ToLower(http.StatusText(answer.Status)))
	return true
}

// Hold keeps every verified request to the REST path rel (e.g.
// /rest/api/3/permissions/check) waiting until release is called, so that
// a test can have several callers in flight at once; Holding tells how
// many wait.
func (s *Site) Hold(rel string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	if s.holds == nil {
		s.holds, s.holding = map[string]chan struct{}{}, map[string]int{}
	}
	s.holds[rel] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.holds[rel] == ch {
				delete(s.holds, rel)
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Holding is how many requests to rel wait on a Hold.
func (s *Site) Holding(rel string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holding[rel]
}

// wait blocks a request to rel while a Hold is on it (or until the caller
// leaves).
func (s *Site) wait(r *http.Request, rel string) {
	s.mu.Lock()
	ch := s.holds[rel]
	if ch == nil {
		s.mu.Unlock()
		return
	}
	s.holding[rel]++
	s.mu.Unlock()
	select {
	case <-ch:
	case <-r.Context().Done():
	}
	s.mu.Lock()
	s.holding[rel]--
	s.mu.Unlock()
}
