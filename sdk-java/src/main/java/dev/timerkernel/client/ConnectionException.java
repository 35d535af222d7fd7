package dev.timerkernel.client;

/**
 * The server could not be reached or the connection broke before an answer arrived.
 *
 * <p>Calls that are safe to repeat are retried on this error before it is thrown.
 */
public class ConnectionException extends TimerKernelException {
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong
     * @param cause the I/O error of the HTTP client
     */
    public ConnectionException(String message, Throwable cause) {
        super(message, cause);
    }
}
