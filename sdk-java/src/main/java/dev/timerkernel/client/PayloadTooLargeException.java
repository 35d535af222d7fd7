package dev.timerkernel.client;

import java.util.Map;
import java.util.Optional;

/**
 * 413 {@code payload_too_large}: the request body or the timer's {@code payload} is over the
 * server's limit. {@link #field()} says which.
 */
public class PayloadTooLargeException extends ApiException {
    private static final long serialVersionUID = 1L;

    /**
     * @param status the HTTP status
     * @param code the contract's error code ({@code payload_too_large})
     * @param message the server's message
     * @param details the error's details
     * @param requestId the request id the server sent, or null
     */
    public PayloadTooLargeException(
            int status, String code, String message, Map<String, Object> details, String requestId) {
        super(status, code, message, details, requestId);
    }

    /**
     * @return {@code body} or {@code payload}, from {@code details.field}
     */
    public Optional<String> field() {
        Object value = details().get("field");
        return value instanceof String ? Optional.of((String) value) : Optional.empty();
    }
}
