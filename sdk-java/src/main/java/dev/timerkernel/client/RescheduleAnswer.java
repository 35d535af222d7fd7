package dev.timerkernel.client;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * The answer a receiver gives (with a 2xx status) to have the timer fire again: {@code
 * {"next_fire_at" | "next_delay_seconds", "payload", "callback", "retry_policy"}}. A payload,
 * callback or retry policy it holds replaces the timer's own for the next firing.
 *
 * <p>An answer the service finds invalid counts as a failed attempt of kind {@link
 * DeliveryErrorKind#INVALID_RESPONSE}, so the mistake shows in the timer's last error.
 */
public final class RescheduleAnswer {
    private final Instant nextFireAt;
    private final Duration nextDelay;
    private final boolean hasPayload;
    private final Object payload;
    private final Callback callback;
    private final RetryPolicy retryPolicy;

    private RescheduleAnswer(Builder builder) {
        if ((builder.nextFireAt == null) == (builder.nextDelay == null)) {
            throw new IllegalStateException("give exactly one of nextFireAt or nextDelay");
        }

        this.nextFireAt = builder.nextFireAt;
        this.nextDelay = builder.nextDelay;
        this.hasPayload = builder.hasPayload;
        this.payload = builder.payload;
        this.callback = builder.callback;
        this.retryPolicy = builder.retryPolicy;
    }

    /**
     * @param nextFireAt when the timer fires next
     * @return an answer that changes nothing else
     */
    public static RescheduleAnswer at(Instant nextFireAt) {
        return builder().nextFireAt(nextFireAt).build();
    }

    /**
     * @param nextDelay how long from now the timer fires next
     * @return an answer that changes nothing else
     */
    public static RescheduleAnswer after(Duration nextDelay) {
        return builder().nextDelay(nextDelay).build();
    }

    /**
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * @return the next fire time, if the answer gives a time
     */
    public Optional<Instant> nextFireAt() {
        return Optional.ofNullable(nextFireAt);
    }

    /**
     * @return the delay until the next firing, if the answer gives a delay
     */
    public Optional<Duration> nextDelay() {
        return Optional.ofNullable(nextDelay);
    }

    /**
     * @return whether the answer replaces the payload (perhaps with null)
     */
    public boolean hasPayload() {
        return hasPayload;
    }

    /**
     * @return the new payload as plain JSON values; null when it sets none or sets null
     */
    public Object payload() {
        return payload;
    }

    /**
     * @return the new callback, if the answer replaces it
     */
    public Optional<Callback> callback() {
        return Optional.ofNullable(callback);
    }

    /**
     * @return the new retry policy, if the answer replaces it
     */
    public Optional<RetryPolicy> retryPolicy() {
        return Optional.ofNullable(retryPolicy);
    }

    /**
     * @return the answer's JSON text, the body to send with a 2xx status
     */
    public String toJson() {
        return new String(toBytes(), StandardCharsets.UTF_8);
    }

    /**
     * @return the answer's JSON as UTF-8 bytes
     */
    public byte[] toBytes() {
        return Json.bytes(Json.answerBody(this));
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof RescheduleAnswer)) {
            return false;
        }

        RescheduleAnswer that = (RescheduleAnswer) other;
        return hasPayload == that.hasPayload
                && Objects.equals(nextFireAt, that.nextFireAt)
                && Objects.equals(nextDelay, that.nextDelay)
                && Objects.equals(payload, that.payload)
                && Objects.equals(callback, that.callback)
                && Objects.equals(retryPolicy, that.retryPolicy);
    }

    @Override
    public int hashCode() {
        return Objects.hash(nextFireAt, nextDelay, hasPayload, payload, callback, retryPolicy);
    }

    @Override
    public String toString() {
        return "RescheduleAnswer" + toJson();
    }

    /** Builds a {@link RescheduleAnswer}. */
    public static final class Builder {
        private Instant nextFireAt;
        private Duration nextDelay;
        private boolean hasPayload;
        private Object payload;
        private Callback callback;
        private RetryPolicy retryPolicy;

        private Builder() {}

        /**
         * Fires the timer again at a time. Clears a delay.
         *
         * @param nextFireAt when the timer fires next
         * @return this builder
         */
        public Builder nextFireAt(Instant nextFireAt) {
            this.nextFireAt = Objects.requireNonNull(nextFireAt, "nextFireAt");
            this.nextDelay = null;
            return this;
        }

        /**
         * Fires the timer again this long after the service reads the answer. Clears a time.
         *
         * @param nextDelay the delay, zero or more
         * @return this builder
         */
        public Builder nextDelay(Duration nextDelay) {
            this.nextDelay = Objects.requireNonNull(nextDelay, "nextDelay");
            this.nextFireAt = null;
            return this;
        }

        /**
         * Replaces the timer's payload for the next firing, converted to plain JSON values as
         * {@link CreateTimerRequest.Builder#payload(Object)} does.
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
         * @param callback the callback of the next firing
         * @return this builder
         */
        public Builder callback(Callback callback) {
            this.callback = Objects.requireNonNull(callback, "callback");
            return this;
        }

        /**
         * @param retryPolicy the retry policy of the next firing
         * @return this builder
         */
        public Builder retryPolicy(RetryPolicy retryPolicy) {
            this.retryPolicy = Objects.requireNonNull(retryPolicy, "retryPolicy");
            return this;
        }

        /**
         * @return the answer
         * @throws IllegalStateException unless exactly one of a time or a delay was given
         */
        public RescheduleAnswer build() {
            return new RescheduleAnswer(this);
        }
    }
}
