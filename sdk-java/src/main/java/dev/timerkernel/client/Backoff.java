package dev.timerkernel.client;

import java.time.Clock;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.function.DoubleSupplier;

/**
 * The client's waits between attempts: exponential with full jitter, so that many clients
 * that failed together do not retry together.
 */
final class Backoff {
    private final Duration initial;
    private final Duration max;
    private final DoubleSupplier random;

    Backoff(Duration initial, Duration max, DoubleSupplier random) {
        this.initial = initial;
        this.max = max;
        this.random = random;
    }

    /**
     * The wait before retry number {@code retry + 1}: a uniform draw from zero to {@code
     * min(max, initial * 2^retry)}, or the server's {@code Retry-After} capped at {@code max}.
     */
    Duration delay(int retry, Duration retryAfter) {
        if (retryAfter != null) {
            if (retryAfter.isNegative()) {
                return Duration.ZERO;
            }

            return retryAfter.compareTo(max) > 0 ? max : retryAfter;
        }

        double ceiling = Math.min((double) max.toNanos(), initial.toNanos() * Math.pow(2, retry));
        return Duration.ofNanos((long) (ceiling * random.getAsDouble()));
    }

    /** Reads {@code Retry-After}: seconds or an HTTP date; null if absent or unreadable. */
    static Duration parseRetryAfter(String value, Clock clock) {
        if (value == null) {
            return null;
        }

        String text = value.trim();
        if (text.matches("[0-9]{1,9}")) {
            return Duration.ofSeconds(Long.parseLong(text));
        }

        try {
            ZonedDateTime date = ZonedDateTime.parse(text, DateTimeFormatter.RFC_1123_DATE_TIME);
            Duration wait = Duration.between(clock.instant(), date.toInstant());
            return wait.isNegative() ? Duration.ZERO : wait;
        } catch (DateTimeParseException exc) {
            return null;
        }
    }
}
