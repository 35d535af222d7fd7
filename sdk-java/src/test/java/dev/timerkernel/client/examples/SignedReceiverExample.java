package dev.timerkernel.client.examples;

import com.sun.net.httpserver.HttpServer;
import dev.timerkernel.client.CallbackDelivery;
import dev.timerkernel.client.WebhookException;
import dev.timerkernel.client.WebhookHandler;
import dev.timerkernel.client.WebhookSignatureException;
import dev.timerkernel.client.WebhookVerifier;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Optional;

/** A receiver that accepts only deliveries signed with the service's secret. */
public final class SignedReceiverExample {
    private SignedReceiverExample() {}

    /** Serves {@code POST /hooks/timers} with the JDK's own HTTP server. */
    public static HttpServer serve(int port, String signingSecret, WebhookHandler.Listener listener)
            throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        server.createContext("/hooks/timers", new WebhookHandler(WebhookVerifier.of(signingSecret), listener));
        server.start();
        return server;
    }

    public static void main(String[] args) throws IOException {
        String secret = System.getenv("TIMER_SIGNING_SECRET");
        if (secret == null) {
            throw new IllegalStateException("set TIMER_SIGNING_SECRET to the service's callbacks.signing_secret");
        }

        serve(9000, secret, delivery -> {
            System.out.println("timer " + delivery.namespace() + "/" + delivery.id() + " fired for " + delivery.fireAt()
                    + ", attempt " + delivery.attempt());
            return Optional.empty();
        });
    }

    /** The same check in any other framework: it needs the header and the raw body bytes. */
    public static int receive(WebhookVerifier verifier, String signatureHeader, byte[] rawBody) {
        try {
            CallbackDelivery delivery = verifier.verifyAndParse(signatureHeader, rawBody);
            System.out.println("timer " + delivery.id() + " fired for " + delivery.fireAt());
            return 204;
        } catch (WebhookSignatureException refused) {
            return 401;
        } catch (WebhookException malformed) {
            return 400;
        }
    }
}
