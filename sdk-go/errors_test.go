package timers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	timers "github.com/timerkernel/timerkernel/sdk-go"
)

func TestEveryErrorCodeIsMapped(t *testing.T) {
	cases := []struct {
		status  int
		code    timers.ErrorCode
		details string
	}{
		{400, timers.CodeInvalidArgument, `{"fields": [{"field": "limit", "reason": "must be a whole number from 1 to 1000"}]}`},
		{401, timers.CodeUnauthenticated, `{}`},
		{403, timers.CodePermissionDenied, `{"namespace": "shop"}`},
		{404, timers.CodeNotFound, `{"namespace": "shop", "id": "cart-77"}`},
		{409, timers.CodeAlreadyExists, `{"existing": ` + timerJSON + `}`},
		{412, timers.CodePreconditionFailed, `{"expected_version": 3, "version": 4}`},
		{413, timers.CodePayloadTooLarge, `{"field": "payload", "size": 70000, "limit": 65536}`},
		{503, timers.CodeUnavailable, `{}`},
		{500, timers.CodeInternal, `{}`},
	}
	for _, tc := range cases {
		t.Run(string(tc.code), func(t *testing.T) {
			message := fmt.Sprintf("the message of %s", tc.code)
			s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
				reply(w, tc.status, fmt.Sprintf(`{"error": {"code": %q, "message": %q, "details": %s}}`, tc.code, message, tc.details))
			})

			_, err := s.client(timers.WithRetries(0)).GetTimer(context.Background(), "shop", "cart-77")

			var apiErr *timers.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}

			if apiErr.StatusCode != tc.status || apiErr.Code != tc.code || apiErr.Message != message {
				t.Errorf("got %d %s %q", apiErr.StatusCode, apiErr.Code, apiErr.Message)
			}

			if !timers.IsError(err, tc.code) || !timers.IsError(err) || !errors.Is(err, timers.ErrSDK) {
				t.Error("IsError or errors.Is does not match")
			}

			other := timers.CodeNotFound
			if tc.code == other {
				other = timers.CodeInternal
			}

			if timers.IsError(err, other) {
				t.Errorf("IsError matches %s", other)
			}

			if !timers.IsError(fmt.Errorf("while doing this: %w", err), timers.CodeUnknown, tc.code) {
				t.Error("IsError does not see through wrapping, or takes only one code")
			}

			want := fmt.Sprintf("timers: %s (HTTP %d): %s", tc.code, tc.status, message)
			if err.Error() != want {
				t.Errorf("message %q, want %q", err.Error(), want)
			}

			if len(apiErr.Details) == 0 && tc.details != `{}` {
				t.Errorf("details lost: %v", apiErr.Details)
			}
		})
	}
}

func TestErrorDetailsAreTyped(t *testing.T) {
	answers := map[string]struct {
		status int
		body   string
	}{
		"invalid": {400, `{"error": {"code": "invalid_argument", "message": "invalid request", "details": {"fields": [
			{"field": "callback.url", "reason": "must be an absolute http or https URL"},
			{"field": "callback.timeout_seconds", "reason": "must be >= 0.1 and <= 300"}]}}}`},
		"exists":    {409, `{"error": {"code": "already_exists", "message": "taken", "details": {"existing": ` + timerJSON + `}}}`},
		"stale":     {412, `{"error": {"code": "precondition_failed", "message": "stale", "details": {"expected_version": 3, "version": 4}}}`},
		"no-detail": {404, `{"error": {"code": "not_found", "message": "none"}}`},
	}
	errs := map[string]*timers.Error{}
	for name, answer := range answers {
		s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) { reply(w, answer.status, answer.body) })
		_, err := s.client().GetTimer(context.Background(), "shop", "x")
		var apiErr *timers.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("%s: %v", name, err)
		}

		errs[name] = apiErr
	}

	wantFields := []timers.FieldViolation{
		{Field: "callback.url", Reason: "must be an absolute http or https URL"},
		{Field: "callback.timeout_seconds", Reason: "must be >= 0.1 and <= 300"},
	}
	if !reflect.DeepEqual(errs["invalid"].Fields, wantFields) {
		t.Errorf("fields %+v", errs["invalid"].Fields)
	}

	existing := errs["exists"].Existing
	if existing == nil || existing.ID != "cart-77" || existing.Version != 4 || existing.Status != timers.StatusScheduled {
		t.Errorf("existing %+v", existing)
	}

	stale := errs["stale"].Details
	if stale["expected_version"] != float64(3) || stale["version"] != float64(4) {
		t.Errorf("details %v", stale)
	}

	if errs["no-detail"].Details == nil || len(errs["no-detail"].Details) != 0 || errs["no-detail"].Existing != nil {
		t.Errorf("details %v", errs["no-detail"].Details)
	}
}

func TestErrorWithoutACodeIsMappedByStatus(t *testing.T) {
	cases := []struct {
		status int
		body   string
		code   timers.ErrorCode
	}{
		{502, `<html>Bad Gateway</html>`, timers.CodeUnavailable},
		{504, ``, timers.CodeUnavailable},
		{401, `{"detail": "no"}`, timers.CodeUnauthenticated},
		{501, `{}`, timers.CodeInternal},
		{418, `teapot`, timers.CodeUnknown},
		{405, `{"error": {"code": "method_not_allowed", "message": "PUT is not allowed here"}}`, "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})

			_, err := s.client(timers.WithRetries(0)).GetTimer(context.Background(), "shop", "x")

			var apiErr *timers.Error
			if !errors.As(err, &apiErr) || apiErr.Code != tc.code || apiErr.StatusCode != tc.status || apiErr.Message == "" {
				t.Errorf("error %#v", err)
			}
		})
	}
}

func TestErrorKeepsRetryAfter(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "7")
		reply(w, 503, `{"error": {"code": "unavailable", "message": "the storage is unavailable; retry later", "details": {}}}`)
	})

	_, err := s.client(timers.WithRetries(0)).GetTimer(context.Background(), "shop", "x")

	var apiErr *timers.Error
	if !errors.As(err, &apiErr) || apiErr.RetryAfter != 7*time.Second {
		t.Errorf("error %#v", err)
	}
}

func TestConnectionAndTimeoutErrorsAreNotAPIErrors(t *testing.T) {
	connErr := &timers.ConnectionError{Method: "GET", URL: "http://127.0.0.1:1/x", Err: errors.New("refused")}
	timeoutErr := &timers.TimeoutError{Method: "GET", URL: "http://127.0.0.1:1/x", Err: context.DeadlineExceeded}

	for _, err := range []error{connErr, timeoutErr} {
		if timers.IsError(err) || !errors.Is(err, timers.ErrSDK) {
			t.Errorf("%T: IsError %v, Is ErrSDK %v", err, timers.IsError(err), errors.Is(err, timers.ErrSDK))
		}
	}

	if !errors.Is(timeoutErr, context.DeadlineExceeded) || !timeoutErr.Timeout() {
		t.Error("a TimeoutError does not unwrap to its cause")
	}
}

func TestBatchItemErrorWithoutACodeIsMappedByStatus(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, http.StatusOK, `{"results": [{"status": 413, "error": {"message": "the payload is too large"}}]}`)
	})

	result, err := s.client().BatchCreateTimers(context.Background(), "shop", []timers.CreateTimerRequest{
		{ID: "big", Delay: time.Minute, Callback: timers.CallbackTarget{URL: "https://shop.example/x"}},
	})
	if err != nil {
		t.Fatal(err)
	}

	item := result.Results[0].Error
	if item == nil || item.Code != timers.CodePayloadTooLarge || item.StatusCode != 413 ||
		item.Message != "the payload is too large" || item.Details == nil {
		t.Errorf("item error %#v", item)
	}
}
