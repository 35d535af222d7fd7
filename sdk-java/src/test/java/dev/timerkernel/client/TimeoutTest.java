package dev.timerkernel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TimeoutTest {
    private static final String TIMER = Fixtures.scheduled("shop", "r", "2026-12-03T08:00:00.000Z");

    private final StubServer stub = StubServer.start();
    private final RecordingPause pause = new RecordingPause();
    private final TimerClient client =
            stub.client(pause).timeout(Duration.ofMillis(300)).build();

    @AfterEach
    void stop() {
        stub.close();
    }

    @Test
    void a_slow_answer_is_a_timeout_and_is_not_retried() {
        stub.hang().reply(200, TIMER);

        long started = System.nanoTime();
        RequestTimeoutException error = assertThrows(RequestTimeoutException.class, () -> client.getTimer("shop", "r"));
        long tookMillis = (System.nanoTime() - started) / 1_000_000;

        assertEquals(Duration.ofMillis(300), error.timeout());
        assertTimeoutCause(error);
        assertTrue(tookMillis < 2500, "took " + tookMillis + " ms");
        assertEquals(1, stub.requests().size());
        assertEquals(0, pause.waits().size());
    }

    @Test
    void a_body_that_stalls_after_the_headers_times_out_too() {
        stub.stall().reply(200, TIMER);

        long started = System.nanoTime();
        RequestTimeoutException error = assertThrows(RequestTimeoutException.class, () -> client.getTimer("shop", "r"));
        long tookMillis = (System.nanoTime() - started) / 1_000_000;

        assertTimeoutCause(error);
        assertTrue(tookMillis < 2500, "took " + tookMillis + " ms");
        assertEquals(1, stub.requests().size());
    }

    @Test
    void an_async_body_that_stalls_times_out_too() {
        stub.stall();

        CompletionException error = assertThrows(
                CompletionException.class,
                () -> client.getTimerAsync("shop", "r").join());

        assertInstanceOf(RequestTimeoutException.class, error.getCause());
    }

    /** The HTTP client's own timeout or the SDK's bound on the whole exchange, whichever came first. */
    private static void assertTimeoutCause(RequestTimeoutException error) {
        Throwable cause = error.getCause();
        assertTrue(cause instanceof HttpTimeoutException || cause instanceof TimeoutException, "caused by " + cause);
    }

    @Test
    void a_timeout_is_not_a_connection_error() {
        stub.hang();

        TimerKernelException error = assertThrows(TimerKernelException.class, () -> client.getTimer("shop", "r"));

        assertFalse(error instanceof ConnectionException);
        assertFalse(error instanceof ApiException);
    }

    @Test
    void async_calls_time_out_too() {
        stub.hang();

        CompletionException error = assertThrows(
                CompletionException.class,
                () -> client.getTimerAsync("shop", "r").join());

        assertInstanceOf(RequestTimeoutException.class, error.getCause());
    }

    @Test
    void cancelling_an_async_call_abandons_it_without_retrying() throws Exception {
        CountDownLatch cancelled = new CountDownLatch(1);
        CountDownLatch answered = new CountDownLatch(1);
        stub.respond(exchange -> {
                    // The 503 is sent only once the caller gave up, so a client that still
                    // listened would retry it.
                    cancelled.await(5, TimeUnit.SECONDS);
                    try {
                        StubServer.send(exchange, 503, Fixtures.error("unavailable", "down", "{}"));
                    } finally {
                        answered.countDown();
                    }
                })
                .reply(200, TIMER);
        TimerClient patient = stub.client(pause).timeout(Duration.ofSeconds(5)).build();

        CompletableFuture<Timer> call = patient.getTimerAsync("shop", "r");
        assertTrue(stub.awaitRequests(1, Duration.ofSeconds(5)), "the call never reached the stub");
        assertTrue(call.cancel(true));
        cancelled.countDown();
        assertTrue(answered.await(5, TimeUnit.SECONDS), "the stub never answered");

        assertTrue(call.isCancelled());
        assertFalse(stub.awaitRequests(2, Duration.ofMillis(300)), "the abandoned call was retried");
        assertEquals(0, pause.waits().size(), "the 503 of the abandoned exchange was acted on");
    }

    @Test
    void an_answer_within_the_timeout_is_taken() {
        stub.replyAfter(Duration.ofMillis(50), 200, TIMER);

        assertEquals("r", client.getTimer("shop", "r").id());
    }
}
