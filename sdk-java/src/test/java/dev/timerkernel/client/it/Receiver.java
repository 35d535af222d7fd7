package dev.timerkernel.client.it;

import com.sun.net.httpserver.HttpServer;
import dev.timerkernel.client.CallbackDelivery;
import dev.timerkernel.client.WebhookHandler;
import dev.timerkernel.client.WebhookVerifier;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A callback receiver on 127.0.0.1 built on the SDK's {@link WebhookHandler}: it verifies each
 * delivery with the given secret and records what its listener saw.
 */
final class Receiver implements AutoCloseable {
    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final BlockingQueue<CallbackDelivery> deliveries = new LinkedBlockingQueue<>();

    Receiver(String secret, WebhookHandler.Listener listener) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/hooks", new WebhookHandler(WebhookVerifier.of(secret), delivery -> {
            deliveries.add(delivery);
            return listener.onDelivery(delivery);
        }));
        server.setExecutor(executor);
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/hooks";
    }

    /** The next delivery the listener saw, waiting at most {@code within}. */
    CallbackDelivery next(Duration within) throws InterruptedException {
        CallbackDelivery delivery = deliveries.poll(within.toMillis(), TimeUnit.MILLISECONDS);
        if (delivery == null) {
            throw new AssertionError("no delivery within " + within.getSeconds() + " s");
        }

        return delivery;
    }

    /** Whether a delivery arrives within {@code within}. */
    boolean anyWithin(Duration within) throws InterruptedException {
        return deliveries.poll(within.toMillis(), TimeUnit.MILLISECONDS) != null;
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
