package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Stream is one open Server-Sent Events response.
type Stream struct {
	body   io.ReadCloser
	cancel context.CancelFunc
}

// StatusError is a stream refused with an HTTP status.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("stream refused: HTTP %d", e.Code) }

// NewStreamClient is a client without a response time-out (streams last)
// and without a bound on connections, each stream needing its own.
func NewStreamClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: -1, DisableCompression: true, ResponseHeaderTimeout: 30 * time.Second,
		ReadBufferSize: 1024, WriteBufferSize: 1024,
	}}
}

// Event is one server-sent event.
type Event struct {
	Name, ID string
	Data     []byte
}

// OpenStream sends the GET and returns once the response headers came;
// lastEventID, when not empty, resumes like a browser's EventSource.
func OpenStream(ctx context.Context, client *http.Client, url, lastEventID string) (*Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, &StatusError{Code: resp.StatusCode}
	}
	return &Stream{body: resp.Body, cancel: cancel}, nil
}

// Read calls fn for every event until the stream ends; keepalives (events
// named keepalive, and comments) are skipped.
func (s *Stream) Read(fn func(Event)) error {
	r := bufio.NewReaderSize(s.body, 1024)
	var name, id string
	var data []byte
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if (name != "" || data != nil) && name != "keepalive" {
				fn(Event{Name: name, ID: id, Data: data})
			}
			name, id, data = "", "", nil
		case line[0] == ':':
		case bytes.HasPrefix(line, []byte("event:")):
			name = string(bytes.TrimSpace(line[6:]))
		case bytes.HasPrefix(line, []byte("id:")):
			id = string(bytes.TrimSpace(line[3:]))
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data[:len(data):len(data)], bytes.TrimSpace(line[5:])...)
		}
	}
}

// Close ends the stream.
func (s *Stream) Close() {
	s.cancel()
	s.body.Close()
}
