package dev.timerkernel.client;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * How the service retries a failed delivery: the wait after failed attempt <i>n</i> is {@code
 * min(initialInterval * backoffCoefficient^(n-1), maxInterval)}, until {@code maxAttempts}
 * attempts have failed or {@code maxDuration} has passed since the first attempt.
 *
 * <p>A builder starts from the contract's defaults, so a policy always states every field.
 */
public final class RetryPolicy {
    /** The value of {@link #maxAttempts()} that means no limit. */
    public static final int UNLIMITED_ATTEMPTS = 0;

    private static final RetryPolicy DEFAULTS = new Builder().build();

    private final int maxAttempts;
    private final Duration initialInterval;
    private final double backoffCoefficient;
    private final Duration maxInterval;
    private final Duration maxDuration;

    private RetryPolicy(Builder builder) {
        this.maxAttempts = builder.maxAttempts;
        this.initialInterval = builder.initialInterval;
        this.backoffCoefficient = builder.backoffCoefficient;
        this.maxInterval = builder.maxInterval;
        this.maxDuration = builder.maxDuration;
    }

    /**
     * @return the contract's default policy: 10 attempts, 1 s doubling up to 600 s, no duration
     *     limit
     */
    public static RetryPolicy defaults() {
        return DEFAULTS;
    }

    /**
     * @return a builder that starts from the contract's defaults
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * @return a builder that starts from this policy's values
     */
    public Builder toBuilder() {
        return new Builder()
                .maxAttempts(maxAttempts)
                .initialInterval(initialInterval)
                .backoffCoefficient(backoffCoefficient)
                .maxInterval(maxInterval)
                .maxDuration(maxDuration);
    }

    /**
     * @return the attempts in all, the first included; {@link #UNLIMITED_ATTEMPTS} for no limit
     */
    public int maxAttempts() {
        return maxAttempts;
    }

    /**
     * @return the wait before the second attempt
     */
    public Duration initialInterval() {
        return initialInterval;
    }

    /**
     * @return how much each wait grows, at least 1
     */
    public double backoffCoefficient() {
        return backoffCoefficient;
    }

    /**
     * @return the cap on one wait
     */
    public Duration maxInterval() {
        return maxInterval;
    }

    /**
     * @return how long after the first attempt the service gives up, empty for no limit
     */
    public Optional<Duration> maxDuration() {
        return Optional.ofNullable(maxDuration);
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof RetryPolicy)) {
            return false;
        }

        RetryPolicy that = (RetryPolicy) other;
        return maxAttempts == that.maxAttempts
                && Double.compare(backoffCoefficient, that.backoffCoefficient) == 0
                && initialInterval.equals(that.initialInterval)
                && maxInterval.equals(that.maxInterval)
                && Objects.equals(maxDuration, that.maxDuration);
    }

    @Override
    public int hashCode() {
        return Objects.hash(maxAttempts, initialInterval, backoffCoefficient, maxInterval, maxDuration);
    }

    @Override
    public String toString() {
        return "RetryPolicy{maxAttempts=" + maxAttempts
                + ", initialInterval=" + initialInterval
                + ", backoffCoefficient=" + backoffCoefficient
                + ", maxInterval=" + maxInterval
                + ", maxDuration=" + maxDuration
                + "}";
    }

    /** Builds a {@link RetryPolicy}, starting from the contract's defaults. */
    public static final class Builder {
        private int maxAttempts = 10;
        private Duration initialInterval = Duration.ofSeconds(1);
        private double backoffCoefficient = 2.0;
        private Duration maxInterval = Duration.ofSeconds(600);
        private Duration maxDuration;

        private Builder() {}

        /**
         * @param maxAttempts the attempts in all, the first included; {@link
         *     #UNLIMITED_ATTEMPTS} for no limit
         * @return this builder
         */
        public Builder maxAttempts(int maxAttempts) {
            this.maxAttempts = maxAttempts;
            return this;
        }

        /**
         * @param initialInterval the wait before the second attempt
         * @return this builder
         */
        public Builder initialInterval(Duration initialInterval) {
            this.initialInterval = Objects.requireNonNull(initialInterval, "initialInterval");
            return this;
        }

        /**
         * @param backoffCoefficient how much each wait grows, 1 to 100
         * @return this builder
         */
        public Builder backoffCoefficient(double backoffCoefficient) {
            this.backoffCoefficient = backoffCoefficient;
            return this;
        }

        /**
         * @param maxInterval the cap on one wait
         * @return this builder
         */
        public Builder maxInterval(Duration maxInterval) {
            this.maxInterval = Objects.requireNonNull(maxInterval, "maxInterval");
            return this;
        }

        /**
         * @param maxDuration how long after the first attempt to give up; null for no limit
         * @return this builder
         */
        public Builder maxDuration(Duration maxDuration) {
            this.maxDuration = maxDuration;
            return this;
        }

        /**
         * @return the policy
         */
        public RetryPolicy build() {
            return new RetryPolicy(this);
        }
    }
}
