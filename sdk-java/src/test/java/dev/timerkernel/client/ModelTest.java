package dev.timerkernel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ModelTest {
    @Test
    void a_create_request_needs_exactly_one_fire_time() {
        CreateTimerRequest.Builder neither =
                CreateTimerRequest.builder().id("r").callbackUrl("https://h.example/");

        assertThrows(IllegalStateException.class, neither::build);
        assertThrows(
                NullPointerException.class,
                () -> CreateTimerRequest.builder().id("r").delay(Duration.ZERO).build());

        CreateTimerRequest request = neither.delay(Duration.ofMinutes(1))
                .fireAt(Instant.parse("2026-12-03T08:00:00Z"))
                .build();
        assertEquals(Optional.of(Instant.parse("2026-12-03T08:00:00Z")), request.fireAt());
        assertEquals(Optional.empty(), request.delay());
    }

    @Test
    void builders_copy_what_they_are_given() {
        Map<String, Object> payload = new HashMap<>();
        payload.put("n", 1);
        List<String> tags = new ArrayList<>(List.of("a"));
        payload.put("tags", tags);
        CreateTimerRequest.Builder builder = CreateTimerRequest.builder()
                .id("r")
                .delay(Duration.ZERO)
                .callbackUrl("https://h.example/")
                .payload(payload);

        CreateTimerRequest request = builder.build();
        payload.put("n", 2);
        tags.add("b");
        builder.id("other");

        assertEquals(Map.of("n", 1, "tags", List.of("a")), request.payload());
        assertEquals("r", request.id());
    }

    @Test
    void payloads_of_beans_and_scalars_become_plain_json() {
        DecodingTest.Cart cart = new DecodingTest.Cart();
        cart.cart = 3;
        cart.items = List.of("x");

        Object plain = CreateTimerRequest.builder()
                .id("r")
                .delay(Duration.ZERO)
                .callbackUrl("https://h.example/")
                .payload(cart)
                .build()
                .payload();

        Map<String, Object> expected = new LinkedHashMap<>();
        expected.put("cart", 3);
        expected.put("items", List.of("x"));
        expected.put("gift", false);
        expected.put("note", null);
        assertEquals(expected, plain);
        assertEquals("text", TimerUpdate.builder().payload("text").build().payload());
    }

    @Test
    void a_payload_that_is_not_json_is_refused_at_once() {
        assertThrows(
                IllegalArgumentException.class,
                () -> CreateTimerRequest.builder().payload(new Object() {
                    @SuppressWarnings("unused")
                    public Object getSelf() {
                        return this;
                    }
                }));
    }

    @Test
    void an_update_tells_a_null_payload_from_no_payload() {
        TimerUpdate none = TimerUpdate.builder().build();
        TimerUpdate cleared = TimerUpdate.builder().payload(null).build();

        assertFalse(none.hasPayload());
        assertTrue(cleared.hasPayload());
        assertNotEquals(none, cleared);
        assertEquals("{}", new String(Json.bytes(Json.updateBody(none))));
        assertEquals("{\"payload\":null}", new String(Json.bytes(Json.updateBody(cleared))));
    }

    @Test
    void the_retry_policy_starts_from_the_contract_defaults() {
        RetryPolicy policy = RetryPolicy.defaults();

        assertEquals(10, policy.maxAttempts());
        assertEquals(Duration.ofSeconds(1), policy.initialInterval());
        assertEquals(2.0, policy.backoffCoefficient());
        assertEquals(Duration.ofMinutes(10), policy.maxInterval());
        assertEquals(Optional.empty(), policy.maxDuration());
        assertEquals(policy, RetryPolicy.builder().build());
        assertEquals(
                RetryPolicy.UNLIMITED_ATTEMPTS,
                policy.toBuilder().maxAttempts(0).build().maxAttempts());
    }

    @Test
    void a_callback_hides_header_values_when_printed() {
        Callback callback = Callback.builder()
                .url("https://h.example/")
                .header("Authorization", "Bearer secret-value")
                .build();

        assertFalse(callback.toString().contains("secret-value"));
        assertEquals(callback, callback.toBuilder().build());
        assertThrows(
                UnsupportedOperationException.class, () -> callback.headers().put("x", "y"));
    }

    @Test
    void list_requests_refuse_the_unknown_status() {
        assertThrows(
                IllegalArgumentException.class,
                () -> ListTimersRequest.builder().status(TimerStatus.UNKNOWN));
        ListTimersRequest request =
                ListTimersRequest.builder().status(TimerStatus.FAILED).limit(5).build();
        assertEquals(request, request.toBuilder().build());
        assertNotEquals(request, request.toBuilder().pageToken("t").build());
    }

    @Test
    void a_timer_round_trips_through_its_builder() {
        Timer timer = Json.timer(Fixtures.parse(Fixtures.timer("shop", "r")));

        assertEquals(timer, timer.toBuilder().build());
        assertNotEquals(timer, timer.toBuilder().version(8).build());
        assertEquals(timer.hashCode(), timer.toBuilder().build().hashCode());
    }

    @Test
    void a_batch_result_holds_a_timer_or_an_error() {
        assertThrows(IllegalArgumentException.class, () -> new BatchCreateResult(200, null, null));
    }
}
