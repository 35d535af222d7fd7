package dev.timerkernel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class RetryTest {
    private static final String UNAVAILABLE = Fixtures.error("unavailable", "storage down", "{}");
    private static final String TIMER = Fixtures.scheduled("shop", "r", "2026-12-03T08:00:00.000Z");

    private final StubServer stub = StubServer.start();
    private final RecordingPause pause = new RecordingPause();
    // A draw of 1.0 takes every wait at its ceiling, so the waits show the exponential growth.
    private final TimerClient client = stub.client(pause).random(() -> 1.0).build();

    @AfterEach
    void stop() {
        stub.close();
    }

    private static CreateTimerRequest create() {
        return CreateTimerRequest.builder()
                .id("r")
                .delay(Duration.ofMinutes(1))
                .callbackUrl("https://h.example/")
                .build();
    }

    @Test
    void a_503_is_retried_until_it_succeeds() {
        stub.reply(503, UNAVAILABLE).reply(503, UNAVAILABLE).reply(200, TIMER);

        Timer timer = client.getTimer("shop", "r");

        assertEquals("r", timer.id());
        assertEquals(3, stub.requests().size());
        assertEquals(List.of(Duration.ofMillis(200), Duration.ofMillis(400)), pause.waits());
    }

    @Test
    void retries_are_bounded_and_the_last_error_is_thrown() {
        for (int i = 0; i < 5; i++) {
            stub.reply(503, UNAVAILABLE);
        }

        assertThrows(UnavailableException.class, () -> client.listNamespaces());

        assertEquals(4, stub.requests().size());
        assertEquals(List.of(Duration.ofMillis(200), Duration.ofMillis(400), Duration.ofMillis(800)), pause.waits());
    }

    @Test
    void the_wait_is_capped() {
        for (int i = 0; i < 6; i++) {
            stub.reply(503, UNAVAILABLE);
        }

        TimerClient patient = stub.client(pause)
                .random(() -> 1.0)
                .maxRetries(5)
                .retryBackoff(Duration.ofSeconds(1), Duration.ofSeconds(5))
                .build();

        assertThrows(UnavailableException.class, () -> patient.listNamespaces());

        assertEquals(
                List.of(
                        Duration.ofSeconds(1),
                        Duration.ofSeconds(2),
                        Duration.ofSeconds(4),
                        Duration.ofSeconds(5),
                        Duration.ofSeconds(5)),
                pause.waits());
    }

    @Test
    void jitter_draws_each_wait_below_its_ceiling() {
        stub.reply(503, UNAVAILABLE).reply(503, UNAVAILABLE).reply(200, TIMER);
        TimerClient jittered = stub.client(pause).random(() -> 0.25).build();

        jittered.getTimer("shop", "r");

        assertEquals(List.of(Duration.ofMillis(50), Duration.ofMillis(100)), pause.waits());
    }

    @Test
    void retry_after_is_honoured_up_to_the_cap() {
        stub.reply(503, UNAVAILABLE, "Retry-After", "2")
                .reply(503, UNAVAILABLE, "Retry-After", "60")
                .reply(200, TIMER);

        client.getTimer("shop", "r");

        assertEquals(List.of(Duration.ofSeconds(2), Duration.ofSeconds(5)), pause.waits());
    }

    @Test
    void a_dropped_connection_is_retried() {
        stub.drop().drop().reply(200, TIMER);

        Timer timer = client.getTimer("shop", "r");

        assertEquals("r", timer.id());
        assertEquals(3, stub.requests().size());
        assertEquals(2, pause.waits().size());
    }

    @Test
    void a_refused_connection_is_retried_then_thrown_as_a_connection_error() throws IOException {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }

        TimerClient refused = TimerClient.builder()
                .baseUrl("http://127.0.0.1:" + port)
                .pause(pause)
                .random(() -> 1.0)
                .build();

        ConnectionException error = assertThrows(ConnectionException.class, () -> refused.getTimer("shop", "r"));

        assertEquals(3, pause.waits().size());
        assertInstanceOf(IOException.class, error.getCause());
    }

    @Test
    void creates_and_batch_creates_are_retried_since_the_server_deduplicates_them() {
        stub.reply(503, UNAVAILABLE).reply(201, TIMER).drop().replyJson(200, "{'results': []}");

        client.createTimer("shop", create());
        client.batchCreateTimers("shop", List.of(create()));

        assertEquals(4, stub.requests().size());
        assertEquals(2, pause.waits().size());
    }

    @Test
    void deletes_and_lists_are_retried() {
        stub.reply(503, UNAVAILABLE)
                .reply(204, "")
                .drop()
                .replyJson(200, "{'timers': [], 'next_page_token': null}")
                .reply(503, UNAVAILABLE)
                .replyJson(200, "{'attempts': []}");

        client.deleteTimer("shop", "r");
        client.listTimers("shop");
        client.listAttempts("shop", "r");

        assertEquals(6, stub.requests().size());
    }

    @Test
    void an_update_without_an_expected_version_is_not_retried() {
        stub.reply(503, UNAVAILABLE).reply(200, TIMER);

        assertThrows(
                UnavailableException.class,
                () -> client.updateTimer(
                        "shop", "r", TimerUpdate.builder().payload(1).build()));

        assertEquals(1, stub.requests().size());
        assertEquals(List.of(), pause.waits());
    }

    @Test
    void an_update_without_an_expected_version_is_not_retried_after_a_dropped_connection() {
        stub.drop().reply(200, TIMER);

        assertThrows(
                ConnectionException.class,
                () -> client.updateTimer(
                        "shop", "r", TimerUpdate.builder().payload(1).build()));

        assertEquals(1, stub.requests().size());
    }

    @Test
    void an_update_with_an_expected_version_is_retried() {
        stub.reply(503, UNAVAILABLE).drop().reply(200, TIMER);

        Timer timer =
                client.updateTimer("shop", "r", TimerUpdate.builder().payload(1).build(), 1);

        assertEquals("r", timer.id());
        assertEquals(3, stub.requests().size());
        stub.requests().forEach(request -> assertEquals("\"1\"", request.header("If-Match")));
    }

    @Test
    void other_errors_are_not_retried() {
        stub.reply(500, Fixtures.error("internal", "bug", "{}"))
                .reply(404, Fixtures.error("not_found", "no", "{}"))
                .reply(429, Fixtures.error("rate_limited", "slow down", "{}"), "Retry-After", "1");

        assertThrows(InternalException.class, () -> client.getTimer("shop", "r"));
        assertThrows(NotFoundException.class, () -> client.getTimer("shop", "r"));
        assertThrows(ApiException.class, () -> client.getTimer("shop", "r"));

        assertEquals(3, stub.requests().size());
        assertEquals(List.of(), pause.waits());
    }

    @Test
    void zero_retries_means_one_attempt() {
        stub.reply(503, UNAVAILABLE).reply(200, TIMER);
        TimerClient once = stub.client(pause).maxRetries(0).build();

        assertThrows(UnavailableException.class, () -> once.getTimer("shop", "r"));

        assertEquals(1, stub.requests().size());
    }

    @Test
    void async_calls_retry_the_same_way() {
        stub.reply(503, UNAVAILABLE).drop().reply(200, TIMER);

        Timer timer = client.getTimerAsync("shop", "r").join();

        assertEquals("r", timer.id());
        assertEquals(3, stub.requests().size());
        assertEquals(List.of(Duration.ofMillis(200), Duration.ofMillis(400)), pause.waits());
    }

    @Test
    void async_retries_are_bounded_too() {
        for (int i = 0; i < 5; i++) {
            stub.reply(503, UNAVAILABLE);
        }

        CompletionException error = assertThrows(
                CompletionException.class, () -> client.listNamespacesAsync().join());

        assertInstanceOf(UnavailableException.class, error.getCause());
        assertEquals(4, stub.requests().size());
    }

    @Test
    void the_real_pause_waits_between_attempts() {
        stub.reply(503, UNAVAILABLE).reply(200, TIMER);
        TimerClient real = TimerClient.builder()
                .baseUrl(stub.baseUrl())
                .random(() -> 1.0)
                .retryBackoff(Duration.ofMillis(300), Duration.ofSeconds(1))
                .build();

        long started = System.nanoTime();
        real.getTimer("shop", "r");
        long tookMillis = (System.nanoTime() - started) / 1_000_000;

        assertEquals(2, stub.requests().size());
        assertEquals(true, tookMillis >= 300, "took " + tookMillis + " ms");
    }
}
