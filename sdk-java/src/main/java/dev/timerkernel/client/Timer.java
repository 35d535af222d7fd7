package dev.timerkernel.client;

import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * A timer as the server stores it: its definition and the state of its delivery.
 *
 * <p>Instances come from the client's calls; the builder exists for tests of code that uses
 * the SDK.
 */
public final class Timer {
    private final String namespace;
    private final String id;
    private final Instant fireAt;
    private final Callback callback;
    private final Object payload;
    private final RetryPolicy retryPolicy;
    private final TimerStatus status;
    private final int attempts;
    private final Instant nextAttemptAt;
    private final DeliveryError lastError;
    private final Instant createdAt;
    private final Instant updatedAt;
    private final Instant executedAt;
    private final long version;

    private Timer(Builder builder) {
        this.namespace = Objects.requireNonNull(builder.namespace, "namespace");
        this.id = Objects.requireNonNull(builder.id, "id");
        this.fireAt = Objects.requireNonNull(builder.fireAt, "fireAt");
        this.callback = Objects.requireNonNull(builder.callback, "callback");
        this.payload = builder.payload;
        this.retryPolicy = Objects.requireNonNull(builder.retryPolicy, "retryPolicy");
        this.status = Objects.requireNonNull(builder.status, "status");
        this.attempts = builder.attempts;
        this.nextAttemptAt = builder.nextAttemptAt;
        this.lastError = builder.lastError;
        this.createdAt = Objects.requireNonNull(builder.createdAt, "createdAt");
        this.updatedAt = Objects.requireNonNull(builder.updatedAt, "updatedAt");
        this.executedAt = builder.executedAt;
        this.version = builder.version;
    }

    /**
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * @return a builder that starts from this timer's values
     */
    public Builder toBuilder() {
        return new Builder()
                .namespace(namespace)
                .id(id)
                .fireAt(fireAt)
                .callback(callback)
                .payload(payload)
                .retryPolicy(retryPolicy)
                .status(status)
                .attempts(attempts)
                .nextAttemptAt(nextAttemptAt)
                .lastError(lastError)
                .createdAt(createdAt)
                .updatedAt(updatedAt)
                .executedAt(executedAt)
                .version(version);
    }

    /**
     * @return the timer's namespace
     */
    public String namespace() {
        return namespace;
    }

    /**
     * @return the timer's id, unique in its namespace
     */
    public String id() {
        return id;
    }

    /**
     * @return when the callback is due
     */
    public Instant fireAt() {
        return fireAt;
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
     * Converts the payload to a type of the caller's, with Jackson's default mapping.
     *
     * @param type the type, such as a bean class or {@code Map.class}
     * @param <T> the type
     * @return the payload as that type
     * @throws IllegalArgumentException if the payload does not fit the type
     */
    public <T> T payloadAs(Class<T> type) {
        return Json.convert(payload, type);
    }

    /**
     * @return how failed deliveries are retried
     */
    public RetryPolicy retryPolicy() {
        return retryPolicy;
    }

    /**
     * @return where the timer is in its life
     */
    public TimerStatus status() {
        return status;
    }

    /**
     * @return the delivery attempts made since the timer was last (re)scheduled
     */
    public int attempts() {
        return attempts;
    }

    /**
     * @return when the next delivery is due: the fire time before the first attempt, the retry
     *     time after a failure, empty when the timer finished
     */
    public Optional<Instant> nextAttemptAt() {
        return Optional.ofNullable(nextAttemptAt);
    }

    /**
     * @return why the last failed attempt failed, empty if none failed
     */
    public Optional<DeliveryError> lastError() {
        return Optional.ofNullable(lastError);
    }

    /**
     * @return when the timer was created
     */
    public Instant createdAt() {
        return createdAt;
    }

    /**
     * @return when the timer last changed
     */
    public Instant updatedAt() {
        return updatedAt;
    }

    /**
     * @return when the last successful delivery completed, empty if none did
     */
    public Optional<Instant> executedAt() {
        return Optional.ofNullable(executedAt);
    }

    /**
     * @return the version: 1 at creation, one more at every change; give it to {@code
     *     updateTimer} or {@code deleteTimer} to act only on this state
     */
    public long version() {
        return version;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof Timer)) {
            return false;
        }

        Timer that = (Timer) other;
        return attempts == that.attempts
                && version == that.version
                && namespace.equals(that.namespace)
                && id.equals(that.id)
                && fireAt.equals(that.fireAt)
                && callback.equals(that.callback)
                && Objects.equals(payload, that.payload)
                && retryPolicy.equals(that.retryPolicy)
                && status == that.status
                && Objects.equals(nextAttemptAt, that.nextAttemptAt)
                && Objects.equals(lastError, that.lastError)
                && createdAt.equals(that.createdAt)
                && updatedAt.equals(that.updatedAt)
                && Objects.equals(executedAt, that.executedAt);
    }

    @Override
    public int hashCode() {
        return Objects.hash(namespace, id, version, fireAt, status);
    }

    @Override
    public String toString() {
        return "Timer{namespace=" + namespace
                + ", id=" + id
                + ", fireAt=" + fireAt
                + ", status=" + status
                + ", attempts=" + attempts
                + ", version=" + version
                + ", callback=" + callback
                + ", payload=" + payload
                + ", nextAttemptAt=" + nextAttemptAt
                + ", lastError=" + lastError
                + "}";
    }

    /** Builds a {@link Timer}. */
    public static final class Builder {
        private String namespace;
        private String id;
        private Instant fireAt;
        private Callback callback;
        private Object payload;
        private RetryPolicy retryPolicy = RetryPolicy.defaults();
        private TimerStatus status = TimerStatus.SCHEDULED;
        private int attempts;
        private Instant nextAttemptAt;
        private DeliveryError lastError;
        private Instant createdAt;
        private Instant updatedAt;
        private Instant executedAt;
        private long version = 1;

        private Builder() {}

        /**
         * @param namespace the timer's namespace
         * @return this builder
         */
        public Builder namespace(String namespace) {
            this.namespace = namespace;
            return this;
        }

        /**
         * @param id the timer's id
         * @return this builder
         */
        public Builder id(String id) {
            this.id = id;
            return this;
        }

        /**
         * @param fireAt when the callback is due
         * @return this builder
         */
        public Builder fireAt(Instant fireAt) {
            this.fireAt = fireAt;
            return this;
        }

        /**
         * @param callback where the timer is delivered
         * @return this builder
         */
        public Builder callback(Callback callback) {
            this.callback = callback;
            return this;
        }

        /**
         * @param payload the payload, converted to plain JSON values
         * @return this builder
         */
        public Builder payload(Object payload) {
            this.payload = Json.toPlain(payload);
            return this;
        }

        /**
         * @param retryPolicy how failed deliveries are retried
         * @return this builder
         */
        public Builder retryPolicy(RetryPolicy retryPolicy) {
            this.retryPolicy = retryPolicy;
            return this;
        }

        /**
         * @param status where the timer is in its life
         * @return this builder
         */
        public Builder status(TimerStatus status) {
            this.status = status;
            return this;
        }

        /**
         * @param attempts the attempts made since the timer was last (re)scheduled
         * @return this builder
         */
        public Builder attempts(int attempts) {
            this.attempts = attempts;
            return this;
        }

        /**
         * @param nextAttemptAt when the next delivery is due, or null
         * @return this builder
         */
        public Builder nextAttemptAt(Instant nextAttemptAt) {
            this.nextAttemptAt = nextAttemptAt;
            return this;
        }

        /**
         * @param lastError why the last failed attempt failed, or null
         * @return this builder
         */
        public Builder lastError(DeliveryError lastError) {
            this.lastError = lastError;
            return this;
        }

        /**
         * @param createdAt when the timer was created
         * @return this builder
         */
        public Builder createdAt(Instant createdAt) {
            this.createdAt = createdAt;
            return this;
        }

        /**
         * @param updatedAt when the timer last changed
         * @return this builder
         */
        public Builder updatedAt(Instant updatedAt) {
            this.updatedAt = updatedAt;
            return this;
        }

        /**
         * @param executedAt when the last successful delivery completed, or null
         * @return this builder
         */
        public Builder executedAt(Instant executedAt) {
            this.executedAt = executedAt;
            return this;
        }

        /**
         * @param version the timer's version
         * @return this builder
         */
        public Builder version(long version) {
            this.version = version;
            return this;
        }

        /**
         * @return the timer
         * @throws NullPointerException if a required field is missing
         */
        public Timer build() {
            return new Timer(this);
        }
    }
}
