package dev.timerkernel.client.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.timerkernel.client.WebhookVerifier;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class SignedReceiverExampleTest {
    private static final WebhookVerifier VERIFIER = WebhookVerifier.of("whsec_example");
    private static final byte[] BODY = ("{\"namespace\":\"shop\",\"id\":\"r\",\"fire_at\":\"2026-12-03T08:00:00.000Z\","
                    + "\"attempt\":1,\"payload\":null}")
            .getBytes(StandardCharsets.UTF_8);

    private static String signature(String secret, byte[] body) {
        return WebhookVerifier.sign(Instant.now().getEpochSecond(), body, List.of(secret));
    }

    @Test
    void the_framework_neutral_receiver_answers_by_what_it_received() {
        assertEquals(204, SignedReceiverExample.receive(VERIFIER, signature("whsec_example", BODY), BODY));
        assertEquals(401, SignedReceiverExample.receive(VERIFIER, signature("other", BODY), BODY));
        assertEquals(401, SignedReceiverExample.receive(VERIFIER, null, BODY));

        byte[] notADelivery = "[1, 2]".getBytes(StandardCharsets.UTF_8);
        assertEquals(
                400, SignedReceiverExample.receive(VERIFIER, signature("whsec_example", notADelivery), notADelivery));
    }
}
