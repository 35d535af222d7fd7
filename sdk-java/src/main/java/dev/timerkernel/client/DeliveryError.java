package dev.timerkernel.client;

import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/** Why a delivery attempt failed: the {@code last_error} of a timer and an attempt's error. */
public final class DeliveryError {
    private final Instant at;
    private final DeliveryErrorKind kind;
    private final String message;
    private final Integer statusCode;

    /**
     * @param at when the attempt failed
     * @param kind the kind of failure
     * @param message what the service saw
     * @param statusCode the callback's HTTP status, or null when it gave none
     */
    public DeliveryError(Instant at, DeliveryErrorKind kind, String message, Integer statusCode) {
        this.at = Objects.requireNonNull(at, "at");
        this.kind = Objects.requireNonNull(kind, "kind");
        this.message = Objects.requireNonNull(message, "message");
        this.statusCode = statusCode;
    }

    /**
     * @return when the attempt failed
     */
    public Instant at() {
        return at;
    }

    /**
     * @return the kind of failure
     */
    public DeliveryErrorKind kind() {
        return kind;
    }

    /**
     * @return what the service saw
     */
    public String message() {
        return message;
    }

    /**
     * @return the callback's HTTP status, for {@link DeliveryErrorKind#HTTP_STATUS}
     */
    public Optional<Integer> statusCode() {
        return Optional.ofNullable(statusCode);
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof DeliveryError)) {
            return false;
        }

        DeliveryError that = (DeliveryError) other;
        return at.equals(that.at)
                && kind == that.kind
                && message.equals(that.message)
                && Objects.equals(statusCode, that.statusCode);
    }

    @Override
    public int hashCode() {
        return Objects.hash(at, kind, message, statusCode);
    }

    @Override
    public String toString() {
        return "DeliveryError{at=" + at + ", kind=" + kind + ", message=" + message + ", statusCode=" + statusCode
                + "}";
    }
}
