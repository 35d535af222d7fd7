// Package timers is the Go client of the timer service's REST API (version 1)
// and the helpers a program needs to receive the service's callbacks.
//
// A Client wraps the endpoints under /api/v1 with methods named after them:
// CreateTimer, BatchCreateTimers, GetTimer, UpdateTimer, DeleteTimer,
// ListTimers (and AllTimers, which follows the page tokens), Attempts and
// ListNamespaces. Every method takes a context first and returns a pointer to
// its result and an error; DeleteTimer, whose answer has no body, returns
// only the error.
//
// Times are time.Time values. Where the API counts seconds (delay_seconds,
// callback.timeout_seconds, the retry policy's intervals) the Go types hold a
// time.Duration, sent as its value in seconds with the fraction kept
// (1500*time.Millisecond is 1.5); seconds read back are rounded to the
// nanosecond.
//
// Errors from the service are *Error values with a typed Code; IsError checks
// for one or more codes through errors.As. Failures to reach the service are
// *ConnectionError or *TimeoutError. Every error the package makes itself
// matches ErrSDK with errors.Is.
//
// On the receiving side, NewWebhookHandler verifies the Timer-Signature
// header, parses the callback body and writes the answer of a function, which
// may ask for the timer to fire again with Reschedule or RescheduleIn.
package timers

// Version is the version of this SDK, sent in the User-Agent header.
const Version = "0.1.0"

// sdkName is the product token of the User-Agent header.
const sdkName = "timerkernel-go"
