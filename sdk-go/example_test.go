package timers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	timers "github.com/timerkernel/timerkernel/sdk-go"
)

// The examples run against the test server: baseURL is its address and
// signingSecret the secret it signs callbacks with.

// A reminder in 24 hours.
func ExampleClient_CreateTimer() {
	ctx := context.Background()
	client := timers.NewClient(timers.WithBaseURL(baseURL))

	timer, err := client.CreateTimer(ctx, "shop", timers.CreateTimerRequest{
		// An id that names what the timer is for makes a retried create
		// find the timer it already made.
		ID:       "order-1234-reminder",
		Delay:    24 * time.Hour,
		Callback: timers.CallbackTarget{URL: "https://shop.example/hooks/reminder"},
		Payload:  map[string]any{"order": 1234, "kind": "reminder"},
	})
	if err != nil {
		fmt.Println("creating the reminder:", err)
		return
	}

	fmt.Println(timer.Status, "at version", timer.Version)
	fmt.Println("fires in", timer.FireAt.Sub(timer.CreatedAt).Round(time.Hour))
	// Output:
	// scheduled at version 1
	// fires in 24h0m0s
}

// A timeout that is cancelled when the work finishes in time.
func ExampleClient_DeleteTimer() {
	ctx := context.Background()
	client := timers.NewClient(timers.WithBaseURL(baseURL))

	// Arm the timeout before the work starts: if the work never reports
	// back, the callback tells the payment service to give up.
	_, err := client.CreateTimer(ctx, "payments", timers.CreateTimerRequest{
		ID:       "payment-77-timeout",
		Delay:    15 * time.Minute,
		Callback: timers.CallbackTarget{URL: "https://payments.example/hooks/timeout"},
		Payload:  map[string]int{"payment": 77},
	})
	if err != nil {
		fmt.Println("arming the timeout:", err)
		return
	}

	// ... the work finishes in time, so the timeout must not fire.
	err = client.DeleteTimer(ctx, "payments", "payment-77-timeout")
	if err != nil && !timers.IsError(err, timers.CodeNotFound) {
		fmt.Println("cancelling the timeout:", err)
		return
	}

	_, err = client.GetTimer(ctx, "payments", "payment-77-timeout")
	fmt.Println("cancelled:", timers.IsError(err, timers.CodeNotFound))
	// Output: cancelled: true
}

// A recurring job: each run answers with the time of the next one.
func ExampleReschedule() {
	ctx := context.Background()
	client := timers.NewClient(timers.WithBaseURL(baseURL))
	runs := make(chan int, 10)

	runJob := func(ctx context.Context, callback timers.Callback) (*timers.Answer, error) {
		var state struct {
			Run int `json:"run"`
		}
		if err := json.Unmarshal(callback.Payload, &state); err != nil {
			return nil, err
		}

		runs <- state.Run
		if state.Run == 3 {
			return nil, nil // done: the timer succeeds and stops
		}

		// Counting from the fire time, not from now, keeps the job from
		// drifting by the time each run takes.
		next := callback.FireAt.Add(time.Second)
		return timers.Reschedule(next).WithPayload(map[string]int{"run": state.Run + 1}), nil
	}
	receiver := httptest.NewServer(timers.NewWebhookHandler(signingSecret, runJob))
	defer receiver.Close()

	_, err := client.CreateTimer(ctx, "jobs", timers.CreateTimerRequest{
		ID:       "cleanup-job",
		Delay:    100 * time.Millisecond,
		Callback: timers.CallbackTarget{URL: receiver.URL},
		Payload:  map[string]int{"run": 1},
	})
	if err != nil {
		fmt.Println("starting the job:", err)
		return
	}

	for range 3 {
		select {
		case run := <-runs:
			fmt.Println("run", run)
		case <-time.After(20 * time.Second):
			fmt.Println("the job stopped running")
			return
		}
	}

	// A finished timer stays readable for the retention period; deleting
	// it frees its id at once.
	_ = client.DeleteTimer(ctx, "jobs", "cleanup-job")
	// Output:
	// run 1
	// run 2
	// run 3
}

// A receiver that verifies the signature of each callback.
func ExampleNewWebhookHandler() {
	ctx := context.Background()
	client := timers.NewClient(timers.WithBaseURL(baseURL))
	reminders := make(chan string, 10)

	remind := func(ctx context.Context, callback timers.Callback) (*timers.Answer, error) {
		var payload struct {
			Order int `json:"order"`
		}
		if err := json.Unmarshal(callback.Payload, &payload); err != nil {
			return nil, err // answered 500: the service retries
		}

		reminders <- fmt.Sprintf("remind the customer of order %d (attempt %d)",
			payload.Order, callback.Attempt)
		return nil, nil
	}

	// Only callbacks signed with the secret get to remind; others are
	// answered 401, and malformed bodies 400.
	handler := timers.NewWebhookHandler(signingSecret, remind)

	// A program mounts the handler on its own server, such as
	// http.Handle("/hooks/reminder", handler); here a test server runs it.
	receiver := httptest.NewServer(handler)
	defer receiver.Close()

	_, err := client.CreateTimer(ctx, "webhooks", timers.CreateTimerRequest{
		ID:       "order-1234-reminder",
		Delay:    100 * time.Millisecond,
		Callback: timers.CallbackTarget{URL: receiver.URL + "/hooks/reminder"},
		Payload:  map[string]int{"order": 1234},
	})
	if err != nil {
		fmt.Println("creating the reminder:", err)
		return
	}

	select {
	case reminder := <-reminders:
		fmt.Println(reminder)
	case <-time.After(20 * time.Second):
		fmt.Println("no callback came")
	}

	_ = client.DeleteTimer(ctx, "webhooks", "order-1234-reminder")
	// Output: remind the customer of order 1234 (attempt 1)
}

// An update that applies only if nobody changed the timer meanwhile.
func ExampleClient_UpdateTimer() {
	ctx := context.Background()
	client := timers.NewClient(timers.WithBaseURL(baseURL))

	timer, err := client.CreateTimer(ctx, "billing", timers.CreateTimerRequest{
		ID:       "invoice-7-dunning",
		Delay:    72 * time.Hour,
		Callback: timers.CallbackTarget{URL: "https://billing.example/hooks/dunning"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	postponed, err := client.UpdateTimer(ctx, "billing", timer.ID, timers.UpdateTimerRequest{
		FireAt:          timer.FireAt.Add(24 * time.Hour),
		ExpectedVersion: timer.Version,
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	fmt.Println("postponed by", postponed.FireAt.Sub(timer.FireAt))

	// The version read first is stale now.
	_, err = client.UpdateTimer(ctx, "billing", timer.ID, timers.UpdateTimerRequest{
		Payload:         "second thoughts",
		ExpectedVersion: timer.Version,
	})
	fmt.Println("stale:", timers.IsError(err, timers.CodePreconditionFailed))

	_ = client.DeleteTimer(ctx, "billing", timer.ID)
	// Output:
	// postponed by 24h0m0s
	// stale: true
}

// Every timer of a namespace, page after page.
func ExampleClient_AllTimers() {
	ctx := context.Background()
	client := timers.NewClient(timers.WithBaseURL(baseURL))

	var batch []timers.CreateTimerRequest
	for i := 1; i <= 5; i++ {
		batch = append(batch, timers.CreateTimerRequest{
			ID:       fmt.Sprintf("trial-%d-ends", i),
			Delay:    time.Duration(i) * 24 * time.Hour,
			Callback: timers.CallbackTarget{URL: "https://crm.example/hooks/trial"},
		})
	}

	if _, err := client.BatchCreateTimers(ctx, "trials", batch); err != nil {
		fmt.Println(err)
		return
	}

	// Limit is the page size: five timers take three requests.
	query := timers.ListTimersRequest{IDPrefix: "trial-", Limit: 2}
	for timer, err := range client.AllTimers(ctx, "trials", query) {
		if err != nil {
			fmt.Println(err)
			return
		}

		fmt.Println(timer.ID, timer.Status)
	}
	// Output:
	// trial-1-ends scheduled
	// trial-2-ends scheduled
	// trial-3-ends scheduled
	// trial-4-ends scheduled
	// trial-5-ends scheduled
}

// Telling the service's errors apart by their code.
func ExampleIsError() {
	ctx := context.Background()
	client := timers.NewClient(timers.WithBaseURL(baseURL))
	req := timers.CreateTimerRequest{
		ID:       "cart-77-expiry",
		Delay:    time.Hour,
		Callback: timers.CallbackTarget{URL: "https://shop.example/hooks/cart-expiry"},
		Payload:  map[string]int{"cart": 77},
	}
	if _, err := client.CreateTimer(ctx, "carts", req); err != nil {
		fmt.Println(err)
		return
	}

	// The same id with another definition is refused; the error carries
	// the stored timer.
	req.Payload = map[string]int{"cart": 78}
	_, err := client.CreateTimer(ctx, "carts", req)
	var apiErr *timers.Error
	if errors.As(err, &apiErr) && apiErr.Code == timers.CodeAlreadyExists {
		fmt.Println("taken by a timer with payload", string(apiErr.Existing.Payload))
	}

	// An invalid request names each bad field.
	_, err = client.CreateTimer(ctx, "carts", timers.CreateTimerRequest{
		ID:       "cart-78-expiry",
		Delay:    time.Hour,
		Callback: timers.CallbackTarget{URL: "ftp://shop.example/x", Timeout: time.Hour},
	})
	if timers.IsError(err, timers.CodeInvalidArgument) && errors.As(err, &apiErr) {
		for _, field := range apiErr.Fields {
			fmt.Println("bad field:", field.Field)
		}
	}
	// Output:
	// taken by a timer with payload {"cart":77}
	// bad field: callback.url
	// bad field: callback.timeout_seconds
}

// Checking a signature by hand, for a receiver that writes its own handler.
func ExampleVerifySignature() {
	body := []byte(`{"namespace":"billing","id":"invoice-7",` +
		`"fire_at":"2026-01-01T00:00:00Z","attempt":1,"payload":{"amount":42}}`)
	header := "t=1767225600,v1=a98a0311720d7c883e6423ce487af4ac6e13eecb9961822a62bd9d12d7a73652"
	signedAt := time.Unix(1767225600, 0)

	err := timers.VerifySignature(header, body, "whsec_test_1",
		timers.WithClock(func() time.Time { return signedAt.Add(time.Minute) }))
	fmt.Println("a minute later:", err)

	err = timers.VerifySignature(header, body, "whsec_test_1",
		timers.WithClock(func() time.Time { return signedAt.Add(time.Hour) }))
	fmt.Println("an hour later:", errors.Is(err, timers.ErrInvalidSignature))

	callback, err := timers.ParseCallback(body)
	if err != nil {
		fmt.Println(err)
		return
	}

	fmt.Println(callback.Namespace, callback.ID,
		callback.FireAt.Format(time.RFC3339), string(callback.Payload))
	// Output:
	// a minute later: <nil>
	// an hour later: true
	// billing invoice-7 2026-01-01T00:00:00Z {"amount":42}
}
