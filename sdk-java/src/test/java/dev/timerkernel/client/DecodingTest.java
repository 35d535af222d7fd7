package dev.timerkernel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class DecodingTest {
    private final StubServer stub = StubServer.start();
    private final TimerClient client = stub.client(new RecordingPause()).build();

    @AfterEach
    void stop() {
        stub.close();
    }

    @Test
    void a_timer_is_read_with_every_field() {
        stub.reply(200, Fixtures.timer("shop", "cart-77"));

        Timer timer = client.getTimer("shop", "cart-77");

        assertEquals("shop", timer.namespace());
        assertEquals("cart-77", timer.id());
        assertEquals(Instant.parse("2026-12-03T08:00:00Z"), timer.fireAt());
        assertEquals(
                Callback.builder()
                        .url("https://hooks.example/fire")
                        .timeout(Duration.ofMillis(2500))
                        .header("Authorization", "Bearer cb")
                        .build(),
                timer.callback());
        Map<String, Object> payload = new LinkedHashMap<>();
        payload.put("cart", 77);
        payload.put("items", List.of("a", "b"));
        payload.put("gift", false);
        payload.put("note", null);
        assertEquals(payload, timer.payload());
        assertEquals(
                RetryPolicy.builder()
                        .maxAttempts(5)
                        .initialInterval(Duration.ofMillis(500))
                        .backoffCoefficient(3.0)
                        .maxInterval(Duration.ofMinutes(1))
                        .maxDuration(Duration.ofHours(1))
                        .build(),
                timer.retryPolicy());
        assertEquals(TimerStatus.FAILED, timer.status());
        assertEquals(5, timer.attempts());
        assertEquals(Optional.empty(), timer.nextAttemptAt());
        assertEquals(
                Optional.of(new DeliveryError(
                        Instant.parse("2026-12-03T08:05:00.250Z"),
                        DeliveryErrorKind.HTTP_STATUS,
                        "the callback answered 502",
                        502)),
                timer.lastError());
        assertEquals(Instant.parse("2026-12-01T10:00:00Z"), timer.createdAt());
        assertEquals(Instant.parse("2026-12-03T08:05:00.250Z"), timer.updatedAt());
        assertEquals(Optional.empty(), timer.executedAt());
        assertEquals(7, timer.version());
    }

    @Test
    void the_payload_is_immutable_and_converts_to_a_type() {
        stub.reply(200, Fixtures.timer("shop", "cart-77"));

        Timer timer = client.getTimer("shop", "cart-77");

        @SuppressWarnings("unchecked")
        Map<String, Object> payload = (Map<String, Object>) timer.payload();
        assertThrows(UnsupportedOperationException.class, () -> payload.put("cart", 1));
        @SuppressWarnings("unchecked")
        List<Object> items = (List<Object>) payload.get("items");
        assertThrows(UnsupportedOperationException.class, () -> items.add("c"));
        Cart cart = timer.payloadAs(Cart.class);
        assertEquals(77, cart.cart);
        assertEquals(List.of("a", "b"), cart.items);
    }

    /** A caller's payload type. */
    public static final class Cart {
        public int cart;
        public List<String> items;
        public boolean gift;
        public String note;
    }

    @Test
    void values_a_newer_server_may_add_read_as_unknown() {
        stub.reply(
                200,
                Fixtures.timer("shop", "r").replace("\"failed\"", "\"paused\"").replace("\"http_status\"", "\"tls\""));

        Timer timer = client.getTimer("shop", "r");

        assertEquals(TimerStatus.UNKNOWN, timer.status());
        assertEquals(DeliveryErrorKind.UNKNOWN, timer.lastError().orElseThrow().kind());
    }

    @Test
    void attempts_are_read_newest_first() {
        stub.replyJson(
                200,
                "{'attempts': ["
                        + "{'attempt': 2, 'fire_at': '2026-12-03T08:00:00.000Z',"
                        + " 'started_at': '2026-12-03T08:00:02.000Z', 'duration_ms': 12.6,"
                        + " 'outcome': 'rescheduled', 'status_code': 200, 'error': null},"
                        + "{'attempt': 1, 'fire_at': '2026-12-03T08:00:00.000Z',"
                        + " 'started_at': '2026-12-03T08:00:00.010Z', 'duration_ms': 10000,"
                        + " 'outcome': 'failed', 'status_code': null,"
                        + " 'error': {'at': '2026-12-03T08:00:10.010Z', 'kind': 'timeout',"
                        + "           'message': 'no answer in 10 s', 'status_code': null}}]}");

        List<Attempt> attempts = client.listAttempts("shop", "r");

        assertEquals(
                List.of(
                        new Attempt(
                                2,
                                Instant.parse("2026-12-03T08:00:00Z"),
                                Instant.parse("2026-12-03T08:00:02Z"),
                                Duration.ofMillis(13),
                                AttemptOutcome.RESCHEDULED,
                                200,
                                null),
                        new Attempt(
                                1,
                                Instant.parse("2026-12-03T08:00:00Z"),
                                Instant.parse("2026-12-03T08:00:00.010Z"),
                                Duration.ofSeconds(10),
                                AttemptOutcome.FAILED,
                                null,
                                new DeliveryError(
                                        Instant.parse("2026-12-03T08:00:10.010Z"),
                                        DeliveryErrorKind.TIMEOUT,
                                        "no answer in 10 s",
                                        null))),
                attempts);
    }

    @Test
    void namespaces_are_read_with_their_counts() {
        stub.replyJson(
                200,
                "{'namespaces': [{'name': 'billing', 'counts': {'scheduled': 3, 'succeeded': 10, 'failed': 1}},"
                        + " {'name': 'shop', 'counts': {'scheduled': 0, 'succeeded': 0, 'failed': 0}}]}");

        List<Namespace> namespaces = client.listNamespaces();

        assertEquals(
                List.of(
                        new Namespace("billing", new TimerCounts(3, 10, 1)),
                        new Namespace("shop", new TimerCounts(0, 0, 0))),
                namespaces);
        assertEquals(14, namespaces.get(0).counts().total());
    }

    @Test
    void a_page_is_read_with_its_token() {
        stub.reply(
                200,
                Fixtures.json("{'timers': [" + Fixtures.scheduled("shop", "a", "2026-12-03T08:00:00.000Z") + "],"
                        + " 'next_page_token': 'abc'}"));

        TimerPage page = client.listTimers("shop");

        assertEquals(1, page.timers().size());
        assertEquals(Optional.of("abc"), page.nextPageToken());
        assertEquals(RetryPolicy.defaults(), page.timers().get(0).retryPolicy());
        assertEquals(
                Callback.of("https://hooks.example/fire"), page.timers().get(0).callback());
    }

    @Test
    void times_with_an_offset_are_read_as_instants() {
        assertEquals(Instant.parse("2026-12-03T08:00:00Z"), Json.parseTime("2026-12-03T10:00:00+02:00"));
        assertEquals(Instant.parse("2026-12-03T08:00:00.123Z"), Json.parseTime("2026-12-03T08:00:00.123Z"));
    }

    @Test
    void seconds_are_read_and_written_without_losing_precision() {
        assertEquals(Duration.ofMillis(100), Json.toDuration(new BigDecimal("0.1")));
        assertEquals(Duration.ofSeconds(-1, 500_000_000), Json.toDuration(new BigDecimal("-0.5")));
        assertEquals(Duration.ofNanos(1), Json.toDuration(new BigDecimal("0.000000001")));

        ObjectNode node = Json.MAPPER.createObjectNode();
        Json.putSeconds(node, "a", Duration.ofMillis(100));
        Json.putSeconds(node, "b", Duration.ofSeconds(86400));
        Json.putSeconds(node, "c", Duration.ofNanos(100));
        assertEquals("{\"a\":0.1,\"b\":86400,\"c\":0.0000001}", new String(Json.bytes(node)));
    }
}
