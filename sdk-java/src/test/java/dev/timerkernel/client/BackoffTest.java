package dev.timerkernel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

class BackoffTest {
    private static final Duration INITIAL = Duration.ofMillis(200);
    private static final Duration MAX = Duration.ofSeconds(5);

    @Test
    void ceilings_double_from_the_initial_wait_up_to_the_cap() {
        Backoff backoff = new Backoff(INITIAL, MAX, () -> 1.0);

        assertEquals(Duration.ofMillis(200), backoff.delay(0, null));
        assertEquals(Duration.ofMillis(400), backoff.delay(1, null));
        assertEquals(Duration.ofMillis(800), backoff.delay(2, null));
        assertEquals(Duration.ofMillis(3200), backoff.delay(4, null));
        assertEquals(MAX, backoff.delay(5, null));
        assertEquals(MAX, backoff.delay(200, null));
    }

    @Test
    void full_jitter_draws_between_zero_and_the_ceiling() {
        assertEquals(Duration.ZERO, new Backoff(INITIAL, MAX, () -> 0.0).delay(3, null));
        assertEquals(Duration.ofMillis(400), new Backoff(INITIAL, MAX, () -> 0.5).delay(2, null));

        Backoff random =
                new Backoff(INITIAL, MAX, () -> ThreadLocalRandom.current().nextDouble());
        Set<Duration> seen = new HashSet<>();
        for (int i = 0; i < 200; i++) {
            Duration wait = random.delay(2, null);
            assertTrue(!wait.isNegative() && wait.compareTo(Duration.ofMillis(800)) <= 0, wait.toString());
            seen.add(wait);
        }

        assertTrue(seen.size() > 100, "the waits are not spread: " + seen.size());
    }

    @Test
    void retry_after_replaces_the_draw_up_to_the_cap() {
        Backoff backoff = new Backoff(INITIAL, MAX, () -> 0.0);

        assertEquals(Duration.ofSeconds(1), backoff.delay(0, Duration.ofSeconds(1)));
        assertEquals(MAX, backoff.delay(0, Duration.ofSeconds(120)));
        assertEquals(Duration.ZERO, backoff.delay(0, Duration.ofSeconds(-3)));
    }

    @Test
    void retry_after_is_read_as_seconds_or_an_http_date() {
        Clock clock = Clock.fixed(Instant.parse("2026-12-03T08:00:00Z"), ZoneOffset.UTC);

        assertEquals(Duration.ofSeconds(3), Backoff.parseRetryAfter("3", clock));
        assertEquals(Duration.ofSeconds(3), Backoff.parseRetryAfter(" 3 ", clock));
        assertEquals(Duration.ofSeconds(90), Backoff.parseRetryAfter("Thu, 3 Dec 2026 08:01:30 GMT", clock));
        assertEquals(Duration.ZERO, Backoff.parseRetryAfter("Thu, 3 Dec 2026 07:00:00 GMT", clock));
        assertNull(Backoff.parseRetryAfter("soon", clock));
        assertNull(Backoff.parseRetryAfter("-1", clock));
        assertNull(Backoff.parseRetryAfter(null, clock));
    }
}
