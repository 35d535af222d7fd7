package dev.timerkernel.client;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/** A local HTTP server on 127.0.0.1 that answers from a script and records every request. */
final class StubServer implements AutoCloseable {
    /** The longest a hanging answer holds its exchange if the stub is never closed. */
    private static final Duration HANG_AT_MOST = Duration.ofSeconds(30);

    /** One request as the stub received it. */
    static final class Recorded {
        final String method;
        final String path;
        final String query;
        final Headers headers;
        final byte[] body;

        Recorded(HttpExchange exchange, byte[] body) {
            this.method = exchange.getRequestMethod();
            this.path = exchange.getRequestURI().getRawPath();
            this.query = exchange.getRequestURI().getRawQuery();
            this.headers = exchange.getRequestHeaders();
            this.body = body;
        }

        String header(String name) {
            return headers.getFirst(name);
        }

        String bodyText() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    @FunctionalInterface
    interface Responder {
        void respond(HttpExchange exchange) throws IOException, InterruptedException;
    }

    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final Deque<Responder> script = new ArrayDeque<>();
    private final List<Recorded> requests = new ArrayList<>();
    private final CountDownLatch closing = new CountDownLatch(1);

    private StubServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.setExecutor(executor);
        server.start();
    }

    static StubServer start() {
        try {
            return new StubServer();
        } catch (IOException exc) {
            throw new IllegalStateException("the stub server did not start", exc);
        }
    }

    String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** A client of this stub that records its waits instead of taking them. */
    TimerClient.Builder client(RecordingPause pause) {
        return TimerClient.builder().baseUrl(baseUrl()).pause(pause).timeout(Duration.ofSeconds(5));
    }

    synchronized StubServer reply(int status, String body, String... headers) {
        script.add(exchange -> send(exchange, status, body, headers));
        return this;
    }

    synchronized StubServer replyJson(int status, String quotedJson, String... headers) {
        return reply(status, Fixtures.json(quotedJson), headers);
    }

    /** Answers after a delay, as a slow server would. */
    synchronized StubServer replyAfter(Duration delay, int status, String body) {
        script.add(exchange -> {
            Thread.sleep(delay.toMillis());
            send(exchange, status, body);
        });
        return this;
    }

    /** Never answers: the exchange is held until the stub closes, for timeouts. */
    synchronized StubServer hang() {
        script.add(exchange -> closing.await(HANG_AT_MOST.toMillis(), TimeUnit.MILLISECONDS));
        return this;
    }

    /** Sends the headers and the start of a body, then nothing more until the stub closes. */
    synchronized StubServer stall() {
        script.add(exchange -> {
            exchange.sendResponseHeaders(200, 1000);
            OutputStream output = exchange.getResponseBody();
            output.write("{\"namespace\"".getBytes(StandardCharsets.UTF_8));
            output.flush();
            closing.await(HANG_AT_MOST.toMillis(), TimeUnit.MILLISECONDS);
        });
        return this;
    }

    /** Answers with whatever the test's responder does, for exchanges the test steps through. */
    synchronized StubServer respond(Responder responder) {
        script.add(responder);
        return this;
    }

    /**
     * Breaks the connection in the middle of an answer, as a crashed server or proxy would. A
     * close before any byte would not do: the JDK's client repeats such a GET once by itself on
     * a pooled connection, which would blur the count of attempts.
     */
    synchronized StubServer drop() {
        script.add(exchange -> {
            exchange.sendResponseHeaders(200, 1000);
            OutputStream output = exchange.getResponseBody();
            output.write("{\"timers\"".getBytes(StandardCharsets.UTF_8));
            output.flush();
            throw new IOException("dropped by the stub");
        });
        return this;
    }

    synchronized List<Recorded> requests() {
        return new ArrayList<>(requests);
    }

    /**
     * Waits until the stub has received {@code count} requests in all.
     *
     * @return whether it had, before {@code within} passed
     */
    synchronized boolean awaitRequests(int count, Duration within) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (requests.size() < count) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }

            TimeUnit.NANOSECONDS.timedWait(this, left);
        }

        return true;
    }

    synchronized Recorded only() {
        if (requests.size() != 1) {
            throw new AssertionError("expected one request, got " + requests.size());
        }

        return requests.get(0);
    }

    private void handle(HttpExchange exchange) throws IOException {
        Responder responder;
        synchronized (this) {
            requests.add(new Recorded(exchange, exchange.getRequestBody().readAllBytes()));
            notifyAll();
            responder = script.poll();
        }

        try {
            if (responder == null) {
                send(exchange, 599, "{\"error\": {\"code\": \"stub\", \"message\": \"no scripted answer\"}}");
            } else {
                responder.respond(exchange);
            }
        } catch (InterruptedException exc) {
            Thread.currentThread().interrupt();
        } finally {
            exchange.close();
        }
    }

    static void send(HttpExchange exchange, int status, String body, String... headers) throws IOException {
        for (int i = 0; i + 1 < headers.length; i += 2) {
            exchange.getResponseHeaders().add(headers[i], headers[i + 1]);
        }

        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        if (!exchange.getResponseHeaders().containsKey("Content-Type")) {
            exchange.getResponseHeaders().set("Content-Type", "application/json");
        }

        exchange.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            try (OutputStream output = exchange.getResponseBody()) {
                output.write(bytes);
            }
        }
    }

    @Override
    public void close() {
        closing.countDown();
        server.stop(0);
        executor.shutdownNow();
    }
}
