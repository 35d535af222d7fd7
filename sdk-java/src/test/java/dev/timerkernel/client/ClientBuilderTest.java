package dev.timerkernel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.http.HttpClient;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ClientBuilderTest {
    @Test
    void the_defaults_are_the_shared_ones() {
        TimerClient client = TimerClient.builder().build();

        assertEquals("http://127.0.0.1:8080", client.baseUrl());
        assertEquals(Duration.ofSeconds(30), client.timeout());
        assertEquals(3, client.maxRetries());
        assertEquals(Duration.ofMillis(200), client.initialBackoff());
        assertEquals(Duration.ofSeconds(5), client.maxBackoff());
        assertEquals("timerkernel-java/0.1.0", client.userAgent());
    }

    @Test
    void the_version_is_the_artifact_version() {
        assertEquals(System.getProperty("timerkernel.version"), Version.VERSION);
        assertEquals("timerkernel-java/" + Version.VERSION, Version.USER_AGENT);
    }

    @Test
    void a_built_client_does_not_change_with_its_builder() {
        TimerClient.Builder builder = TimerClient.builder().baseUrl("http://127.0.0.1:9000/");
        TimerClient client = builder.build();

        builder.baseUrl("http://127.0.0.1:9001").maxRetries(0);

        assertEquals("http://127.0.0.1:9000", client.baseUrl());
        assertEquals(3, client.maxRetries());
    }

    @Test
    void to_builder_derives_a_client_with_the_same_settings() {
        TimerClient client = TimerClient.builder()
                .baseUrl("https://timers.example")
                .token("t")
                .userAgent("billing/2.3")
                .timeout(Duration.ofSeconds(3))
                .maxRetries(1)
                .retryBackoff(Duration.ofMillis(50), Duration.ofSeconds(1))
                .httpClient(HttpClient.newHttpClient())
                .build();

        TimerClient derived = client.toBuilder().maxRetries(2).build();

        assertEquals("https://timers.example", derived.baseUrl());
        assertEquals("billing/2.3 timerkernel-java/0.1.0", derived.userAgent());
        assertEquals(Duration.ofSeconds(3), derived.timeout());
        assertEquals(2, derived.maxRetries());
        assertEquals(Duration.ofMillis(50), derived.initialBackoff());
    }

    @Test
    void the_token_is_not_printed() {
        assertFalse(TimerClient.builder().token("top-secret").build().toString().contains("top-secret"));
    }

    @Test
    void bad_settings_are_refused() {
        assertThrows(IllegalArgumentException.class, () -> TimerClient.builder().baseUrl("ftp://h"));
        assertThrows(IllegalArgumentException.class, () -> TimerClient.builder().baseUrl("127.0.0.1:8080"));
        assertThrows(IllegalArgumentException.class, () -> TimerClient.builder().baseUrl("http://h/?x=1"));
        assertThrows(IllegalArgumentException.class, () -> TimerClient.builder().timeout(Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> TimerClient.builder().maxRetries(-1));
        assertThrows(
                IllegalArgumentException.class,
                () -> TimerClient.builder().retryBackoff(Duration.ofSeconds(2), Duration.ofSeconds(1)));
    }

    @Test
    void ids_and_namespaces_must_be_given() {
        TimerClient client = TimerClient.builder().build();

        assertThrows(IllegalArgumentException.class, () -> client.getTimer("shop", ""));
        assertThrows(NullPointerException.class, () -> client.getTimer(null, "r"));
    }
}
