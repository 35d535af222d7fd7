package dev.timerkernel.client;

import static dev.timerkernel.client.Fixtures.parse;
import static dev.timerkernel.client.Fixtures.tree;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RescheduleAnswerTest {
    @Test
    void a_delay_answer_holds_next_delay_seconds_alone() {
        assertEquals(
                tree("{'next_delay_seconds': 3600}"),
                parse(RescheduleAnswer.after(Duration.ofHours(1)).toJson()));
        assertEquals(
                tree("{'next_delay_seconds': 0.25}"),
                parse(RescheduleAnswer.after(Duration.ofMillis(250)).toJson()));
    }

    @Test
    void a_time_answer_holds_next_fire_at_in_utc() {
        assertEquals(
                tree("{'next_fire_at': '2026-12-04T08:00:00.500Z'}"),
                parse(RescheduleAnswer.at(Instant.parse("2026-12-04T08:00:00.500Z"))
                        .toJson()));
    }

    @Test
    void an_answer_may_replace_payload_callback_and_retry_policy() {
        RescheduleAnswer answer = RescheduleAnswer.builder()
                .nextDelay(Duration.ofMinutes(5))
                .payload(Map.of("round", 2))
                .callback(Callback.builder()
                        .url("https://h.example/next")
                        .timeout(Duration.ofSeconds(3))
                        .build())
                .retryPolicy(RetryPolicy.builder().maxAttempts(2).build())
                .build();

        assertEquals(
                tree("{'next_delay_seconds': 300, 'payload': {'round': 2},"
                        + " 'callback': {'url': 'https://h.example/next', 'timeout_seconds': 3, 'headers': {}},"
                        + " 'retry_policy': {'max_attempts': 2, 'initial_interval_seconds': 1,"
                        + "  'backoff_coefficient': 2.0, 'max_interval_seconds': 600,"
                        + "  'max_duration_seconds': null}}"),
                parse(answer.toJson()));
    }

    @Test
    void a_null_payload_is_sent_as_null() {
        RescheduleAnswer answer = RescheduleAnswer.builder()
                .nextDelay(Duration.ZERO)
                .payload(null)
                .build();

        assertEquals(tree("{'next_delay_seconds': 0, 'payload': null}"), parse(answer.toJson()));
    }

    @Test
    void an_answer_needs_exactly_one_of_a_time_or_a_delay() {
        assertThrows(
                IllegalStateException.class, () -> RescheduleAnswer.builder().build());

        RescheduleAnswer last = RescheduleAnswer.builder()
                .nextFireAt(Instant.parse("2026-12-04T08:00:00Z"))
                .nextDelay(Duration.ofSeconds(1))
                .build();
        assertEquals(tree("{'next_delay_seconds': 1}"), parse(last.toJson()));
    }
}
