package timers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the header that carries the signature of a callback:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">", with one v1 per
// secret while the service's secret is being replaced.
const SignatureHeader = "Timer-Signature"

// DefaultTolerance is how far the signing time of a callback may be from the
// receiver's clock, either way, before VerifySignature refuses it as a
// possible replay.
const DefaultTolerance = 300 * time.Second

// maxCallbackBytes bounds the body NewWebhookHandler reads: well above the
// service's payload limit of 64 KiB, and its default request limit of 8 MiB.
const maxCallbackBytes = 16 << 20

var (
	// ErrInvalidSignature is matched (errors.Is) by every error of
	// VerifySignature.
	ErrInvalidSignature = fmt.Errorf("%w: invalid signature", ErrSDK)
	// ErrInvalidCallback is matched by every error of ParseCallback.
	ErrInvalidCallback = fmt.Errorf("%w: invalid callback body", ErrSDK)
)

// VerifyOption changes how VerifySignature and NewWebhookHandler check a
// signature.
type VerifyOption func(*verifyConfig)

type verifyConfig struct {
	secrets   []string
	tolerance time.Duration
	now       func() time.Time
}

// WithPreviousSecrets accepts signatures made with these secrets as well,
// while the service moves from one of them to the new one.
func WithPreviousSecrets(secrets ...string) VerifyOption {
	return func(c *verifyConfig) { c.secrets = append(c.secrets, secrets...) }
}

// WithTolerance sets how far the signing time may be from now, either way;
// the default is DefaultTolerance.
func WithTolerance(tolerance time.Duration) VerifyOption {
	return func(c *verifyConfig) { c.tolerance = max(tolerance, 0) }
}

// WithClock makes the check read the time from now instead of time.Now.
func WithClock(now func() time.Time) VerifyOption {
	return func(c *verifyConfig) {
		if now != nil {
			c.now = now
		}
	}
}

// VerifySignature checks the Timer-Signature header of a callback against
// its raw body: it returns nil if the header's time is within the tolerance
// of now and any of its v1 signatures is the HMAC-SHA256 of "<t>.<body>"
// under secret (or a secret given by WithPreviousSecrets). The comparison
// takes constant time. Otherwise the error, which matches
// ErrInvalidSignature, says what is wrong.
func VerifySignature(header string, body []byte, secret string, opts ...VerifyOption) error {
	config := verifyConfig{secrets: []string{secret}, tolerance: DefaultTolerance, now: time.Now}
	for _, opt := range opts {
		opt(&config)
	}

	secrets := make([]string, 0, len(config.secrets))
	for _, s := range config.secrets {
		if s != "" {
			secrets = append(secrets, s)
		}
	}

	if len(secrets) == 0 {
		return fmt.Errorf("%w: no secret to verify it with", ErrInvalidSignature)
	}

	timestamp, signatures, err := parseSignatureHeader(header)
	if err != nil {
		return err
	}

	signedAt, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: the timestamp %q is not a number", ErrInvalidSignature, timestamp)
	}

	age := config.now().Sub(time.Unix(signedAt, 0))
	if age > config.tolerance || -age > config.tolerance {
		return fmt.Errorf("%w: signed at %d, more than %s from now",
			ErrInvalidSignature, signedAt, config.tolerance)
	}

	message := make([]byte, 0, len(timestamp)+1+len(body))
	message = append(append(append(message, timestamp...), '.'), body...)
	for _, s := range secrets {
		mac := hmac.New(sha256.New, []byte(s))
		mac.Write(message)
		expected := mac.Sum(nil)
		for _, signature := range signatures {
			if hmac.Equal(expected, signature) {
				return nil
			}
		}
	}

	return fmt.Errorf("%w: no v1 signature matches the body", ErrInvalidSignature)
}

// parseSignatureHeader splits "t=...,v1=...,v1=..." into the timestamp text
// and the decoded v1 signatures. Other schemes and malformed v1 values are
// skipped, so that one bad entry does not hide a good one.
func parseSignatureHeader(header string) (string, [][]byte, error) {
	var timestamp string
	var haveTimestamp bool
	var signatures [][]byte
	for _, part := range strings.Split(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}

		switch strings.TrimSpace(key) {
		case "t":
			// Two timestamps leave open which one was signed.
			if haveTimestamp {
				return "", nil, fmt.Errorf("%w: more than one timestamp", ErrInvalidSignature)
			}

			timestamp, haveTimestamp = strings.TrimSpace(value), true
		case "v1":
			decoded, err := hex.DecodeString(strings.TrimSpace(value))
			if err == nil && len(decoded) == sha256.Size {
				signatures = append(signatures, decoded)
			}
		}
	}

	if !haveTimestamp {
		return "", nil, fmt.Errorf("%w: the header has no timestamp", ErrInvalidSignature)
	}

	if len(signatures) == 0 {
		return "", nil, fmt.Errorf("%w: the header has no v1 signature", ErrInvalidSignature)
	}

	return timestamp, signatures, nil
}

// Callback is the body of a callback request: which timer fired, for which
// fire time, at which attempt, with what payload. Receivers deduplicate on
// (Namespace, ID, FireAt), as a delivery may arrive more than once.
type Callback struct {
	Namespace string
	ID        string
	FireAt    time.Time
	// Attempt counts from 1 since the timer was (re)scheduled.
	Attempt int
	// Payload is the timer's payload as raw JSON; "null" when it has none.
	Payload json.RawMessage
}

// ParseCallback reads the body of a callback request. Verify its signature
// first. The error matches ErrInvalidCallback.
func ParseCallback(body []byte) (*Callback, error) {
	var wire wireCallbackBody
	if err := json.Unmarshal(body, &wire); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCallback, err)
	}

	var missing []string
	if wire.Namespace == "" {
		missing = append(missing, "namespace")
	}

	if wire.ID == "" {
		missing = append(missing, "id")
	}

	if wire.FireAt == "" {
		missing = append(missing, "fire_at")
	}

	if wire.Attempt < 1 {
		missing = append(missing, "attempt")
	}

	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing or invalid %s",
			ErrInvalidCallback, strings.Join(missing, ", "))
	}

	fireAt, err := parseTime("fire_at", wire.FireAt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCallback, err)
	}

	payload := wire.Payload
	if payload == nil {
		payload = json.RawMessage("null")
	}

	return &Callback{
		Namespace: wire.Namespace,
		ID:        wire.ID,
		FireAt:    fireAt,
		Attempt:   wire.Attempt,
		Payload:   payload,
	}, nil
}

// Answer is a callback's answer that reschedules the timer: it fires again
// at the new time, with its attempts counted from zero. Make one with
// Reschedule or RescheduleIn; the With methods return a changed copy.
// Answering no Answer (nil) means the delivery is done.
type Answer struct {
	nextFireAt  time.Time
	nextDelay   time.Duration
	byDelay     bool
	payload     any
	hasPayload  bool
	callback    *CallbackTarget
	retryPolicy *RetryPolicy
}

// Reschedule answers that the timer fires again at at.
func Reschedule(at time.Time) *Answer {
	return &Answer{nextFireAt: at}
}

// RescheduleIn answers that the timer fires again delay after the service
// reads the answer (next_delay_seconds).
func RescheduleIn(delay time.Duration) *Answer {
	return &Answer{nextDelay: delay, byDelay: true}
}

// WithPayload replaces the timer's payload for the next firing; nil makes it
// null. Without it the payload stays as it is.
func (a *Answer) WithPayload(payload any) *Answer {
	next := *a
	next.payload, next.hasPayload = payload, true
	return &next
}

// WithCallback replaces the timer's callback for the next firing.
func (a *Answer) WithCallback(callback CallbackTarget) *Answer {
	next := *a
	next.callback = &callback
	return &next
}

// WithRetryPolicy replaces the timer's retry policy for the next firing.
func (a *Answer) WithRetryPolicy(policy RetryPolicy) *Answer {
	next := *a
	next.retryPolicy = &policy
	return &next
}

// MarshalJSON writes the answer as the service reads it, for receivers that
// write their own response.
// An Answer without a fire time (the zero Answer, or Reschedule of the zero
// time) is an error rather than a fire time in year 1, which would make the
// timer fire again at once, without end.
func (a *Answer) MarshalJSON() ([]byte, error) {
	var wire wireAnswer
	switch {
	case a.byDelay:
		delay := seconds(a.nextDelay)
		wire.NextDelaySeconds = &delay
	case a.nextFireAt.IsZero():
		return nil, sdkError("an Answer needs a fire time: make it with Reschedule or RescheduleIn")
	default:
		wire.NextFireAt = formatTime(a.nextFireAt)
	}

	if a.hasPayload {
		payload, err := json.Marshal(a.payload)
		if err != nil {
			return nil, sdkError("encoding the answer's payload: %w", err)
		}

		wire.Payload = payload
	}

	if a.callback != nil {
		callback := callbackToWire(*a.callback)
		wire.Callback = &callback
	}

	wire.RetryPolicy = retryPolicyToWire(a.retryPolicy)
	return json.Marshal(wire)
}

// CallbackFunc handles one verified, parsed callback. A nil Answer means the
// delivery is done; an error makes the service retry the delivery by the
// timer's retry policy (the error itself is not sent: log it if it matters).
type CallbackFunc func(ctx context.Context, callback Callback) (*Answer, error)

// NewWebhookHandler returns an http.Handler for the callbacks of timers: it
// verifies the Timer-Signature header with secret (and opts), parses the
// body, calls fn with the request's context, and writes fn's answer.
//
// It answers 405 to a method other than POST, 413 to a body over 16 MiB, 401
// when the signature does not verify, 400 when the body is not a callback,
// 500 when fn fails (so that the service retries), 204 when fn answers nil
// and 200 with the answer's JSON otherwise.
//
// It panics if secret is empty or fn is nil: a receiver without a secret
// would take forged callbacks.
func NewWebhookHandler(secret string, fn CallbackFunc, opts ...VerifyOption) http.Handler {
	if secret == "" {
		panic("timers: NewWebhookHandler needs a signing secret")
	}

	if fn == nil {
		panic("timers: NewWebhookHandler needs a function")
	}

	return &webhookHandler{secret: secret, fn: fn, opts: opts}
}

type webhookHandler struct {
	secret string
	fn     CallbackFunc
	opts   []VerifyOption
}

func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "callbacks are POSTed", http.StatusMethodNotAllowed)
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallbackBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "the body is too large", http.StatusRequestEntityTooLarge)
			return
		}

		http.Error(w, "the body could not be read", http.StatusBadRequest)
		return
	}

	header := r.Header.Get(SignatureHeader)
	if err := VerifySignature(header, body, h.secret, h.opts...); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}

	callback, err := ParseCallback(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	answer, err := h.fn(r.Context(), *callback)
	if err != nil {
		http.Error(w, "the callback failed", http.StatusInternalServerError)
		return
	}

	if answer == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}

	data, err := json.Marshal(answer)
	if err != nil {
		http.Error(w, "the answer could not be encoded", http.StatusInternalServerError)
		return
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}
