package dev.timerkernel.client;

import java.util.Map;
import java.util.OptionalLong;

/**
 * 412 {@code precondition_failed}: the expected version (sent as {@code If-Match}) is not the
 * timer's version. Read the timer again and decide anew.
 */
public class PreconditionFailedException extends ApiException {
    private static final long serialVersionUID = 1L;

    /**
     * @param status the HTTP status
     * @param code the contract's error code ({@code precondition_failed})
     * @param message the server's message
     * @param details the error's details
     * @param requestId the request id the server sent, or null
     */
    public PreconditionFailedException(
            int status, String code, String message, Map<String, Object> details, String requestId) {
        super(status, code, message, details, requestId);
    }

    /**
     * @return the version the request expected, from {@code details.expected_version}
     */
    public OptionalLong expectedVersion() {
        return longDetail("expected_version");
    }

    /**
     * @return the timer's version when the server refused, from {@code details.version}
     */
    public OptionalLong currentVersion() {
        return longDetail("version");
    }

    private OptionalLong longDetail(String key) {
        Object value = details().get(key);
        return value instanceof Number ? OptionalLong.of(((Number) value).longValue()) : OptionalLong.empty();
    }
}
