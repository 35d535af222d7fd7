package timers

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// The JSON shapes of the API. They stay private so that the public types can
// use time.Time and time.Duration, and so that the wire may grow fields
// without changing the Go API.

type wireTimer struct {
	Namespace     string          `json:"namespace"`
	ID            string          `json:"id"`
	FireAt        string          `json:"fire_at"`
	Callback      wireCallback    `json:"callback"`
	Payload       json.RawMessage `json:"payload"`
	RetryPolicy   wireRetryPolicy `json:"retry_policy"`
	Status        string          `json:"status"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt *string         `json:"next_attempt_at"`
	LastError     *wireFailure    `json:"last_error"`
	CreatedAt     string          `json:"created_at"`
	UpdatedAt     string          `json:"updated_at"`
	ExecutedAt    *string         `json:"executed_at"`
	Version       int64           `json:"version"`
}

// wireCallback is the callback object in both directions: zero fields are
// left out of a request so that the service fills in its defaults.
type wireCallback struct {
	URL            string            `json:"url"`
	TimeoutSeconds *float64          `json:"timeout_seconds,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
}

type wireRetryPolicy struct {
	MaxAttempts            *int     `json:"max_attempts,omitempty"`
	InitialIntervalSeconds *float64 `json:"initial_interval_seconds,omitempty"`
	BackoffCoefficient     *float64 `json:"backoff_coefficient,omitempty"`
	MaxIntervalSeconds     *float64 `json:"max_interval_seconds,omitempty"`
	MaxDurationSeconds     *float64 `json:"max_duration_seconds,omitempty"`
}

type wireFailure struct {
	At         string `json:"at"`
	Kind       string `json:"kind"`
	Message    string `json:"message"`
	StatusCode *int   `json:"status_code"`
}

type wireAttempt struct {
	Attempt    int          `json:"attempt"`
	FireAt     string       `json:"fire_at"`
	StartedAt  string       `json:"started_at"`
	DurationMS float64      `json:"duration_ms"`
	Outcome    string       `json:"outcome"`
	StatusCode *int         `json:"status_code"`
	Error      *wireFailure `json:"error"`
}

type wireError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details"`
}

type wireFieldViolation struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

type wireCreate struct {
	ID           string           `json:"id"`
	FireAt       string           `json:"fire_at,omitempty"`
	DelaySeconds *float64         `json:"delay_seconds,omitempty"`
	Callback     wireCallback     `json:"callback"`
	Payload      any              `json:"payload,omitempty"`
	RetryPolicy  *wireRetryPolicy `json:"retry_policy,omitempty"`
}

type wireUpdate struct {
	FireAt       string           `json:"fire_at,omitempty"`
	DelaySeconds *float64         `json:"delay_seconds,omitempty"`
	Callback     *wireCallback    `json:"callback,omitempty"`
	Payload      any              `json:"payload,omitempty"`
	RetryPolicy  *wireRetryPolicy `json:"retry_policy,omitempty"`
}

type wireBatchCreate struct {
	Timers []wireCreate `json:"timers"`
}

type wireBatchResult struct {
	Results []struct {
		Status int        `json:"status"`
		Timer  *wireTimer `json:"timer"`
		Error  *wireError `json:"error"`
	} `json:"results"`
}

type wirePage struct {
	Timers        []wireTimer `json:"timers"`
	NextPageToken *string     `json:"next_page_token"`
}

type wireAttempts struct {
	Attempts []wireAttempt `json:"attempts"`
}

type wireNamespaces struct {
	Namespaces []struct {
		Name   string         `json:"name"`
		Counts map[string]int `json:"counts"`
	} `json:"namespaces"`
}

type wireCallbackBody struct {
	Namespace string          `json:"namespace"`
	ID        string          `json:"id"`
	FireAt    string          `json:"fire_at"`
	Attempt   int             `json:"attempt"`
	Payload   json.RawMessage `json:"payload"`
}

type wireAnswer struct {
	NextFireAt       string           `json:"next_fire_at,omitempty"`
	NextDelaySeconds *float64         `json:"next_delay_seconds,omitempty"`
	Payload          json.RawMessage  `json:"payload,omitempty"`
	Callback         *wireCallback    `json:"callback,omitempty"`
	RetryPolicy      *wireRetryPolicy `json:"retry_policy,omitempty"`
}

// -- conversions ------------------------------------------------------------

// seconds is d in seconds, the unit of the API's durations.
func seconds(d time.Duration) float64 { return d.Seconds() }

// fromSeconds is the inverse of seconds, rounded to the nanosecond.
func fromSeconds(s float64) time.Duration {
	if s >= math.MaxInt64/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}

	return time.Duration(math.Round(s * float64(time.Second)))
}

func optionalSeconds(d time.Duration) *float64 {
	if d == 0 {
		return nil
	}

	s := seconds(d)
	return &s
}

// formatTime writes t as RFC 3339 in UTC; the service rounds finer digits up
// to the millisecond, so a timer never fires before t.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(field, text string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", field, err)
	}

	return t, nil
}

func parseOptionalTime(field string, text *string) (time.Time, error) {
	if text == nil {
		return time.Time{}, nil
	}

	return parseTime(field, *text)
}

func callbackToWire(callback CallbackTarget) wireCallback {
	return wireCallback{
		URL:            callback.URL,
		TimeoutSeconds: optionalSeconds(callback.Timeout),
		Headers:        callback.Headers,
	}
}

func retryPolicyToWire(policy *RetryPolicy) *wireRetryPolicy {
	if policy == nil {
		return nil
	}

	wire := &wireRetryPolicy{
		InitialIntervalSeconds: optionalSeconds(policy.InitialInterval),
		MaxIntervalSeconds:     optionalSeconds(policy.MaxInterval),
		MaxDurationSeconds:     optionalSeconds(policy.MaxDuration),
	}
	switch {
	case policy.MaxAttempts == UnlimitedAttempts:
		unlimited := 0
		wire.MaxAttempts = &unlimited
	case policy.MaxAttempts != 0:
		wire.MaxAttempts = &policy.MaxAttempts
	}

	if policy.BackoffCoefficient != 0 {
		wire.BackoffCoefficient = &policy.BackoffCoefficient
	}

	return wire
}

func createToWire(req CreateTimerRequest) wireCreate {
	wire := wireCreate{
		ID:          req.ID,
		Callback:    callbackToWire(req.Callback),
		Payload:     req.Payload,
		RetryPolicy: retryPolicyToWire(req.RetryPolicy),
	}
	// With neither a fire time nor a delay, the request goes without both
	// and the service names the missing field, instead of the SDK reading a
	// forgotten field as "fire now".
	if !req.FireAt.IsZero() {
		wire.FireAt = formatTime(req.FireAt)
	}

	if req.Delay != 0 {
		delay := seconds(req.Delay)
		wire.DelaySeconds = &delay
	}

	return wire
}

func updateToWire(req UpdateTimerRequest) wireUpdate {
	wire := wireUpdate{
		DelaySeconds: optionalSeconds(req.Delay),
		Payload:      req.Payload,
		RetryPolicy:  retryPolicyToWire(req.RetryPolicy),
	}
	if !req.FireAt.IsZero() {
		wire.FireAt = formatTime(req.FireAt)
	}

	if req.Callback != nil {
		callback := callbackToWire(*req.Callback)
		wire.Callback = &callback
	}

	return wire
}

func (w *wireTimer) toTimer() (*Timer, error) {
	var err error
	timer := &Timer{
		Namespace: w.Namespace,
		ID:        w.ID,
		Callback: CallbackTarget{
			URL:     w.Callback.URL,
			Headers: w.Callback.Headers,
		},
		Payload:  w.Payload,
		Status:   Status(w.Status),
		Attempts: w.Attempts,
		Version:  w.Version,
	}
	if w.Callback.TimeoutSeconds != nil {
		timer.Callback.Timeout = fromSeconds(*w.Callback.TimeoutSeconds)
	}

	if timer.Payload == nil {
		timer.Payload = json.RawMessage("null")
	}

	timer.RetryPolicy = w.RetryPolicy.toRetryPolicy()
	if timer.FireAt, err = parseTime("fire_at", w.FireAt); err != nil {
		return nil, err
	}

	if timer.NextAttemptAt, err = parseOptionalTime("next_attempt_at", w.NextAttemptAt); err != nil {
		return nil, err
	}

	if timer.CreatedAt, err = parseTime("created_at", w.CreatedAt); err != nil {
		return nil, err
	}

	if timer.UpdatedAt, err = parseTime("updated_at", w.UpdatedAt); err != nil {
		return nil, err
	}

	if timer.ExecutedAt, err = parseOptionalTime("executed_at", w.ExecutedAt); err != nil {
		return nil, err
	}

	if timer.LastError, err = w.LastError.toFailure("last_error"); err != nil {
		return nil, err
	}

	return timer, nil
}

func (w wireRetryPolicy) toRetryPolicy() RetryPolicy {
	var policy RetryPolicy
	if w.MaxAttempts != nil {
		policy.MaxAttempts = *w.MaxAttempts
		if policy.MaxAttempts == 0 {
			policy.MaxAttempts = UnlimitedAttempts
		}
	}

	if w.InitialIntervalSeconds != nil {
		policy.InitialInterval = fromSeconds(*w.InitialIntervalSeconds)
	}

	if w.BackoffCoefficient != nil {
		policy.BackoffCoefficient = *w.BackoffCoefficient
	}

	if w.MaxIntervalSeconds != nil {
		policy.MaxInterval = fromSeconds(*w.MaxIntervalSeconds)
	}

	if w.MaxDurationSeconds != nil {
		policy.MaxDuration = fromSeconds(*w.MaxDurationSeconds)
	}

	return policy
}

func (w *wireFailure) toFailure(field string) (*DeliveryFailure, error) {
	if w == nil {
		return nil, nil
	}

	at, err := parseTime(field+".at", w.At)
	if err != nil {
		return nil, err
	}

	failure := &DeliveryFailure{At: at, Kind: FailureKind(w.Kind), Message: w.Message}
	if w.StatusCode != nil {
		failure.StatusCode = *w.StatusCode
	}

	return failure, nil
}

func (w *wireAttempt) toAttempt() (*Attempt, error) {
	var err error
	attempt := &Attempt{
		Attempt:  w.Attempt,
		Duration: time.Duration(math.Round(w.DurationMS * float64(time.Millisecond))),
		Outcome:  Outcome(w.Outcome),
	}
	if w.StatusCode != nil {
		attempt.StatusCode = *w.StatusCode
	}

	if attempt.FireAt, err = parseTime("fire_at", w.FireAt); err != nil {
		return nil, err
	}

	if attempt.StartedAt, err = parseTime("started_at", w.StartedAt); err != nil {
		return nil, err
	}

	if attempt.Error, err = w.Error.toFailure("error"); err != nil {
		return nil, err
	}

	return attempt, nil
}
