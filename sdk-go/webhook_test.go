package timers_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	timers "github.com/timerkernel/timerkernel/sdk-go"
)

// signatureVectors is the repository's shared file of Timer-Signature cases.
type signatureVectors struct {
	Signing []struct {
		Name      string   `json:"name"`
		Secrets   []string `json:"secrets"`
		Timestamp int64    `json:"timestamp"`
		Body      string   `json:"body"`
		Header    string   `json:"header"`
	} `json:"signing"`
	Verifying []struct {
		Name             string   `json:"name"`
		Header           string   `json:"header"`
		Secrets          []string `json:"secrets"`
		Body             string   `json:"body"`
		Now              int64    `json:"now"`
		ToleranceSeconds int64    `json:"tolerance_seconds"`
		Valid            bool     `json:"valid"`
	} `json:"verifying"`
}

func loadVectors(t *testing.T) signatureVectors {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "signatures.json"))
	if err != nil {
		t.Fatalf("the shared signature vectors: %v", err)
	}

	var vectors signatureVectors
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}

	if len(vectors.Signing) == 0 || len(vectors.Verifying) == 0 {
		t.Fatal("the vector file has no cases")
	}

	return vectors
}

// sign makes a Timer-Signature header as the service does, for the tests
// of receivers; the signing vectors check it.
func sign(timestamp int64, body []byte, secrets ...string) string {
	parts := []string{"t=" + strconv.FormatInt(timestamp, 10)}
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(strconv.FormatInt(timestamp, 10) + "."))
		mac.Write(body)
		parts = append(parts, "v1="+hex.EncodeToString(mac.Sum(nil)))
	}

	return strings.Join(parts, ",")
}

func clockAt(unix int64) timers.VerifyOption {
	return timers.WithClock(func() time.Time { return time.Unix(unix, 0) })
}

func TestVerifySignatureVectors(t *testing.T) {
	for _, tc := range loadVectors(t).Verifying {
		t.Run(tc.Name, func(t *testing.T) {
			err := timers.VerifySignature(tc.Header, []byte(tc.Body), tc.Secrets[0],
				timers.WithPreviousSecrets(tc.Secrets[1:]...),
				timers.WithTolerance(time.Duration(tc.ToleranceSeconds)*time.Second),
				clockAt(tc.Now))

			if tc.Valid && err != nil {
				t.Errorf("refused: %v", err)
			}

			if !tc.Valid && (err == nil || !errors.Is(err, timers.ErrInvalidSignature) || !errors.Is(err, timers.ErrSDK)) {
				t.Errorf("accepted, or not an ErrInvalidSignature: %v", err)
			}
		})
	}
}

func TestSigningVectorsVerify(t *testing.T) {
	for _, tc := range loadVectors(t).Signing {
		t.Run(tc.Name, func(t *testing.T) {
			if got := sign(tc.Timestamp, []byte(tc.Body), tc.Secrets...); got != tc.Header {
				t.Fatalf("the test signer gives %q, want %q", got, tc.Header)
			}

			for _, secret := range tc.Secrets {
				if err := timers.VerifySignature(tc.Header, []byte(tc.Body), secret, clockAt(tc.Timestamp)); err != nil {
					t.Errorf("secret %q: %v", secret, err)
				}
			}

			if err := timers.VerifySignature(tc.Header, []byte(tc.Body), "not-"+tc.Secrets[0], clockAt(tc.Timestamp)); err == nil {
				t.Error("a wrong secret verified")
			}
		})
	}
}

func TestVerifySignatureDefaults(t *testing.T) {
	body := []byte(`{"namespace":"ops","id":"x","fire_at":"2026-01-01T00:00:00Z","attempt":1,"payload":null}`)
	now := time.Now().Unix()

	if err := timers.VerifySignature(sign(now, body, "s"), body, "s"); err != nil {
		t.Errorf("a fresh signature with the real clock: %v", err)
	}

	// The default tolerance is five minutes, either way.
	if err := timers.VerifySignature(sign(now-290, body, "s"), body, "s"); err != nil {
		t.Errorf("290 s old: %v", err)
	}

	if err := timers.VerifySignature(sign(now-310, body, "s"), body, "s"); err == nil {
		t.Error("310 s old was accepted")
	}

	if err := timers.VerifySignature(sign(now+310, body, "s"), body, "s"); err == nil {
		t.Error("310 s ahead was accepted")
	}
}

func TestVerifySignatureRefusesWhatIsAmbiguousOrUnkeyed(t *testing.T) {
	body := []byte(`{}`)
	header := sign(1767225600, body, "s")

	if err := timers.VerifySignature(header, body, "", clockAt(1767225600)); !errors.Is(err, timers.ErrInvalidSignature) {
		t.Errorf("an empty secret: %v", err)
	}

	// An empty secret signs too: it must not count as a secret.
	emptyKeyed := sign(1767225600, body, "")
	if err := timers.VerifySignature(emptyKeyed, body, "", clockAt(1767225600), timers.WithPreviousSecrets("")); err == nil {
		t.Error("a signature made with an empty secret was accepted")
	}

	twoTimes := "t=1767225600," + header
	if err := timers.VerifySignature(twoTimes, body, "s", clockAt(1767225600)); !errors.Is(err, timers.ErrInvalidSignature) {
		t.Errorf("two timestamps: %v", err)
	}
}

func TestParseCallback(t *testing.T) {
	callback, err := timers.ParseCallback([]byte(
		`{"namespace":"billing","id":"invoice-7","fire_at":"2026-01-01T00:00:00.250Z","attempt":2,"payload":{"amount":42},"later":true}`))
	if err != nil {
		t.Fatal(err)
	}

	want := time.Date(2026, 1, 1, 0, 0, 0, 250_000_000, time.UTC)
	if callback.Namespace != "billing" || callback.ID != "invoice-7" || !callback.FireAt.Equal(want) ||
		callback.Attempt != 2 || string(callback.Payload) != `{"amount":42}` {
		t.Errorf("parsed %+v", callback)
	}

	callback, err = timers.ParseCallback([]byte(`{"namespace":"b","id":"i","fire_at":"2026-01-01T00:00:00Z","attempt":1}`))
	if err != nil || string(callback.Payload) != "null" {
		t.Errorf("without a payload: %+v, %v", callback, err)
	}
}

func TestParseCallbackRefusesOtherBodies(t *testing.T) {
	for _, body := range []string{
		``,
		`[]`,
		`not json`,
		`{"namespace":"b","id":"i","attempt":1}`,
		`{"namespace":"b","id":"i","fire_at":"tomorrow","attempt":1}`,
		`{"id":"i","fire_at":"2026-01-01T00:00:00Z","attempt":1}`,
		`{"namespace":"b","fire_at":"2026-01-01T00:00:00Z","attempt":1}`,
		`{"namespace":"b","id":"i","fire_at":"2026-01-01T00:00:00Z","attempt":0}`,
		`{"namespace":"b","id":"i","fire_at":"2026-01-01T00:00:00Z","attempt":"1"}`,
	} {
		if _, err := timers.ParseCallback([]byte(body)); !errors.Is(err, timers.ErrInvalidCallback) {
			t.Errorf("%q: %v", body, err)
		}
	}
}

func TestAnswerJSON(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.FixedZone("EET", 2*3600))
	cases := map[string]struct {
		answer *timers.Answer
		want   string
	}{
		"at a time":     {timers.Reschedule(at), `{"next_fire_at": "2026-12-03T08:00:00Z"}`},
		"after a delay": {timers.RescheduleIn(90 * time.Minute), `{"next_delay_seconds": 5400}`},
		"now":           {timers.RescheduleIn(0), `{"next_delay_seconds": 0}`},
		"with a null payload": {timers.RescheduleIn(time.Second).WithPayload(nil),
			`{"next_delay_seconds": 1, "payload": null}`},
		"with everything": {
			timers.Reschedule(at).
				WithPayload(map[string]int{"round": 2}).
				WithCallback(timers.CallbackTarget{URL: "https://a.example/next", Timeout: 1500 * time.Millisecond}).
				WithRetryPolicy(timers.RetryPolicy{MaxAttempts: 3, InitialInterval: 5 * time.Second}),
			`{"next_fire_at": "2026-12-03T08:00:00Z", "payload": {"round": 2},
			  "callback": {"url": "https://a.example/next", "timeout_seconds": 1.5},
			  "retry_policy": {"max_attempts": 3, "initial_interval_seconds": 5}}`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			data, err := json.Marshal(tc.answer)
			if err != nil {
				t.Fatal(err)
			}

			assertJSON(t, data, tc.want)
		})
	}
}

func TestAnswerWithMethodsCopy(t *testing.T) {
	base := timers.RescheduleIn(time.Minute)
	_ = base.WithPayload("changed")

	data, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}

	assertJSON(t, data, `{"next_delay_seconds": 60}`)
}

func TestAnswerThatCannotBeEncoded(t *testing.T) {
	for name, answer := range map[string]*timers.Answer{
		"a function as payload": timers.RescheduleIn(time.Minute).WithPayload(func() {}),
		"the zero answer":       {},
		"the zero time":         timers.Reschedule(time.Time{}).WithPayload(1),
	} {
		if data, err := json.Marshal(answer); err == nil || !errors.Is(err, timers.ErrSDK) {
			t.Errorf("%s: encoded as %s, error %v", name, data, err)
		}
	}
}

const callbackBody = `{"namespace":"billing","id":"invoice-7","fire_at":"2026-01-01T00:00:00.000Z","attempt":1,"payload":{"amount":42}}`

// postCallback sends a callback request through handler and returns what it
// wrote.
func postCallback(t *testing.T, handler http.Handler, header string, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/hooks/invoice", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set(timers.SignatureHeader, header)
	}

	recorder := httptest.NewRecorder()
	handler.ServeHTTP(recorder, req)
	return recorder
}

func TestWebhookHandlerCallsTheFunctionWithTheCallback(t *testing.T) {
	var got []timers.Callback
	handler := timers.NewWebhookHandler("whsec_test_1", func(ctx context.Context, callback timers.Callback) (*timers.Answer, error) {
		got = append(got, callback)
		return nil, nil
	})

	answer := postCallback(t, handler, sign(time.Now().Unix(), []byte(callbackBody), "whsec_test_1"), callbackBody)

	if answer.Code != http.StatusNoContent {
		t.Errorf("status %d", answer.Code)
	}

	if len(got) != 1 || got[0].ID != "invoice-7" || got[0].Namespace != "billing" ||
		got[0].Attempt != 1 || string(got[0].Payload) != `{"amount":42}` {
		t.Errorf("the function saw %+v", got)
	}
}

func TestWebhookHandlerWritesTheAnswer(t *testing.T) {
	handler := timers.NewWebhookHandler("whsec_test_1", func(ctx context.Context, callback timers.Callback) (*timers.Answer, error) {
		return timers.RescheduleIn(time.Hour).WithPayload(map[string]int{"amount": 43}), nil
	})

	answer := postCallback(t, handler, sign(time.Now().Unix(), []byte(callbackBody), "whsec_test_1"), callbackBody)
	body := answer.Body.Bytes()

	if answer.Code != http.StatusOK || answer.Header().Get("Content-Type") != "application/json" {
		t.Errorf("status %d, type %q", answer.Code, answer.Header().Get("Content-Type"))
	}

	assertJSON(t, body, `{"next_delay_seconds": 3600, "payload": {"amount": 43}}`)
}

func TestWebhookHandlerAcceptsAPreviousSecret(t *testing.T) {
	handler := timers.NewWebhookHandler("new-secret", func(ctx context.Context, callback timers.Callback) (*timers.Answer, error) {
		return nil, nil
	}, timers.WithPreviousSecrets("old-secret"))

	answer := postCallback(t, handler, sign(time.Now().Unix(), []byte(callbackBody), "old-secret"), callbackBody)

	if answer.Code != http.StatusNoContent {
		t.Errorf("status %d", answer.Code)
	}
}

func TestWebhookHandlerRefusals(t *testing.T) {
	calls := 0
	handler := timers.NewWebhookHandler("whsec_test_1", func(ctx context.Context, callback timers.Callback) (*timers.Answer, error) {
		calls++
		if callback.ID == "fails" {
			return nil, errors.New("the database is down")
		}

		return timers.RescheduleIn(time.Minute).WithPayload(func() {}), nil
	})
	now := time.Now().Unix()
	notCallback := `{"hello": "world"}`
	failing := strings.Replace(callbackBody, "invoice-7", "fails", 1)
	unencodable := strings.Replace(callbackBody, "invoice-7", "unencodable", 1)

	cases := []struct {
		name   string
		header string
		body   string
		status int
		called bool
	}{
		{"no signature", "", callbackBody, http.StatusUnauthorized, false},
		{"wrong secret", sign(now, []byte(callbackBody), "other"), callbackBody, http.StatusUnauthorized, false},
		{"stale", sign(now-3600, []byte(callbackBody), "whsec_test_1"), callbackBody, http.StatusUnauthorized, false},
		{"body changed", sign(now, []byte(callbackBody), "whsec_test_1"), callbackBody + " ", http.StatusUnauthorized, false},
		{"not a callback", sign(now, []byte(notCallback), "whsec_test_1"), notCallback, http.StatusBadRequest, false},
		{"the function fails", sign(now, []byte(failing), "whsec_test_1"), failing, http.StatusInternalServerError, true},
		{"the answer cannot be encoded", sign(now, []byte(unencodable), "whsec_test_1"), unencodable, http.StatusInternalServerError, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := calls
			answer := postCallback(t, handler, tc.header, tc.body)
			body := answer.Body.Bytes()

			if answer.Code != tc.status {
				t.Errorf("status %d, want %d", answer.Code, tc.status)
			}

			if (calls > before) != tc.called {
				t.Errorf("function called: %v, want %v", calls > before, tc.called)
			}

			if strings.Contains(string(body), "database") {
				t.Errorf("the function's error leaked into the answer: %q", body)
			}
		})
	}
}

func TestWebhookHandlerTakesOnlyPost(t *testing.T) {
	handler := timers.NewWebhookHandler("s", func(ctx context.Context, callback timers.Callback) (*timers.Answer, error) {
		t.Error("the function was called")
		return nil, nil
	})
	recorder := httptest.NewRecorder()

	handler.ServeHTTP(recorder, httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/hooks", nil))

	if recorder.Code != http.StatusMethodNotAllowed || recorder.Header().Get("Allow") != http.MethodPost {
		t.Errorf("status %d, Allow %q", recorder.Code, recorder.Header().Get("Allow"))
	}
}

func TestWebhookHandlerBoundsTheBody(t *testing.T) {
	handler := timers.NewWebhookHandler("s", func(ctx context.Context, callback timers.Callback) (*timers.Answer, error) {
		t.Error("the function was called")
		return nil, nil
	})

	answer := postCallback(t, handler, "t=1,v1=00", strings.Repeat(" ", 16<<20+1))

	if answer.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d", answer.Code)
	}
}

func TestNewWebhookHandlerNeedsASecretAndAFunction(t *testing.T) {
	fn := func(ctx context.Context, callback timers.Callback) (*timers.Answer, error) { return nil, nil }
	for name, build := range map[string]func(){
		"no secret":   func() { timers.NewWebhookHandler("", fn) },
		"no function": func() { timers.NewWebhookHandler("s", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			build()
		}()
	}
}
