package dev.timerkernel.client;

import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The server answered with an error: a status other than 2xx and the contract's error body
 * {@code {"error": {"code", "message", "details"}}}.
 *
 * <p>Each contract code has its own subclass; a code this SDK does not know (such as {@code
 * method_not_allowed}) is thrown as a plain {@code ApiException}, with the subclass of its
 * status when the status has one.
 */
public class ApiException extends TimerKernelException {
    private static final long serialVersionUID = 1L;

    /** The code of an error whose answer named none and whose status the contract does not use. */
    private static final String UNKNOWN_CODE = "unknown";

    private final int status;
    private final String code;
    private final String errorMessage;
    private final transient Map<String, Object> details;
    private final String requestId;

    /**
     * @param status the HTTP status
     * @param code the contract's error code, such as {@code not_found}
     * @param message the server's message
     * @param details the error's details, plain JSON values; empty when there are none
     * @param requestId the request id the server sent, or null
     */
    public ApiException(int status, String code, String message, Map<String, Object> details, String requestId) {
        super(message);
        this.status = status;
        this.code = code;
        this.errorMessage = message;
        this.details = details == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(details));
        this.requestId = requestId;
    }

    /**
     * @return the HTTP status, such as 404
     */
    public int status() {
        return status;
    }

    /**
     * @return the contract's error code, such as {@code not_found}; when the answer named none,
     *     the code of its status, or {@code unknown} for a status the contract does not use
     */
    public String code() {
        return code;
    }

    /**
     * @return the server's message, as it sent it
     */
    public String errorMessage() {
        return errorMessage;
    }

    /**
     * @return the error's details as plain JSON values (maps, lists, strings, numbers, booleans)
     */
    public Map<String, Object> details() {
        return details;
    }

    /**
     * The request id the server sent in {@code X-Request-Id} or {@code Request-Id}, for support
     * requests and log searches.
     *
     * @return the request id, empty when the server sent none
     */
    public Optional<String> requestId() {
        return Optional.ofNullable(requestId);
    }

    @Override
    public String toString() {
        String text = getClass().getName() + ": " + status + " " + code + ": " + errorMessage;
        return requestId == null ? text : text + " (request id " + requestId + ")";
    }

    /**
     * Builds the exception of the right subclass for a status and a code. A missing code (an
     * answer without the error body) takes the contract's code of the status.
     */
    static ApiException of(
            int status,
            String sentCode,
            String message,
            Map<String, Object> details,
            String requestId,
            Duration retryAfter) {
        String statusCode = codeForStatus(status);
        String code = sentCode != null ? sentCode : statusCode != null ? statusCode : UNKNOWN_CODE;
        String known = isContractCode(code) ? code : statusCode;
        switch (known == null ? "" : known) {
            case "invalid_argument":
                return new InvalidArgumentException(status, code, message, details, requestId);
            case "unauthenticated":
                return new UnauthenticatedException(status, code, message, details, requestId);
            case "permission_denied":
                return new PermissionDeniedException(status, code, message, details, requestId);
            case "not_found":
                return new NotFoundException(status, code, message, details, requestId);
            case "already_exists":
                return new AlreadyExistsException(status, code, message, details, requestId);
            case "precondition_failed":
                return new PreconditionFailedException(status, code, message, details, requestId);
            case "payload_too_large":
                return new PayloadTooLargeException(status, code, message, details, requestId);
            case "unavailable":
                return new UnavailableException(status, code, message, details, requestId, retryAfter);
            case "internal":
                return new InternalException(status, code, message, details, requestId);
            default:
                return new ApiException(status, code, message, details, requestId);
        }
    }

    private static boolean isContractCode(String code) {
        switch (code) {
            case "invalid_argument":
            case "unauthenticated":
            case "permission_denied":
            case "not_found":
            case "already_exists":
            case "precondition_failed":
            case "payload_too_large":
            case "unavailable":
            case "internal":
                return true;
            default:
                return false;
        }
    }

    /** The contract's code of a status, for answers whose body is not the error shape. */
    static String codeForStatus(int status) {
        switch (status) {
            case 400:
                return "invalid_argument";
            case 401:
                return "unauthenticated";
            case 403:
                return "permission_denied";
            case 404:
                return "not_found";
            case 409:
                return "already_exists";
            case 412:
                return "precondition_failed";
            case 413:
                return "payload_too_large";
            case 500:
                return "internal";
            case 503:
                return "unavailable";
            default:
                return null;
        }
    }
}
