package dev.timerkernel.client;

import java.util.Map;

/** 500 {@code internal}: a bug in the server; the request was valid. */
public class InternalException extends ApiException {
    private static final long serialVersionUID = 1L;

    /**
     * @param status the HTTP status
     * @param code the contract's error code ({@code internal})
     * @param message the server's message
     * @param details the error's details
     * @param requestId the request id the server sent, or null
     */
    public InternalException(int status, String code, String message, Map<String, Object> details, String requestId) {
        super(status, code, message, details, requestId);
    }
}
