package dev.timerkernel.client;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Objects;

/**
 * The body of a callback request: {@code {"namespace", "id", "fire_at", "attempt", "payload"}}.
 *
 * <p>Delivery is at least once: deduplicate on namespace, id and fire time.
 */
public final class CallbackDelivery {
    private final String namespace;
    private final String id;
    private final Instant fireAt;
    private final int attempt;
    private final Object payload;

    /**
     * @param namespace the timer's namespace
     * @param id the timer's id
     * @param fireAt the fire time being delivered
     * @param attempt the attempt's number, 1-based
     * @param payload the payload as plain JSON values, or null
     */
    public CallbackDelivery(String namespace, String id, Instant fireAt, int attempt, Object payload) {
        this.namespace = Objects.requireNonNull(namespace, "namespace");
        this.id = Objects.requireNonNull(id, "id");
        this.fireAt = Objects.requireNonNull(fireAt, "fireAt");
        this.attempt = attempt;
        this.payload = Json.toPlain(payload);
    }

    /**
     * Reads a callback body. It does not check the signature: use {@link
     * WebhookVerifier#verifyAndParse(String, byte[])} for requests from the network.
     *
     * @param body the raw request body
     * @return the delivery
     * @throws WebhookException if the body is not a delivery
     */
    public static CallbackDelivery parse(byte[] body) {
        try {
            return Json.delivery(Json.parse(body));
        } catch (Json.ShapeException | ArithmeticException exc) {
            throw new WebhookException("not a timer delivery: " + exc.getMessage(), exc);
        }
    }

    /**
     * Reads a callback body given as text.
     *
     * @param body the request body
     * @return the delivery
     * @throws WebhookException if the body is not a delivery
     */
    public static CallbackDelivery parse(String body) {
        return parse(body.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * @return the timer's namespace
     */
    public String namespace() {
        return namespace;
    }

    /**
     * @return the timer's id
     */
    public String id() {
        return id;
    }

    /**
     * @return the fire time being delivered
     */
    public Instant fireAt() {
        return fireAt;
    }

    /**
     * @return the attempt's number, 1-based since the timer was last (re)scheduled
     */
    public int attempt() {
        return attempt;
    }

    /**
     * @return the timer's payload as plain JSON values, or null
     */
    public Object payload() {
        return payload;
    }

    /**
     * Converts the payload to a type of the caller's, with Jackson's default mapping.
     *
     * @param type the type, such as a bean class or {@code Map.class}
     * @param <T> the type
     * @return the payload as that type
     * @throws IllegalArgumentException if the payload does not fit the type
     */
    public <T> T payloadAs(Class<T> type) {
        return Json.convert(payload, type);
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof CallbackDelivery)) {
            return false;
        }

        CallbackDelivery that = (CallbackDelivery) other;
        return attempt == that.attempt
                && namespace.equals(that.namespace)
                && id.equals(that.id)
                && fireAt.equals(that.fireAt)
                && Objects.equals(payload, that.payload);
    }

    @Override
    public int hashCode() {
        return Objects.hash(namespace, id, fireAt, attempt, payload);
    }

    @Override
    public String toString() {
        return "CallbackDelivery{namespace=" + namespace
                + ", id=" + id
                + ", fireAt=" + fireAt
                + ", attempt=" + attempt
                + ", payload=" + payload
                + "}";
    }
}
