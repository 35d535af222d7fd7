package dev.timerkernel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The shared vectors of {@code testdata/signatures.json}, read from the repository itself. */
class WebhookVerifierTest {
    static JsonNode vectors() throws IOException {
        Path file = Paths.get(System.getProperty("timerkernel.testdata", "../testdata"), "signatures.json");
        return Json.MAPPER.readTree(Files.readAllBytes(file));
    }

    private static List<String> strings(JsonNode array) {
        List<String> values = new ArrayList<>();
        array.forEach(value -> values.add(value.textValue()));
        return values;
    }

    static Stream<Arguments> verifying() throws IOException {
        List<Arguments> cases = new ArrayList<>();
        for (JsonNode vector : vectors().get("verifying")) {
            cases.add(Arguments.of(vector.get("name").textValue(), vector));
        }

        return cases.stream();
    }

    static Stream<Arguments> signing() throws IOException {
        List<Arguments> cases = new ArrayList<>();
        for (JsonNode vector : vectors().get("signing")) {
            cases.add(Arguments.of(vector.get("name").textValue(), vector));
        }

        return cases.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("verifying")
    void every_verifying_vector_is_judged_as_the_file_says(String name, JsonNode vector) {
        WebhookVerifier verifier = WebhookVerifier.builder()
                .secrets(strings(vector.get("secrets")))
                .tolerance(Duration.ofSeconds(vector.get("tolerance_seconds").longValue()))
                .clock(Clock.fixed(Instant.ofEpochSecond(vector.get("now").longValue()), ZoneOffset.UTC))
                .build();
        String header = vector.get("header").textValue();
        byte[] body = vector.get("body").textValue().getBytes(StandardCharsets.UTF_8);

        boolean valid = vector.get("valid").booleanValue();

        assertEquals(valid, verifier.isValid(header, body));
        if (valid) {
            verifier.verify(header, body);
        } else {
            assertThrows(WebhookSignatureException.class, () -> verifier.verify(header, body));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("signing")
    void signing_gives_the_header_the_service_sends(String name, JsonNode vector) {
        byte[] body = vector.get("body").textValue().getBytes(StandardCharsets.UTF_8);
        List<String> secrets = strings(vector.get("secrets"));

        String header = WebhookVerifier.sign(vector.get("timestamp").longValue(), body, secrets);

        assertEquals(vector.get("header").textValue(), header);
        WebhookVerifier verifier = WebhookVerifier.builder()
                .secrets(secrets)
                .clock(Clock.fixed(Instant.ofEpochSecond(vector.get("timestamp").longValue()), ZoneOffset.UTC))
                .build();
        assertTrue(verifier.isValid(header, body));
    }

    @Test
    void the_default_tolerance_is_five_minutes() {
        byte[] body = "{}".getBytes(StandardCharsets.UTF_8);
        String header = WebhookVerifier.sign(1_000_000, body, List.of("k"));

        assertTrue(verifierAt(1_000_300).isValid(header, body));
        assertFalse(verifierAt(1_000_301).isValid(header, body));
        assertTrue(verifierAt(999_700).isValid(header, body));
        assertFalse(verifierAt(999_699).isValid(header, body));
    }

    private static WebhookVerifier verifierAt(long now) {
        return WebhookVerifier.builder()
                .secret("k")
                .clock(Clock.fixed(Instant.ofEpochSecond(now), ZoneOffset.UTC))
                .build();
    }

    @Test
    void the_system_clock_is_the_default() {
        byte[] body = "{}".getBytes(StandardCharsets.UTF_8);
        long now = Instant.now().getEpochSecond();

        assertTrue(WebhookVerifier.of("k").isValid(WebhookVerifier.sign(now, body, List.of("k")), body));
        assertFalse(WebhookVerifier.of("k").isValid(WebhookVerifier.sign(now - 3600, body, List.of("k")), body));
    }

    @Test
    void the_refusal_says_why() {
        WebhookVerifier verifier = verifierAt(1_000_000);
        byte[] body = "{}".getBytes(StandardCharsets.UTF_8);

        assertEquals(
                "the request has no Timer-Signature header",
                assertThrows(WebhookSignatureException.class, () -> verifier.verify(null, body))
                        .getMessage());
        assertEquals(
                "the signature has more than one timestamp",
                assertThrows(WebhookSignatureException.class, () -> verifier.verify("t=1,t=2,v1=00", body))
                        .getMessage());
        assertEquals(
                "no v1 signature matches the body with any of the secrets",
                assertThrows(WebhookSignatureException.class, () -> verifier.verify("t=1000000,v1=00", body))
                        .getMessage());
    }

    @Test
    void a_verifier_needs_a_secret() {
        assertThrows(
                IllegalStateException.class, () -> WebhookVerifier.builder().build());
        assertThrows(
                IllegalArgumentException.class, () -> WebhookVerifier.builder().secret(""));
        assertThrows(
                IllegalArgumentException.class, () -> WebhookVerifier.builder().tolerance(Duration.ofSeconds(-1)));
    }

    @Test
    void verify_and_parse_gives_the_typed_delivery() {
        byte[] body = ("{\"namespace\":\"billing\",\"id\":\"invoice-7\",\"fire_at\":\"2026-01-01T00:00:00.000Z\","
                        + "\"attempt\":2,\"payload\":{\"amount\":42}}")
                .getBytes(StandardCharsets.UTF_8);
        String header = WebhookVerifier.sign(1_000_000, body, List.of("k"));

        CallbackDelivery delivery = verifierAt(1_000_000).verifyAndParse(header, body);

        assertEquals(
                new CallbackDelivery(
                        "billing", "invoice-7", Instant.parse("2026-01-01T00:00:00Z"), 2, Map.of("amount", 42)),
                delivery);
    }
}
