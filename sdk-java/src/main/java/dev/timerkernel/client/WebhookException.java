package dev.timerkernel.client;

/** A callback request that a receiver must refuse: its body is not a timer delivery. */
public class WebhookException extends TimerKernelException {
    private static final long serialVersionUID = 1L;

    /**
     * @param message what is wrong with the request
     */
    public WebhookException(String message) {
        super(message);
    }

    /**
     * @param message what is wrong with the request
     * @param cause the underlying error
     */
    public WebhookException(String message, Throwable cause) {
        super(message, cause);
    }
}
