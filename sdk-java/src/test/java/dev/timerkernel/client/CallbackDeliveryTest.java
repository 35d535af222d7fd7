package dev.timerkernel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CallbackDeliveryTest {
    @Test
    void a_delivery_body_is_read_into_the_model() {
        CallbackDelivery delivery = CallbackDelivery.parse(
                Fixtures.json("{'namespace': 'shop', 'id': 'cart-77-expiry', 'fire_at': '2026-12-03T08:00:00.000Z',"
                        + " 'attempt': 1, 'payload': {'cart': 77}}"));

        assertEquals("shop", delivery.namespace());
        assertEquals("cart-77-expiry", delivery.id());
        assertEquals(Instant.parse("2026-12-03T08:00:00Z"), delivery.fireAt());
        assertEquals(1, delivery.attempt());
        assertEquals(Map.of("cart", 77), delivery.payload());
        assertEquals(77, delivery.payloadAs(DecodingTest.Cart.class).cart);
    }

    @Test
    void a_null_payload_is_null() {
        CallbackDelivery delivery = CallbackDelivery.parse(
                Fixtures.json("{'namespace': 'ops', 'id': 'rotate', 'fire_at': '2026-01-01T00:00:02Z', 'attempt': 1,"
                        + " 'payload': null}"));

        assertNull(delivery.payload());
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "",
                "not json",
                "[]",
                "{'namespace': 'shop', 'id': 'r', 'fire_at': 'tomorrow', 'attempt': 1}",
                "{'namespace': 'shop', 'id': 'r', 'fire_at': '2026-12-03T08:00:00Z', 'attempt': 'one'}",
                "{'id': 'r', 'fire_at': '2026-12-03T08:00:00Z', 'attempt': 1}"
            })
    void a_body_that_is_not_a_delivery_is_refused(String body) {
        assertThrows(WebhookException.class, () -> CallbackDelivery.parse(Fixtures.json(body)));
    }
}
