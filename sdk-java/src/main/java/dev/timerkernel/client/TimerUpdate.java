package dev.timerkernel.client;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * A change to a timer: any of a new fire time (or delay), callback, payload or retry policy.
 * What is not set stays as it is; a callback or retry policy that is set replaces the old one
 * whole.
 *
 * <p>A new fire time re-arms the timer, even one that finished: its status becomes {@link
 * TimerStatus#SCHEDULED} and its attempts 0.
 */
public final class TimerUpdate {
    private final Instant fireAt;
    private final Duration delay;
    private final Callback callback;
    private final boolean hasPayload;
    private final Object payload;
    private final RetryPolicy retryPolicy;

    private TimerUpdate(Builder builder) {
        this.fireAt = builder.fireAt;
        this.delay = builder.delay;
        this.callback = builder.callback;
        this.hasPayload = builder.hasPayload;
        this.payload = builder.payload;
        this.retryPolicy = builder.retryPolicy;
    }

    /**
     * @return a builder of an update that changes nothing yet
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * @return the new fire time, if the update sets one
     */
    public Optional<Instant> fireAt() {
        return Optional.ofNullable(fireAt);
    }

    /**
     * @return the new delay from the moment the server takes the update, if it sets one
     */
    public Optional<Duration> delay() {
        return Optional.ofNullable(delay);
    }

    /**
     * @return the new callback, if the update sets one
     */
    public Optional<Callback> callback() {
        return Optional.ofNullable(callback);
    }

    /**
     * @return whether the update sets the payload (perhaps to null)
     */
    public boolean hasPayload() {
        return hasPayload;
    }

    /**
     * @return the new payload as plain JSON values; null when it sets none or sets null (see
     *     {@link #hasPayload()})
     */
    public Object payload() {
        return payload;
    }

    /**
     * @return the new retry policy, if the update sets one
     */
    public Optional<RetryPolicy> retryPolicy() {
        return Optional.ofNullable(retryPolicy);
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof TimerUpdate)) {
            return false;
        }

        TimerUpdate that = (TimerUpdate) other;
        return hasPayload == that.hasPayload
                && Objects.equals(fireAt, that.fireAt)
                && Objects.equals(delay, that.delay)
                && Objects.equals(callback, that.callback)
                && Objects.equals(payload, that.payload)
                && Objects.equals(retryPolicy, that.retryPolicy);
    }

    @Override
    public int hashCode() {
        return Objects.hash(fireAt, delay, callback, hasPayload, payload, retryPolicy);
    }

    @Override
    public String toString() {
        return "TimerUpdate{fireAt=" + fireAt
                + ", delay=" + delay
                + ", callback=" + callback
                + (hasPayload ? ", payload=" + payload : "")
                + ", retryPolicy=" + retryPolicy
                + "}";
    }

    /** Builds a {@link TimerUpdate}. */
    public static final class Builder {
        private Instant fireAt;
        private Duration delay;
        private Callback callback;
        private boolean hasPayload;
        private Object payload;
        private RetryPolicy retryPolicy;

        private Builder() {}

        /**
         * Moves the fire time, re-arming the timer. Clears a delay.
         *
         * @param fireAt the new fire time
         * @return this builder
         */
        public Builder fireAt(Instant fireAt) {
            this.fireAt = Objects.requireNonNull(fireAt, "fireAt");
            this.delay = null;
            return this;
        }

        /**
         * Moves the fire time to this long after the server takes the update, re-arming the
         * timer. Clears a fire time.
         *
         * @param delay the delay, zero or more
         * @return this builder
         */
        public Builder delay(Duration delay) {
            this.delay = Objects.requireNonNull(delay, "delay");
            this.fireAt = null;
            return this;
        }

        /**
         * @param callback the new callback, replacing the old one whole
         * @return this builder
         */
        public Builder callback(Callback callback) {
            this.callback = Objects.requireNonNull(callback, "callback");
            return this;
        }

        /**
         * Sets the payload, converted to plain JSON values as {@link
         * CreateTimerRequest.Builder#payload(Object)} does.
         *
         * @param payload the new payload; null sets it to JSON {@code null}
         * @return this builder
         */
        public Builder payload(Object payload) {
            this.payload = Json.toPlain(payload);
            this.hasPayload = true;
            return this;
        }

        /**
         * @param retryPolicy the new retry policy, replacing the old one whole
         * @return this builder
         */
        public Builder retryPolicy(RetryPolicy retryPolicy) {
            this.retryPolicy = Objects.requireNonNull(retryPolicy, "retryPolicy");
            return this;
        }

        /**
         * @return the update
         */
        public TimerUpdate build() {
            return new TimerUpdate(this);
        }
    }
}
