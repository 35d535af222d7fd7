package dev.timerkernel.client.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.timerkernel.client.Attempt;
import dev.timerkernel.client.AttemptOutcome;
import dev.timerkernel.client.CallbackDelivery;
import dev.timerkernel.client.CreateTimerRequest;
import dev.timerkernel.client.DeliveryError;
import dev.timerkernel.client.DeliveryErrorKind;
import dev.timerkernel.client.Namespace;
import dev.timerkernel.client.RescheduleAnswer;
import dev.timerkernel.client.RetryPolicy;
import dev.timerkernel.client.Timer;
import dev.timerkernel.client.TimerClient;
import dev.timerkernel.client.TimerCounts;
import dev.timerkernel.client.TimerStatus;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Timers that really fire into a receiver built with the SDK's webhook helpers. */
@ExtendWith(TimerServer.class)
class DeliveryIT {
    private static final Duration DELIVERY_WITHIN = Duration.ofSeconds(15);

    private TimerServer server;
    private TimerClient client;
    private String namespace;

    @BeforeEach
    void connect(TimerServer server) {
        this.server = server;
        client = server.client();
        namespace = "it-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private Timer awaitStatus(String id, TimerStatus status) throws InterruptedException {
        return Await.until(
                DELIVERY_WITHIN,
                () -> client.getTimer(namespace, id),
                timer -> timer.status() == status,
                "timer " + id + " " + status);
    }

    @Test
    void a_due_timer_is_delivered_signed_and_parsed() throws Exception {
        try (Receiver receiver = new Receiver(server.secret(), delivery -> Optional.empty())) {
            Timer created = client.createTimer(
                    namespace,
                    CreateTimerRequest.builder()
                            .id("order-7")
                            .delay(Duration.ZERO)
                            .callbackUrl(receiver.url())
                            .payload(Map.of("order", 7, "lines", List.of("a", "b")))
                            .build());

            CallbackDelivery delivery = receiver.next(DELIVERY_WITHIN);

            assertEquals(namespace, delivery.namespace());
            assertEquals("order-7", delivery.id());
            assertEquals(created.fireAt(), delivery.fireAt());
            assertEquals(1, delivery.attempt());
            assertEquals(Map.of("order", 7, "lines", List.of("a", "b")), delivery.payload());

            Timer done = awaitStatus("order-7", TimerStatus.SUCCEEDED);
            assertTrue(done.executedAt().isPresent());
            assertEquals(Optional.empty(), done.nextAttemptAt());

            List<Attempt> attempts = client.listAttempts(namespace, "order-7");
            assertEquals(1, attempts.size());
            assertEquals(AttemptOutcome.SUCCEEDED, attempts.get(0).outcome());
            assertEquals(Optional.of(204), attempts.get(0).statusCode());

            Namespace counted = client.listNamespaces().stream()
                    .filter(entry -> entry.name().equals(namespace))
                    .findFirst()
                    .orElseThrow();
            assertEquals(new TimerCounts(0, 1, 0), counted.counts());
        }
    }

    @Test
    void a_reschedule_answer_makes_the_timer_fire_again() throws Exception {
        WebhookRounds rounds = new WebhookRounds();
        try (Receiver receiver = new Receiver(server.secret(), rounds::answer)) {
            client.createTimer(
                    namespace,
                    CreateTimerRequest.builder()
                            .id("recurring")
                            .delay(Duration.ZERO)
                            .callbackUrl(receiver.url())
                            .payload(Map.of("round", 1))
                            .build());

            CallbackDelivery first = receiver.next(DELIVERY_WITHIN);
            CallbackDelivery second = receiver.next(DELIVERY_WITHIN);

            assertEquals(Map.of("round", 1), first.payload());
            assertEquals(Map.of("round", 2), second.payload());
            assertEquals(1, second.attempt());
            assertTrue(
                    !second.fireAt().isBefore(first.fireAt().plusSeconds(1)),
                    first.fireAt() + " then " + second.fireAt());

            Timer done = awaitStatus("recurring", TimerStatus.SUCCEEDED);
            assertEquals(Map.of("round", 2), done.payload());
            assertEquals(
                    List.of(AttemptOutcome.SUCCEEDED, AttemptOutcome.RESCHEDULED),
                    client.listAttempts(namespace, "recurring").stream()
                            .map(Attempt::outcome)
                            .collect(Collectors.toList()));
            assertFalse(receiver.anyWithin(Duration.ofMillis(1500)), "a finished timer fired again");
        }
    }

    /** Answers the first round with a reschedule one second later, and finishes the second. */
    private static final class WebhookRounds {
        Optional<RescheduleAnswer> answer(CallbackDelivery delivery) {
            @SuppressWarnings("unchecked")
            Map<String, Object> payload = delivery.payloadAs(Map.class);
            if (Integer.valueOf(1).equals(payload.get("round"))) {
                return Optional.of(RescheduleAnswer.builder()
                        .nextDelay(Duration.ofSeconds(1))
                        .payload(Map.of("round", 2))
                        .build());
            }

            return Optional.empty();
        }
    }

    @Test
    void a_receiver_with_another_secret_refuses_the_delivery() throws Exception {
        try (Receiver receiver = new Receiver("not-the-server-secret", delivery -> Optional.empty())) {
            client.createTimer(
                    namespace,
                    CreateTimerRequest.builder()
                            .id("refused")
                            .delay(Duration.ZERO)
                            .callbackUrl(receiver.url())
                            .retryPolicy(RetryPolicy.builder().maxAttempts(1).build())
                            .build());

            Timer failed = awaitStatus("refused", TimerStatus.FAILED);

            DeliveryError error = failed.lastError().orElseThrow();
            assertEquals(DeliveryErrorKind.HTTP_STATUS, error.kind());
            assertEquals(Optional.of(401), error.statusCode());
            assertFalse(receiver.anyWithin(Duration.ZERO), "the listener saw a refused delivery");
            assertEquals(
                    AttemptOutcome.FAILED,
                    client.listAttempts(namespace, "refused").get(0).outcome());
        }
    }
}
