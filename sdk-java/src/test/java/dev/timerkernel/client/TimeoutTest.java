package dev.timerkernel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.concurrent.CompletionException;
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
        stub.replyAfter(Duration.ofSeconds(3), 200, TIMER).reply(200, TIMER);

        long started = System.nanoTime();
        RequestTimeoutException error = assertThrows(RequestTimeoutException.class, () -> client.getTimer("shop", "r"));
        long tookMillis = (System.nanoTime() - started) / 1_000_000;

        assertEquals(Duration.ofMillis(300), error.timeout());
        assertInstanceOf(HttpTimeoutException.class, error.getCause());
        assertTrue(tookMillis < 2500, "took " + tookMillis + " ms");
        assertEquals(1, stub.requests().size());
        assertEquals(0, pause.waits().size());
    }

    @Test
    void a_timeout_is_not_a_connection_error() {
        stub.replyAfter(Duration.ofSeconds(3), 200, TIMER);

        TimerKernelException error = assertThrows(TimerKernelException.class, () -> client.getTimer("shop", "r"));

        assertEquals(false, error instanceof ConnectionException);
        assertEquals(false, error instanceof ApiException);
    }

    @Test
    void async_calls_time_out_too() {
        stub.replyAfter(Duration.ofSeconds(3), 200, TIMER);

        CompletionException error = assertThrows(
                CompletionException.class,
                () -> client.getTimerAsync("shop", "r").join());

        assertInstanceOf(RequestTimeoutException.class, error.getCause());
    }

    @Test
    void cancelling_an_async_call_abandons_it_without_retrying() throws Exception {
        stub.replyAfter(Duration.ofMillis(500), 503, Fixtures.error("unavailable", "down", "{}"));
        TimerClient patient = stub.client(pause).timeout(Duration.ofSeconds(5)).build();

        java.util.concurrent.CompletableFuture<Timer> call = patient.getTimerAsync("shop", "r");
        Thread.sleep(100);
        assertTrue(call.cancel(true));
        Thread.sleep(1000);

        assertTrue(call.isCancelled());
        assertEquals(1, stub.requests().size());
        assertEquals(0, pause.waits().size(), "the 503 of the abandoned exchange was acted on");
    }

    @Test
    void an_answer_within_the_timeout_is_taken() {
        stub.replyAfter(Duration.ofMillis(50), 200, TIMER);

        assertEquals("r", client.getTimer("shop", "r").id());
    }
}
