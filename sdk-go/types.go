package timers

import (
	"encoding/json"
	"time"
)

// Status is the state of a timer.
type Status string

// The statuses of a timer.
const (
	// StatusScheduled is a timer waiting for its fire time, or retrying
	// its delivery.
	StatusScheduled Status = "scheduled"
	// StatusSucceeded is a timer delivered and not rescheduled.
	StatusSucceeded Status = "succeeded"
	// StatusFailed is a timer whose retry policy was used up without a
	// delivery.
	StatusFailed Status = "failed"
)

// UnlimitedAttempts is the RetryPolicy.MaxAttempts that retries a delivery
// without a limit on the number of attempts (max_attempts 0 on the wire). In
// a RetryPolicy the zero value means "the service's default" instead.
const UnlimitedAttempts = -1

// Timer is a timer as the service stores it.
type Timer struct {
	Namespace string
	ID        string
	// FireAt is when the callback is due.
	FireAt   time.Time
	Callback CallbackTarget
	// Payload is the timer's payload as raw JSON; "null" when it has none.
	Payload     json.RawMessage
	RetryPolicy RetryPolicy
	Status      Status
	// Attempts counts the delivery attempts since the timer was last
	// (re)scheduled.
	Attempts int
	// NextAttemptAt is when the next delivery is due; the zero time once
	// the timer is finished.
	NextAttemptAt time.Time
	// LastError is the failure of the latest failed attempt; nil if none.
	LastError *DeliveryFailure
	CreatedAt time.Time
	UpdatedAt time.Time
	// ExecutedAt is when the last successful delivery completed; the zero
	// time if there was none.
	ExecutedAt time.Time
	// Version starts at 1 and grows by one at every change; give it as
	// UpdateTimerRequest.ExpectedVersion to update only this version.
	Version int64
}

// CallbackTarget is where and how the service delivers a timer.
type CallbackTarget struct {
	// URL is an absolute http or https URL, POSTed at fire time.
	URL string
	// Timeout bounds one delivery attempt (0.1 s to 300 s). Zero in a
	// request means the service's default, 10 s.
	Timeout time.Duration
	// Headers are extra request headers (at most 20).
	Headers map[string]string
}

// RetryPolicy says how often and how long a failed delivery is retried.
//
// In a request, a zero field takes the service's default: MaxAttempts 10,
// InitialInterval 1 s, BackoffCoefficient 2, MaxInterval 600 s, and no
// MaxDuration. Timers read from the service have every field set, except
// MaxDuration, which is zero when there is no limit.
type RetryPolicy struct {
	// MaxAttempts counts attempts in all, the first included; use
	// UnlimitedAttempts for no limit.
	MaxAttempts int
	// InitialInterval is the wait before the second attempt.
	InitialInterval time.Duration
	// BackoffCoefficient is the growth of the wait at each attempt (>= 1).
	BackoffCoefficient float64
	// MaxInterval caps one wait.
	MaxInterval time.Duration
	// MaxDuration gives up once this long has passed since the first
	// attempt; zero means no limit.
	MaxDuration time.Duration
}

// FailureKind classifies a failed delivery attempt.
type FailureKind string

// The kinds of delivery failure.
const (
	FailureTimeout         FailureKind = "timeout"
	FailureConnection      FailureKind = "connection"
	FailureHTTPStatus      FailureKind = "http_status"
	FailureInvalidResponse FailureKind = "invalid_response"
)

// DeliveryFailure describes a failed delivery attempt (the API's last_error).
type DeliveryFailure struct {
	At      time.Time
	Kind    FailureKind
	Message string
	// StatusCode is the HTTP status the target answered; zero if it sent
	// none.
	StatusCode int
}

// Outcome is what came of one delivery attempt.
type Outcome string

// The outcomes of an attempt.
const (
	OutcomeSucceeded   Outcome = "succeeded"
	OutcomeRescheduled Outcome = "rescheduled"
	OutcomeFailed      Outcome = "failed"
)

// Attempt is one delivery attempt of a timer.
type Attempt struct {
	// Attempt is the attempt's number, from 1, since the timer was
	// (re)scheduled.
	Attempt   int
	FireAt    time.Time
	StartedAt time.Time
	// Duration is how long the attempt took (the API's duration_ms).
	Duration time.Duration
	Outcome  Outcome
	// StatusCode is the HTTP status the target answered; zero if none.
	StatusCode int
	// Error is why the attempt failed; nil if it did not.
	Error *DeliveryFailure
}

// AttemptList is the answer of Attempts: the recent attempts, newest first.
type AttemptList struct {
	Attempts []*Attempt
}

// Namespace is one namespace and how many of its timers are in each status.
type Namespace struct {
	Name string
	// Counts has an entry for every status the service reports, zeros
	// included.
	Counts map[Status]int
}

// NamespaceList is the answer of ListNamespaces.
type NamespaceList struct {
	Namespaces []*Namespace
}

// CreateTimerRequest defines a timer to create. Give FireAt or Delay, not
// both: the service refuses a request with both, and one with neither.
type CreateTimerRequest struct {
	// ID is the timer's key in its namespace, also the key that makes a
	// repeated create harmless.
	ID string
	// FireAt is when the callback is due; a time in the past is due at once.
	FireAt time.Time
	// Delay sets the fire time to the service's now plus Delay. A repeated
	// create with Delay is not compared on the fire time, so it stays
	// harmless when retried later. Zero sends no delay: to fire at once,
	// give FireAt: time.Now().
	Delay    time.Duration
	Callback CallbackTarget
	// Payload is any value encoding/json can marshal (a json.RawMessage is
	// sent as it is); nil sends no payload, which the service stores as null.
	Payload any
	// RetryPolicy replaces the service's default policy; nil keeps it.
	RetryPolicy *RetryPolicy
}

// UpdateTimerRequest changes a timer; zero fields leave their part alone.
type UpdateTimerRequest struct {
	// FireAt, or Delay from now (not both), sets a new fire time and
	// re-arms the timer, even a finished one.
	FireAt time.Time
	Delay  time.Duration
	// Callback, if not nil, replaces the callback whole.
	Callback *CallbackTarget
	// Payload, if not nil, replaces the payload; json.RawMessage("null")
	// clears it.
	Payload any
	// RetryPolicy, if not nil, replaces the policy whole.
	RetryPolicy *RetryPolicy
	// ExpectedVersion, if not zero, is sent as If-Match: the update applies
	// only if the timer is still at this version, and fails with
	// precondition_failed otherwise. It also makes the update safe to
	// retry, so only such updates are retried after a connection error or
	// a 503.
	ExpectedVersion int64
}

// ListTimersRequest filters and pages a list of timers. Zero fields do not
// filter.
type ListTimersRequest struct {
	// Statuses keeps the timers in any of these statuses.
	Statuses []Status
	// FireAfter keeps the timers due at or after this time.
	FireAfter time.Time
	// FireBefore keeps the timers due before this time.
	FireBefore time.Time
	// IDPrefix keeps the timers whose id starts with it.
	IDPrefix string
	// Limit is the page size, 1 to 1,000; zero means the service's 50.
	Limit int
	// PageToken continues a list from the page that gave it; it is valid
	// only with the same filters.
	PageToken string
}

// TimerPage is one page of a list of timers, ordered by fire time, then id.
type TimerPage struct {
	Timers []*Timer
	// NextPageToken continues the list; empty on the last page.
	NextPageToken string
}

// BatchCreateResult is the answer of BatchCreateTimers: one item per timer of
// the request, in the same order.
type BatchCreateResult struct {
	Results []*BatchCreateItem
}

// BatchCreateItem is the outcome of one create of a batch: a Timer when its
// Status is 200 or 201, an Error otherwise.
type BatchCreateItem struct {
	// Status is 201 for a new timer, 200 for the same definition found
	// stored, or an error status such as 400 or 409.
	Status int
	Timer  *Timer
	Error  *Error
}

// Created reports whether the item made a new timer.
func (item *BatchCreateItem) Created() bool { return item.Status == 201 }
