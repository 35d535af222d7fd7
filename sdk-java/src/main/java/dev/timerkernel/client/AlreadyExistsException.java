package dev.timerkernel.client;

import java.util.Map;
import java.util.Optional;

/**
 * 409 {@code already_exists}: the id holds a timer with a different definition. {@link
 * #existing()} is that timer, as the server sent it.
 */
public class AlreadyExistsException extends ApiException {
    private static final long serialVersionUID = 1L;

    private final transient Timer existing;

    /**
     * @param status the HTTP status
     * @param code the contract's error code ({@code already_exists})
     * @param message the server's message
     * @param details the error's details, with {@code existing}
     * @param requestId the request id the server sent, or null
     */
    public AlreadyExistsException(
            int status, String code, String message, Map<String, Object> details, String requestId) {
        super(status, code, message, details, requestId);
        this.existing = Json.timerOrNull(details().get("existing"));
    }

    /**
     * @return the timer the id already holds, empty when the server did not send it
     */
    public Optional<Timer> existing() {
        return Optional.ofNullable(existing);
    }
}
