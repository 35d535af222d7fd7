package dev.timerkernel.client;

import java.time.Duration;

/**
 * No whole answer arrived within the client's timeout: none at all, or a body that stalled.
 *
 * <p>It is not retried: the request may have been applied, and the caller's time budget is
 * already spent. Repeating a create is safe (creates are deduplicated by id), so a caller may
 * retry it.
 */
public class RequestTimeoutException extends TimerKernelException {
    private static final long serialVersionUID = 1L;

    private final Duration timeout;

    /**
     * @param message what got no answer, and within what time
     * @param timeout the timeout that ran out
     * @param cause the HTTP client's timeout error
     */
    public RequestTimeoutException(String message, Duration timeout, Throwable cause) {
        super(message, cause);
        this.timeout = timeout;
    }

    /**
     * @return the timeout that ran out
     */
    public Duration timeout() {
        return timeout;
    }
}
