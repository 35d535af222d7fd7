package dev.timerkernel.client;

import java.util.Map;

/** 403 {@code permission_denied}: the token does not cover this namespace. */
public class PermissionDeniedException extends ApiException {
    private static final long serialVersionUID = 1L;

    /**
     * @param status the HTTP status
     * @param code the contract's error code ({@code permission_denied})
     * @param message the server's message
     * @param details the error's details
     * @param requestId the request id the server sent, or null
     */
    public PermissionDeniedException(
            int status, String code, String message, Map<String, Object> details, String requestId) {
        super(status, code, message, details, requestId);
    }
}
