package timers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The defaults of a Client, the same in every SDK of the service.
const (
	DefaultBaseURL = "http://127.0.0.1:8080"
	// DefaultTimeout bounds one HTTP request, retries not included.
	DefaultTimeout = 30 * time.Second
	// DefaultRetries is how many times a call safe to repeat is retried
	// after its first attempt.
	DefaultRetries = 3
	// DefaultBackoff is the longest wait before the first retry; it doubles
	// at each retry up to DefaultMaxBackoff, and each wait is drawn at random
	// between zero and that bound ("full jitter").
	DefaultBackoff    = 200 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
)

// maxAnswerBytes bounds the body of an answer read into memory: a full batch
// of 1,000 timers with large payloads stays well below it.
const maxAnswerBytes = 256 << 20

// Client calls the service's REST API. It is safe for concurrent use; make
// one and share it.
type Client struct {
	baseURL    string
	token      string
	httpClient *http.Client
	timeout    time.Duration
	userAgent  string
	retries    int
	backoff    time.Duration
	maxBackoff time.Duration

	// Seams for the tests of the retry schedule.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(ceiling time.Duration) time.Duration
	now    func() time.Time
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithBaseURL sets the service's address, such as "https://timers.example";
// the default is DefaultBaseURL. A path prefix is kept: "/api/v1/..." is
// appended to it.
func WithBaseURL(baseURL string) ClientOption {
	return func(c *Client) { c.baseURL = strings.TrimRight(baseURL, "/") }
}

// WithToken sends token as "Authorization: Bearer <token>" on every call.
func WithToken(token string) ClientOption {
	return func(c *Client) { c.token = token }
}

// WithHTTPClient makes the Client send its requests with httpClient, for
// its transport, proxy or TLS settings. A nil httpClient is ignored.
func WithHTTPClient(httpClient *http.Client) ClientOption {
	return func(c *Client) {
		if httpClient != nil {
			c.httpClient = httpClient
		}
	}
}

// WithTimeout bounds each HTTP request, from sending it to reading the whole
// answer; each retry has its own. Zero or less leaves only the deadline of
// the caller's context. The default is DefaultTimeout.
func WithTimeout(timeout time.Duration) ClientOption {
	return func(c *Client) { c.timeout = max(timeout, 0) }
}

// WithUserAgent puts product tokens of the caller's own, such as
// "billing/2.3", before the SDK's in the User-Agent
// ("billing/2.3 timerkernel-go/0.1.0"): the application is the more
// significant product, as in the other SDKs.
func WithUserAgent(userAgent string) ClientOption {
	return func(c *Client) {
		if userAgent = strings.TrimSpace(userAgent); userAgent != "" {
			c.userAgent = userAgent + " " + sdkName + "/" + Version
		}
	}
}

// WithRetries sets how many times a call that is safe to repeat is retried
// after a connection error or a 503; zero turns retries off. The default is
// DefaultRetries.
func WithRetries(retries int) ClientOption {
	return func(c *Client) { c.retries = max(retries, 0) }
}

// WithBackoff sets the bound of the first wait between retries and the cap
// that the doubling bound never passes; each wait is drawn at random up to
// the bound. The cap also limits how long a Retry-After is honoured.
func WithBackoff(initial, maximum time.Duration) ClientOption {
	return func(c *Client) {
		c.backoff = max(initial, 0)
		c.maxBackoff = max(maximum, 0)
	}
}

// NewClient returns a Client with the defaults changed by opts.
func NewClient(opts ...ClientOption) *Client {
	c := &Client{
		baseURL:    DefaultBaseURL,
		httpClient: &http.Client{},
		timeout:    DefaultTimeout,
		userAgent:  sdkName + "/" + Version,
		retries:    DefaultRetries,
		backoff:    DefaultBackoff,
		maxBackoff: DefaultMaxBackoff,
		sleep:      sleepContext,
		jitter:     fullJitter,
		now:        time.Now,
	}
	for _, opt := range opts {
		opt(c)
	}

	return c
}

// call is one API call: what to send, and whether it may be sent again.
type call struct {
	method  string
	path    string
	query   url.Values
	body    any
	ifMatch string
	// repeatable is true for the calls whose repetition cannot change the
	// outcome: reads, deletes, creates (deduplicated by id) and updates
	// with an expected version.
	repeatable bool
}

// answer is an HTTP answer read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// send makes the call, retrying it when allowed, and decodes a 2xx answer's
// JSON into out (unless out is nil). An answer of 300 or more is an *Error.
func (c *Client) send(ctx context.Context, call call, out any) error {
	var body []byte
	if call.body != nil {
		var err error
		if body, err = json.Marshal(call.body); err != nil {
			return sdkError("encoding the request of %s %s: %w", call.method, call.path, err)
		}
	}

	target := c.baseURL + call.path
	if len(call.query) > 0 {
		target += "?" + call.query.Encode()
	}

	for retry := 0; ; retry++ {
		got, err := c.exchange(ctx, call, target, body)
		if err == nil && (got.status < 200 || got.status >= 300) {
			err = newError(got.status, got.body, got.header)
		}

		delay, again := c.retryDelay(call, got, err, retry)
		if !again {
			if err != nil {
				return err
			}

			return decodeAnswer(call, got, out)
		}

		// A wait that would outlast the caller's deadline cannot lead to an
		// answer: the failure at hand says more than a timeout would.
		if deadline, ok := ctx.Deadline(); ok && c.now().Add(delay).After(deadline) {
			return err
		}

		if waitErr := c.sleep(ctx, delay); waitErr != nil {
			return contextError(ctx, call.method, target, waitErr)
		}
	}
}

// exchange sends one HTTP request and reads its answer whole, within the
// client's per-request timeout.
func (c *Client) exchange(ctx context.Context, call call, target string, body []byte) (*answer, error) {
	attemptCtx, cancel := ctx, context.CancelFunc(func() {})
	if c.timeout > 0 {
		attemptCtx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	defer cancel()

	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}

	req, err := http.NewRequestWithContext(attemptCtx, call.method, target, reader)
	if err != nil {
		return nil, sdkError("building the request %s %s: %w", call.method, target, err)
	}

	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}

	if call.ifMatch != "" {
		req.Header.Set("If-Match", call.ifMatch)
	}

	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, transportError(ctx, call.method, target, err)
	}
	defer resp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, transportError(ctx, call.method, target, err)
	}

	if len(data) > maxAnswerBytes {
		return nil, sdkError("%s %s: the answer is over %d bytes", call.method, target, maxAnswerBytes)
	}

	return &answer{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// retryDelay decides whether the outcome of attempt number retry (from 0) is
// worth another attempt, and after how long.
func (c *Client) retryDelay(call call, got *answer, err error, retry int) (time.Duration, bool) {
	if !call.repeatable || retry >= c.retries {
		return 0, false
	}

	var connErr *ConnectionError
	if errors.As(err, &connErr) {
		return c.jitter(c.backoffBound(retry)), true
	}

	if got == nil || got.status != http.StatusServiceUnavailable {
		return 0, false
	}

	if wait, ok := parseRetryAfter(got.header.Get("Retry-After"), c.now()); ok {
		return min(wait, c.maxBackoff), true
	}

	return c.jitter(c.backoffBound(retry)), true
}

// backoffBound is the longest wait before retry number retry+1: the initial
// backoff doubled retry times, capped.
func (c *Client) backoffBound(retry int) time.Duration {
	bound := c.backoff
	for range retry {
		if bound >= c.maxBackoff/2 {
			return c.maxBackoff
		}

		bound *= 2
	}

	return min(bound, c.maxBackoff)
}

// fullJitter draws a wait uniformly from zero to ceiling, so that clients
// failing together do not retry together.
func fullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}

	return rand.N(ceiling + 1)
}

func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()

	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}

	if secs, err := strconv.ParseUint(value, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, true
	}

	if at, err := http.ParseTime(value); err == nil {
		return max(at.Sub(now), 0), true
	}

	return 0, false
}

// transportError classifies a failure to get an answer: the caller's
// cancellation, a timeout, or a connection error.
func transportError(ctx context.Context, method, target string, err error) error {
	if ctx.Err() != nil {
		return contextError(ctx, method, target, ctx.Err())
	}

	// The *url.Error of net/http repeats the method and URL that the SDK's
	// errors already name.
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}

	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return &TimeoutError{Method: method, URL: target, Err: err}
	}

	return &ConnectionError{Method: method, URL: target, Err: err}
}

// contextError is the error of a call that the caller's context stopped.
func contextError(ctx context.Context, method, target string, cause error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		cause = ctxErr
	}

	if errors.Is(cause, context.DeadlineExceeded) {
		return &TimeoutError{Method: method, URL: target, Err: cause}
	}

	return fmt.Errorf("%w: %s %s: %w", ErrSDK, method, target, cause)
}

func decodeAnswer(call call, got *answer, out any) error {
	if out == nil {
		return nil
	}

	if err := json.Unmarshal(got.body, out); err != nil {
		return sdkError("%s %s: the answer is not the expected JSON: %w", call.method, call.path, err)
	}

	return nil
}
