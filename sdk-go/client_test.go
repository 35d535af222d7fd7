package timers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	timers "github.com/timerkernel/timerkernel/sdk-go"
)

func mustTime(t *testing.T, text string) time.Time {
	t.Helper()
	parsed, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		t.Fatal(err)
	}

	return parsed
}

func TestCreateTimerSendsTheDefinitionAndHeaders(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusCreated, timerJSON)
	})
	client := s.client(timers.WithToken("tok-123"), timers.WithUserAgent("billing/2.3"))
	paris := time.FixedZone("CET", 3600)

	_, err := client.CreateTimer(context.Background(), "shop", timers.CreateTimerRequest{
		ID:     "cart-77",
		FireAt: time.Date(2026, 12, 3, 9, 0, 0, 250_000_000, paris),
		Callback: timers.CallbackTarget{
			URL:     "https://shop.example/hooks/cart",
			Timeout: 5500 * time.Millisecond,
			Headers: map[string]string{"Authorization": "Bearer s3cret"},
		},
		Payload: map[string]int{"cart": 77},
		RetryPolicy: &timers.RetryPolicy{
			MaxAttempts:     timers.UnlimitedAttempts,
			InitialInterval: 2 * time.Second,
			MaxDuration:     time.Hour,
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	req := s.request(t, 0)
	if req.Method != http.MethodPost || req.Path != "/api/v1/namespaces/shop/timers" {
		t.Errorf("sent %s %s", req.Method, req.Path)
	}

	wantHeaders := map[string]string{
		"User-Agent":    "billing/2.3 timerkernel-go/" + timers.Version,
		"Authorization": "Bearer tok-123",
		"Content-Type":  "application/json",
		"Accept":        "application/json",
		"If-Match":      "",
	}
	for name, want := range wantHeaders {
		if got := req.Header.Get(name); got != want {
			t.Errorf("header %s: got %q, want %q", name, got, want)
		}
	}

	assertJSON(t, req.Body, `{
		"id": "cart-77",
		"fire_at": "2026-12-03T08:00:00.25Z",
		"callback": {"url": "https://shop.example/hooks/cart", "timeout_seconds": 5.5,
		             "headers": {"Authorization": "Bearer s3cret"}},
		"payload": {"cart": 77},
		"retry_policy": {"max_attempts": 0, "initial_interval_seconds": 2, "max_duration_seconds": 3600}
	}`)
}

func TestCreateTimerWithDelayLeavesDefaultsToTheService(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusCreated, timerJSON)
	})

	_, err := s.client().CreateTimer(context.Background(), "shop", timers.CreateTimerRequest{
		ID:          "cart-77",
		Delay:       1500 * time.Millisecond,
		Callback:    timers.CallbackTarget{URL: "https://shop.example/hooks/cart"},
		RetryPolicy: &timers.RetryPolicy{MaxAttempts: 3, BackoffCoefficient: 3, MaxInterval: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}

	assertJSON(t, s.request(t, 0).Body, `{
		"id": "cart-77",
		"delay_seconds": 1.5,
		"callback": {"url": "https://shop.example/hooks/cart"},
		"retry_policy": {"max_attempts": 3, "backoff_coefficient": 3, "max_interval_seconds": 60}
	}`)
}

func TestCreateTimerWithoutFireTimeSendsNeither(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusCreated, timerJSON)
	})

	_, err := s.client().CreateTimer(context.Background(), "shop", timers.CreateTimerRequest{
		ID:       "cart-77",
		Callback: timers.CallbackTarget{URL: "https://shop.example/hooks/cart"},
		Payload:  json.RawMessage(`[1,2]`),
	})
	if err != nil {
		t.Fatal(err)
	}

	assertJSON(t, s.request(t, 0).Body, `{
		"id": "cart-77", "callback": {"url": "https://shop.example/hooks/cart"}, "payload": [1, 2]
	}`)
}

func TestTimerIsDecodedWithEveryField(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, timerJSON)
	})

	timer, err := s.client().GetTimer(context.Background(), "shop", "cart-77")
	if err != nil {
		t.Fatal(err)
	}

	want := &timers.Timer{
		Namespace: "shop",
		ID:        "cart-77",
		FireAt:    mustTime(t, "2026-12-03T08:00:00Z"),
		Callback: timers.CallbackTarget{
			URL:     "https://shop.example/hooks/cart",
			Timeout: 5500 * time.Millisecond,
			Headers: map[string]string{"Authorization": "Bearer s3cret"},
		},
		Payload: json.RawMessage(`{"cart": 77}`),
		RetryPolicy: timers.RetryPolicy{
			MaxAttempts:        timers.UnlimitedAttempts,
			InitialInterval:    2 * time.Second,
			BackoffCoefficient: 1.5,
			MaxInterval:        10 * time.Minute,
			MaxDuration:        time.Hour,
		},
		Status:        timers.StatusScheduled,
		Attempts:      2,
		NextAttemptAt: mustTime(t, "2026-12-03T08:00:06.25Z"),
		LastError: &timers.DeliveryFailure{
			At:         mustTime(t, "2026-12-03T08:00:02.25Z"),
			Kind:       timers.FailureHTTPStatus,
			Message:    "the target answered 502",
			StatusCode: 502,
		},
		CreatedAt: mustTime(t, "2026-12-01T10:00:00Z"),
		UpdatedAt: mustTime(t, "2026-12-03T08:00:02.25Z"),
		Version:   4,
	}
	if !reflect.DeepEqual(timer, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", timer, want)
	}
}

func TestTimerNullFieldsAreZero(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, finishedTimerJSON)
	})

	timer, err := s.client().GetTimer(context.Background(), "shop", "cart-78")
	if err != nil {
		t.Fatal(err)
	}

	if !timer.NextAttemptAt.IsZero() || timer.LastError != nil || string(timer.Payload) != "null" {
		t.Errorf("null fields decoded as %v, %v, %s", timer.NextAttemptAt, timer.LastError, timer.Payload)
	}

	if timer.RetryPolicy.MaxAttempts != 10 || timer.RetryPolicy.MaxDuration != 0 {
		t.Errorf("retry policy %+v", timer.RetryPolicy)
	}

	if !timer.ExecutedAt.Equal(mustTime(t, "2026-12-03T08:00:00.12Z")) {
		t.Errorf("executed at %v", timer.ExecutedAt)
	}
}

func TestGetTimerEscapesThePath(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, timerJSON)
	})
	client := s.client()

	for id, path := range map[string]string{
		"order-1:reminder@eu.v2": "/api/v1/namespaces/shop/timers/order-1:reminder@eu.v2",
		"a/b c":                  "/api/v1/namespaces/shop/timers/a%2Fb%20c",
	} {
		before := s.count()
		if _, err := client.GetTimer(context.Background(), "shop", id); err != nil {
			t.Fatal(err)
		}

		req := s.request(t, before)
		if req.Method != http.MethodGet || req.Path != path {
			t.Errorf("id %q: sent %s %s, want GET %s", id, req.Method, req.Path, path)
		}

		if req.Header.Get("Content-Type") != "" || len(req.Body) != 0 {
			t.Errorf("a GET carried a body: %q", req.Body)
		}
	}
}

func TestDefaultUserAgentAndNoAuthorization(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, `{"namespaces": []}`)
	})

	if _, err := s.client().ListNamespaces(context.Background()); err != nil {
		t.Fatal(err)
	}

	req := s.request(t, 0)
	if got := req.Header.Get("User-Agent"); got != "timerkernel-go/0.1.0" {
		t.Errorf("User-Agent %q", got)
	}

	if _, ok := req.Header["Authorization"]; ok {
		t.Errorf("sent Authorization without a token: %q", req.Header.Get("Authorization"))
	}
}

func TestBaseURLWithPathPrefix(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, `{"namespaces": []}`)
	})
	client := timers.NewClient(timers.WithBaseURL(s.URL + "/timers-service/"))

	if _, err := client.ListNamespaces(context.Background()); err != nil {
		t.Fatal(err)
	}

	if got := s.request(t, 0).Path; got != "/timers-service/api/v1/namespaces" {
		t.Errorf("path %q", got)
	}
}

func TestUpdateTimerSendsIfMatchOnlyWithExpectedVersion(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, timerJSON)
	})
	client := s.client()
	callback := timers.CallbackTarget{URL: "https://shop.example/hooks/v2", Timeout: 2 * time.Second}

	_, err := client.UpdateTimer(context.Background(), "shop", "cart-77", timers.UpdateTimerRequest{
		FireAt:          mustTime(t, "2026-12-04T08:00:00Z"),
		Callback:        &callback,
		Payload:         json.RawMessage("null"),
		RetryPolicy:     &timers.RetryPolicy{MaxAttempts: 2},
		ExpectedVersion: 4,
	})
	if err != nil {
		t.Fatal(err)
	}

	_, err = client.UpdateTimer(context.Background(), "shop", "cart-77", timers.UpdateTimerRequest{
		Delay: 90 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}

	first, second := s.request(t, 0), s.request(t, 1)
	if first.Method != http.MethodPatch || first.Path != "/api/v1/namespaces/shop/timers/cart-77" {
		t.Errorf("sent %s %s", first.Method, first.Path)
	}

	if got := first.Header.Get("If-Match"); got != `"4"` {
		t.Errorf("If-Match %q, want \"4\" quoted", got)
	}

	assertJSON(t, first.Body, `{
		"fire_at": "2026-12-04T08:00:00Z",
		"callback": {"url": "https://shop.example/hooks/v2", "timeout_seconds": 2},
		"payload": null,
		"retry_policy": {"max_attempts": 2}
	}`)

	if _, ok := second.Header["If-Match"]; ok {
		t.Errorf("sent If-Match %q without an expected version", second.Header.Get("If-Match"))
	}

	assertJSON(t, second.Body, `{"delay_seconds": 90}`)
}

func TestDeleteTimer(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(http.StatusNoContent)
	})

	if err := s.client().DeleteTimer(context.Background(), "shop", "cart-77"); err != nil {
		t.Fatal(err)
	}

	req := s.request(t, 0)
	if req.Method != http.MethodDelete || req.Path != "/api/v1/namespaces/shop/timers/cart-77" {
		t.Errorf("sent %s %s", req.Method, req.Path)
	}
}

func TestListTimersSendsTheFilters(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, `{"timers": [`+timerJSON+`,`+finishedTimerJSON+`], "next_page_token": "tok-2"}`)
	})

	page, err := s.client().ListTimers(context.Background(), "shop", timers.ListTimersRequest{
		Statuses:   []timers.Status{timers.StatusScheduled, timers.StatusFailed},
		FireAfter:  mustTime(t, "2026-12-03T10:00:00+02:00"),
		FireBefore: mustTime(t, "2026-12-04T00:00:00.5Z"),
		IDPrefix:   "cart-",
		Limit:      100,
		PageToken:  "tok-1",
	})
	if err != nil {
		t.Fatal(err)
	}

	req := s.request(t, 0)
	if req.Method != http.MethodGet || req.Path != "/api/v1/namespaces/shop/timers" {
		t.Errorf("sent %s %s", req.Method, req.Path)
	}

	wantQuery := url.Values{
		"status":      {"scheduled", "failed"},
		"fire_after":  {"2026-12-03T08:00:00Z"},
		"fire_before": {"2026-12-04T00:00:00.5Z"},
		"id_prefix":   {"cart-"},
		"limit":       {"100"},
		"page_token":  {"tok-1"},
	}
	if !reflect.DeepEqual(req.Query, wantQuery) {
		t.Errorf("query %v, want %v", req.Query, wantQuery)
	}

	if len(page.Timers) != 2 || page.Timers[0].ID != "cart-77" || page.Timers[1].ID != "cart-78" {
		t.Errorf("timers %+v", page.Timers)
	}

	if page.NextPageToken != "tok-2" {
		t.Errorf("next page token %q", page.NextPageToken)
	}
}

func TestListTimersWithoutFiltersSendsNoQuery(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, `{"timers": [], "next_page_token": null}`)
	})

	page, err := s.client().ListTimers(context.Background(), "shop", timers.ListTimersRequest{})
	if err != nil {
		t.Fatal(err)
	}

	if len(s.request(t, 0).Query) != 0 {
		t.Errorf("query %v", s.request(t, 0).Query)
	}

	if len(page.Timers) != 0 || page.NextPageToken != "" {
		t.Errorf("page %+v", page)
	}
}

// pagedTimers answers three pages of timers page-1..page-5, two per page.
func pagedTimers(w http.ResponseWriter, r *http.Request, _ int) {
	item := func(id string) string {
		return strings.Replace(finishedTimerJSON, `"cart-78"`, fmt.Sprintf("%q", id), 1)
	}
	switch r.URL.Query().Get("page_token") {
	case "":
		reply(w, http.StatusOK, `{"timers": [`+item("page-1")+`,`+item("page-2")+`], "next_page_token": "p2"}`)
	case "p2":
		reply(w, http.StatusOK, `{"timers": [`+item("page-3")+`,`+item("page-4")+`], "next_page_token": "p3"}`)
	case "p3":
		reply(w, http.StatusOK, `{"timers": [`+item("page-5")+`], "next_page_token": null}`)
	default:
		reply(w, http.StatusBadRequest, `{"error": {"code": "invalid_argument", "message": "bad token", "details": {}}}`)
	}
}

func TestAllTimersFollowsThePageTokens(t *testing.T) {
	s := newStub(t, pagedTimers)

	var ids []string
	for timer, err := range s.client().AllTimers(context.Background(), "shop", timers.ListTimersRequest{IDPrefix: "page-", Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}

		ids = append(ids, timer.ID)
	}

	if want := []string{"page-1", "page-2", "page-3", "page-4", "page-5"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}

	if s.count() != 3 {
		t.Fatalf("%d requests, want 3", s.count())
	}

	for i, token := range []string{"", "p2", "p3"} {
		query := s.request(t, i).Query
		if got := strings.Join(query["page_token"], ","); got != token {
			t.Errorf("request %d: page_token %q, want %q", i, got, token)
		}

		if query.Get("limit") != "2" || query.Get("id_prefix") != "page-" {
			t.Errorf("request %d lost its filters: %v", i, query)
		}
	}
}

func TestAllTimersStopsWhenTheLoopBreaks(t *testing.T) {
	s := newStub(t, pagedTimers)

	for timer, err := range s.client().AllTimers(context.Background(), "shop", timers.ListTimersRequest{}) {
		if err != nil {
			t.Fatal(err)
		}

		if timer.ID == "page-1" {
			break
		}
	}

	if s.count() != 1 {
		t.Errorf("%d requests after a break on the first page, want 1", s.count())
	}
}

func TestAllTimersYieldsTheErrorAndStops(t *testing.T) {
	s := newStub(t, pagedTimers)

	var ids []string
	var errs []error
	for timer, err := range s.client().AllTimers(context.Background(), "shop", timers.ListTimersRequest{PageToken: "p3-stale"}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}

		ids = append(ids, timer.ID)
	}

	if len(ids) != 0 || len(errs) != 1 || !timers.IsError(errs[0], timers.CodeInvalidArgument) {
		t.Errorf("ids %v, errors %v", ids, errs)
	}
}

func TestAllTimersRefusesATokenThatDoesNotMove(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, `{"timers": [`+finishedTimerJSON+`], "next_page_token": "same"}`)
	})

	var errs []error
	count := 0
	for _, err := range s.client().AllTimers(context.Background(), "shop", timers.ListTimersRequest{}) {
		count++
		if err != nil {
			errs = append(errs, err)
		}

		if count > 10 {
			t.Fatal("the iterator does not stop")
		}
	}

	if len(errs) != 1 || !errors.Is(errs[0], timers.ErrSDK) || s.count() != 2 {
		t.Errorf("errors %v after %d requests", errs, s.count())
	}
}

func TestBatchCreateTimers(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, `{"results": [
			{"status": 201, "timer": `+timerJSON+`},
			{"status": 200, "timer": `+finishedTimerJSON+`},
			{"status": 409, "error": {"code": "already_exists", "message": "taken",
			  "details": {"existing": `+finishedTimerJSON+`}}},
			{"status": 400, "error": {"code": "invalid_argument", "message": "bad",
			  "details": {"fields": [{"field": "callback.url", "reason": "must be an absolute http or https URL"}]}}}
		]}`)
	})
	callback := timers.CallbackTarget{URL: "https://shop.example/hooks/cart"}

	result, err := s.client().BatchCreateTimers(context.Background(), "shop", []timers.CreateTimerRequest{
		{ID: "cart-77", Delay: time.Minute, Callback: callback},
		{ID: "cart-78", FireAt: mustTime(t, "2026-12-03T08:00:00Z"), Callback: callback, Payload: "x"},
		{ID: "cart-79", Delay: time.Minute, Callback: callback},
		{ID: "cart-80", Delay: time.Minute, Callback: timers.CallbackTarget{URL: "ftp://x"}},
	})
	if err != nil {
		t.Fatal(err)
	}

	req := s.request(t, 0)
	if req.Method != http.MethodPost || req.Path != "/api/v1/namespaces/shop/timers:batchCreate" {
		t.Errorf("sent %s %s", req.Method, req.Path)
	}

	assertJSON(t, req.Body, `{"timers": [
		{"id": "cart-77", "delay_seconds": 60, "callback": {"url": "https://shop.example/hooks/cart"}},
		{"id": "cart-78", "fire_at": "2026-12-03T08:00:00Z", "callback": {"url": "https://shop.example/hooks/cart"}, "payload": "x"},
		{"id": "cart-79", "delay_seconds": 60, "callback": {"url": "https://shop.example/hooks/cart"}},
		{"id": "cart-80", "delay_seconds": 60, "callback": {"url": "ftp://x"}}
	]}`)

	items := result.Results
	if len(items) != 4 {
		t.Fatalf("%d results", len(items))
	}

	if !items[0].Created() || items[0].Timer.ID != "cart-77" || items[0].Error != nil {
		t.Errorf("item 0: %+v", items[0])
	}

	if items[1].Created() || items[1].Status != 200 || items[1].Timer.ID != "cart-78" {
		t.Errorf("item 1: %+v", items[1])
	}

	conflict := items[2].Error
	if items[2].Timer != nil || conflict == nil || conflict.Code != timers.CodeAlreadyExists ||
		conflict.StatusCode != 409 || conflict.Existing == nil || conflict.Existing.ID != "cart-78" {
		t.Errorf("item 2: %+v", items[2])
	}

	invalid := items[3].Error
	want := []timers.FieldViolation{{Field: "callback.url", Reason: "must be an absolute http or https URL"}}
	if invalid == nil || invalid.StatusCode != 400 || !reflect.DeepEqual(invalid.Fields, want) {
		t.Errorf("item 3: %+v", items[3])
	}
}

func TestAttempts(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, `{"attempts": [
			{"attempt": 2, "fire_at": "2026-12-03T08:00:00.000Z", "started_at": "2026-12-03T08:00:02.000Z",
			 "duration_ms": 12.5, "outcome": "succeeded", "status_code": 200, "error": null},
			{"attempt": 1, "fire_at": "2026-12-03T08:00:00.000Z", "started_at": "2026-12-03T08:00:00.001Z",
			 "duration_ms": 10000, "outcome": "failed", "status_code": null,
			 "error": {"at": "2026-12-03T08:00:10.001Z", "kind": "timeout", "message": "no answer in 10 s", "status_code": null}}
		]}`)
	})

	list, err := s.client().Attempts(context.Background(), "shop", "cart-77")
	if err != nil {
		t.Fatal(err)
	}

	if got := s.request(t, 0).Path; got != "/api/v1/namespaces/shop/timers/cart-77/attempts" {
		t.Errorf("path %q", got)
	}

	fireAt := mustTime(t, "2026-12-03T08:00:00Z")
	want := []*timers.Attempt{
		{
			Attempt: 2, FireAt: fireAt, StartedAt: mustTime(t, "2026-12-03T08:00:02Z"),
			Duration: 12500 * time.Microsecond, Outcome: timers.OutcomeSucceeded, StatusCode: 200,
		},
		{
			Attempt: 1, FireAt: fireAt, StartedAt: mustTime(t, "2026-12-03T08:00:00.001Z"),
			Duration: 10 * time.Second, Outcome: timers.OutcomeFailed,
			Error: &timers.DeliveryFailure{
				At: mustTime(t, "2026-12-03T08:00:10.001Z"), Kind: timers.FailureTimeout, Message: "no answer in 10 s",
			},
		},
	}
	if !reflect.DeepEqual(list.Attempts, want) {
		t.Errorf("attempts\n%+v\nwant\n%+v", list.Attempts, want)
	}
}

func TestListNamespaces(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, `{"namespaces": [
			{"name": "billing", "counts": {"scheduled": 3, "succeeded": 0, "failed": 1}},
			{"name": "shop", "counts": {"scheduled": 0, "succeeded": 7, "failed": 0}}
		]}`)
	})

	list, err := s.client().ListNamespaces(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	if got := s.request(t, 0).Path; got != "/api/v1/namespaces" {
		t.Errorf("path %q", got)
	}

	want := []*timers.Namespace{
		{Name: "billing", Counts: map[timers.Status]int{timers.StatusScheduled: 3, timers.StatusSucceeded: 0, timers.StatusFailed: 1}},
		{Name: "shop", Counts: map[timers.Status]int{timers.StatusScheduled: 0, timers.StatusSucceeded: 7, timers.StatusFailed: 0}},
	}
	if !reflect.DeepEqual(list.Namespaces, want) {
		t.Errorf("namespaces %+v", list.Namespaces)
	}
}

func TestEmptyNamespaceOrIDIsRefusedBeforeSending(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, timerJSON)
	})
	client := s.client()
	ctx := context.Background()

	errs := []error{}
	_, err := client.GetTimer(ctx, "shop", "")
	errs = append(errs, err)
	_, err = client.CreateTimer(ctx, "", timers.CreateTimerRequest{ID: "x"})
	errs = append(errs, err)
	errs = append(errs, client.DeleteTimer(ctx, "", "x"))
	_, err = client.ListTimers(ctx, "", timers.ListTimersRequest{})
	errs = append(errs, err)

	for i, err := range errs {
		if !errors.Is(err, timers.ErrSDK) || timers.IsError(err) {
			t.Errorf("call %d: error %v", i, err)
		}
	}

	if s.count() != 0 {
		t.Errorf("%d requests sent", s.count())
	}
}

func TestAnswerThatIsNotJSONIsAnSDKError(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, `<html>hello</html>`)
	})

	_, err := s.client().GetTimer(context.Background(), "shop", "cart-77")
	if !errors.Is(err, timers.ErrSDK) || timers.IsError(err) {
		t.Errorf("error %v", err)
	}
}

func TestTimerWithABadTimeIsAnSDKError(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, strings.Replace(timerJSON, `"2026-12-01T10:00:00.000Z"`, `"yesterday"`, 1))
	})

	_, err := s.client().GetTimer(context.Background(), "shop", "cart-77")
	if !errors.Is(err, timers.ErrSDK) || !strings.Contains(err.Error(), "created_at") {
		t.Errorf("error %v", err)
	}
}

// deadlineTransport records the deadline of each request's context.
type deadlineTransport struct {
	mu        sync.Mutex
	deadlines []time.Time
}

func (d *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	deadline, _ := req.Context().Deadline()
	d.mu.Lock()
	d.deadlines = append(d.deadlines, deadline)
	d.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func TestEachRequestHasTheTimeoutAsItsDeadline(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, `{"namespaces": []}`)
	})
	cases := map[string]struct {
		opts []timers.ClientOption
		want time.Duration
	}{
		"the default of 30 s": {nil, 30 * time.Second},
		"a timeout of 2 s":    {[]timers.ClientOption{timers.WithTimeout(2 * time.Second)}, 2 * time.Second},
		"no timeout":          {[]timers.ClientOption{timers.WithTimeout(0)}, 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			transport := &deadlineTransport{}
			opts := append([]timers.ClientOption{timers.WithHTTPClient(&http.Client{Transport: transport})}, tc.opts...)
			started := time.Now()

			if _, err := s.client(opts...).ListNamespaces(context.Background()); err != nil {
				t.Fatal(err)
			}

			took := time.Since(started)
			deadline := transport.deadlines[0]
			if tc.want == 0 && !deadline.IsZero() {
				t.Fatalf("a deadline %v without a timeout", deadline)
			}

			// The deadline is set during the call: the timeout after a moment
			// between its start and its end.
			if span := deadline.Sub(started); tc.want != 0 && (span < tc.want || span > tc.want+took) {
				t.Errorf("the deadline is %v after the call started, want about %v", span, tc.want)
			}
		})
	}
}
