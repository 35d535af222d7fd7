package dev.timerkernel.client;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * The definition of a new timer: its id, when it fires (a time or a delay), its callback, its
 * payload and its retry policy.
 *
 * <p>Creates are deduplicated by id: sending the same definition again answers with the stored
 * timer and never schedules a second one, which is why the client retries creates. A {@code
 * delay} is counted by the server from the moment it takes the request, and is not compared
 * when a create is repeated.
 */
public final class CreateTimerRequest {
    private final String id;
    private final Instant fireAt;
    private final Duration delay;
    private final Callback callback;
    private final Object payload;
    private final RetryPolicy retryPolicy;

    private CreateTimerRequest(Builder builder) {
        this.id = Objects.requireNonNull(builder.id, "id");
        this.callback = Objects.requireNonNull(builder.callback, "callback");
        if ((builder.fireAt == null) == (builder.delay == null)) {
            throw new IllegalStateException("give exactly one of fireAt or delay");
        }

        this.fireAt = builder.fireAt;
        this.delay = builder.delay;
        this.payload = builder.payload;
        this.retryPolicy = builder.retryPolicy;
    }

    /**
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * @return a builder that starts from this request's values
     */
    public Builder toBuilder() {
        Builder builder = new Builder();
        builder.id = id;
        builder.fireAt = fireAt;
        builder.delay = delay;
        builder.callback = callback;
        builder.payload = payload;
        builder.retryPolicy = retryPolicy;
        return builder;
    }

    /**
     * @return the timer's id, unique in its namespace
     */
    public String id() {
        return id;
    }

    /**
     * @return when the timer fires, if it was given as a time
     */
    public Optional<Instant> fireAt() {
        return Optional.ofNullable(fireAt);
    }

    /**
     * @return how long after the server takes the request the timer fires, if it was given as a
     *     delay
     */
    public Optional<Duration> delay() {
        return Optional.ofNullable(delay);
    }

    /**
     * @return where the timer is delivered
     */
    public Callback callback() {
        return callback;
    }

    /**
     * @return the payload as plain JSON values (maps, lists, strings, numbers, booleans), or
     *     null
     */
    public Object payload() {
        return payload;
    }

    /**
     * @return the retry policy; empty to take the server's defaults
     */
    public Optional<RetryPolicy> retryPolicy() {
        return Optional.ofNullable(retryPolicy);
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof CreateTimerRequest)) {
            return false;
        }

        CreateTimerRequest that = (CreateTimerRequest) other;
        return id.equals(that.id)
                && Objects.equals(fireAt, that.fireAt)
                && Objects.equals(delay, that.delay)
                && callback.equals(that.callback)
                && Objects.equals(payload, that.payload)
                && Objects.equals(retryPolicy, that.retryPolicy);
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, fireAt, delay, callback, payload, retryPolicy);
    }

    @Override
    public String toString() {
        return "CreateTimerRequest{id=" + id
                + (fireAt != null ? ", fireAt=" + fireAt : ", delay=" + delay)
                + ", callback=" + callback
                + ", payload=" + payload
                + ", retryPolicy=" + retryPolicy
                + "}";
    }

    /** Builds a {@link CreateTimerRequest}. */
    public static final class Builder {
        private String id;
        private Instant fireAt;
        private Duration delay;
        private Callback callback;
        private Object payload;
        private RetryPolicy retryPolicy;

        private Builder() {}

        /**
         * @param id the timer's id: {@code ^[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}$}, naming what
         *     the timer is for so that a retried create finds it
         * @return this builder
         */
        public Builder id(String id) {
            this.id = Objects.requireNonNull(id, "id");
            return this;
        }

        /**
         * Fires the timer at a time; one in the past is due at once. Clears a delay.
         *
         * @param fireAt when the timer fires
         * @return this builder
         */
        public Builder fireAt(Instant fireAt) {
            this.fireAt = Objects.requireNonNull(fireAt, "fireAt");
            this.delay = null;
            return this;
        }

        /**
         * Fires the timer this long after the server takes the request. Clears a fire time.
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
         * @param callback where the timer is delivered
         * @return this builder
         */
        public Builder callback(Callback callback) {
            this.callback = Objects.requireNonNull(callback, "callback");
            return this;
        }

        /**
         * Delivers the timer to {@code url} with the callback's defaults.
         *
         * @param url an absolute {@code http} or {@code https} URL
         * @return this builder
         */
        public Builder callbackUrl(String url) {
            return callback(Callback.of(url));
        }

        /**
         * Sets the data handed back in the callback. It is turned into plain JSON values at
         * once, with Jackson's default mapping: maps, lists, strings, numbers, booleans, beans
         * and Jackson trees work; {@code java.time} values must be given as strings.
         *
         * @param payload the payload, or null
         * @return this builder
         * @throws IllegalArgumentException if the value cannot be written as JSON
         */
        public Builder payload(Object payload) {
            this.payload = Json.toPlain(payload);
            return this;
        }

        /**
         * @param retryPolicy how failed deliveries are retried; null for the server's defaults
         * @return this builder
         */
        public Builder retryPolicy(RetryPolicy retryPolicy) {
            this.retryPolicy = retryPolicy;
            return this;
        }

        /**
         * @return the request
         * @throws NullPointerException if the id or the callback is missing
         * @throws IllegalStateException unless exactly one of a fire time or a delay was given
         */
        public CreateTimerRequest build() {
            return new CreateTimerRequest(this);
        }
    }
}
