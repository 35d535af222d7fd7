package timers

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const minimalTimer = `{"namespace": "shop", "id": "t", "fire_at": "2026-12-03T08:00:00.000Z",
  "callback": {"url": "https://shop.example/x", "timeout_seconds": 10.0, "headers": {}}, "payload": null,
  "retry_policy": {"max_attempts": 10, "initial_interval_seconds": 1.0, "backoff_coefficient": 2.0,
    "max_interval_seconds": 600.0, "max_duration_seconds": null},
  "status": "scheduled", "attempts": 0, "next_attempt_at": "2026-12-03T08:00:00.000Z", "last_error": null,
  "created_at": "2026-12-01T10:00:00.000Z", "updated_at": "2026-12-01T10:00:00.000Z", "executed_at": null, "version": 1}`

const unavailableBody = `{"error": {"code": "unavailable", "message": "the storage is unavailable; retry later", "details": {}}}`

// retryRecorder replaces the client's sleep and jitter: the waits are
// recorded instead of slept, and jitter returns its ceiling, so the schedule
// can be compared exactly.
type retryRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *retryRecorder) install(c *Client) *Client {
	c.sleep = func(ctx context.Context, d time.Duration) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.waits = append(r.waits, d)
		return ctx.Err()
	}
	c.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
	return c
}

func (r *retryRecorder) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

// failingServer answers 503 to the first failures requests, then succeeds.
func failingServer(t *testing.T, failures int, retryAfter string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var count atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(count.Add(1))
		w.Header().Set("Content-Type", "application/json")
		if n <= failures {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}

			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(unavailableBody))
			return
		}

		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/api/v1/namespaces":
			_, _ = w.Write([]byte(`{"namespaces": []}`))
		case r.URL.Path == "/api/v1/namespaces/shop/timers:batchCreate":
			_, _ = w.Write([]byte(`{"results": [{"status": 201, "timer": ` + minimalTimer + `}]}`))
		case r.URL.Path == "/api/v1/namespaces/shop/timers/t/attempts":
			_, _ = w.Write([]byte(`{"attempts": []}`))
		case r.URL.Path == "/api/v1/namespaces/shop/timers" && r.Method == http.MethodGet:
			_, _ = w.Write([]byte(`{"timers": [], "next_page_token": null}`))
		default:
			_, _ = w.Write([]byte(minimalTimer))
		}
	}))
	t.Cleanup(server.Close)
	return server, &count
}

func TestServiceUnavailableIsRetriedWithExponentialBackoff(t *testing.T) {
	server, count := failingServer(t, 2, "")
	recorder := &retryRecorder{}
	client := recorder.install(NewClient(WithBaseURL(server.URL)))

	if _, err := client.GetTimer(context.Background(), "shop", "t"); err != nil {
		t.Fatal(err)
	}

	if count.Load() != 3 {
		t.Errorf("%d requests, want 3", count.Load())
	}

	if want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}; !reflect.DeepEqual(recorder.recorded(), want) {
		t.Errorf("waits %v, want %v", recorder.recorded(), want)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	server, count := failingServer(t, 100, "")
	recorder := &retryRecorder{}
	client := recorder.install(NewClient(WithBaseURL(server.URL)))

	_, err := client.GetTimer(context.Background(), "shop", "t")

	if !IsError(err, CodeUnavailable) {
		t.Fatalf("error %v", err)
	}

	if count.Load() != 1+DefaultRetries {
		t.Errorf("%d requests, want %d", count.Load(), 1+DefaultRetries)
	}

	want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
	if !reflect.DeepEqual(recorder.recorded(), want) {
		t.Errorf("waits %v, want %v", recorder.recorded(), want)
	}
}

func TestBackoffIsCapped(t *testing.T) {
	server, count := failingServer(t, 100, "")
	recorder := &retryRecorder{}
	client := recorder.install(NewClient(WithBaseURL(server.URL), WithRetries(6), WithBackoff(time.Second, 5*time.Second)))

	_, err := client.GetTimer(context.Background(), "shop", "t")

	if !IsError(err, CodeUnavailable) || count.Load() != 7 {
		t.Fatalf("error %v after %d requests", err, count.Load())
	}

	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	if !reflect.DeepEqual(recorder.recorded(), want) {
		t.Errorf("waits %v, want %v", recorder.recorded(), want)
	}
}

func TestBackoffBoundDoesNotOverflow(t *testing.T) {
	client := NewClient(WithBackoff(time.Second, time.Duration(1<<62)))
	for retry := range 100 {
		if bound := client.backoffBound(retry); bound <= 0 || bound > time.Duration(1<<62) {
			t.Fatalf("retry %d: bound %v", retry, bound)
		}
	}
}

func TestRetriesCanBeTurnedOff(t *testing.T) {
	server, count := failingServer(t, 100, "")
	recorder := &retryRecorder{}
	client := recorder.install(NewClient(WithBaseURL(server.URL), WithRetries(0)))

	_, err := client.GetTimer(context.Background(), "shop", "t")

	if !IsError(err, CodeUnavailable) || count.Load() != 1 || len(recorder.recorded()) != 0 {
		t.Errorf("error %v after %d requests and waits %v", err, count.Load(), recorder.recorded())
	}
}

func TestFullJitterStaysWithinTheBoundAndVaries(t *testing.T) {
	ceiling := 400 * time.Millisecond
	seen := map[time.Duration]bool{}
	for range 200 {
		wait := fullJitter(ceiling)
		if wait < 0 || wait > ceiling {
			t.Fatalf("wait %v outside [0, %v]", wait, ceiling)
		}

		seen[wait] = true
	}

	if len(seen) < 100 {
		t.Errorf("only %d distinct waits in 200 draws", len(seen))
	}

	var below int
	for range 2000 {
		if fullJitter(ceiling) < ceiling/2 {
			below++
		}
	}

	// A uniform draw is below the middle about half the time.
	if below < 800 || below > 1200 {
		t.Errorf("%d of 2000 draws below the middle", below)
	}

	if fullJitter(0) != 0 {
		t.Error("a zero ceiling must give no wait")
	}
}

func TestRetryAfterIsHonouredUpToTheCap(t *testing.T) {
	for header, want := range map[string]time.Duration{
		"2":  2 * time.Second,
		"0":  0,
		"30": 5 * time.Second,
		time.Now().Add(3 * time.Hour).UTC().Format(http.TimeFormat): 5 * time.Second,
		"soon": 200 * time.Millisecond, // not a Retry-After: the backoff applies
	} {
		server, _ := failingServer(t, 1, header)
		recorder := &retryRecorder{}
		client := recorder.install(NewClient(WithBaseURL(server.URL)))

		if _, err := client.GetTimer(context.Background(), "shop", "t"); err != nil {
			t.Fatal(err)
		}

		if got := recorder.recorded(); len(got) != 1 || got[0] != want {
			t.Errorf("Retry-After %q: waits %v, want [%v]", header, got, want)
		}
	}
}

func TestParseRetryAfterReadsAnHTTPDate(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	if wait, ok := parseRetryAfter("Thu, 03 Dec 2026 08:00:04 GMT", now); !ok || wait != 4*time.Second {
		t.Errorf("wait %v, %v", wait, ok)
	}

	if wait, ok := parseRetryAfter("Thu, 03 Dec 2026 07:00:00 GMT", now); !ok || wait != 0 {
		t.Errorf("a date in the past: wait %v, %v", wait, ok)
	}
}

// Each call is retried on 503 exactly when repeating it cannot change the
// outcome.
func TestOnlyCallsSafeToRepeatAreRetried(t *testing.T) {
	calls := map[string]struct {
		run       func(ctx context.Context, c *Client) error
		retryable bool
	}{
		"get": {func(ctx context.Context, c *Client) error {
			_, err := c.GetTimer(ctx, "shop", "t")
			return err
		}, true},
		"list": {func(ctx context.Context, c *Client) error {
			_, err := c.ListTimers(ctx, "shop", ListTimersRequest{})
			return err
		}, true},
		"attempts": {func(ctx context.Context, c *Client) error {
			_, err := c.Attempts(ctx, "shop", "t")
			return err
		}, true},
		"namespaces": {func(ctx context.Context, c *Client) error {
			_, err := c.ListNamespaces(ctx)
			return err
		}, true},
		"delete": {func(ctx context.Context, c *Client) error {
			return c.DeleteTimer(ctx, "shop", "t")
		}, true},
		"create": {func(ctx context.Context, c *Client) error {
			_, err := c.CreateTimer(ctx, "shop", CreateTimerRequest{ID: "t", Delay: time.Second})
			return err
		}, true},
		"batch create": {func(ctx context.Context, c *Client) error {
			_, err := c.BatchCreateTimers(ctx, "shop", []CreateTimerRequest{{ID: "t", Delay: time.Second}})
			return err
		}, true},
		"update with version": {func(ctx context.Context, c *Client) error {
			_, err := c.UpdateTimer(ctx, "shop", "t", UpdateTimerRequest{Delay: time.Second, ExpectedVersion: 1})
			return err
		}, true},
		"update without version": {func(ctx context.Context, c *Client) error {
			_, err := c.UpdateTimer(ctx, "shop", "t", UpdateTimerRequest{Delay: time.Second})
			return err
		}, false},
	}
	for name, tc := range calls {
		t.Run(name, func(t *testing.T) {
			server, count := failingServer(t, 1, "")
			client := (&retryRecorder{}).install(NewClient(WithBaseURL(server.URL)))

			err := tc.run(context.Background(), client)

			if tc.retryable && (err != nil || count.Load() != 2) {
				t.Errorf("error %v after %d requests; want success after a retry", err, count.Load())
			}

			if !tc.retryable && (!IsError(err, CodeUnavailable) || count.Load() != 1) {
				t.Errorf("error %v after %d requests; want the 503 without a retry", err, count.Load())
			}
		})
	}
}

func TestOtherErrorsAreNotRetried(t *testing.T) {
	for _, status := range []int{400, 404, 409, 412, 500, 502} {
		var count atomic.Int32
		server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			count.Add(1)
			w.WriteHeader(status)
		}))
		client := (&retryRecorder{}).install(NewClient(WithBaseURL(server.URL)))

		_, err := client.GetTimer(context.Background(), "shop", "t")
		server.Close()

		if !IsError(err) || count.Load() != 1 {
			t.Errorf("status %d: error %v after %d requests", status, err, count.Load())
		}
	}
}

// droppingServer closes the connection without an answer for the first
// drops requests, then answers with a timer.
func droppingServer(t *testing.T, drops int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var count atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if int(count.Add(1)) <= drops {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}

			return
		}

		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(minimalTimer))
	}))
	t.Cleanup(server.Close)
	return server, &count
}

func TestConnectionErrorsAreRetried(t *testing.T) {
	server, count := droppingServer(t, 2)
	recorder := &retryRecorder{}
	client := recorder.install(NewClient(WithBaseURL(server.URL)))

	_, err := client.CreateTimer(context.Background(), "shop", CreateTimerRequest{ID: "t", Delay: time.Second})
	if err != nil {
		t.Fatal(err)
	}

	if count.Load() != 3 {
		t.Errorf("%d requests, want 3", count.Load())
	}

	if want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}; !reflect.DeepEqual(recorder.recorded(), want) {
		t.Errorf("waits %v, want %v", recorder.recorded(), want)
	}
}

func TestConnectionErrorAfterTheRetries(t *testing.T) {
	// A port that was just free and is closed again refuses connections.
	listener, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	address := listener.Addr().String()
	listener.Close()
	recorder := &retryRecorder{}
	client := recorder.install(NewClient(WithBaseURL("http://" + address)))

	_, err = client.GetTimer(context.Background(), "shop", "t")

	var connErr *ConnectionError
	if !errors.As(err, &connErr) || IsError(err) || !errors.Is(err, ErrSDK) {
		t.Fatalf("error %T %v", err, err)
	}

	if connErr.Method != http.MethodGet || connErr.URL != "http://"+address+"/api/v1/namespaces/shop/timers/t" {
		t.Errorf("error names %s %s", connErr.Method, connErr.URL)
	}

	if len(recorder.recorded()) != DefaultRetries {
		t.Errorf("waits %v, want %d", recorder.recorded(), DefaultRetries)
	}
}

func TestUpdateIsRetriedAfterAConnectionErrorOnlyWithAVersion(t *testing.T) {
	for _, version := range []int64{0, 1} {
		server, count := droppingServer(t, 1)
		client := (&retryRecorder{}).install(NewClient(WithBaseURL(server.URL)))

		_, err := client.UpdateTimer(context.Background(), "shop", "t", UpdateTimerRequest{Payload: 1, ExpectedVersion: version})

		var connErr *ConnectionError
		if version == 0 && (!errors.As(err, &connErr) || count.Load() != 1) {
			t.Errorf("without a version: error %v after %d requests", err, count.Load())
		}

		if version != 0 && (err != nil || count.Load() != 2) {
			t.Errorf("with a version: error %v after %d requests", err, count.Load())
		}
	}
}

// slowServer answers after delay, or when the request is given up.
func slowServer(t *testing.T, delay time.Duration) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var count atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}

		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(minimalTimer))
	}))
	t.Cleanup(server.Close)
	return server, &count
}

func TestRequestTimeout(t *testing.T) {
	server, count := slowServer(t, 5*time.Second)
	client := (&retryRecorder{}).install(NewClient(WithBaseURL(server.URL), WithTimeout(50*time.Millisecond)))
	started := time.Now()

	_, err := client.GetTimer(context.Background(), "shop", "t")

	var timeoutErr *TimeoutError
	if !errors.As(err, &timeoutErr) || !errors.Is(err, context.DeadlineExceeded) || IsError(err) {
		t.Fatalf("error %T %v", err, err)
	}

	if elapsed := time.Since(started); elapsed > 2*time.Second {
		t.Errorf("the call took %v", elapsed)
	}

	if count.Load() != 1 {
		t.Errorf("%d requests: a timeout must not be retried", count.Load())
	}
}

func TestTimeoutCoversReadingTheBody(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"namespace": "shop", `))
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(server.Close)
	client := NewClient(WithBaseURL(server.URL), WithTimeout(100*time.Millisecond))

	_, err := client.GetTimer(context.Background(), "shop", "t")

	var timeoutErr *TimeoutError
	if !errors.As(err, &timeoutErr) {
		t.Fatalf("error %T %v", err, err)
	}
}

func TestCallerDeadlineIsATimeout(t *testing.T) {
	server, _ := slowServer(t, 5*time.Second)
	client := NewClient(WithBaseURL(server.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	_, err := client.GetTimer(ctx, "shop", "t")

	var timeoutErr *TimeoutError
	if !errors.As(err, &timeoutErr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %T %v", err, err)
	}
}

func TestCancellationStopsTheCall(t *testing.T) {
	server, _ := slowServer(t, 5*time.Second)
	client := NewClient(WithBaseURL(server.URL))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	started := time.Now()

	_, err := client.GetTimer(ctx, "shop", "t")

	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrSDK) || IsError(err) {
		t.Fatalf("error %T %v", err, err)
	}

	var timeoutErr *TimeoutError
	if errors.As(err, &timeoutErr) {
		t.Error("a cancellation is not a timeout")
	}

	if elapsed := time.Since(started); elapsed > 2*time.Second {
		t.Errorf("the call took %v", elapsed)
	}
}

func TestCancellationDuringTheBackoffStopsTheRetries(t *testing.T) {
	server, count := failingServer(t, 100, "")
	client := NewClient(WithBaseURL(server.URL), WithBackoff(10*time.Second, 10*time.Second))
	client.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	started := time.Now()

	_, err := client.GetTimer(ctx, "shop", "t")

	if !errors.Is(err, context.Canceled) || count.Load() != 1 {
		t.Errorf("error %v after %d requests", err, count.Load())
	}

	if elapsed := time.Since(started); elapsed > 5*time.Second {
		t.Errorf("the call took %v", elapsed)
	}
}

func TestNoWaitPastTheCallerDeadline(t *testing.T) {
	server, count := failingServer(t, 100, "3")
	client := NewClient(WithBaseURL(server.URL))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	started := time.Now()

	_, err := client.GetTimer(ctx, "shop", "t")

	// The 3 s the service asks for end after the deadline: the 503 at
	// hand is the answer, at once.
	if !IsError(err, CodeUnavailable) || count.Load() != 1 {
		t.Errorf("error %v after %d requests", err, count.Load())
	}

	if elapsed := time.Since(started); elapsed > 500*time.Millisecond {
		t.Errorf("the call took %v", elapsed)
	}
}

func TestRealSleepWaitsAndStopsOnCancel(t *testing.T) {
	started := time.Now()
	if err := sleepContext(context.Background(), 20*time.Millisecond); err != nil || time.Since(started) < 20*time.Millisecond {
		t.Errorf("sleep returned %v after %v", err, time.Since(started))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepContext(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep on a cancelled context: %v", err)
	}
}

func TestRequestBodyIsSentAgainOnRetry(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	var count atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		if count.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}

		_, _ = w.Write([]byte(minimalTimer))
	}))
	t.Cleanup(server.Close)
	client := (&retryRecorder{}).install(NewClient(WithBaseURL(server.URL)))

	if _, err := client.CreateTimer(context.Background(), "shop", CreateTimerRequest{ID: "t", Delay: time.Second}); err != nil {
		t.Fatal(err)
	}

	if len(bodies) != 2 || bodies[0] != bodies[1] || bodies[0] == "" {
		t.Errorf("bodies %q", bodies)
	}
}

// Both kinds of retryable failure draw their wait from the jitter, with the
// doubling bound as its ceiling.
func TestRetryWaitsAreDrawnByTheJitter(t *testing.T) {
	failing, _ := failingServer(t, 2, "")
	dropping, _ := droppingServer(t, 2)
	for name, url := range map[string]string{"503": failing.URL, "connection error": dropping.URL} {
		t.Run(name, func(t *testing.T) {
			recorder := &retryRecorder{}
			client := recorder.install(NewClient(WithBaseURL(url)))
			var ceilings []time.Duration
			client.jitter = func(ceiling time.Duration) time.Duration {
				ceilings = append(ceilings, ceiling)
				return ceiling / 4
			}

			if _, err := client.GetTimer(context.Background(), "shop", "t"); err != nil {
				t.Fatal(err)
			}

			wantCeilings := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}
			if !reflect.DeepEqual(ceilings, wantCeilings) {
				t.Errorf("ceilings %v, want %v", ceilings, wantCeilings)
			}

			wantWaits := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}
			if !reflect.DeepEqual(recorder.recorded(), wantWaits) {
				t.Errorf("waits %v, want %v", recorder.recorded(), wantWaits)
			}
		})
	}
}

func TestNewClientHasTheSharedDefaults(t *testing.T) {
	client := NewClient()

	if client.baseURL != "http://127.0.0.1:8080" || client.timeout != 30*time.Second ||
		client.retries != 3 || client.backoff != 200*time.Millisecond ||
		client.maxBackoff != 5*time.Second || client.userAgent != "timerkernel-go/0.1.0" {
		t.Errorf("defaults: base URL %q, timeout %v, retries %d, backoff %v to %v, user agent %q",
			client.baseURL, client.timeout, client.retries, client.backoff, client.maxBackoff, client.userAgent)
	}
}
