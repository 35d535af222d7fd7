package dev.timerkernel.client;

import java.util.Map;

/** 404 {@code not_found}: no such timer (or no such route). */
public class NotFoundException extends ApiException {
    private static final long serialVersionUID = 1L;

    /**
     * @param status the HTTP status
     * @param code the contract's error code ({@code not_found})
     * @param message the server's message
     * @param details the error's details
     * @param requestId the request id the server sent, or null
     */
    public NotFoundException(int status, String code, String message, Map<String, Object> details, String requestId) {
        super(status, code, message, details, requestId);
    }
}
