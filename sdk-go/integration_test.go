package timers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	timers "github.com/timerkernel/timerkernel/sdk-go"
)

// These tests run against a real timerserver (see server_test.go); each
// works in a namespace of its own.

var namespaceCount atomic.Int32

var notNamespace = regexp.MustCompile(`[^a-z0-9_-]+`)

func uniqueNamespace(t *testing.T) string {
	name := notNamespace.ReplaceAllString(strings.ToLower(strings.TrimPrefix(t.Name(), "TestIntegration")), "-")
	name = strings.Trim(name, "-_")
	if len(name) > 50 {
		name = name[:50]
	}

	return fmt.Sprintf("%s-%d", name, namespaceCount.Add(1))
}

// countingTransport counts the requests that go out.
type countingTransport struct{ count atomic.Int32 }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.count.Add(1)
	return http.DefaultTransport.RoundTrip(req)
}

func integrationClient(t *testing.T, opts ...timers.ClientOption) *timers.Client {
	t.Helper()
	url := integrationServer(t)
	return timers.NewClient(append([]timers.ClientOption{timers.WithBaseURL(url), timers.WithTimeout(10 * time.Second)}, opts...)...)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls check every 100 ms until it reports done, failing t after
// timeout with check's last word.
func eventually(t *testing.T, timeout time.Duration, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, state := check()
		if done {
			return
		}

		if time.Now().After(deadline) {
			t.Fatalf("not done after %s: %s", timeout, state)
		}

		time.Sleep(100 * time.Millisecond)
	}
}

// unreachable is a callback URL for timers that never fire during a test.
const unreachable = "http://127.0.0.1:9/never"

func TestIntegrationCreateGetAndDeduplicate(t *testing.T) {
	client := integrationClient(t)
	ctx := testContext(t)
	ns := uniqueNamespace(t)
	fireAt := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	req := timers.CreateTimerRequest{
		ID:     "order-1234:reminder@eu",
		FireAt: fireAt,
		Callback: timers.CallbackTarget{
			URL:     unreachable,
			Timeout: 2500 * time.Millisecond,
			Headers: map[string]string{"X-Shop": "eu-1"},
		},
		Payload: map[string]any{"order": 1234, "kind": "reminder"},
		RetryPolicy: &timers.RetryPolicy{
			MaxAttempts:     timers.UnlimitedAttempts,
			InitialInterval: 2 * time.Second,
			MaxDuration:     time.Hour,
		},
	}

	created, err := client.CreateTimer(ctx, ns, req)
	if err != nil {
		t.Fatal(err)
	}

	if created.Namespace != ns || created.ID != req.ID || !created.FireAt.Equal(fireAt) ||
		created.Status != timers.StatusScheduled || created.Version != 1 || created.Attempts != 0 {
		t.Errorf("created %+v", created)
	}

	wantCallback := timers.CallbackTarget{URL: unreachable, Timeout: 2500 * time.Millisecond, Headers: map[string]string{"X-Shop": "eu-1"}}
	if !reflect.DeepEqual(created.Callback, wantCallback) {
		t.Errorf("callback %+v", created.Callback)
	}

	wantPolicy := timers.RetryPolicy{
		MaxAttempts:        timers.UnlimitedAttempts,
		InitialInterval:    2 * time.Second,
		BackoffCoefficient: 2,
		MaxInterval:        600 * time.Second,
		MaxDuration:        time.Hour,
	}
	if created.RetryPolicy != wantPolicy {
		t.Errorf("retry policy %+v, want %+v", created.RetryPolicy, wantPolicy)
	}

	assertJSON(t, created.Payload, `{"order": 1234, "kind": "reminder"}`)
	if !created.NextAttemptAt.Equal(fireAt) || !created.ExecutedAt.IsZero() || created.LastError != nil {
		t.Errorf("next attempt %v, executed %v, last error %v", created.NextAttemptAt, created.ExecutedAt, created.LastError)
	}

	again, err := client.CreateTimer(ctx, ns, req)
	if err != nil {
		t.Fatalf("the same create again: %v", err)
	}

	if again.Version != 1 || !again.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("the repeated create changed the timer: %+v", again)
	}

	got, err := client.GetTimer(ctx, ns, req.ID)
	if err != nil {
		t.Fatal(err)
	}

	if !reflect.DeepEqual(got, created) {
		t.Errorf("got\n%+v\nwant\n%+v", got, created)
	}
}

func TestIntegrationAlreadyExistsCarriesTheExistingTimer(t *testing.T) {
	client := integrationClient(t)
	ctx := testContext(t)
	ns := uniqueNamespace(t)
	req := timers.CreateTimerRequest{ID: "cart-77", Delay: time.Hour, Callback: timers.CallbackTarget{URL: unreachable}, Payload: 1}
	if _, err := client.CreateTimer(ctx, ns, req); err != nil {
		t.Fatal(err)
	}

	req.Payload = 2
	_, err := client.CreateTimer(ctx, ns, req)

	var apiErr *timers.Error
	if !errors.As(err, &apiErr) || !timers.IsError(err, timers.CodeAlreadyExists) || apiErr.StatusCode != http.StatusConflict {
		t.Fatalf("error %v", err)
	}

	if apiErr.Existing == nil || apiErr.Existing.ID != "cart-77" || string(apiErr.Existing.Payload) != "1" {
		t.Errorf("existing %+v", apiErr.Existing)
	}
}

func TestIntegrationBatchCreate(t *testing.T) {
	client := integrationClient(t)
	ctx := testContext(t)
	ns := uniqueNamespace(t)
	callback := timers.CallbackTarget{URL: unreachable}
	stored := timers.CreateTimerRequest{ID: "stored", Delay: time.Hour, Callback: callback, Payload: "a"}
	if _, err := client.CreateTimer(ctx, ns, stored); err != nil {
		t.Fatal(err)
	}

	conflicting := stored
	conflicting.Payload = "b"
	result, err := client.BatchCreateTimers(ctx, ns, []timers.CreateTimerRequest{
		{ID: "new-1", Delay: time.Hour, Callback: callback},
		stored,
		conflicting,
		{ID: "bad id!", Delay: time.Hour, Callback: callback},
		{ID: "new-2", FireAt: time.Now().Add(2 * time.Hour), Callback: callback},
	})
	if err != nil {
		t.Fatal(err)
	}

	var statuses []int
	for _, item := range result.Results {
		statuses = append(statuses, item.Status)
	}

	if want := []int{201, 200, 409, 400, 201}; !reflect.DeepEqual(statuses, want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}

	items := result.Results
	if !items[0].Created() || items[0].Timer.ID != "new-1" || items[4].Timer.ID != "new-2" || items[1].Timer.ID != "stored" {
		t.Errorf("timers %+v %+v %+v", items[0].Timer, items[1].Timer, items[4].Timer)
	}

	if e := items[2].Error; e == nil || e.Code != timers.CodeAlreadyExists || e.Existing == nil || string(e.Existing.Payload) != `"a"` {
		t.Errorf("conflict %+v", items[2].Error)
	}

	if e := items[3].Error; e == nil || e.Code != timers.CodeInvalidArgument || len(e.Fields) != 1 || e.Fields[0].Field != "id" {
		t.Errorf("invalid %+v", items[3].Error)
	}
}

func TestIntegrationUpdateWithAndWithoutExpectedVersion(t *testing.T) {
	client := integrationClient(t)
	ctx := testContext(t)
	ns := uniqueNamespace(t)
	if _, err := client.CreateTimer(ctx, ns, timers.CreateTimerRequest{
		ID: "invoice-7", Delay: time.Hour, Callback: timers.CallbackTarget{URL: unreachable}, Payload: map[string]int{"amount": 42},
	}); err != nil {
		t.Fatal(err)
	}

	updated, err := client.UpdateTimer(ctx, ns, "invoice-7", timers.UpdateTimerRequest{Payload: map[string]int{"amount": 43}})
	if err != nil {
		t.Fatal(err)
	}

	if updated.Version != 2 || string(updated.Payload) != `{"amount":43}` {
		t.Errorf("after the update without a version: %+v", updated)
	}

	newFireAt := time.Now().Add(3 * time.Hour).Truncate(time.Millisecond)
	updated, err = client.UpdateTimer(ctx, ns, "invoice-7", timers.UpdateTimerRequest{
		FireAt:          newFireAt,
		Callback:        &timers.CallbackTarget{URL: unreachable + "/v2", Timeout: time.Second},
		RetryPolicy:     &timers.RetryPolicy{MaxAttempts: 2},
		ExpectedVersion: 2,
	})
	if err != nil {
		t.Fatal(err)
	}

	if updated.Version != 3 || !updated.FireAt.Equal(newFireAt) || updated.Callback.URL != unreachable+"/v2" ||
		updated.Callback.Timeout != time.Second || updated.RetryPolicy.MaxAttempts != 2 || string(updated.Payload) != `{"amount":43}` {
		t.Errorf("after the update at version 2: %+v", updated)
	}

	_, err = client.UpdateTimer(ctx, ns, "invoice-7", timers.UpdateTimerRequest{Payload: "stale", ExpectedVersion: 2})

	var apiErr *timers.Error
	if !errors.As(err, &apiErr) || apiErr.Code != timers.CodePreconditionFailed || apiErr.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("a stale version: %v", err)
	}

	if apiErr.Details["version"] != float64(3) || apiErr.Details["expected_version"] != float64(2) {
		t.Errorf("details %v", apiErr.Details)
	}

	current, err := client.GetTimer(ctx, ns, "invoice-7")
	if err != nil || current.Version != 3 || string(current.Payload) != `{"amount":43}` {
		t.Errorf("the refused update changed the timer: %+v, %v", current, err)
	}

	cleared, err := client.UpdateTimer(ctx, ns, "invoice-7", timers.UpdateTimerRequest{Payload: json.RawMessage("null"), ExpectedVersion: 3})
	if err != nil || string(cleared.Payload) != "null" {
		t.Errorf("clearing the payload: %+v, %v", cleared, err)
	}
}

func TestIntegrationDeleteAndNotFound(t *testing.T) {
	client := integrationClient(t)
	ctx := testContext(t)
	ns := uniqueNamespace(t)
	if _, err := client.CreateTimer(ctx, ns, timers.CreateTimerRequest{
		ID: "payment-77-timeout", Delay: time.Hour, Callback: timers.CallbackTarget{URL: unreachable},
	}); err != nil {
		t.Fatal(err)
	}

	if err := client.DeleteTimer(ctx, ns, "payment-77-timeout"); err != nil {
		t.Fatal(err)
	}

	_, err := client.GetTimer(ctx, ns, "payment-77-timeout")

	var apiErr *timers.Error
	if !errors.As(err, &apiErr) || apiErr.Code != timers.CodeNotFound || apiErr.StatusCode != http.StatusNotFound {
		t.Fatalf("get after delete: %v", err)
	}

	if apiErr.Details["id"] != "payment-77-timeout" || apiErr.Details["namespace"] != ns || apiErr.Message == "" {
		t.Errorf("details %v, message %q", apiErr.Details, apiErr.Message)
	}

	if err := client.DeleteTimer(ctx, ns, "payment-77-timeout"); !timers.IsError(err, timers.CodeNotFound) {
		t.Errorf("delete again: %v", err)
	}

	if _, err := client.Attempts(ctx, ns, "payment-77-timeout"); !timers.IsError(err, timers.CodeNotFound) {
		t.Errorf("attempts of a deleted timer: %v", err)
	}
}

func TestIntegrationInvalidArgumentNamesEveryField(t *testing.T) {
	client := integrationClient(t)
	ctx := testContext(t)
	ns := uniqueNamespace(t)

	_, err := client.CreateTimer(ctx, ns, timers.CreateTimerRequest{
		ID:       "x",
		Delay:    time.Minute,
		Callback: timers.CallbackTarget{URL: "ftp://files.example/x", Timeout: 500 * time.Second},
	})

	var apiErr *timers.Error
	if !errors.As(err, &apiErr) || apiErr.Code != timers.CodeInvalidArgument || apiErr.StatusCode != http.StatusBadRequest {
		t.Fatalf("error %v", err)
	}

	fields := map[string]string{}
	for _, field := range apiErr.Fields {
		fields[field.Field] = field.Reason
	}

	if len(fields) != 2 || fields["callback.url"] == "" || fields["callback.timeout_seconds"] == "" {
		t.Errorf("fields %+v", apiErr.Fields)
	}

	_, err = client.CreateTimer(ctx, ns, timers.CreateTimerRequest{ID: "y", Callback: timers.CallbackTarget{URL: unreachable}})
	if !errors.As(err, &apiErr) || len(apiErr.Fields) != 1 || apiErr.Fields[0].Field != "fire_at" {
		t.Errorf("without a fire time: %v", err)
	}

	_, err = client.ListTimers(ctx, ns, timers.ListTimersRequest{Limit: 5000})
	if !errors.As(err, &apiErr) || len(apiErr.Fields) != 1 || apiErr.Fields[0].Field != "limit" {
		t.Errorf("a list over the page limit: %v", err)
	}
}

func TestIntegrationListTimersWithFilters(t *testing.T) {
	client := integrationClient(t)
	ctx := testContext(t)
	ns := uniqueNamespace(t)
	base := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	callback := timers.CallbackTarget{URL: unreachable}
	for _, def := range []struct {
		id    string
		hours int
	}{{"a-1", 1}, {"a-2", 2}, {"a-3", 3}, {"b-1", 2}} {
		if _, err := client.CreateTimer(ctx, ns, timers.CreateTimerRequest{
			ID: def.id, FireAt: base.Add(time.Duration(def.hours) * time.Hour), Callback: callback,
		}); err != nil {
			t.Fatal(err)
		}
	}

	ids := func(req timers.ListTimersRequest) ([]string, string) {
		t.Helper()
		page, err := client.ListTimers(ctx, ns, req)
		if err != nil {
			t.Fatal(err)
		}

		list := []string{}
		for _, timer := range page.Timers {
			list = append(list, timer.ID)
		}

		return list, page.NextPageToken
	}

	cases := []struct {
		name string
		req  timers.ListTimersRequest
		want []string
	}{
		{"everything, by fire time then id", timers.ListTimersRequest{}, []string{"a-1", "a-2", "b-1", "a-3"}},
		{"id prefix", timers.ListTimersRequest{IDPrefix: "a-"}, []string{"a-1", "a-2", "a-3"}},
		{"fire_after inclusive, fire_before exclusive",
			timers.ListTimersRequest{FireAfter: base.Add(2 * time.Hour), FireBefore: base.Add(3 * time.Hour)}, []string{"a-2", "b-1"}},
		{"scheduled", timers.ListTimersRequest{Statuses: []timers.Status{timers.StatusScheduled}}, []string{"a-1", "a-2", "b-1", "a-3"}},
		{"finished", timers.ListTimersRequest{Statuses: []timers.Status{timers.StatusSucceeded, timers.StatusFailed}}, []string{}},
	}
	for _, tc := range cases {
		if got, token := ids(tc.req); !reflect.DeepEqual(got, tc.want) || token != "" {
			t.Errorf("%s: %v (next %q), want %v", tc.name, got, token, tc.want)
		}
	}

	first, token := ids(timers.ListTimersRequest{IDPrefix: "a-", Limit: 2})
	if !reflect.DeepEqual(first, []string{"a-1", "a-2"}) || token == "" {
		t.Fatalf("first page %v, token %q", first, token)
	}

	second, token := ids(timers.ListTimersRequest{IDPrefix: "a-", Limit: 2, PageToken: token})
	if !reflect.DeepEqual(second, []string{"a-3"}) || token != "" {
		t.Errorf("second page %v, token %q", second, token)
	}
}

func TestIntegrationAllTimersFollowsEveryPage(t *testing.T) {
	transport := &countingTransport{}
	client := integrationClient(t, timers.WithHTTPClient(&http.Client{Transport: transport}))
	ctx := testContext(t)
	ns := uniqueNamespace(t)
	var reqs []timers.CreateTimerRequest
	for i := range 7 {
		reqs = append(reqs, timers.CreateTimerRequest{
			ID: fmt.Sprintf("job-%02d", i), Delay: time.Hour + time.Duration(i)*time.Minute, Callback: timers.CallbackTarget{URL: unreachable},
		})
	}

	if _, err := client.BatchCreateTimers(ctx, ns, reqs); err != nil {
		t.Fatal(err)
	}

	before := transport.count.Load()
	var ids []string
	for timer, err := range client.AllTimers(ctx, ns, timers.ListTimersRequest{Limit: 3}) {
		if err != nil {
			t.Fatal(err)
		}

		ids = append(ids, timer.ID)
	}

	want := []string{"job-00", "job-01", "job-02", "job-03", "job-04", "job-05", "job-06"}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("ids %v", ids)
	}

	if pages := transport.count.Load() - before; pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
}

func TestIntegrationListNamespacesCountsTimers(t *testing.T) {
	client := integrationClient(t)
	ctx := testContext(t)
	ns := uniqueNamespace(t)
	for _, id := range []string{"one", "two", "three"} {
		if _, err := client.CreateTimer(ctx, ns, timers.CreateTimerRequest{
			ID: id, Delay: time.Hour, Callback: timers.CallbackTarget{URL: unreachable},
		}); err != nil {
			t.Fatal(err)
		}
	}

	counts := namespaceCounts(t, client, ns)

	want := map[timers.Status]int{timers.StatusScheduled: 3, timers.StatusSucceeded: 0, timers.StatusFailed: 0}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("counts %v, want %v", counts, want)
	}
}

func namespaceCounts(t *testing.T, client *timers.Client, ns string) map[timers.Status]int {
	t.Helper()
	list, err := client.ListNamespaces(testContext(t))
	if err != nil {
		t.Fatal(err)
	}

	for _, namespace := range list.Namespaces {
		if namespace.Name == ns {
			return namespace.Counts
		}
	}

	t.Fatalf("namespace %s is not listed", ns)
	return nil
}

// receiver is an HTTP server on 127.0.0.1 whose callbacks go through the
// SDK's webhook handler, verified with secret.
func receiver(t *testing.T, secret string, answer func(timers.Callback) *timers.Answer) (string, <-chan timers.Callback) {
	t.Helper()
	received := make(chan timers.Callback, 16)
	server := httptest.NewServer(timers.NewWebhookHandler(secret, func(ctx context.Context, callback timers.Callback) (*timers.Answer, error) {
		received <- callback
		return answer(callback), nil
	}))
	t.Cleanup(server.Close)
	return server.URL + "/hooks/timer", received
}

func nextCallback(t *testing.T, received <-chan timers.Callback) timers.Callback {
	t.Helper()
	select {
	case callback := <-received:
		return callback
	case <-time.After(20 * time.Second):
		t.Fatal("no callback within 20 s")
		return timers.Callback{}
	}
}

func TestIntegrationTimerFiresIntoTheWebhookHandler(t *testing.T) {
	client := integrationClient(t)
	ctx := testContext(t)
	ns := uniqueNamespace(t)
	url, received := receiver(t, serverSecret, func(timers.Callback) *timers.Answer { return nil })

	created, err := client.CreateTimer(ctx, ns, timers.CreateTimerRequest{
		ID: "order-1234-reminder", Delay: 300 * time.Millisecond,
		Callback: timers.CallbackTarget{URL: url}, Payload: map[string]int{"order": 1234},
	})
	if err != nil {
		t.Fatal(err)
	}

	callback := nextCallback(t, received)
	if callback.Namespace != ns || callback.ID != "order-1234-reminder" || callback.Attempt != 1 ||
		!callback.FireAt.Equal(created.FireAt) || string(callback.Payload) != `{"order":1234}` {
		t.Errorf("callback %+v, timer fire time %v", callback, created.FireAt)
	}

	var timer *timers.Timer
	eventually(t, 10*time.Second, func() (bool, string) {
		timer, err = client.GetTimer(ctx, ns, "order-1234-reminder")
		if err != nil {
			return false, err.Error()
		}

		return timer.Status == timers.StatusSucceeded, string(timer.Status)
	})

	if timer.ExecutedAt.IsZero() || !timer.NextAttemptAt.IsZero() {
		t.Errorf("executed %v, next attempt %v", timer.ExecutedAt, timer.NextAttemptAt)
	}

	attempts, err := client.Attempts(ctx, ns, "order-1234-reminder")
	if err != nil {
		t.Fatal(err)
	}

	if len(attempts.Attempts) != 1 || attempts.Attempts[0].Outcome != timers.OutcomeSucceeded ||
		attempts.Attempts[0].StatusCode != http.StatusNoContent || attempts.Attempts[0].Attempt != 1 {
		t.Errorf("attempts %+v", attempts.Attempts)
	}

	counts := namespaceCounts(t, client, ns)
	if counts[timers.StatusSucceeded] != 1 || counts[timers.StatusScheduled] != 0 {
		t.Errorf("counts %v", counts)
	}
}

func TestIntegrationRescheduleAnswerFiresTheTimerAgain(t *testing.T) {
	client := integrationClient(t)
	ctx := testContext(t)
	ns := uniqueNamespace(t)
	url, received := receiver(t, serverSecret, func(callback timers.Callback) *timers.Answer {
		var payload struct{ Round int }
		_ = json.Unmarshal(callback.Payload, &payload)
		if payload.Round >= 2 {
			return nil
		}

		return timers.RescheduleIn(500 * time.Millisecond).WithPayload(map[string]int{"round": payload.Round + 1})
	})

	if _, err := client.CreateTimer(ctx, ns, timers.CreateTimerRequest{
		ID: "daily-report", Delay: 200 * time.Millisecond, Callback: timers.CallbackTarget{URL: url}, Payload: map[string]int{"round": 1},
	}); err != nil {
		t.Fatal(err)
	}

	first := nextCallback(t, received)
	second := nextCallback(t, received)

	if string(first.Payload) != `{"round":1}` || string(second.Payload) != `{"round":2}` {
		t.Errorf("payloads %s then %s", first.Payload, second.Payload)
	}

	if second.Attempt != 1 || !second.FireAt.After(first.FireAt) {
		t.Errorf("the second firing: attempt %d at %v, after %v", second.Attempt, second.FireAt, first.FireAt)
	}

	var timer *timers.Timer
	var err error
	eventually(t, 10*time.Second, func() (bool, string) {
		timer, err = client.GetTimer(ctx, ns, "daily-report")
		if err != nil {
			return false, err.Error()
		}

		return timer.Status == timers.StatusSucceeded, string(timer.Status)
	})

	if !timer.FireAt.Equal(second.FireAt) || string(timer.Payload) != `{"round":2}` {
		t.Errorf("timer %+v", timer)
	}

	attempts, err := client.Attempts(ctx, ns, "daily-report")
	if err != nil {
		t.Fatal(err)
	}

	var outcomes []timers.Outcome
	for _, attempt := range attempts.Attempts {
		outcomes = append(outcomes, attempt.Outcome)
	}

	if want := []timers.Outcome{timers.OutcomeSucceeded, timers.OutcomeRescheduled}; !reflect.DeepEqual(outcomes, want) {
		t.Errorf("outcomes newest first %v, want %v", outcomes, want)
	}
}

func TestIntegrationReceiverRefusesAnotherSecret(t *testing.T) {
	client := integrationClient(t)
	ctx := testContext(t)
	ns := uniqueNamespace(t)
	url, received := receiver(t, "not-the-server-secret", func(timers.Callback) *timers.Answer { return nil })

	if _, err := client.CreateTimer(ctx, ns, timers.CreateTimerRequest{
		ID: "forged", Delay: 100 * time.Millisecond, Callback: timers.CallbackTarget{URL: url},
		RetryPolicy: &timers.RetryPolicy{MaxAttempts: 1},
	}); err != nil {
		t.Fatal(err)
	}

	var timer *timers.Timer
	var err error
	eventually(t, 20*time.Second, func() (bool, string) {
		timer, err = client.GetTimer(ctx, ns, "forged")
		if err != nil {
			return false, err.Error()
		}

		return timer.Status == timers.StatusFailed, string(timer.Status)
	})

	if timer.LastError == nil || timer.LastError.Kind != timers.FailureHTTPStatus || timer.LastError.StatusCode != http.StatusUnauthorized {
		t.Errorf("last error %+v", timer.LastError)
	}

	if len(received) != 0 {
		t.Error("the handler passed a callback signed with another secret")
	}

	attempts, err := client.Attempts(ctx, ns, "forged")
	if err != nil {
		t.Fatal(err)
	}

	if len(attempts.Attempts) != 1 || attempts.Attempts[0].Outcome != timers.OutcomeFailed ||
		attempts.Attempts[0].Error == nil || attempts.Attempts[0].StatusCode != http.StatusUnauthorized {
		t.Errorf("attempts %+v", attempts.Attempts)
	}
}
