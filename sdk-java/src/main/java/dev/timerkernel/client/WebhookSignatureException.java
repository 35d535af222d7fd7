package dev.timerkernel.client;

/**
 * A callback request whose {@code Timer-Signature} does not prove it came from the service:
 * missing, malformed, too old or too new, or signed with none of the receiver's secrets.
 */
public class WebhookSignatureException extends WebhookException {
    private static final long serialVersionUID = 1L;

    /**
     * @param message why the signature was refused
     */
    public WebhookSignatureException(String message) {
        super(message);
    }
}
