package dev.timerkernel.client;

/**
 * The root of every exception this SDK throws.
 *
 * <p>It is unchecked, like the {@link java.io.UncheckedIOException} family: most callers let
 * it propagate and catch only the subclasses they can act on. See the package documentation
 * for the whole tree.
 */
public class TimerKernelException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong
     */
    public TimerKernelException(String message) {
        super(message);
    }

    /**
     * @param message what went wrong
     * @param cause the exception that caused this one
     */
    public TimerKernelException(String message, Throwable cause) {
        super(message, cause);
    }
}
