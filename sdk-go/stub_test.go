package timers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"

	timers "github.com/timerkernel/timerkernel/sdk-go"
)

// stub is a local HTTP server standing in for the service: it records every
// request and answers with the function of the test.
type stub struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*recorded
}

type recorded struct {
	Method string
	// Path is the path as sent, escapes included.
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

func newStub(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *stub {
	t.Helper()
	s := &stub{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, &recorded{
			Method: r.Method,
			Path:   r.URL.EscapedPath(),
			Query:  r.URL.Query(),
			Header: r.Header.Clone(),
			Body:   body,
		})
		n := len(s.requests)
		s.mu.Unlock()
		answer(w, r, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *stub) client(opts ...timers.ClientOption) *timers.Client {
	return timers.NewClient(append([]timers.ClientOption{timers.WithBaseURL(s.URL)}, opts...)...)
}

func (s *stub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *stub) request(t *testing.T, i int) *recorded {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= len(s.requests) {
		t.Fatalf("request %d was not sent; %d were", i, len(s.requests))
	}

	return s.requests[i]
}

// reply writes a JSON answer.
func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// assertJSON compares a JSON document with the expected one, as values.
func assertJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var gotValue, wantValue any
	if err := json.Unmarshal(got, &gotValue); err != nil {
		t.Fatalf("not JSON: %q: %v", got, err)
	}

	if err := json.Unmarshal([]byte(want), &wantValue); err != nil {
		t.Fatalf("bad expected JSON %q: %v", want, err)
	}

	if !reflect.DeepEqual(gotValue, wantValue) {
		t.Errorf("JSON differs\n got: %s\nwant: %s", got, want)
	}
}

// timerJSON is a timer as the service writes it, with every field set.
const timerJSON = `{
  "namespace": "shop",
  "id": "cart-77",
  "fire_at": "2026-12-03T08:00:00.000Z",
  "callback": {"url": "https://shop.example/hooks/cart", "timeout_seconds": 5.5, "headers": {"Authorization": "Bearer s3cret"}},
  "payload": {"cart": 77},
  "retry_policy": {"max_attempts": 0, "initial_interval_seconds": 2.0, "backoff_coefficient": 1.5, "max_interval_seconds": 600.0, "max_duration_seconds": 3600.0},
  "status": "scheduled",
  "attempts": 2,
  "next_attempt_at": "2026-12-03T08:00:06.250Z",
  "last_error": {"at": "2026-12-03T08:00:02.250Z", "kind": "http_status", "message": "the target answered 502", "status_code": 502},
  "created_at": "2026-12-01T10:00:00.000Z",
  "updated_at": "2026-12-03T08:00:02.250Z",
  "executed_at": null,
  "version": 4
}`

// finishedTimerJSON is a timer with the nullable fields null.
const finishedTimerJSON = `{
  "namespace": "shop", "id": "cart-78", "fire_at": "2026-12-03T08:00:00.000Z",
  "callback": {"url": "https://shop.example/hooks/cart", "timeout_seconds": 10.0, "headers": {}},
  "payload": null,
  "retry_policy": {"max_attempts": 10, "initial_interval_seconds": 1.0, "backoff_coefficient": 2.0, "max_interval_seconds": 600.0, "max_duration_seconds": null},
  "status": "succeeded", "attempts": 1, "next_attempt_at": null, "last_error": null,
  "created_at": "2026-12-01T10:00:00.000Z", "updated_at": "2026-12-03T08:00:00.120Z",
  "executed_at": "2026-12-03T08:00:00.120Z", "version": 2
}`
