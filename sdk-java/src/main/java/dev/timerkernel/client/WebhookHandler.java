package dev.timerkernel.client;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.util.Objects;
import java.util.Optional;

/**
 * A receiver of timer deliveries for the JDK's {@code com.sun.net.httpserver}: it verifies each
 * request's signature, reads its body and hands the delivery to a {@link Listener}.
 *
 * <p>Its answers follow what the service does with them: 204 when the listener returns
 * nothing (delivered), 200 with the {@link RescheduleAnswer} when it returns one (delivered
 * and rescheduled), and for a request it refuses 401 (bad signature), 400 (not a delivery),
 * 405 (not a POST), 413 (body over {@link #MAX_BODY_BYTES}) or 500 (the listener threw), all
 * of which the service retries by the timer's policy.
 */
public final class WebhookHandler implements HttpHandler {
    /** The largest body read: the server's default limit of a whole request body. */
    public static final int MAX_BODY_BYTES = 8 * 1024 * 1024;

    private static final System.Logger LOGGER = System.getLogger(WebhookHandler.class.getName());

    private final WebhookVerifier verifier;
    private final Listener listener;

    /** What a receiver does with a verified delivery. */
    @FunctionalInterface
    public interface Listener {
        /**
         * Acts on one delivery. Deliveries are at least once: deduplicate on namespace, id and
         * fire time.
         *
         * @param delivery the verified delivery
         * @return a reschedule answer to have the timer fire again, or empty to finish it
         * @throws Exception to fail the attempt, which the service then retries
         */
        Optional<RescheduleAnswer> onDelivery(CallbackDelivery delivery) throws Exception;
    }

    /**
     * @param verifier checks each request's signature
     * @param listener acts on each verified delivery
     */
    public WebhookHandler(WebhookVerifier verifier, Listener listener) {
        this.verifier = Objects.requireNonNull(verifier, "verifier");
        this.listener = Objects.requireNonNull(listener, "listener");
    }

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        try {
            answer(exchange);
        } finally {
            exchange.close();
        }
    }

    private void answer(HttpExchange exchange) throws IOException {
        if (!"POST".equalsIgnoreCase(exchange.getRequestMethod())) {
            exchange.getResponseHeaders().set("Allow", "POST");
            refuse(exchange, 405, "only POST is served here");
            return;
        }

        byte[] body = readBody(exchange.getRequestBody());
        if (body == null) {
            refuse(exchange, 413, "the body is over " + MAX_BODY_BYTES + " bytes");
            return;
        }

        CallbackDelivery delivery;
        try {
            delivery = verifier.verifyAndParse(
                    exchange.getRequestHeaders().getFirst(WebhookVerifier.SIGNATURE_HEADER), body);
        } catch (WebhookSignatureException exc) {
            refuse(exchange, 401, exc.getMessage());
            return;
        } catch (WebhookException exc) {
            refuse(exchange, 400, exc.getMessage());
            return;
        }

        Optional<RescheduleAnswer> answer;
        try {
            answer = listener.onDelivery(delivery);
        } catch (Exception exc) {
            LOGGER.log(Level.WARNING, "the listener failed on " + delivery.namespace() + "/" + delivery.id(), exc);
            refuse(exchange, 500, "the receiver failed");
            return;
        }

        if (answer != null && answer.isPresent()) {
            send(exchange, 200, answer.get().toBytes());
        } else {
            exchange.sendResponseHeaders(204, -1);
        }
    }

    private static byte[] readBody(InputStream input) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        int read;
        while ((read = input.read(buffer)) != -1) {
            if (body.size() + read > MAX_BODY_BYTES) {
                return null;
            }

            body.write(buffer, 0, read);
        }

        return body.toByteArray();
    }

    private static void refuse(HttpExchange exchange, int status, String reason) throws IOException {
        send(exchange, status, Json.bytes(Json.MAPPER.createObjectNode().put("error", reason)));
    }

    private static void send(HttpExchange exchange, int status, byte[] body) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, body.length);
        try (OutputStream output = exchange.getResponseBody()) {
            output.write(body);
        }
    }
}
