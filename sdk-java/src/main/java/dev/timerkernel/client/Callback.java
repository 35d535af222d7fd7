package dev.timerkernel.client;

import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Where and how a timer is delivered: the URL the service POSTs at fire time, the timeout of
 * one attempt and extra request headers.
 *
 * <p>The server validates the values (an absolute {@code http} or {@code https} URL, a timeout
 * from 0.1 to 300 seconds, at most 20 headers) and names every bad field in an {@link
 * InvalidArgumentException}.
 */
public final class Callback {
    /** The contract's default timeout of one delivery attempt. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    private final String url;
    private final Duration timeout;
    private final Map<String, String> headers;

    private Callback(Builder builder) {
        this.url = Objects.requireNonNull(builder.url, "url");
        this.timeout = builder.timeout;
        this.headers = Collections.unmodifiableMap(new LinkedHashMap<>(builder.headers));
    }

    /**
     * A callback to {@code url} with the default timeout and no extra headers.
     *
     * @param url an absolute {@code http} or {@code https} URL
     * @return the callback
     */
    public static Callback of(String url) {
        return builder().url(url).build();
    }

    /**
     * @return a builder with the contract's defaults
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * @return a builder that starts from this callback's values
     */
    public Builder toBuilder() {
        Builder builder = new Builder().url(url).timeout(timeout);
        builder.headers.putAll(headers);
        return builder;
    }

    /**
     * @return the URL the service POSTs at fire time
     */
    public String url() {
        return url;
    }

    /**
     * @return the timeout of one delivery attempt
     */
    public Duration timeout() {
        return timeout;
    }

    /**
     * @return the extra request headers, in the order they were given
     */
    public Map<String, String> headers() {
        return headers;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof Callback)) {
            return false;
        }

        Callback that = (Callback) other;
        return url.equals(that.url) && timeout.equals(that.timeout) && headers.equals(that.headers);
    }

    @Override
    public int hashCode() {
        return Objects.hash(url, timeout, headers);
    }

    @Override
    public String toString() {
        // Header values often hold credentials: only their names are shown.
        return "Callback{url=" + url + ", timeout=" + timeout + ", headers=" + headers.keySet() + "}";
    }

    /** Builds a {@link Callback}. */
    public static final class Builder {
        private String url;
        private Duration timeout = DEFAULT_TIMEOUT;
        private final Map<String, String> headers = new LinkedHashMap<>();

        private Builder() {}

        /**
         * @param url an absolute {@code http} or {@code https} URL
         * @return this builder
         */
        public Builder url(String url) {
            this.url = Objects.requireNonNull(url, "url");
            return this;
        }

        /**
         * @param timeout the timeout of one delivery attempt, 0.1 s to 300 s
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /**
         * Adds one request header, replacing an earlier one of the same name.
         *
         * @param name the header's name
         * @param value the header's value
         * @return this builder
         */
        public Builder header(String name, String value) {
            headers.put(Objects.requireNonNull(name, "name"), Objects.requireNonNull(value, "value"));
            return this;
        }

        /**
         * Replaces all request headers.
         *
         * @param headers the headers, by name
         * @return this builder
         */
        public Builder headers(Map<String, String> headers) {
            this.headers.clear();
            headers.forEach(this::header);
            return this;
        }

        /**
         * @return the callback
         * @throws NullPointerException if no URL was given
         */
        public Callback build() {
            return new Callback(this);
        }
    }
}
