package dev.timerkernel.client;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * 503 {@code unavailable}: the server's storage cannot be reached. Calls that are safe to
 * repeat are retried before this is thrown; it means the retries ran out.
 */
public class UnavailableException extends ApiException {
    private static final long serialVersionUID = 1L;

    private final Duration retryAfter;

    /**
     * @param status the HTTP status
     * @param code the contract's error code ({@code unavailable})
     * @param message the server's message
     * @param details the error's details
     * @param requestId the request id the server sent, or null
     * @param retryAfter the server's {@code Retry-After}, or null
     */
    public UnavailableException(
            int status,
            String code,
            String message,
            Map<String, Object> details,
            String requestId,
            Duration retryAfter) {
        super(status, code, message, details, requestId);
        this.retryAfter = retryAfter;
    }

    /**
     * @return how long the server asked to wait, from its {@code Retry-After} header
     */
    public Optional<Duration> retryAfter() {
        return Optional.ofNullable(retryAfter);
    }
}
