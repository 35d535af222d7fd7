package dev.timerkernel.client;

import static dev.timerkernel.client.Fixtures.parse;
import static dev.timerkernel.client.Fixtures.tree;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class WebhookHandlerTest {
    private static final String SECRET = "whsec_unit";
    private static final String BODY = Fixtures.json("{'namespace': 'shop', 'id': 'r', 'fire_at':"
            + " '2026-12-03T08:00:00.000Z', 'attempt': 1, 'payload': {'round': 1}}");

    private final List<CallbackDelivery> seen = new CopyOnWriteArrayList<>();
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private HttpServer server;

    private void serve(WebhookHandler.Listener listener) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/hook", new WebhookHandler(WebhookVerifier.of(SECRET), listener));
        server.start();
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.stop(0);
        }
    }

    private HttpResponse<String> post(String body, String signature) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/hook"))
                .timeout(Duration.ofSeconds(5))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (signature != null) {
            request.header("Timer-Signature", signature);
        }

        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String signed(String body, String secret) {
        return WebhookVerifier.sign(
                Instant.now().getEpochSecond(), body.getBytes(StandardCharsets.UTF_8), List.of(secret));
    }

    @Test
    void a_verified_delivery_reaches_the_listener_and_answers_204() throws Exception {
        serve(delivery -> {
            seen.add(delivery);
            return Optional.empty();
        });

        HttpResponse<String> response = post(BODY, signed(BODY, SECRET));

        assertEquals(204, response.statusCode());
        assertEquals(1, seen.size());
        assertEquals(Map.of("round", 1), seen.get(0).payload());
    }

    @Test
    void a_reschedule_answer_is_sent_as_json_with_200() throws Exception {
        serve(delivery -> Optional.of(RescheduleAnswer.builder()
                .nextDelay(Duration.ofSeconds(30))
                .payload(Map.of("round", 2))
                .build()));

        HttpResponse<String> response = post(BODY, signed(BODY, SECRET));

        assertEquals(200, response.statusCode());
        assertEquals(
                "application/json",
                response.headers().firstValue("Content-Type").orElse(""));
        assertEquals(tree("{'next_delay_seconds': 30, 'payload': {'round': 2}}"), parse(response.body()));
    }

    @Test
    void a_bad_signature_is_refused_with_401_before_the_listener() throws Exception {
        serve(delivery -> {
            seen.add(delivery);
            return Optional.empty();
        });

        assertEquals(401, post(BODY, signed(BODY, "another-secret")).statusCode());
        assertEquals(401, post(BODY, null).statusCode());
        String tampered = BODY.replace("\"round\": 1", "\"round\": 9");
        assertNotEquals(BODY, tampered);
        assertEquals(401, post(tampered, signed(BODY, SECRET)).statusCode());
        assertEquals(0, seen.size());
    }

    @Test
    void a_signed_body_that_is_not_a_delivery_is_refused_with_400() throws Exception {
        serve(delivery -> Optional.empty());
        String body = "{\"hello\": \"world\"}";

        assertEquals(400, post(body, signed(body, SECRET)).statusCode());
    }

    @Test
    void a_listener_that_throws_answers_500_so_the_service_retries() throws Exception {
        serve(delivery -> {
            throw new IllegalStateException("database down");
        });

        assertEquals(500, post(BODY, signed(BODY, SECRET)).statusCode());
    }

    @Test
    void only_post_is_served() throws Exception {
        serve(delivery -> Optional.empty());

        HttpResponse<String> response = http.send(
                HttpRequest.newBuilder(URI.create(
                                "http://127.0.0.1:" + server.getAddress().getPort() + "/hook"))
                        .timeout(Duration.ofSeconds(5))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofString());

        assertEquals(405, response.statusCode());
        assertEquals("POST", response.headers().firstValue("Allow").orElse(""));
    }
}
