package dev.timerkernel.client;

import java.util.Map;

/** 401 {@code unauthenticated}: authentication is on and the bearer token is missing or wrong. */
public class UnauthenticatedException extends ApiException {
    private static final long serialVersionUID = 1L;

    /**
     * @param status the HTTP status
     * @param code the contract's error code ({@code unauthenticated})
     * @param message the server's message
     * @param details the error's details
     * @param requestId the request id the server sent, or null
     */
    public UnauthenticatedException(
            int status, String code, String message, Map<String, Object> details, String requestId) {
        super(status, code, message, details, requestId);
    }
}
