package dev.timerkernel.client;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/** One delivery attempt of a timer, as {@code listAttempts} reports it. */
public final class Attempt {
    private final int attempt;
    private final Instant fireAt;
    private final Instant startedAt;
    private final Duration duration;
    private final AttemptOutcome outcome;
    private final Integer statusCode;
    private final DeliveryError error;

    /**
     * @param attempt the attempt's number, 1-based since the timer was last (re)scheduled
     * @param fireAt the fire time the attempt delivered
     * @param startedAt when the attempt started
     * @param duration how long it took
     * @param outcome what came of it
     * @param statusCode the callback's HTTP status, or null
     * @param error why it failed, or null
     */
    public Attempt(
            int attempt,
            Instant fireAt,
            Instant startedAt,
            Duration duration,
            AttemptOutcome outcome,
            Integer statusCode,
            DeliveryError error) {
        this.attempt = attempt;
        this.fireAt = Objects.requireNonNull(fireAt, "fireAt");
        this.startedAt = Objects.requireNonNull(startedAt, "startedAt");
        this.duration = Objects.requireNonNull(duration, "duration");
        this.outcome = Objects.requireNonNull(outcome, "outcome");
        this.statusCode = statusCode;
        this.error = error;
    }

    /**
     * @return the attempt's number, 1-based since the timer was last (re)scheduled
     */
    public int attempt() {
        return attempt;
    }

    /**
     * @return the fire time the attempt delivered
     */
    public Instant fireAt() {
        return fireAt;
    }

    /**
     * @return when the attempt started
     */
    public Instant startedAt() {
        return startedAt;
    }

    /**
     * @return how long the attempt took, to the millisecond
     */
    public Duration duration() {
        return duration;
    }

    /**
     * @return what came of the attempt
     */
    public AttemptOutcome outcome() {
        return outcome;
    }

    /**
     * @return the callback's HTTP status, empty when it gave none
     */
    public Optional<Integer> statusCode() {
        return Optional.ofNullable(statusCode);
    }

    /**
     * @return why the attempt failed, empty unless it did
     */
    public Optional<DeliveryError> error() {
        return Optional.ofNullable(error);
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof Attempt)) {
            return false;
        }

        Attempt that = (Attempt) other;
        return attempt == that.attempt
                && fireAt.equals(that.fireAt)
                && startedAt.equals(that.startedAt)
                && duration.equals(that.duration)
                && outcome == that.outcome
                && Objects.equals(statusCode, that.statusCode)
                && Objects.equals(error, that.error);
    }

    @Override
    public int hashCode() {
        return Objects.hash(attempt, fireAt, startedAt, duration, outcome, statusCode, error);
    }

    @Override
    public String toString() {
        return "Attempt{attempt=" + attempt
                + ", fireAt=" + fireAt
                + ", startedAt=" + startedAt
                + ", duration=" + duration
                + ", outcome=" + outcome
                + ", statusCode=" + statusCode
                + ", error=" + error
                + "}";
    }
}
