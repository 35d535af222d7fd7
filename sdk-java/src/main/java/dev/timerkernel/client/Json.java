package dev.timerkernel.client;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The wire shapes of the API, kept apart from the public models so that no Jackson type or
 * annotation shows in them.
 */
final class Json {
    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamWriteFeature.WRITE_BIGDECIMAL_AS_PLAIN)
            .build();

    private Json() {}

    /** A body or field that does not have the shape the contract gives it. */
    static final class ShapeException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ShapeException(String message) {
            super(message);
        }

        ShapeException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    // -- plain values -----------------------------------------------------------

    /** Turns a caller's value into immutable plain JSON values (maps, lists, scalars). */
    static Object toPlain(Object value) {
        if (value == null) {
            return null;
        }

        JsonNode node = value instanceof JsonNode ? (JsonNode) value : MAPPER.valueToTree(value);
        return plain(node);
    }

    static Object plain(JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return null;
        }

        try {
            return freeze(MAPPER.treeToValue(node, Object.class));
        } catch (JsonProcessingException exc) {
            throw new ShapeException("not plain JSON: " + exc.getOriginalMessage(), exc);
        }
    }

    private static Object freeze(Object value) {
        if (value instanceof Map) {
            Map<String, Object> copy = new LinkedHashMap<>();
            for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
                copy.put(String.valueOf(entry.getKey()), freeze(entry.getValue()));
            }

            return Collections.unmodifiableMap(copy);
        }

        if (value instanceof List) {
            List<Object> copy = new ArrayList<>();
            for (Object item : (List<?>) value) {
                copy.add(freeze(item));
            }

            return Collections.unmodifiableList(copy);
        }

        return value;
    }

    static <T> T convert(Object plain, Class<T> type) {
        return MAPPER.convertValue(plain, type);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> plainObject(JsonNode node) {
        if (node == null || !node.isObject()) {
            return Map.of();
        }

        return (Map<String, Object>) plain(node);
    }

    // -- bytes ------------------------------------------------------------------

    static JsonNode parse(byte[] body) {
        try {
            JsonNode node = MAPPER.readTree(body);
            if (node == null || node.isMissingNode()) {
                throw new ShapeException("the body is empty");
            }

            return node;
        } catch (IOException exc) {
            throw new ShapeException("the body is not JSON: " + exc.getMessage(), exc);
        }
    }

    static byte[] bytes(JsonNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException exc) {
            throw new IllegalStateException("a JSON tree could not be written", exc);
        }
    }

    // -- scalars ----------------------------------------------------------------

    static String formatTime(Instant instant) {
        return DateTimeFormatter.ISO_INSTANT.format(instant);
    }

    static Instant parseTime(String text) {
        return OffsetDateTime.parse(text).toInstant();
    }

    static void putSeconds(ObjectNode node, String field, Duration duration) {
        if (duration.getNano() == 0) {
            node.put(field, duration.getSeconds());
        } else {
            BigDecimal seconds = BigDecimal.valueOf(duration.getSeconds())
                    .add(BigDecimal.valueOf(duration.getNano(), 9))
                    .stripTrailingZeros();
            node.put(field, seconds);
        }
    }

    static Duration toDuration(BigDecimal seconds) {
        BigDecimal whole = seconds.setScale(0, RoundingMode.FLOOR);
        long nanos = seconds.subtract(whole)
                .movePointRight(9)
                .setScale(0, RoundingMode.HALF_UP)
                .longValue();
        return Duration.ofSeconds(whole.longValueExact(), nanos);
    }

    private static JsonNode field(JsonNode node, String name) {
        JsonNode value = node.get(name);
        if (value == null || value.isNull()) {
            throw new ShapeException("'" + name + "' is missing");
        }

        return value;
    }

    private static boolean absent(JsonNode node, String name) {
        JsonNode value = node.get(name);
        return value == null || value.isNull();
    }

    static String text(JsonNode node, String name) {
        JsonNode value = field(node, name);
        if (!value.isTextual()) {
            throw new ShapeException("'" + name + "' is not a string");
        }

        return value.textValue();
    }

    static long integer(JsonNode node, String name) {
        JsonNode value = field(node, name);
        if (!value.isIntegralNumber() || !value.canConvertToLong()) {
            throw new ShapeException("'" + name + "' is not an integer");
        }

        return value.longValue();
    }

    private static Integer optionalInt(JsonNode node, String name) {
        return absent(node, name) ? null : Math.toIntExact(integer(node, name));
    }

    static Instant time(JsonNode node, String name) {
        String text = text(node, name);
        try {
            return parseTime(text);
        } catch (DateTimeParseException exc) {
            throw new ShapeException("'" + name + "' is not an RFC 3339 time: " + text, exc);
        }
    }

    private static Instant optionalTime(JsonNode node, String name) {
        return absent(node, name) ? null : time(node, name);
    }

    private static BigDecimal number(JsonNode node, String name) {
        JsonNode value = field(node, name);
        if (!value.isNumber()) {
            throw new ShapeException("'" + name + "' is not a number");
        }

        return value.decimalValue();
    }

    private static Duration seconds(JsonNode node, String name) {
        return toDuration(number(node, name));
    }

    private static JsonNode object(JsonNode node, String name) {
        JsonNode value = field(node, name);
        if (!value.isObject()) {
            throw new ShapeException("'" + name + "' is not an object");
        }

        return value;
    }

    private static Iterable<JsonNode> array(JsonNode node, String name) {
        JsonNode value = field(node, name);
        if (!value.isArray()) {
            throw new ShapeException("'" + name + "' is not an array");
        }

        return value;
    }

    // -- requests ---------------------------------------------------------------

    static ObjectNode callback(Callback callback) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("url", callback.url());
        putSeconds(node, "timeout_seconds", callback.timeout());
        ObjectNode headers = node.putObject("headers");
        callback.headers().forEach(headers::put);
        return node;
    }

    static ObjectNode retryPolicy(RetryPolicy policy) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("max_attempts", policy.maxAttempts());
        putSeconds(node, "initial_interval_seconds", policy.initialInterval());
        node.put("backoff_coefficient", policy.backoffCoefficient());
        putSeconds(node, "max_interval_seconds", policy.maxInterval());
        if (policy.maxDuration().isPresent()) {
            putSeconds(node, "max_duration_seconds", policy.maxDuration().get());
        } else {
            node.putNull("max_duration_seconds");
        }

        return node;
    }

    static ObjectNode createBody(CreateTimerRequest request) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("id", request.id());
        request.fireAt().ifPresent(fireAt -> node.put("fire_at", formatTime(fireAt)));
        request.delay().ifPresent(delay -> putSeconds(node, "delay_seconds", delay));
        node.set("callback", callback(request.callback()));
        node.set("payload", MAPPER.valueToTree(request.payload()));
        request.retryPolicy().ifPresent(policy -> node.set("retry_policy", retryPolicy(policy)));
        return node;
    }

    static ObjectNode batchBody(List<CreateTimerRequest> requests) {
        ObjectNode node = MAPPER.createObjectNode();
        ArrayNode timers = node.putArray("timers");
        for (CreateTimerRequest request : requests) {
            timers.add(createBody(request));
        }

        return node;
    }

    static ObjectNode updateBody(TimerUpdate update) {
        ObjectNode node = MAPPER.createObjectNode();
        update.fireAt().ifPresent(fireAt -> node.put("fire_at", formatTime(fireAt)));
        update.delay().ifPresent(delay -> putSeconds(node, "delay_seconds", delay));
        update.callback().ifPresent(callback -> node.set("callback", callback(callback)));
        if (update.hasPayload()) {
            node.set("payload", MAPPER.valueToTree(update.payload()));
        }

        update.retryPolicy().ifPresent(policy -> node.set("retry_policy", retryPolicy(policy)));
        return node;
    }

    static ObjectNode answerBody(RescheduleAnswer answer) {
        ObjectNode node = MAPPER.createObjectNode();
        answer.nextFireAt().ifPresent(fireAt -> node.put("next_fire_at", formatTime(fireAt)));
        answer.nextDelay().ifPresent(delay -> putSeconds(node, "next_delay_seconds", delay));
        if (answer.hasPayload()) {
            node.set("payload", MAPPER.valueToTree(answer.payload()));
        }

        answer.callback().ifPresent(callback -> node.set("callback", callback(callback)));
        answer.retryPolicy().ifPresent(policy -> node.set("retry_policy", retryPolicy(policy)));
        return node;
    }

    // -- responses --------------------------------------------------------------

    static Callback readCallback(JsonNode node) {
        Callback.Builder builder = Callback.builder().url(text(node, "url"));
        if (!absent(node, "timeout_seconds")) {
            builder.timeout(seconds(node, "timeout_seconds"));
        }

        if (!absent(node, "headers")) {
            for (Map.Entry<String, JsonNode> header : object(node, "headers").properties()) {
                builder.header(header.getKey(), header.getValue().asText());
            }
        }

        return builder.build();
    }

    static RetryPolicy readRetryPolicy(JsonNode node) {
        RetryPolicy.Builder builder = RetryPolicy.builder();
        if (!absent(node, "max_attempts")) {
            builder.maxAttempts(Math.toIntExact(integer(node, "max_attempts")));
        }

        if (!absent(node, "initial_interval_seconds")) {
            builder.initialInterval(seconds(node, "initial_interval_seconds"));
        }

        if (!absent(node, "backoff_coefficient")) {
            builder.backoffCoefficient(number(node, "backoff_coefficient").doubleValue());
        }

        if (!absent(node, "max_interval_seconds")) {
            builder.maxInterval(seconds(node, "max_interval_seconds"));
        }

        if (!absent(node, "max_duration_seconds")) {
            builder.maxDuration(seconds(node, "max_duration_seconds"));
        }

        return builder.build();
    }

    static DeliveryError readDeliveryError(JsonNode node) {
        return new DeliveryError(
                time(node, "at"),
                DeliveryErrorKind.fromWire(text(node, "kind")),
                text(node, "message"),
                optionalInt(node, "status_code"));
    }

    static Timer timer(JsonNode node) {
        if (node == null || !node.isObject()) {
            throw new ShapeException("a timer is not an object");
        }

        return Timer.builder()
                .namespace(text(node, "namespace"))
                .id(text(node, "id"))
                .fireAt(time(node, "fire_at"))
                .callback(readCallback(object(node, "callback")))
                .payload(plain(node.get("payload")))
                .retryPolicy(
                        absent(node, "retry_policy")
                                ? RetryPolicy.defaults()
                                : readRetryPolicy(object(node, "retry_policy")))
                .status(TimerStatus.fromWire(text(node, "status")))
                .attempts(Math.toIntExact(integer(node, "attempts")))
                .nextAttemptAt(optionalTime(node, "next_attempt_at"))
                .lastError(absent(node, "last_error") ? null : readDeliveryError(object(node, "last_error")))
                .createdAt(time(node, "created_at"))
                .updatedAt(time(node, "updated_at"))
                .executedAt(optionalTime(node, "executed_at"))
                .version(integer(node, "version"))
                .build();
    }

    /** The timer in an error's plain details, or null if it is not one. */
    static Timer timerOrNull(Object plain) {
        if (!(plain instanceof Map)) {
            return null;
        }

        try {
            return timer(MAPPER.valueToTree(plain));
        } catch (ShapeException | ArithmeticException exc) {
            return null;
        }
    }

    static TimerPage page(JsonNode node) {
        List<Timer> timers = new ArrayList<>();
        for (JsonNode item : array(node, "timers")) {
            timers.add(timer(item));
        }

        String token = absent(node, "next_page_token") ? null : text(node, "next_page_token");
        return new TimerPage(timers, token);
    }

    static List<BatchCreateResult> batchResults(JsonNode node) {
        List<BatchCreateResult> results = new ArrayList<>();
        for (JsonNode item : array(node, "results")) {
            int status = Math.toIntExact(integer(item, "status"));
            if (!absent(item, "timer")) {
                results.add(new BatchCreateResult(status, timer(item.get("timer")), null));
            } else {
                results.add(new BatchCreateResult(status, null, error(status, object(item, "error"), null, null)));
            }
        }

        return Collections.unmodifiableList(results);
    }

    static List<Attempt> attempts(JsonNode node) {
        List<Attempt> attempts = new ArrayList<>();
        for (JsonNode item : array(node, "attempts")) {
            attempts.add(new Attempt(
                    Math.toIntExact(integer(item, "attempt")),
                    time(item, "fire_at"),
                    time(item, "started_at"),
                    Duration.ofMillis(number(item, "duration_ms")
                            .setScale(0, RoundingMode.HALF_UP)
                            .longValue()),
                    AttemptOutcome.fromWire(text(item, "outcome")),
                    optionalInt(item, "status_code"),
                    absent(item, "error") ? null : readDeliveryError(object(item, "error"))));
        }

        return Collections.unmodifiableList(attempts);
    }

    static List<Namespace> namespaces(JsonNode node) {
        List<Namespace> namespaces = new ArrayList<>();
        for (JsonNode item : array(node, "namespaces")) {
            JsonNode counts = object(item, "counts");
            namespaces.add(new Namespace(
                    text(item, "name"),
                    new TimerCounts(
                            absent(counts, "scheduled") ? 0 : integer(counts, "scheduled"),
                            absent(counts, "succeeded") ? 0 : integer(counts, "succeeded"),
                            absent(counts, "failed") ? 0 : integer(counts, "failed"))));
        }

        return Collections.unmodifiableList(namespaces);
    }

    static CallbackDelivery delivery(JsonNode node) {
        if (!node.isObject()) {
            throw new ShapeException("the body is not a JSON object");
        }

        return new CallbackDelivery(
                text(node, "namespace"),
                text(node, "id"),
                time(node, "fire_at"),
                Math.toIntExact(integer(node, "attempt")),
                plain(node.get("payload")));
    }

    /** The exception of an error object {@code {"code", "message", "details"}}. */
    static ApiException error(int status, JsonNode error, String requestId, Duration retryAfter) {
        String code = error.path("code").isTextual() ? error.get("code").textValue() : null;
        String message =
                error.path("message").isTextual() ? error.get("message").textValue() : "the server answered " + status;
        return ApiException.of(status, code, message, plainObject(error.get("details")), requestId, retryAfter);
    }
}
